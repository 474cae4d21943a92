package console_test

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/netip"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/minivoice/minivoice/internal/api"
	"github.com/minivoice/minivoice/internal/auth"
	"github.com/minivoice/minivoice/internal/console"
	"github.com/minivoice/minivoice/internal/store"
	"github.com/minivoice/minivoice/internal/store/storetest"
	"github.com/minivoice/minivoice/internal/voice"
)

const testOperatorKey = "mvk_op_consoletestoperatorkey0000"

// syncBuffer is a log sink the server writes from its goroutines.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// files is a recording blob store over a directory.
type files struct{ dir string }

func (f files) Open(key string) (*os.File, error) {
	return os.Open(filepath.Join(f.dir, filepath.FromSlash(key)))
}
func (f files) Remove(key string) error {
	return os.Remove(filepath.Join(f.dir, filepath.FromSlash(key)))
}

// harness is the API and the console on one real HTTP server over a real
// SQLite store, mounted as the platform mounts them.
type harness struct {
	t     testing.TB
	url   string
	store *store.DB
	files files
	log   *syncBuffer
}

func newHarness(t testing.TB) *harness {
	t.Helper()
	db := storetest.Open(t, "sqlite", nil)
	logs := &syncBuffer{}
	logger := slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	authn := auth.New(auth.Config{Store: db, OperatorKey: testOperatorKey})
	fs := files{dir: t.TempDir()}
	srv := api.New(api.Config{Store: db, Auth: authn, Logger: logger, Recordings: fs,
		AllowPrivateURLs: []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8")}})
	con := console.New(console.Config{Store: db, Auth: authn, Recordings: fs, Logger: logger, API: srv})
	ts := httptest.NewServer(console.Mount(srv, con))
	t.Cleanup(ts.Close)
	return &harness{t: t, url: ts.URL, store: db, files: fs, log: logs}
}

// apiCall calls the JSON API with a key and decodes the answer.
func (h *harness) apiCall(method, path, key string, body any, want int) map[string]any {
	h.t.Helper()
	var rd io.Reader
	if body != nil {
		b, _ := json.Marshal(body)
		rd = bytes.NewReader(b)
	}
	req, _ := http.NewRequest(method, h.url+path, rd)
	req.Header.Set("Authorization", "Bearer "+key)
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		h.t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != want {
		h.t.Fatalf("%s %s: %d %s", method, path, resp.StatusCode, raw)
	}
	out := map[string]any{}
	_ = json.Unmarshal(raw, &out)
	return out
}

func (h *harness) customer(name string) string {
	return h.apiCall("POST", "/v1/customers", testOperatorKey, map[string]any{"name": name}, 201)["id"].(string)
}

// customerKey returns a new key's secret and id.
func (h *harness) customerKey(cust string) (string, string) {
	r := h.apiCall("POST", "/v1/customers/"+cust+"/keys", testOperatorKey, map[string]any{}, 201)
	return r["key"].(string), r["id"].(string)
}

func (h *harness) application(cust string) string {
	return h.apiCall("POST", "/v1/applications", testOperatorKey, map[string]any{"customer_id": cust, "name": "app",
		"answer_url": "http://127.0.0.1:9/answer", "webhook_url": "http://127.0.0.1:9/hook", "insights": true}, 201)["id"].(string)
}

// addCall stores a call of app created at at.
func (h *harness) addCall(cust, app string, at time.Time, edit func(c *voice.Call)) *voice.Call {
	h.t.Helper()
	at = at.UTC().Truncate(time.Millisecond)
	c := &voice.Call{ID: voice.NewID(voice.PrefixCall, at), Status: voice.CallCompleted, Direction: voice.DirectionOutbound,
		From: "+15551230001", To: "+15557654321", CustomerID: cust, ApplicationID: app, RecordingChannels: voice.ChannelsDual,
		Timeout: 30, TimeLimit: 14400, Variables: map[string]string{}, RecordingIDs: []string{}, CreatedAt: at, UpdatedAt: at,
		Currency: "USD"}
	if edit != nil {
		edit(c)
	}
	if err := h.store.CreateCall(context.Background(), c); err != nil {
		h.t.Fatal(err)
	}
	return c
}

// browser is a cookie-keeping client that does not follow redirects.
type browser struct {
	h   *harness
	c   *http.Client
	jar *cookiejar.Jar
}

func (h *harness) browser() *browser {
	jar, _ := cookiejar.New(nil)
	return &browser{h: h, jar: jar, c: &http.Client{Jar: jar, CheckRedirect: func(*http.Request, []*http.Request) error {
		return http.ErrUseLastResponse
	}}}
}

type page struct {
	status int
	header http.Header
	body   string
	resp   *http.Response
}

func (b *browser) do(req *http.Request) *page {
	b.h.t.Helper()
	resp, err := b.c.Do(req)
	if err != nil {
		b.h.t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	return &page{status: resp.StatusCode, header: resp.Header, body: string(raw), resp: resp}
}

func (b *browser) get(path string) *page {
	b.h.t.Helper()
	req, _ := http.NewRequest("GET", b.h.url+path, nil)
	return b.do(req)
}

func (b *browser) post(path string, form url.Values) *page {
	b.h.t.Helper()
	req, _ := http.NewRequest("POST", b.h.url+path, strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	return b.do(req)
}

var csrfField = regexp.MustCompile(`name="csrf" value="([^"]+)"`)

// csrf is the token of the first form on p.
func (p *page) csrf(t testing.TB) string {
	t.Helper()
	m := csrfField.FindStringSubmatch(p.body)
	if m == nil {
		t.Fatalf("no csrf field in %d page:\n%s", p.status, p.body)
	}
	return m[1]
}

// signIn signs in with key and checks the redirect to /.
func (b *browser) signIn(key string) *page {
	b.h.t.Helper()
	form := b.get("/signin")
	p := b.post("/signin", url.Values{"csrf": {form.csrf(b.h.t)}, "key": {key}})
	if p.status != http.StatusSeeOther || p.header.Get("Location") != "/" {
		b.h.t.Fatalf("sign in: %d %s %s", p.status, p.header.Get("Location"), p.body)
	}
	return p
}
