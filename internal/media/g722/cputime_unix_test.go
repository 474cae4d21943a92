//go:build unix

package g722

import (
	"syscall"
	"time"
)

// cpuTime is the CPU time (user+system) this process has used. Benchmarks
// use it rather than wall time for x-realtime, so a busy machine (CI, other
// builds) does not understate the codec's speed: the metric is seconds of
// audio per second of CPU.
func cpuTime() (time.Duration, bool) {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0, false
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano()), true
}
