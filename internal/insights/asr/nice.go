package asr

import (
	"os/exec"
	"syscall"
)

// runNiced runs cmd like cmd.Run, lowering the process's scheduling
// priority to nice right after it starts (0 leaves it alone). The few
// microseconds it runs at the normal priority do not matter; what matters
// is that a long decode yields the CPU to calls in progress. A failure to
// renice (a platform without setpriority) is not a reason to fail the
// recognition.
func runNiced(cmd *exec.Cmd, nice int) error {
	if nice == 0 {
		return cmd.Run()
	}
	if err := cmd.Start(); err != nil {
		return err
	}
	_ = syscall.Setpriority(syscall.PRIO_PROCESS, cmd.Process.Pid, nice)
	return cmd.Wait()
}
