//go:build !unix

package wer

import "time"

// cpuNow cannot tell CPU time here.
func cpuNow() (time.Duration, bool) { return 0, false }
