//go:build !unix

package sipnet

// openFileLimit is unknown off Unix: the MaxConns default applies as is.
func openFileLimit() int { return 0 }
