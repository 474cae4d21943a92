package cli_test

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/minivoice/minivoice/internal/cli"
	netsim "github.com/minivoice/minivoice/internal/sim"
)

// simOutput is a goroutine-safe buffer for a command still running.
type simOutput struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *simOutput) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *simOutput) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// runSim runs `minivoice ARGS` to completion with no MINIVOICE_* variables.
func runSim(t *testing.T, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	var out, errb bytes.Buffer
	code = cli.Main(context.Background(), args, cli.Env{Stdin: strings.NewReader(""), Stdout: &out, Stderr: &errb,
		Getenv: func(string) string { return "" }})
	return code, out.String(), errb.String()
}

// carrierSim is an in-process simulator for `sim call` to call.
func carrierSim(t *testing.T) *netsim.Sim {
	t.Helper()
	s, err := netsim.New(netsim.Config{Listen: "127.0.0.1:0", RecordDir: t.TempDir(), AnswerDelay: 50 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	s.Serve()
	t.Cleanup(func() { _ = s.Close() })
	return s
}

func TestSimCallRefused(t *testing.T) {
	t.Parallel()
	carrier := carrierSim(t)
	code, stdout, stderr := runSim(t, "sim", "call", "--platform", carrier.Addr().String(), "--to", "+15550000404",
		"--from", "+15557654321", "--data", t.TempDir())
	if code != 1 || !strings.Contains(stdout, "refused: 404 Not Found") {
		t.Errorf("exit %d, stdout %q, stderr %q; want 1 and refused: 404 Not Found", code, stdout, stderr)
	}
}

func TestSimCallAnswered(t *testing.T) {
	t.Parallel()
	carrier := carrierSim(t)
	dir := t.TempDir()
	script := filepath.Join(dir, "script.json")
	if err := os.WriteFile(script, []byte(`{"+15557654321": ["wait 0.2", "dtmf 7", "wait 0.5", "hangup"]}`), 0o600); err != nil {
		t.Fatal(err)
	}
	code, stdout, stderr := runSim(t, "sim", "call", "--platform", carrier.Addr().String(), "--to", "+15550000001",
		"--from", "+15557654321", "--script", script, "--record-dir", dir, "--data", t.TempDir())
	if code != 0 || !regexp.MustCompile(`^answered, [0-9.]+ s, heard [0-9.]+ s of audio( \(at [0-9.]+-[0-9.]+ s(, [0-9.]+-[0-9.]+ s)*( and [0-9]+ more)?\))?, pressed 7, hung up by the simulator, recording \S+\.wav\n$`).MatchString(stdout) {
		t.Errorf("exit %d, stdout %q, stderr %q; want 0 and the answered line", code, stdout, stderr)
	}
	rep, err := carrier.WaitCall(context.Background(), "+15550000001")
	if err != nil || rep.DTMFHeard != "7" || rep.EndedBy != netsim.EndedRemote {
		t.Errorf("carrier saw %+v, %v; want DTMF 7 and the caller's BYE", rep, err)
	}
}

func TestSimCallUsage(t *testing.T) {
	t.Parallel()
	if code, _, stderr := runSim(t, "sim", "call", "--to", "+15550000404"); code != 2 || !strings.Contains(stderr, "--platform, --from required") {
		t.Errorf("missing flags: exit %d, stderr %q; want 2", code, stderr)
	}
	bad := filepath.Join(t.TempDir(), "bad.json")
	if err := os.WriteFile(bad, []byte(`["sing a song"]`), 0o600); err != nil {
		t.Fatal(err)
	}
	if code, _, stderr := runSim(t, "sim", "call", "--platform", "127.0.0.1:5060", "--to", "+1555", "--from", "+1666", "--script", bad); code != 2 || !strings.Contains(stderr, "sing") {
		t.Errorf("bad script: exit %d, stderr %q; want 2", code, stderr)
	}
	if code, _, stderr := runSim(t, "sim", "--script", bad); code != 2 {
		t.Errorf("sim with a bad script file: exit %d, stderr %q; want 2", code, stderr)
	}
	if code, _, stderr := runSim(t, "sim", "frobnicate"); code != 2 || !strings.Contains(stderr, "Usage") {
		t.Errorf("sim frobnicate: exit %d, stderr %q; want 2", code, stderr)
	}
}

// TestSimServe runs `minivoice sim` until its context ends, calling it in
// between.
func TestSimServe(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var out, errb simOutput
	done := make(chan int, 1)
	go func() {
		done <- cli.Main(ctx, []string{"sim", "--sip", "127.0.0.1:0", "--record-dir", t.TempDir(), "--data", t.TempDir()},
			cli.Env{Stdin: strings.NewReader(""), Stdout: &out, Stderr: &errb, Getenv: func(string) string { return "" }})
	}()
	re := regexp.MustCompile(`minivoice sim listening on (\S+) `)
	var addr string
	for deadline := time.Now().Add(10 * time.Second); addr == ""; {
		if m := re.FindStringSubmatch(out.String()); m != nil {
			addr = m[1]
		}
		select {
		case code := <-done:
			t.Fatalf("sim exited %d early: %s %s", code, out.String(), errb.String())
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("no listening line: %q %q", out.String(), errb.String())
		}
		time.Sleep(10 * time.Millisecond)
	}
	caller := carrierSim(t)
	rep, err := caller.Call(ctx, netsim.CallOptions{Platform: addr, From: "+15557654321", To: "+15550000486"})
	if err != nil || rep.SIPStatus != 486 {
		t.Errorf("call into `minivoice sim`: %+v, %v; want 486", rep, err)
	}
	cancel()
	if code := <-done; code != 0 {
		t.Errorf("sim exited %d after its context ended; want 0 (stderr %q)", code, errb.String())
	}
}
