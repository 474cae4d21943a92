package e2e

import (
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/emiago/sipgo/sip"
)

// The SIP timers of every platform and simulator this process runs: T1 is
// 100 ms instead of RFC 3261's 500 ms, so what waits 64*T1 (an unanswered
// 200 OK's ACK, a transaction's end, a peer that never answers) takes 6.4 s
// instead of 32 s, and T4 (how long a finished transaction absorbs
// retransmissions) 1 s instead of 5 s.
// Loopback never needs the longer values; no test here measures a timer's
// RFC value (internal/sip's tests do), only what happens when it fires.
// `minivoice serve` processes the tests start keep the RFC values.
const (
	rfcT1  = 500 * time.Millisecond
	testT1 = 100 * time.Millisecond
	testT2 = time.Second
	testT4 = time.Second
)

// e2eParallel is how many tests run at once unless -parallel says
// otherwise: the tests spend most of their time waiting for calls that run in
// real time (a prompt, a ringing phone), not on the CPU, so the default of
// one per core leaves the machine idle. The insights tests, whose
// transcriptions judge the timing and quality of recorded audio, do not run
// in parallel: they run first, alone.
const e2eParallel = 3

// envAlone names the test a child process of aloneInProcess runs.
const envAlone = "MINIVOICE_E2E_ALONE"

// binDir holds the minivoice binary that build compiles once for the whole
// package; TestMain removes it.
var binDir string

// TestMain skips the package under -short (every test here runs the whole
// platform, real calls, or external programs), shortens the SIP timers of
// in-process platforms, and removes the shared binary afterwards.
func TestMain(m *testing.M) {
	flag.Parse()
	if testing.Short() {
		fmt.Println("e2e: skipped under -short: every test here places real calls through the whole platform; run without -short")
		os.Exit(0)
	}
	sip.SetTimers(testT1, testT2, testT4)
	// Requests and error responses are still retransmitted from RFC 3261's
	// 500 ms on: on a loaded machine an answer can take longer than 100 ms,
	// and a retransmitted INVITE is a second refusal to the SIP edge.
	sip.Timer_A, sip.Timer_E, sip.Timer_G = rfcT1, rfcT1, rfcT1
	parallelSet := false
	flag.Visit(func(f *flag.Flag) { parallelSet = parallelSet || f.Name == "test.parallel" })
	if !parallelSet {
		_ = flag.Set("test.parallel", strconv.Itoa(e2eParallel))
	}
	dir, err := os.MkdirTemp("", "minivoice-e2e-bin-")
	if err != nil {
		fmt.Fprintln(os.Stderr, "e2e:", err)
		os.Exit(1)
	}
	binDir = dir
	code := m.Run()
	_ = os.RemoveAll(dir)
	os.Exit(code)
}

// buildOnce compiles cmd/minivoice for the first test that asks, shared by
// all: a link of the whole binary costs seconds of CPU on every call.
var buildOnce = sync.OnceValues(func() (string, error) {
	bin := filepath.Join(binDir, "minivoice")
	cmd := exec.Command("go", "build", "-o", bin, "github.com/minivoice/minivoice/cmd/minivoice")
	if out, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("go build: %w\n%s", err, out)
	}
	return bin, nil
})

// build returns the path of the minivoice binary, compiled once per test
// process (tests must not modify it).
func build(t *testing.T) string {
	t.Helper()
	bin, err := buildOnce()
	if err != nil {
		t.Fatal(err)
	}
	return bin
}

// aloneInProcess lets a test that counts the process's goroutines run in
// parallel with the others: in the test process it marks the test parallel,
// runs it again in a child process of the test binary where it is the only
// test, reports the child's failure as its own, and returns false (the
// caller returns at once); in that child it returns true and the test runs.
func aloneInProcess(t *testing.T) bool {
	t.Helper()
	if os.Getenv(envAlone) == t.Name() {
		return true
	}
	t.Parallel()
	args := []string{"-test.run=^" + t.Name() + "$", "-test.count=1", "-test.v=true"}
	if d, ok := t.Deadline(); ok {
		args = append(args, "-test.timeout="+time.Until(d).Round(time.Second).String())
	}
	cmd := exec.Command(os.Args[0], args...)
	cmd.Env = append(os.Environ(), envAlone+"="+t.Name())
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("%s in its own process: %v\n%s", t.Name(), err, out)
	}
	t.Logf("%s passed in its own process", t.Name())
	return false
}
