//go:build !unix

package cputime

import "time"

// Used is the CPU time this process has used so far; ok is false here,
// where the system cannot tell.
func Used() (d time.Duration, ok bool) { return 0, false }
