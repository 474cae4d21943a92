package e2e

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/minivoice/minivoice/internal/platform"
	"github.com/minivoice/minivoice/internal/stacktest"
)

// live is the tests' handle on a stacktest.Stack (the one full-stack
// harness; its simulator only where a test asks for one): the platform, its
// API with the operator key, and an answer_url receiver whose actions a test
// sets.
type live struct {
	t       *testing.T
	st      *stacktest.Stack
	p       *platform.Platform
	api     string
	key     string
	answers *answerServer
}

// answerServer is an application's answer_url: it returns the actions set
// for it and records every request.
type answerServer struct {
	mu      sync.Mutex
	actions string
	bodies  []map[string]any
	srv     *httptest.Server
}

func (a *answerServer) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	b, _ := io.ReadAll(r.Body)
	var m map[string]any
	_ = json.Unmarshal(b, &m)
	a.mu.Lock()
	a.bodies = append(a.bodies, m)
	actions := a.actions
	a.mu.Unlock()
	w.Header().Set("Content-Type", "application/json")
	_, _ = w.Write([]byte(actions))
}

func (a *answerServer) set(actions string) {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.actions = actions
}

// startPlatform runs the whole platform in this process on a backend,
// without a simulator, with every +1 number free both ways.
func startPlatform(t *testing.T, backend string) *live {
	t.Helper()
	return startPlatformWith(t, backend, stacktest.Config{NoSim: true})
}

// startPlatformWith is startPlatform on a stack configured by cfg (its
// Backend is backend's): a simulator unless cfg.NoSim, other timers,
// listeners or serve settings through cfg.Platform. Rates are made free
// only when the API is plain HTTP (a TLS test brings its own client).
func startPlatformWith(t *testing.T, backend string, cfg stacktest.Config) *live {
	t.Helper()
	cfg.Backend = backend
	l := newLive(t, cfg)
	if !l.p.HTTPS {
		l.freeRates()
	}
	return l
}

// newLive starts the stack cfg describes, with no rates: for a platform
// joining a database another one already set up.
func newLive(t *testing.T, cfg stacktest.Config) *live {
	t.Helper()
	st := stacktest.Start(t, cfg)
	a := &answerServer{actions: `[{"action":"say","text":"Hello from MiniVoice"},{"action":"hangup"}]`}
	a.srv = httptest.NewServer(a)
	t.Cleanup(a.srv.Close)
	return &live{t: t, st: st, p: st.Platform, api: st.API, key: st.Key, answers: a}
}

// freeRates prices every +1 number at zero in the default deck, both ways:
// calls need a rate (billing.md), and tests not about billing should not
// need credit.
func (l *live) freeRates() {
	l.t.Helper()
	for _, dir := range []string{"outbound", "inbound"} {
		l.do("POST", "/v1/rates", map[string]any{"prefix": "1", "direction": dir, "price_per_minute": "0",
			"initial_increment": 1, "subsequent_increment": 1}, 201)
	}
}

// do calls the API and decodes the answer, failing unless it has status want.
func (l *live) do(method, path string, body any, want int) map[string]any {
	l.t.Helper()
	var rd io.Reader
	if body != nil {
		b, _ := json.Marshal(body)
		rd = bytes.NewReader(b)
	}
	req, _ := http.NewRequest(method, l.api+path, rd)
	req.Header.Set("Authorization", "Bearer "+l.key)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		l.t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != want {
		l.t.Fatalf("%s %s: %d, want %d: %s", method, path, resp.StatusCode, want, raw)
	}
	var m map[string]any
	_ = json.Unmarshal(raw, &m)
	return m
}

// fixture creates a customer, an application on the answer server, and returns their ids.
func (l *live) fixture() (cust, app string) {
	cust = l.do("POST", "/v1/customers", map[string]any{"name": "acme", "max_cps": 1000, "max_concurrent_calls": 1000,
		"verified_caller_ids": []string{"+15551230001"}}, 201)["id"].(string)
	app = l.do("POST", "/v1/applications", map[string]any{"customer_id": cust, "name": "ivr",
		"answer_url": l.answers.srv.URL + "/answer"}, 201)["id"].(string)
	return cust, app
}

// waitCall polls a call until it ends and returns it.
func (l *live) waitCall(id string) map[string]any {
	l.t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for time.Now().Before(deadline) {
		c := l.do("GET", "/v1/calls/"+id, nil, 200)
		switch c["status"] {
		case "completed", "busy", "no-answer", "failed", "canceled":
			return c
		}
		time.Sleep(100 * time.Millisecond)
	}
	l.t.Fatalf("call %s did not end", id)
	return nil
}

// eventNames lists a call's events, oldest first.
func (l *live) eventNames(id string) string {
	l.t.Helper()
	list := l.do("GET", "/v1/calls/"+id+"/events", nil, 200)["data"].([]any)
	names := make([]string, len(list))
	for i, e := range list {
		names[i] = e.(map[string]any)["event"].(string)
	}
	return strings.Join(names, ",")
}

// latestCall returns the id of the newest call.
func (l *live) latestCall() string {
	l.t.Helper()
	list := l.do("GET", "/v1/calls?limit=1", nil, 200)["data"].([]any)
	if len(list) == 0 {
		l.t.Fatal("no calls")
	}
	return list[0].(map[string]any)["id"].(string)
}

// refusals returns the platform's inbound refusal counters, for failure messages.
func (l *live) refusals() string {
	req, _ := http.NewRequest("GET", l.api+"/metrics", nil)
	req.Header.Set("Authorization", "Bearer "+l.key)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return err.Error()
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	var out []string
	for _, line := range strings.Split(string(b), "\n") {
		if strings.HasPrefix(line, "minivoice_sip_inbound_refused_total") || strings.HasPrefix(line, "minivoice_active_calls") {
			out = append(out, line)
		}
	}
	return strings.Join(out, "\n")
}
