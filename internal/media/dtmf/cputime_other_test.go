//go:build !unix

package dtmf

import "time"

// cpuTime is not measured off Unix; the benchmark then uses wall time.
func cpuTime() (time.Duration, bool) { return 0, false }
