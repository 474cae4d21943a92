package e2e

import (
	"bufio"
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"regexp"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/minivoice/minivoice/internal/sim"
	"github.com/minivoice/minivoice/internal/store/storetest"
	"github.com/minivoice/minivoice/internal/tts"
)

// upgradeBase is the release the upgrade test starts from while no release
// tag exists: the commit issue 19 (packages, upgrades) started from. Once a
// v* tag exists, the newest one reachable from HEAD is used instead;
// MINIVOICE_UPGRADE_FROM names another commit.
const upgradeBase = "303879d"

// buildOld compiles cmd/minivoice as it was at the previous release, from
// `git archive` of that commit, in dir.
func buildOld(dir string) (string, error) {
	from := os.Getenv("MINIVOICE_UPGRADE_FROM")
	if from == "" {
		from = upgradeBase
		if tag, err := exec.Command("git", "describe", "--tags", "--abbrev=0", "--match", "v[0-9]*", "HEAD").Output(); err == nil {
			from = strings.TrimSpace(string(tag))
		}
	}
	src := filepath.Join(dir, "src")
	if err := os.MkdirAll(src, 0o755); err != nil {
		return "", err
	}
	top, err := exec.Command("git", "rev-parse", "--show-toplevel").Output()
	if err != nil {
		return "", fmt.Errorf("git rev-parse: %w", err)
	}
	// From the top: in a subdirectory git archive takes only that subtree.
	archive := exec.Command("git", "archive", "--format=tar", from)
	archive.Dir = strings.TrimSpace(string(top))
	tar := exec.Command("tar", "-x", "-C", src)
	pipe, err := archive.StdoutPipe()
	if err != nil {
		return "", err
	}
	tar.Stdin = pipe
	var archiveErr bytes.Buffer
	archive.Stderr = &archiveErr
	if err := tar.Start(); err != nil {
		return "", err
	}
	if err := archive.Run(); err != nil {
		return "", fmt.Errorf("git archive %s: %w: %s", from, err, archiveErr.String())
	}
	if err := tar.Wait(); err != nil {
		return "", fmt.Errorf("untar %s: %w", from, err)
	}
	bin := filepath.Join(dir, "minivoice-"+from)
	cmd := exec.Command("go", "build", "-o", bin, "./cmd/minivoice")
	cmd.Dir = src
	if out, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("go build at %s: %w\n%s", from, err, out)
	}
	return bin, nil
}

// upgradeKey is the operator key both releases are started with.
const upgradeKey = "mvk_op_upgrade_test_operator_key_00"

// TestUpgradeFromPreviousRelease: the previous release's `minivoice serve`
// fills a database through its API (a customer with credit and rates, a
// trunk, an application, recorded calls with their charges, transcripts and
// analyses, and webhooks its receiver has not taken yet); this tree's
// binary then starts on the same database and data directory, every object
// reads back as the old one wrote it (new fields may be added), every
// recording has the same bytes, and the webhooks still pending are
// delivered once the receiver is back. On SQLite and PostgreSQL.
func TestUpgradeFromPreviousRelease(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the previous release and places real calls")
	}
	if _, err := exec.LookPath("git"); err != nil {
		t.Skip("git is not installed: the previous release is built from the repository's history")
	}
	if err := exec.Command("git", "cat-file", "-e", upgradeBase+"^{commit}").Run(); err != nil && os.Getenv("MINIVOICE_UPGRADE_FROM") == "" {
		t.Skipf("the previous release (%s) is not in this checkout's history (a shallow clone?)", upgradeBase)
	}
	if _, err := exec.LookPath("flite"); err != nil {
		t.Skip("flite is not installed")
	}
	t.Parallel()
	oldBin, err := buildOld(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	newBin := build(t)
	for _, backend := range []string{"sqlite", "postgres"} {
		t.Run(backend, func(t *testing.T) {
			t.Parallel()
			database := ""
			if backend == "postgres" {
				database = storetest.SchemaURL(t) // skips without PostgreSQL
			}
			upgradeRun(t, oldBin, newBin, database)
		})
	}
}

func upgradeRun(t *testing.T, oldBin, newBin, database string) {
	data := t.TempDir()
	// The webhook receiver is down while the old release runs: its port is
	// reserved now and served only after the upgrade.
	hookLn, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	hookAddr := hookLn.Addr().String()
	hookLn.Close()

	app := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		fmt.Fprint(w, `[{"action":"say","text":"hello, this call is recorded before the upgrade"},{"action":"hangup"}]`)
	}))
	t.Cleanup(app.Close)
	speaker, err := tts.New(tts.Config{CacheDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	carrier, err := sim.New(sim.Config{Listen: "127.0.0.1:0", RecordDir: t.TempDir(), Speaker: speaker, AnswerDelay: -1})
	if err != nil {
		t.Fatal(err)
	}
	carrier.Serve()
	t.Cleanup(func() { _ = carrier.Close() })

	old := startServe(t, oldBin, data, database)
	cust := old.id(t, "POST", "/v1/customers", map[string]any{"name": "upgrade", "max_concurrent_calls": 10, "max_cps": 10, "allow_any_caller_id": true})
	old.do(t, "POST", "/v1/customers/"+cust+"/credits", map[string]any{"amount": "25.00", "description": "before the upgrade"}, 201)
	for _, dir := range []string{"outbound", "inbound"} {
		old.do(t, "POST", "/v1/rates", map[string]any{"customer_id": cust, "direction": dir, "prefix": "1",
			"price_per_minute": "0.0125", "initial_increment": 6, "subsequent_increment": 6}, 201)
	}
	old.do(t, "POST", "/v1/trunks", map[string]any{"name": "carrier", "host": "127.0.0.1", "port": int(carrier.Addr().Port()),
		"customer_id": cust, "max_cps": 10}, 201)
	appID := old.id(t, "POST", "/v1/applications", map[string]any{"customer_id": cust, "name": "upgrade",
		"answer_url": app.URL, "webhook_url": "http://" + hookAddr + "/hook"})
	var calls []string
	for i := range 2 {
		calls = append(calls, old.id(t, "POST", "/v1/calls", map[string]any{"to": fmt.Sprintf("+1555008%04d", i),
			"from": "+15551230001", "application_id": appID, "record": true}))
	}
	// Each call ends, its recording closes and is transcribed and analysed.
	for _, id := range calls {
		old.waitFor(t, "call "+id+" to end and be analysed", func() bool {
			c := old.do(t, "GET", "/v1/calls/"+id, nil, 200)
			if c["status"] != "completed" {
				return false
			}
			for _, part := range []string{"transcription", "summary", "score", "topics"} {
				body, code := old.get(t, "/v1/calls/"+id+"/"+part)
				var v struct{ Status string }
				if code != 200 || json.Unmarshal(body, &v) != nil || v.Status != "completed" {
					return false
				}
			}
			return true
		})
	}
	pending := old.pendingEvents(t)
	if pending == 0 {
		t.Fatal("no webhook pending before the upgrade: the receiver was supposed to be down")
	}
	before := old.snapshot(t, cust, calls)
	old.stop(t)

	upgraded := startServe(t, newBin, data, database)
	after := upgraded.snapshot(t, cust, calls)
	for name, was := range before {
		if diff := compareObjects(was, after[name]); diff != "" {
			t.Errorf("%s after the upgrade: %s", name, diff)
		}
	}
	// The receiver comes back; the new release delivers what was pending.
	var delivered atomic.Int32
	hook := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		delivered.Add(1)
		w.WriteHeader(http.StatusNoContent)
	}), ReadHeaderTimeout: 5 * time.Second}
	ln, err := net.Listen("tcp", hookAddr)
	if err != nil {
		t.Fatalf("the receiver's port was taken meanwhile: %v", err)
	}
	go func() { _ = hook.Serve(ln) }()
	t.Cleanup(func() { _ = hook.Close() })
	upgraded.waitFor(t, fmt.Sprintf("the %d pending webhooks to be delivered", pending), func() bool {
		return upgraded.pendingEvents(t) == 0
	})
	t.Logf("upgrade: %d objects read back unchanged, %d pending webhooks delivered after it (%d requests)", len(before), pending, delivered.Load())
}

// served is a `minivoice serve` process the test started.
type served struct {
	api    string
	cmd    *exec.Cmd
	log    *lockedWriter
	client *http.Client
	exited chan struct{}
}

// startServe runs bin serve on data (and database, if not empty) with free
// loopback ports and a retry schedule of 5 s for webhooks, and returns once
// it serves.
func startServe(t *testing.T, bin, data, database string) *served {
	t.Helper()
	args := []string{"serve", "--data", data, "--http", "127.0.0.1:0", "--sip", "127.0.0.1:0", "--rtp-ports", "30000-40000",
		"--allow-private-urls", "127.0.0.0/8", "--webhook-retry-schedule", "5s,5s,5s,5s,5s,5s,5s,5s,5s,5s", "--drain-timeout", "5s"}
	if database != "" {
		args = append(args, "--database", database)
	}
	cmd := exec.Command(bin, args...)
	cmd.Env = append(os.Environ(), "MINIVOICE_ADMIN_KEY="+upgradeKey)
	s := &served{cmd: cmd, log: &lockedWriter{w: &bytes.Buffer{}}, client: &http.Client{Timeout: 30 * time.Second}, exited: make(chan struct{})}
	cmd.Stderr = s.log
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	addr := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(stdout)
		re := regexp.MustCompile(`serving the API on (http://\S+)`)
		for sc.Scan() {
			if m := re.FindStringSubmatch(sc.Text()); m != nil {
				addr <- m[1]
			}
		}
	}()
	go func() { _ = cmd.Wait(); close(s.exited) }()
	t.Cleanup(func() { s.stop(t) })
	select {
	case s.api = <-addr:
	case <-s.exited:
		t.Fatalf("%s serve exited at start:\n%s", bin, s.log.String())
	case <-time.After(60 * time.Second):
		t.Fatalf("%s serve did not start in 60 s:\n%s", bin, s.log.String())
	}
	return s
}

// stop sends SIGTERM and waits for the process to exit.
func (s *served) stop(t *testing.T) {
	select {
	case <-s.exited:
		return
	default:
	}
	_ = s.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-s.exited:
	case <-time.After(30 * time.Second):
		_ = s.cmd.Process.Kill()
		<-s.exited
		t.Errorf("serve did not stop within 30 s of SIGTERM")
	}
}

// get fetches path and returns the raw body and status.
func (s *served) get(t *testing.T, path string) ([]byte, int) {
	t.Helper()
	req, _ := http.NewRequest("GET", s.api+path, nil)
	req.Header.Set("Authorization", "Bearer "+upgradeKey)
	resp, err := s.client.Do(req)
	if err != nil {
		t.Fatalf("GET %s: %v", path, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("GET %s: %v", path, err)
	}
	return body, resp.StatusCode
}

// do sends a JSON request and decodes the answer, which must have status want.
func (s *served) do(t *testing.T, method, path string, body any, want int) map[string]any {
	t.Helper()
	var rd io.Reader
	if body != nil {
		b, _ := json.Marshal(body)
		rd = bytes.NewReader(b)
	}
	req, _ := http.NewRequest(method, s.api+path, rd)
	req.Header.Set("Authorization", "Bearer "+upgradeKey)
	req.Header.Set("Content-Type", "application/json")
	resp, err := s.client.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != want {
		t.Fatalf("%s %s: %d, want %d: %s", method, path, resp.StatusCode, want, raw)
	}
	out := map[string]any{}
	_ = json.Unmarshal(raw, &out)
	return out
}

// id is do for a create (201) that returns the new object's id.
func (s *served) id(t *testing.T, method, path string, body any) string {
	t.Helper()
	id, _ := s.do(t, method, path, body, 201)["id"].(string)
	if id == "" {
		t.Fatalf("%s %s: no id", method, path)
	}
	return id
}

// waitFor polls cond every 200 ms for up to 90 s.
func (s *served) waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(90 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("waited 90 s for %s; serve's log:\n%s", what, s.log.String())
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// pendingEvents counts the events not yet delivered (nor given up on).
func (s *served) pendingEvents(t *testing.T) int {
	t.Helper()
	n := 0
	for _, e := range s.do(t, "GET", "/v1/events?limit=200", nil, 200)["data"].([]any) {
		switch e.(map[string]any)["delivery_status"] {
		case "pending", "retrying":
			n++
		}
	}
	return n
}

// snapshot reads every object the test made, by name: the lists, the
// ledger, each call's insights and each recording's media hash.
func (s *served) snapshot(t *testing.T, cust string, calls []string) map[string]any {
	t.Helper()
	out := map[string]any{}
	for _, list := range []string{"customers", "rates", "trunks", "applications", "calls", "recordings", "events"} {
		for _, o := range s.do(t, "GET", "/v1/"+list+"?limit=200", nil, 200)["data"].([]any) {
			obj := o.(map[string]any)
			if list == "events" {
				// Delivery moves on after the upgrade; the event itself must not.
				delete(obj, "delivery_status")
				delete(obj, "attempts")
				delete(obj, "next_attempt_at")
			}
			out[list+"/"+fmt.Sprint(obj["id"])] = obj
		}
	}
	out["ledger"] = s.do(t, "GET", "/v1/customers/"+cust+"/ledger?limit=200", nil, 200)["data"]
	for _, id := range calls {
		for _, part := range []string{"transcription", "summary", "score", "topics"} {
			body, code := s.get(t, "/v1/calls/"+id+"/"+part)
			var v any
			_ = json.Unmarshal(body, &v)
			out["calls/"+id+"/"+part] = map[string]any{"status": code, "body": v}
		}
	}
	var recordings []string
	for name := range out {
		if id, ok := strings.CutPrefix(name, "recordings/"); ok {
			recordings = append(recordings, id)
		}
	}
	for _, id := range recordings {
		body, code := s.get(t, "/v1/recordings/"+id+"/media")
		sum := sha256.Sum256(body)
		out["recordings/"+id+"/media"] = fmt.Sprintf("%d %s", code, hex.EncodeToString(sum[:]))
	}
	return out
}

// compareObjects says how now differs from was, ignoring keys that only now
// has (a newer release may add fields); "" when it does not.
func compareObjects(was, now any) string {
	switch w := was.(type) {
	case map[string]any:
		n, ok := now.(map[string]any)
		if !ok {
			return fmt.Sprintf("was %v, now %v", was, now)
		}
		for k, v := range w {
			if d := compareObjects(v, n[k]); d != "" {
				return k + ": " + d
			}
		}
		return ""
	case []any:
		n, ok := now.([]any)
		if !ok || len(n) != len(w) {
			return fmt.Sprintf("was %v, now %v", was, now)
		}
		for i := range w {
			if d := compareObjects(w[i], n[i]); d != "" {
				return fmt.Sprintf("[%d]: %s", i, d)
			}
		}
		return ""
	}
	if !reflect.DeepEqual(was, now) {
		return fmt.Sprintf("was %v, now %v", was, now)
	}
	return ""
}

// lockedWriter serialises writes to w (a process's stderr, read by the
// test while the process runs).
type lockedWriter struct {
	mu sync.Mutex
	w  *bytes.Buffer
}

// String returns what was written so far.
func (l *lockedWriter) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.String()
}

func (l *lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(p)
}
