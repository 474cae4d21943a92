package sim

import (
	"fmt"
	"os"
	"runtime"
	"testing"
	"time"
)

// TestMain checks that every simulator the tests closed really stopped: no
// call, media, recorder or SIP goroutine may outlive Close for long (sipgo's
// transaction timers need a few seconds to expire).
func TestMain(m *testing.M) {
	base := runtime.NumGoroutine()
	code := m.Run()
	start := time.Now()
	for runtime.NumGoroutine() > base && time.Since(start) < 15*time.Second {
		time.Sleep(50 * time.Millisecond)
	}
	if n := runtime.NumGoroutine(); n > base && code == 0 {
		buf := make([]byte, 1<<20)
		buf = buf[:runtime.Stack(buf, true)]
		fmt.Fprintf(os.Stderr, "%d goroutines left after the tests (%d before):\n%s", n, base, buf)
		code = 1
	} else if testing.Verbose() {
		fmt.Printf("goroutines back to %d within %v of the last test\n", runtime.NumGoroutine(), time.Since(start).Round(time.Millisecond))
	}
	os.Exit(code)
}
