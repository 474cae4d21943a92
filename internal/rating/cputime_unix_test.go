//go:build unix

package rating

import (
	"syscall"
	"time"
)

// cpuTime is the CPU time (user + system) this process has used. The lookup
// benchmark also reports its speed per CPU second, because the machines it
// runs on are shared and a busy neighbour stretches wall time without
// changing the work done.
func cpuTime() (time.Duration, bool) {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0, false
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano()), true
}
