package cli_test

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/minivoice/minivoice/internal/cli"
	"github.com/minivoice/minivoice/webhook"
)

const (
	hookSecret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
	hookBody   = `{"id":"evt_1","event":"call.completed","created_at":"2026-05-29T12:10:00Z","call":{"id":"call_1"},"variables":{},"data":{}}`
)

// runStdin runs cli.Main with stdin and the given MINIVOICE_* variables.
func runStdin(t *testing.T, stdin string, vars map[string]string, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	var out, errb bytes.Buffer
	code = cli.Main(context.Background(), args, cli.Env{Stdin: strings.NewReader(stdin), Stdout: &out, Stderr: &errb,
		Getenv: func(k string) string { return vars[k] }})
	return code, out.String(), errb.String()
}

// signedHeaders are the webhook headers of body, signed at ts.
func signedHeaders(t *testing.T, body string, ts time.Time, secrets ...string) http.Header {
	t.Helper()
	h := http.Header{}
	if err := webhook.SignRequest(h, "evt_1", ts, []byte(body), secrets...); err != nil {
		t.Fatal(err)
	}
	return h
}

// rawRequest writes a captured HTTP/1.1 request as a receiver sees it on the wire.
func rawRequest(t *testing.T, h http.Header, body string) string {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, "http://receiver.example/hooks", strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header = h.Clone()
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", "MiniVoice/test")
	var buf bytes.Buffer
	if err := req.Write(&buf); err != nil {
		t.Fatal(err)
	}
	return buf.String()
}

// headerBlock writes the headers as bare "name: value" lines (LF), a blank
// line and the body: what a developer pastes from a log.
func headerBlock(h http.Header, body string) string {
	var b strings.Builder
	for _, k := range []string{webhook.HeaderID, webhook.HeaderTimestamp, webhook.HeaderSignature} {
		fmt.Fprintf(&b, "%s: %s\n", k, h.Get(k))
	}
	return b.String() + "\n" + body
}

func TestWebhooksVerify(t *testing.T) {
	t.Parallel()
	now := time.Now()
	h := signedHeaders(t, hookBody, now, hookSecret)
	old := signedHeaders(t, hookBody, now.Add(-3*time.Hour), hookSecret)
	rotated := signedHeaders(t, hookBody, now, "whsec_QUJDREVGR0hJSktMTU5PUFFSU1RVVldYWVo=", hookSecret)
	chunked := "POST /hooks HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\nwebhook-id: evt_1\r\nwebhook-timestamp: " +
		h.Get("webhook-timestamp") + "\r\nwebhook-signature: " + h.Get("webhook-signature") + "\r\n\r\n" +
		fmt.Sprintf("%x\r\n%s\r\n%x\r\n%s\r\n0\r\n\r\n", 10, hookBody[:10], len(hookBody)-10, hookBody[10:])
	cases := []struct {
		name  string
		stdin string
		args  []string
		code  int
		out   string
	}{
		{"raw request", rawRequest(t, h, hookBody), nil, 0, "valid: call.completed evt_1 call_1, signed "},
		{"chunked raw request", chunked, nil, 0, "valid: call.completed"},
		{"header block", headerBlock(h, hookBody), nil, 0, "valid: "},
		{"header block with a final newline", headerBlock(h, hookBody) + "\n", nil, 0, "valid: "},
		{"header block with CRLF", strings.ReplaceAll(headerBlock(h, hookBody), "\n", "\r\n") + "\r\n", nil, 0, "valid: "},
		{"leading blank lines", "\n\n" + rawRequest(t, h, hookBody), nil, 0, "valid: "},
		{"rotation: either secret", rawRequest(t, rotated, hookBody), nil, 0, "valid: "},
		{"tampered body", rawRequest(t, h, strings.Replace(hookBody, "completed", "answered", 1)), nil, 1, "invalid: no matching signature"},
		{"old, any age", rawRequest(t, old, hookBody), nil, 0, "(3h0m"},
		{"old, with a tolerance", rawRequest(t, old, hookBody), []string{"--tolerance", "5m"}, 1, "invalid: timestamp"},
		{"no signature headers", rawRequest(t, http.Header{}, hookBody), nil, 1, "invalid: missing"},
		{"short body", strings.Replace(rawRequest(t, h, hookBody), hookBody, hookBody[:20], 1), nil, 1, "invalid: the body is shorter"},
		{"not a request", "hello", nil, 1, "invalid: not an HTTP request"},
		{"empty", "", nil, 1, "invalid: "},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			args := append([]string{"webhooks", "verify", "--secret", hookSecret}, tc.args...)
			code, stdout, stderr := runStdin(t, tc.stdin, nil, args...)
			if code != tc.code || !strings.Contains(stdout, tc.out) {
				t.Errorf("exit %d, stdout %q, stderr %q; want %d and %q", code, stdout, stderr, tc.code, tc.out)
			}
		})
	}
	// The secret may come from the environment.
	if code, stdout, _ := runStdin(t, rawRequest(t, h, hookBody), map[string]string{"MINIVOICE_SECRET": hookSecret}, "webhooks", "verify"); code != 0 {
		t.Errorf("MINIVOICE_SECRET: exit %d, %s", code, stdout)
	}
}

func TestWebhooksUsage(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		args []string
		code int
	}{
		{[]string{"webhooks"}, 2},
		{[]string{"webhooks", "frob"}, 2},
		{[]string{"webhooks", "--help"}, 0},
		{[]string{"webhooks", "verify", "--help"}, 0},
		{[]string{"webhooks", "listen", "--help"}, 0},
		{[]string{"webhooks", "verify"}, 2},
		{[]string{"webhooks", "verify", "--secret", "whsec_%%%"}, 2},
		{[]string{"webhooks", "verify", "--secret", hookSecret, "--tolerance", "-1s"}, 2},
		{[]string{"webhooks", "verify", "--secret", hookSecret, "--nope"}, 2},
		{[]string{"webhooks", "verify", "--secret", hookSecret, "extra"}, 2},
		{[]string{"webhooks", "listen"}, 2},
		{[]string{"webhooks", "listen", "--forward-to", "localhost:3000/hooks"}, 2},
		{[]string{"webhooks", "listen", "--forward-to", "ftp://x/"}, 2},
		{[]string{"webhooks", "listen", "--forward-to", "http://127.0.0.1:1/", "--secret", "nope!"}, 2},
		{[]string{"webhooks", "listen", "--forward-to", "http://127.0.0.1:1/", "--listen", "nonsense"}, 2},
		{[]string{"webhooks", "listen", "--forward-to", "http://127.0.0.1:1/", "--tolerance", "0s"}, 2},
	} {
		code, stdout, stderr := runStdin(t, "", nil, tc.args...)
		if code != tc.code {
			t.Errorf("%q: exit %d (stdout %q, stderr %q), want %d", tc.args, code, stdout, stderr, tc.code)
		}
	}
	// A bad variable is a bad value too.
	if code, _, _ := runStdin(t, "", map[string]string{"MINIVOICE_FORWARD_TO": "http://127.0.0.1:1/", "MINIVOICE_TOLERANCE": "soon"},
		"webhooks", "listen"); code != 2 {
		t.Errorf("bad MINIVOICE_TOLERANCE: exit %d, want 2", code)
	}
}

// listening starts `minivoice webhooks listen ARGS` on a free loopback port
// and returns its base URL and output; it is stopped at the end of the test.
func listening(t *testing.T, vars map[string]string, args ...string) (string, *syncBuffer, *syncBuffer) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	stdout, stderr := &syncBuffer{}, &syncBuffer{}
	done := make(chan int, 1)
	go func() {
		done <- cli.Main(ctx, append([]string{"webhooks", "listen", "--listen", "127.0.0.1:0"}, args...),
			cli.Env{Stdin: strings.NewReader(""), Stdout: stdout, Stderr: stderr, Getenv: func(k string) string { return vars[k] }})
	}()
	t.Cleanup(func() {
		cancel()
		select {
		case code := <-done:
			if code != 0 {
				t.Errorf("listen exited %d; stderr %s", code, stderr)
			}
		case <-time.After(10 * time.Second):
			t.Error("listen did not stop")
		}
	})
	re := regexp.MustCompile(`on (http://127\.0\.0\.1:\d+)`)
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(10 * time.Millisecond) {
		if m := re.FindStringSubmatch(stdout.String()); m != nil {
			return m[1], stdout, stderr
		}
		select {
		case code := <-done:
			t.Fatalf("listen exited %d: %s %s", code, stdout, stderr)
		default:
		}
	}
	t.Fatalf("listen did not start: %s %s", stdout, stderr)
	return "", nil, nil
}

// forwardTarget is the developer's app behind `webhooks listen`; it keeps
// the latest request forwarded to it.
type forwardTarget struct {
	mu     sync.Mutex
	header http.Header
	body   *string
}

func (f *forwardTarget) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	b, _ := io.ReadAll(r.Body)
	body := string(b)
	f.mu.Lock()
	f.header, f.body = r.Header.Clone(), &body
	f.mu.Unlock()
	// The app verifies too, with the public package, and answers accordingly.
	if err := webhook.Verify(hookSecret, r.Header, b, time.Now(), 0); err != nil {
		http.Error(w, "bad signature", http.StatusUnauthorized)
		return
	}
	w.Header().Set("X-App", "yes")
	w.WriteHeader(http.StatusAccepted)
	_, _ = w.Write([]byte("queued"))
}

// latest returns the last forwarded request's headers and body.
func (f *forwardTarget) latest(t *testing.T) (http.Header, string) {
	t.Helper()
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.body == nil {
		t.Fatal("nothing was forwarded")
	}
	return f.header, *f.body
}

// post sends a webhook to the listener and returns its answer.
func post(t *testing.T, url string, h http.Header, body string) (int, http.Header, string) {
	t.Helper()
	req, _ := http.NewRequest(http.MethodPost, url, strings.NewReader(body))
	for k, v := range h {
		req.Header[k] = v
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", "MiniVoice/test")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, resp.Header, string(b)
}

// waitLine waits for a line of out that contains every part.
func waitLine(t *testing.T, out *syncBuffer, parts ...string) string {
	t.Helper()
	for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline); time.Sleep(10 * time.Millisecond) {
	lines:
		for _, line := range strings.Split(out.String(), "\n") {
			for _, p := range parts {
				if !strings.Contains(line, p) {
					continue lines
				}
			}
			return line
		}
	}
	t.Fatalf("no line with %q in %q", parts, out)
	return ""
}

func TestWebhooksListenForwards(t *testing.T) {
	t.Parallel()
	app := &forwardTarget{}
	appSrv := httptest.NewServer(app)
	t.Cleanup(appSrv.Close)
	base, stdout, stderr := listening(t, map[string]string{"MINIVOICE_SECRET": hookSecret}, "--forward-to", appSrv.URL+"/hooks")

	// A valid webhook: forwarded unchanged, the app's answer relayed, one line printed.
	h := signedHeaders(t, hookBody, time.Now(), hookSecret)
	code, respHeader, respBody := post(t, base+"/anything", h, hookBody)
	if code != http.StatusAccepted || respBody != "queued" || respHeader.Get("X-App") != "yes" {
		t.Errorf("answer %d %q %v, want the app's 202 queued", code, respBody, respHeader)
	}
	got, body := app.latest(t)
	if body != hookBody {
		t.Errorf("forwarded body %q", body)
	}
	for _, k := range []string{"Webhook-Id", "Webhook-Timestamp", "Webhook-Signature", "Content-Type", "User-Agent"} {
		if got.Get(k) == "" || got.Get(k) != h.Get(k) && h.Get(k) != "" {
			t.Errorf("forwarded %s = %q, sent %q", k, got.Get(k), h.Get(k))
		}
	}
	line := waitLine(t, stdout, "call.completed evt_1 call_1 verified=yes -> 202")
	if _, err := time.Parse(time.RFC3339, strings.Fields(line)[0]); err != nil {
		t.Errorf("line %q does not start with the time: %v", line, err)
	}

	// A tampered one: shown as unverified, still forwarded, and the app's
	// own refusal goes back to the sender.
	tampered := strings.Replace(hookBody, "evt_1", "evt_2", 1)
	if code, _, _ := post(t, base, h, tampered); code != http.StatusUnauthorized {
		t.Errorf("tampered: %d, want the app's 401", code)
	}
	waitLine(t, stdout, "evt_2 call_1 verified=no (no matching signature) -> 401")

	// An answer_url request (no event): its webhook-id names it.
	ans := `{"call":{"id":"call_9"},"variables":{}}`
	ah := http.Header{}
	_ = webhook.SignRequest(ah, "req_7", time.Now(), []byte(ans), hookSecret)
	post(t, base, ah, ans)
	waitLine(t, stdout, "- req_7 call_9 verified=yes -> 202")
	if stderr.String() != "" {
		t.Errorf("stderr %q", stderr)
	}
}

func TestWebhooksListenWithoutSecretAndTargetDown(t *testing.T) {
	t.Parallel()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	down := "http://" + ln.Addr().String() + "/hooks"
	ln.Close()
	base, stdout, stderr := listening(t, nil, "--forward-to", down)
	if !strings.Contains(stderr.String(), "warning: no --secret") {
		t.Errorf("no warning without --secret: %q", stderr)
	}
	code, _, _ := post(t, base, signedHeaders(t, hookBody, time.Now(), hookSecret), hookBody)
	if code != http.StatusBadGateway {
		t.Errorf("target down: %d, want 502", code)
	}
	waitLine(t, stdout, "call.completed evt_1 call_1 verified=no -> 502, "+down+" unreachable")
}
