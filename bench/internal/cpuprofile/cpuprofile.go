// Package cpuprofile starts the CPU profile the bench programs write with
// their -cpuprofile flag.
package cpuprofile

import (
	"fmt"
	"os"
	"runtime/pprof"
)

// Start profiles this process's CPU into path until the returned stop is
// called (more calls to stop do nothing). An empty path profiles nothing.
func Start(path string) (stop func(), err error) {
	if path == "" {
		return func() {}, nil
	}
	f, err := os.Create(path)
	if err != nil {
		return nil, fmt.Errorf("cpu profile: %w", err)
	}
	if err := pprof.StartCPUProfile(f); err != nil {
		f.Close()
		return nil, fmt.Errorf("cpu profile: %w", err)
	}
	stopped := false
	return func() {
		if !stopped {
			stopped = true
			pprof.StopCPUProfile()
			f.Close()
		}
	}, nil
}
