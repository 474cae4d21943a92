//go:build unix

package wer

import (
	"syscall"
	"time"
)

// cpuNow is the CPU time (user + system) of this process plus that of its
// children that have been waited for: pocketsphinx runs as a child process,
// so its work shows up here once Transcribe has returned.
func cpuNow() (time.Duration, bool) {
	var self, kids syscall.Rusage
	if syscall.Getrusage(syscall.RUSAGE_SELF, &self) != nil || syscall.Getrusage(syscall.RUSAGE_CHILDREN, &kids) != nil {
		return 0, false
	}
	return time.Duration(self.Utime.Nano() + self.Stime.Nano() + kids.Utime.Nano() + kids.Stime.Nano()), true
}
