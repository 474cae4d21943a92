//go:build !unix

package rating

import "time"

// cpuTime is not available here; the benchmark then reports wall time only.
func cpuTime() (time.Duration, bool) { return 0, false }
