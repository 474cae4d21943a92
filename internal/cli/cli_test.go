package cli_test

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/minivoice/minivoice/internal/cli"
)

// syncBuffer is a bytes.Buffer safe for a writer and a reader in two goroutines.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// noEnv keeps the machine's environment (MINIVOICE_*) out of the tests.
func noEnv(string) string { return "" }

// run runs cli.Main to completion and returns its exit code and output.
func run(t *testing.T, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	var out, errb bytes.Buffer
	code = cli.Main(context.Background(), args, cli.Env{Stdin: strings.NewReader(""), Stdout: &out, Stderr: &errb, Getenv: noEnv})
	return code, out.String(), errb.String()
}

func TestMainUsage(t *testing.T) {
	if code, _, stderr := run(t); code != 2 || !strings.Contains(stderr, "Usage:") {
		t.Errorf("no command: exit %d, stderr %q; want 2 and the usage", code, stderr)
	}
	if code, _, stderr := run(t, "frobnicate"); code != 2 || !strings.Contains(stderr, `unknown command "frobnicate"`) {
		t.Errorf("unknown command: exit %d, stderr %q; want 2", code, stderr)
	}
	for _, arg := range []string{"help", "--help", "-h"} {
		if code, stdout, _ := run(t, arg); code != 0 || !strings.Contains(stdout, "minivoice serve") {
			t.Errorf("%s: exit %d, stdout %q; want 0 and the usage", arg, code, stdout)
		}
	}
}

func TestVersion(t *testing.T) {
	for _, arg := range []string{"version", "--version"} {
		code, stdout, _ := run(t, arg)
		if code != 0 || !strings.HasPrefix(stdout, "minivoice ") || !strings.Contains(stdout, "go1") {
			t.Errorf("%s: exit %d, stdout %q; want 0 and \"minivoice VERSION, commit ..., goX\"", arg, code, stdout)
		}
	}
}

func TestServeBadUsage(t *testing.T) {
	dir := t.TempDir()
	for _, args := range [][]string{
		{"serve", "--no-such-flag"},
		{"serve", "--data", dir, "--http", "nonsense"},
		{"serve", "--data", dir, "--rtp-ports", "1-2"},
		{"serve", "--data", dir, "--log-level", "loud"},
		{"serve", "--data", dir, "positional"},
	} {
		code, stdout, stderr := run(t, args...)
		if code != 2 {
			t.Errorf("%v: exit %d, want 2 (stderr %q)", args, code, stderr)
		}
		if stdout != "" {
			t.Errorf("%v: printed %q to stdout", args, stdout)
		}
		if stderr == "" {
			t.Errorf("%v: no reason on stderr", args)
		}
	}
	if code, _, _ := run(t, "serve", "--help"); code != 0 {
		t.Errorf("serve --help: exit %d, want 0", code)
	}
	// Nothing was started, so no key was made.
	if _, err := os.Stat(filepath.Join(dir, "admin.key")); !os.IsNotExist(err) {
		t.Errorf("a failed serve left admin.key: %v", err)
	}
}

func TestServeListenFailure(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	code, _, stderr := run(t, "serve", "--data", t.TempDir(), "--http", ln.Addr().String())
	if code != 1 || !strings.Contains(stderr, "listen") {
		t.Fatalf("serve on a taken port: exit %d, stderr %q; want 1", code, stderr)
	}
}

// server is a `minivoice serve` running in the test process.
type server struct {
	addr   string
	stdout *syncBuffer
	stderr *syncBuffer
	cancel context.CancelFunc
	done   chan int
}

// startServe runs `serve` on a free port and waits for it to announce its address.
func startServe(t *testing.T, dir string) *server {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	pr, pw := io.Pipe()
	s := &server{stdout: &syncBuffer{}, stderr: &syncBuffer{}, cancel: cancel, done: make(chan int, 1)}
	lines := make(chan string, 16)
	go func() {
		defer close(lines)
		sc := bufio.NewScanner(pr)
		for sc.Scan() {
			s.stdout.Write([]byte(sc.Text() + "\n"))
			select {
			case lines <- sc.Text():
			default:
			}
		}
	}()
	go func() {
		code := cli.Main(ctx, []string{"serve", "--data", dir, "--http", "127.0.0.1:0", "--sip", "127.0.0.1:0", "--drain-timeout", "5s"},
			cli.Env{Stdin: strings.NewReader(""), Stdout: pw, Stderr: s.stderr, Getenv: noEnv})
		pw.Close()
		s.done <- code
	}()
	const banner = "minivoice serving the API on http://"
	deadline := time.After(time.Minute) // a guard against hanging, not a timing assertion
	for s.addr == "" {
		select {
		case line, ok := <-lines:
			if !ok {
				code := <-s.done
				t.Fatalf("serve exited %d before serving\nstdout:\n%s\nstderr:\n%s", code, s.stdout.String(), s.stderr.String())
			}
			if a, found := strings.CutPrefix(line, banner); found {
				s.addr, _, _ = strings.Cut(a, " ")
			}
		case <-deadline:
			cancel()
			t.Fatalf("serve did not announce its address\nstdout:\n%s\nstderr:\n%s", s.stdout.String(), s.stderr.String())
		}
	}
	t.Cleanup(func() { s.stop(t) })
	return s
}

// stop cancels serve's context and returns its exit code (once).
func (s *server) stop(t *testing.T) int {
	t.Helper()
	if s.cancel == nil {
		return 0
	}
	s.cancel()
	s.cancel = nil
	select {
	case code := <-s.done:
		return code
	case <-time.After(time.Minute):
		t.Fatalf("serve did not stop after its context was canceled\nstderr:\n%s", s.stderr.String())
		return -1
	}
}

func TestServeAndAdmin(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "data")
	s := startServe(t, dir)
	base := "http://" + s.addr
	// The start-up line says where the console is, next to the API.
	if want := "; the console on " + base + "/\n"; !strings.Contains(s.stdout.String(), want) {
		t.Errorf("serve's start-up output %q lacks %q", s.stdout.String(), want)
	}

	resp, err := http.Get(base + "/healthz")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("/healthz: %d %s", resp.StatusCode, body)
	}

	// The operator key was created 0600 and printed once, to stdout only.
	keyPath := filepath.Join(dir, "admin.key")
	fi, err := os.Stat(keyPath)
	if err != nil {
		t.Fatal(err)
	}
	if mode := fi.Mode().Perm(); mode != 0o600 {
		t.Errorf("admin.key mode %o, want 600", mode)
	}
	raw, err := os.ReadFile(keyPath)
	if err != nil {
		t.Fatal(err)
	}
	key := strings.TrimSpace(string(raw))
	if key == "" {
		t.Fatal("admin.key is empty")
	}
	if n := strings.Count(s.stdout.String(), key); n != 1 {
		t.Errorf("the key appears %d times on stdout, want once:\n%s", n, s.stdout.String())
	}
	if !strings.Contains(s.stdout.String(), "operator key (shown once, also saved in "+keyPath+"): "+key) {
		t.Errorf("stdout does not announce the key and its path:\n%s", s.stdout.String())
	}

	// The key works.
	req, _ := http.NewRequest("GET", base+"/v1/customers", nil)
	req.Header.Set("Authorization", "Bearer "+key)
	resp, err = http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET /v1/customers with the printed key: %d", resp.StatusCode)
	}

	common := []string{"--api", base, "--data", dir}
	admin := func(args ...string) (int, string, string) {
		t.Helper()
		return run(t, append(append([]string{"admin"}, args...), common...)...)
	}

	// customers create prints the customer.
	code, stdout, stderr := admin("customers", "create", "--name", "Acme Ltd")
	if code != 0 {
		t.Fatalf("customers create: exit %d\n%s", code, stderr)
	}
	var cust map[string]any
	if err := json.Unmarshal([]byte(stdout), &cust); err != nil {
		t.Fatalf("customers create printed %q: %v", stdout, err)
	}
	custID, _ := cust["id"].(string)
	if !strings.HasPrefix(custID, "cust_") || cust["name"] != "Acme Ltd" || cust["currency"] != "EUR" {
		t.Fatalf("customers create printed %v", cust)
	}

	// rates import loads a CSV deck; the file comes before the flags.
	csvPath := filepath.Join(t.TempDir(), "deck.csv")
	if err := os.WriteFile(csvPath, []byte("prefix,price_per_minute,initial_increment,subsequent_increment\n1,0.01,60,60\n44,0.02,1,1\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	code, stdout, stderr = admin("rates", "import", csvPath)
	if code != 0 {
		t.Fatalf("rates import: exit %d\n%s", code, stderr)
	}
	var imported map[string]any
	if err := json.Unmarshal([]byte(stdout), &imported); err != nil || imported["imported"] != float64(2) {
		t.Fatalf("rates import printed %q (%v), want imported 2", stdout, err)
	}
	// Into the customer's deck too.
	code, stdout, stderr = admin("rates", "import", csvPath, "--customer", custID, "--direction", "inbound")
	if code != 0 || !strings.Contains(stdout, custID) {
		t.Fatalf("rates import --customer: exit %d\n%s%s", code, stdout, stderr)
	}
	// A bad deck is refused by the API: exit 1, the error on stderr.
	badPath := filepath.Join(t.TempDir(), "bad.csv")
	if err := os.WriteFile(badPath, []byte("1,free\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if code, stdout, stderr := admin("rates", "import", badPath); code != 1 || stdout != "" || !strings.Contains(stderr, "invalid_request") {
		t.Errorf("bad deck: exit %d, stdout %q, stderr %q; want 1 and the API error", code, stdout, stderr)
	}
	// A missing file is a usage error.
	if code, _, _ := admin("rates", "import", filepath.Join(t.TempDir(), "missing.csv")); code != 2 {
		t.Errorf("missing CSV: exit %d, want 2", code)
	}
	if code, _, _ := admin("rates", "import"); code != 2 {
		t.Errorf("rates import without a file: exit %d, want 2", code)
	}

	// keys create needs exactly one of --customer and --application.
	if code, stdout, stderr := admin("keys", "create"); code != 2 || stdout != "" || !strings.Contains(stderr, "exactly one") {
		t.Errorf("keys create with neither flag: exit %d, stdout %q, stderr %q; want 2", code, stdout, stderr)
	}
	if code, _, _ := admin("keys", "create", "--customer", custID, "--application", "app_x"); code != 2 {
		t.Errorf("keys create with both flags: exit %d, want 2", code)
	}
	code, stdout, stderr = admin("keys", "create", "--customer", custID, "--name", "ci")
	if code != 0 || !strings.Contains(stdout, `"key"`) {
		t.Fatalf("keys create --customer: exit %d\n%s%s", code, stdout, stderr)
	}

	// Other usage errors.
	if code, _, _ := admin("customers", "create"); code != 2 {
		t.Errorf("customers create without --name: exit %d, want 2", code)
	}
	if code, _, _ := admin("customers", "delete"); code != 2 {
		t.Errorf("unknown admin command: exit %d, want 2", code)
	}
	if code, _, _ := run(t, "admin"); code != 2 {
		t.Errorf("bare admin: exit %d, want 2", code)
	}
	if code, _, _ := admin("customers", "create", "--name", "x", "--bogus"); code != 2 {
		t.Errorf("admin with an unknown flag: exit %d, want 2", code)
	}
	// No key anywhere: a usage error, before any request.
	if code, _, stderr := run(t, "admin", "customers", "create", "--name", "x", "--api", base, "--data", t.TempDir()); code != 2 || !strings.Contains(stderr, "no operator key") {
		t.Errorf("admin without a key: exit %d, stderr %q; want 2", code, stderr)
	}
	// A wrong key is the API's 401: exit 1.
	if code, _, stderr := run(t, "admin", "customers", "create", "--name", "x", "--api", base, "--key", "mvk_op_wrongwrongwrongwrong"); code != 1 || !strings.Contains(stderr, "unauthorized") {
		t.Errorf("admin with a wrong key: exit %d, stderr %q; want 1", code, stderr)
	}

	if code := s.stop(t); code != 0 {
		t.Fatalf("serve exited %d after its context was canceled\nstderr:\n%s", code, s.stderr.String())
	}
	if strings.Contains(s.stderr.String(), key) {
		t.Errorf("the operator key was written to the logs:\n%s", s.stderr.String())
	}
	// Logs are JSON lines.
	for _, line := range strings.Split(strings.TrimSpace(s.stderr.String()), "\n") {
		if line != "" && !json.Valid([]byte(line)) {
			t.Errorf("log line is not JSON: %q", line)
		}
	}

	// A restart reuses the key and does not print it again.
	s2 := startServe(t, dir)
	if code := s2.stop(t); code != 0 {
		t.Fatalf("second serve exited %d", code)
	}
	if strings.Contains(s2.stdout.String(), key) || strings.Contains(s2.stdout.String(), "operator key") {
		t.Errorf("the second serve printed the key again:\n%s", s2.stdout.String())
	}
	if raw2, _ := os.ReadFile(keyPath); string(raw2) != string(raw) {
		t.Errorf("admin.key changed on restart")
	}
}

// TestVersionEngines: version reports the engines serve would use with the
// same settings, and whether each can run; an unreachable --asr-url and
// --llm-url say so rather than pretending.
func TestVersionEngines(t *testing.T) {
	t.Parallel()
	var out, errb bytes.Buffer
	env := map[string]string{"MINIVOICE_ASR_URL": "http://127.0.0.1:9", "MINIVOICE_LLM_URL": "http://127.0.0.1:9", "MINIVOICE_LLM_MODEL": "qwen"}
	code := cli.Main(context.Background(), []string{"version"}, cli.Env{Stdin: strings.NewReader(""), Stdout: &out, Stderr: &errb,
		Getenv: func(k string) string { return env[k] }})
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errb.String())
	}
	lines := strings.Split(strings.TrimSpace(out.String()), "\n")
	if len(lines) != 4 || !strings.HasPrefix(lines[1], "tts: flite (") ||
		!strings.HasPrefix(lines[2], "asr: openai-compatible:whisper-1 (unavailable): ") ||
		!strings.HasPrefix(lines[3], "llm: llm:qwen (unavailable): ") {
		t.Errorf("version with remote engines down:\n%s", out.String())
	}

	code, stdout, _ := run(t, "version", "--pocketsphinx-model", t.TempDir())
	if code != 0 || !strings.Contains(stdout, "asr: pocketsphinx (unavailable): ") ||
		!strings.Contains(stdout, "llm: none (not configured)") {
		t.Errorf("version with no pocketsphinx model: exit %d\n%s", code, stdout)
	}
	if code, _, _ := run(t, "version", "--asr-url", "ftp://x"); code != 2 {
		t.Errorf("bad --asr-url: exit %d, want 2", code)
	}
}
