//go:build !unix

package g722

import "time"

// cpuTime is unavailable here; benchmarks fall back to wall time.
func cpuTime() (time.Duration, bool) { return 0, false }
