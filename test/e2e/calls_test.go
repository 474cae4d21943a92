package e2e

// End-to-end calls: the whole platform in this process and the network
// simulator (internal/sim) as its carrier and as the phone network, both on
// loopback. Each case asserts three views of one call: the call object, its
// ordered events, and what the simulator really heard (energy over time, not
// just a 200 OK).

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/minivoice/minivoice/internal/media"
	"github.com/minivoice/minivoice/internal/sim"
	"github.com/minivoice/minivoice/internal/stacktest"
)

// scPrompt is what the platform says in most cases: about three seconds of
// speech, so "heard at least a second" cannot be satisfied by a click.
const scPrompt = "Hello from MiniVoice. This is an end to end test of the say action."

// scCaller is the number the simulator calls from, and outbound calls' from.
const scCaller = "+15557654321"

// scEnv is one platform, one simulator and an application web server.
type scEnv struct {
	l     *live
	sim   *sim.Sim
	hooks *scHooks
}

// scStart runs a platform on backend, a simulator speaking with flite that
// answers after 200 ms, and a web server for answer/fallback/redirect URLs
// and WAVs.
func scStart(t *testing.T, backend string) *scEnv {
	t.Helper()
	return scStartWith(t, backend, nil)
}

// scStartWith is scStart with simulator scripts for carrier numbers.
func scStartWith(t *testing.T, backend string, scripts map[string][]string) *scEnv {
	t.Helper()
	return scStartConfig(t, backend, stacktest.Config{SimAnswerDelay: 200 * time.Millisecond, SimScripts: scripts})
}

// scStartConfig is scStart on the stack cfg describes.
func scStartConfig(t *testing.T, backend string, cfg stacktest.Config) *scEnv {
	t.Helper()
	l := startPlatformWith(t, backend, cfg)
	h := &scHooks{routes: map[string]scRoute{}, reqs: map[string][]map[string]any{}}
	h.srv = httptest.NewServer(h)
	t.Cleanup(h.srv.Close)
	return &scEnv{l: l, sim: l.st.Sim, hooks: h}
}

// scRoute is a canned answer of the application server.
type scRoute struct {
	status int
	ctype  string
	body   []byte
}

// scHooks is the application's web server: each path answers what it was
// set to, and every request body is kept.
type scHooks struct {
	mu     sync.Mutex
	routes map[string]scRoute
	reqs   map[string][]map[string]any
	srv    *httptest.Server
}

func (h *scHooks) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	b, _ := io.ReadAll(r.Body)
	var m map[string]any
	_ = json.Unmarshal(b, &m)
	h.mu.Lock()
	h.reqs[r.URL.Path] = append(h.reqs[r.URL.Path], m)
	rt, ok := h.routes[r.URL.Path]
	h.mu.Unlock()
	if !ok {
		http.NotFound(w, r)
		return
	}
	w.Header().Set("Content-Type", rt.ctype)
	w.WriteHeader(rt.status)
	_, _ = w.Write(rt.body)
}

// actions makes path answer status with a JSON body and returns its URL.
func (h *scHooks) actions(path string, status int, body string) string {
	return h.set(path, scRoute{status: status, ctype: "application/json", body: []byte(body)})
}

func (h *scHooks) set(path string, rt scRoute) string {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.routes[path] = rt
	return h.srv.URL + path
}

// requests are the bodies path received so far.
func (h *scHooks) requests(path string) []map[string]any {
	h.mu.Lock()
	defer h.mu.Unlock()
	return append([]map[string]any(nil), h.reqs[path]...)
}

// scRequest sends body as JSON with the operator key and returns the answer's
// status, headers and body, whatever they are.
func scRequest(t *testing.T, l *live, method, path string, body any) (int, http.Header, []byte) {
	t.Helper()
	var rd io.Reader
	if body != nil {
		b, _ := json.Marshal(body)
		rd = bytes.NewReader(b)
	}
	req, _ := http.NewRequest(method, l.api+path, rd)
	req.Header.Set("Authorization", "Bearer "+l.key)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, resp.Header, raw
}

// scDo is live.do for a subtest: failures are reported on t.
func scDo(t *testing.T, l *live, method, path string, body any, want int) map[string]any {
	t.Helper()
	status, _, raw := scRequest(t, l, method, path, body)
	if status != want {
		t.Fatalf("%s %s: %d, want %d: %s", method, path, status, want, raw)
	}
	var m map[string]any
	_ = json.Unmarshal(raw, &m)
	return m
}

func scEnded(status any) bool {
	switch status {
	case "completed", "busy", "no-answer", "failed", "canceled":
		return true
	}
	return false
}

// scWaitCall polls a call until it has ended.
func scWaitCall(t *testing.T, l *live, id string) map[string]any {
	t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for time.Now().Before(deadline) {
		c := scDo(t, l, "GET", "/v1/calls/"+id, nil, 200)
		if scEnded(c["status"]) {
			return c
		}
		time.Sleep(100 * time.Millisecond)
	}
	t.Fatalf("call %s did not end", id)
	return nil
}

// scWaitStatus polls a call until it reaches status (failing if it ends first).
func scWaitStatus(t *testing.T, l *live, id, status string) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		c := scDo(t, l, "GET", "/v1/calls/"+id, nil, 200)
		if c["status"] == status {
			return
		}
		if scEnded(c["status"]) {
			t.Fatalf("call ended before reaching %s: %v", status, c)
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Fatalf("call %s never reached %s", id, status)
}

// scEvents lists a call's events, oldest first.
func scEvents(t *testing.T, l *live, id string) []map[string]any {
	t.Helper()
	list := scDo(t, l, "GET", "/v1/calls/"+id+"/events", nil, 200)["data"].([]any)
	out := make([]map[string]any, len(list))
	for i, e := range list {
		out[i] = e.(map[string]any)
	}
	return out
}

func scNames(evs []map[string]any) string {
	names := make([]string, len(evs))
	for i, e := range evs {
		names[i], _ = e["event"].(string)
	}
	return strings.Join(names, ",")
}

// scCheckEvents compares a call's events, oldest first, with want (names
// joined by commas). One known race of the SIP stack is logged rather than
// failed, so that the suite is not flaky, while the rest must match:
//
//   - refusedAtOnce is set when the carrier sent 180 Ringing immediately
//     followed by its final refusal: sipgo (v1.7.3) hands each UDP response
//     to a goroutine of its own, so the final response can reach the INVITE
//     transaction first, which then drops the 180 (the Completed state
//     ignores 1xx) and call.ringing is never recorded.
func scCheckEvents(t *testing.T, evs []map[string]any, want string, refusedAtOnce bool) {
	t.Helper()
	got := scNames(evs)
	if got == want {
		return
	}
	if refusedAtOnce && got == strings.Replace(want, "call.ringing,", "", 1) {
		t.Logf("KNOWN RACE: call.ringing missing (%s): sipgo processed the final response before the 180", got)
		return
	}
	t.Errorf("events %s, want %s", scEventTimes(evs), want)
}

// scEventTimes shows events with their created_at and id, for failures.
func scEventTimes(evs []map[string]any) string {
	parts := make([]string, len(evs))
	for i, e := range evs {
		parts[i] = fmt.Sprintf("%s@%s(%s)", e["event"], e["created_at"], e["id"])
	}
	return strings.Join(parts, " ")
}

// scEvent returns the data of the first event called name, or nil.
func scEvent(evs []map[string]any, name string) map[string]any {
	for _, e := range evs {
		if e["event"] == name {
			d, _ := e["data"].(map[string]any)
			return d
		}
	}
	return nil
}

// scCalls lists calls matching query (e.g. "customer_id=cust_...").
func scCalls(t *testing.T, l *live, query string) []any {
	t.Helper()
	return scDo(t, l, "GET", "/v1/calls?"+query, nil, 200)["data"].([]any)
}

// scStr is a JSON string field, "" for null or absent.
func scStr(v any) string {
	s, _ := v.(string)
	return s
}

// scNum is a JSON number field, 0 for null or absent.
func scNum(v any) int {
	f, _ := v.(float64)
	return int(f)
}

// scCustomer creates a customer with an application (answer_url and
// fallback_url may be empty) and returns their ids.
func (e *scEnv) scCustomer(t *testing.T, answerURL, fallbackURL string) (cust, app string) {
	t.Helper()
	// Limits far above what a test does: these tests are not about billing.
	cust = scDo(t, e.l, "POST", "/v1/customers", map[string]any{"name": "cust " + t.Name(), "max_cps": 1000,
		"max_concurrent_calls": 1000, "verified_caller_ids": []string{scCaller}}, 201)["id"].(string)
	body := map[string]any{"customer_id": cust, "name": "app"}
	if answerURL != "" {
		body["answer_url"] = answerURL
	}
	if fallbackURL != "" {
		body["fallback_url"] = fallbackURL
	}
	app = scDo(t, e.l, "POST", "/v1/applications", body, 201)["id"].(string)
	return cust, app
}

// scSlug makes a subtest name usable in a URL path.
func scSlug(t *testing.T) string {
	return "/" + url.PathEscape(strings.ReplaceAll(t.Name(), "/", "_"))
}

// scToneWAV is a WAV of a 440 Hz tone at about -12 dBFS.
func scToneWAV(t *testing.T, rate int, d time.Duration) []byte {
	t.Helper()
	n := int(d.Seconds() * float64(rate))
	p := &media.PCM{Rate: rate, Samples: make([]int16, n)}
	for i := range p.Samples {
		p.Samples[i] = int16(8000 * math.Sin(2*math.Pi*440*float64(i)/float64(rate)))
	}
	var buf bytes.Buffer
	if err := media.WriteWAV(&buf, p); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// scOutCase is one outbound call through the simulator as carrier.
type scOutCase struct {
	name string
	// suffix is the dialed number's last four digits (the simulator's
	// behaviour); each case gets a number of its own.
	suffix string
	// answer is what the application's answer_url returns (with answerCode,
	// default 200); fallback, if set, what its fallback_url returns.
	answer     string
	answerCode int
	fallback   string
	// inline actions on POST /v1/calls instead of the answer_url.
	inline string
	// extra fields of POST /v1/calls (timeout, time_limit, variables).
	extra map[string]any
	// trunks are the customer's trunks; default one to the simulator.
	trunks func(t *testing.T) []map[string]any
	// during runs while the call is live (API hangup, live action change).
	during func(t *testing.T, e *scEnv, id string)

	status, cause, source string
	sipCode               int // 0: null
	events                string
	// heard is the least active audio the simulator must hear (answered calls).
	heard time.Duration
	// simStatus is the final status the simulator sent; 0 = no simulator call.
	simStatus int
	check     func(t *testing.T, e *scEnv, c map[string]any, rep sim.CallReport, path string)
}

// TestCallsOutbound places calls through trunks pointing at the simulator
// and checks each outcome of telephony.md's Outbound list.
func TestCallsOutbound(t *testing.T) {
	t.Parallel()
	e := scStart(t, "sqlite")
	simPort := int(e.sim.Addr().Port())
	const pause600 = `{"action":"pause","length":600}`
	sayHangup := `[{"action":"say","text":"The list was replaced."},{"action":"hangup"}]`
	wav16k := e.hooks.set("/tone-16k.wav", scRoute{status: 200, ctype: "audio/wav", body: scToneWAV(t, 16000, time.Second)})
	redirectTo := e.hooks.actions("/redirect-target", 200, `[{"action":"say","text":"`+scPrompt+`"}]`)
	closedPort := freeUDPPort(t)

	cases := []scOutCase{
		{name: "answered_say", suffix: "0000", answer: `[{"action":"say","text":"` + scPrompt + `"}]`,
			status: "completed", cause: "normal_clearing", source: "caller", sipCode: 200,
			events: "call.initiated,call.ringing,call.answered,call.completed", heard: time.Second, simStatus: 200,
			check: func(t *testing.T, e *scEnv, c map[string]any, rep sim.CallReport, path string) {
				if n := len(e.hooks.requests(path)); n != 1 {
					t.Errorf("answer_url asked %d times, want 1", n)
				}
				if rep.EndedBy != sim.EndedRemote {
					t.Errorf("simulator report: ended by %s, want the platform", rep.EndedBy)
				}
			}},
		{name: "callee_hangs_up", suffix: "0999", answer: `[{"action":"pause","length":30}]`,
			status: "completed", cause: "normal_clearing", source: "callee", sipCode: 200,
			events: "call.initiated,call.ringing,call.answered,call.completed", simStatus: 200,
			check: func(t *testing.T, e *scEnv, c map[string]any, rep sim.CallReport, path string) {
				if rep.EndedBy != sim.EndedLocal {
					t.Errorf("simulator report: ended by %s, want the simulator", rep.EndedBy)
				}
			}},
		{name: "busy", suffix: "0486", answer: `[{"action":"hangup"}]`,
			status: "busy", cause: "user_busy", source: "callee", sipCode: 486,
			events: "call.initiated,call.ringing,call.completed", simStatus: 486},
		{name: "not_found", suffix: "0404", answer: `[{"action":"hangup"}]`,
			status: "failed", cause: "invalid_number", sipCode: 404,
			events: "call.initiated,call.ringing,call.completed", simStatus: 404},
		{name: "declined", suffix: "0603", answer: `[{"action":"hangup"}]`,
			status: "failed", cause: "call_rejected", sipCode: 603,
			events: "call.initiated,call.ringing,call.completed", simStatus: 603},
		{name: "no_answer", suffix: "0408", answer: `[{"action":"hangup"}]`, extra: map[string]any{"timeout": 5},
			status: "no-answer", cause: "no_answer", sipCode: 487,
			events: "call.initiated,call.ringing,call.completed", simStatus: 487, // 487: the platform sent CANCEL
			check: func(t *testing.T, e *scEnv, c map[string]any, rep sim.CallReport, path string) {
				if rep.EndedBy != sim.EndedRemote || rep.Answered {
					t.Errorf("simulator report %+v: want cancelled by the platform", rep)
				}
			}},
		{name: "carrier_error_fails_over", suffix: "0503", answer: `[{"action":"hangup"}]`,
			trunks: func(t *testing.T) []map[string]any {
				return []map[string]any{
					{"name": "primary", "host": "127.0.0.1", "port": simPort, "priority": 1},
					{"name": "secondary", "host": "127.0.0.1", "port": simPort, "priority": 2},
				}
			},
			status: "failed", cause: "carrier_error", sipCode: 503,
			events: "call.initiated,call.ringing,call.completed", simStatus: 503,
			check: func(t *testing.T, e *scEnv, c map[string]any, rep sim.CallReport, path string) {
				// Both trunks were tried: the simulator saw two INVITEs.
				var invites []sim.CallReport
				for _, r := range e.sim.Calls() {
					if r.To == c["to"] {
						invites = append(invites, r)
					}
				}
				if len(invites) != 2 || invites[0].SIPStatus != 503 || invites[1].SIPStatus != 503 {
					t.Errorf("simulator saw %d INVITEs to %s, want 2 answered 503: %+v", len(invites), c["to"], invites)
				}
				if scStr(c["trunk_id"]) == "" {
					t.Errorf("call has no trunk_id")
				}
				// The error tells both attempts.
				want := `trunk "primary" answered 503 Service Unavailable; then trunk "secondary" answered 503 Service Unavailable`
				if code, msg := scCallError(c); code != "carrier_error" || msg != want {
					t.Errorf("error %s %q, want carrier_error %q", code, msg, want)
				}
			}},
		{name: "unreachable", suffix: "0000", answer: `[{"action":"hangup"}]`,
			trunks: func(t *testing.T) []map[string]any {
				return []map[string]any{{"name": "dead", "host": "127.0.0.1", "port": closedPort, "setup_timeout": 1}}
			},
			status: "failed", cause: "unreachable", source: "system",
			events: "call.initiated,call.completed",
			check: func(t *testing.T, e *scEnv, c map[string]any, rep sim.CallReport, path string) {
				want := `trunk "dead" did not answer the INVITE within 1 s (the trunk's setup_timeout)`
				if code, msg := scCallError(c); code != "trunk_unreachable" || msg != want {
					t.Errorf("error %s %q, want trunk_unreachable %q", code, msg, want)
				}
			}},
		{name: "api_hangup_ringing", suffix: "0408", answer: `[{"action":"hangup"}]`,
			during: func(t *testing.T, e *scEnv, id string) {
				scWaitStatus(t, e.l, id, "ringing")
				scDo(t, e.l, "POST", "/v1/calls/"+id+"/hangup", nil, 200)
			},
			status: "canceled", cause: "originator_cancel", source: "api", sipCode: 487,
			events: "call.initiated,call.ringing,call.completed", simStatus: 487},
		{name: "api_hangup_in_progress", suffix: "0000", answer: `[` + pause600 + `]`, extra: map[string]any{"time_limit": 30},
			during: func(t *testing.T, e *scEnv, id string) {
				scWaitStatus(t, e.l, id, "in-progress")
				scDo(t, e.l, "POST", "/v1/calls/"+id+"/hangup", nil, 200)
			},
			status: "completed", cause: "normal_clearing", source: "api", sipCode: 200,
			events: "call.initiated,call.ringing,call.answered,call.completed", simStatus: 200},
		{name: "inline_actions", suffix: "0000", answer: `[{"action":"hangup"}]`,
			inline: `[{"action":"say","text":"` + scPrompt + `"}]`,
			status: "completed", cause: "normal_clearing", source: "caller", sipCode: 200,
			events: "call.initiated,call.ringing,call.answered,call.completed", heard: time.Second, simStatus: 200,
			check: func(t *testing.T, e *scEnv, c map[string]any, rep sim.CallReport, path string) {
				if n := len(e.hooks.requests(path)); n != 0 {
					t.Errorf("answer_url asked %d times although the call had inline actions", n)
				}
			}},
		{name: "set_variables", suffix: "0000", extra: map[string]any{"variables": map[string]string{"order": "42"}},
			answer: `[{"action":"set","variables":{"greeted":"yes","lang":"en"}},{"action":"say","text":"Variables are set."}]`,
			status: "completed", cause: "normal_clearing", source: "caller", sipCode: 200,
			events: "call.initiated,call.ringing,call.answered,call.completed", heard: 500 * time.Millisecond, simStatus: 200,
			check: func(t *testing.T, e *scEnv, c map[string]any, rep sim.CallReport, path string) {
				vars, _ := c["variables"].(map[string]any)
				if vars["greeted"] != "yes" || vars["lang"] != "en" || vars["order"] != "42" {
					t.Errorf("variables %v, want greeted=yes, lang=en and order=42", vars)
				}
			}},
		{name: "live_actions_replace_pause", suffix: "0000", answer: `[` + pause600 + `]`, extra: map[string]any{"time_limit": 30},
			during: func(t *testing.T, e *scEnv, id string) {
				scWaitStatus(t, e.l, id, "in-progress")
				scDo(t, e.l, "POST", "/v1/calls/"+id+"/actions", map[string]any{"actions": json.RawMessage(sayHangup)}, 200)
			},
			// Had the pause not been interrupted the call would have run
			// into its time_limit instead.
			status: "completed", cause: "normal_clearing", source: "caller", sipCode: 200,
			events: "call.initiated,call.ringing,call.answered,call.completed", heard: 500 * time.Millisecond, simStatus: 200},
		{name: "invalid_actions", suffix: "0000", answer: `[{"action":"say","text":"hi"},{"action":"pause","length":9999}]`,
			status: "completed", cause: "application_error", source: "system", sipCode: 200,
			events: "call.initiated,call.ringing,call.answered,call.error,call.completed", simStatus: 200,
			check: func(t *testing.T, e *scEnv, c map[string]any, rep sim.CallReport, path string) {
				d := scEvent(scEvents(t, e.l, scStr(c["id"])), "call.error")
				if d["code"] != "invalid_actions" || !strings.Contains(scStr(d["message"]), "[1].length") {
					t.Errorf("call.error data %v: want code invalid_actions naming actions[1].length", d)
				}
				if ce, _ := c["error"].(map[string]any); ce["code"] != "invalid_actions" {
					t.Errorf("call error %v", c["error"])
				}
			}},
		{name: "fallback_url", suffix: "0000", answer: `{"oops": true}`, answerCode: 500,
			fallback: `[{"action":"say","text":"` + scPrompt + `"}]`,
			status:   "completed", cause: "normal_clearing", source: "caller", sipCode: 200,
			events: "call.initiated,call.ringing,call.answered,call.completed", heard: time.Second, simStatus: 200,
			check: func(t *testing.T, e *scEnv, c map[string]any, rep sim.CallReport, path string) {
				if n := len(e.hooks.requests(path)); n != 2 {
					t.Errorf("answer_url asked %d times, want 2 (one retry)", n)
				}
				fb := e.hooks.requests(path + "-fallback")
				if len(fb) != 1 || fb[0]["error_code"] != "answer_url_http_error" {
					t.Errorf("fallback requests %v: want one with error_code answer_url_http_error", fb)
				}
			}},
		{name: "time_limit", suffix: "0000", answer: `[{"action":"pause","length":60}]`, extra: map[string]any{"time_limit": 3},
			status: "completed", cause: "time_limit", source: "system", sipCode: 200,
			events: "call.initiated,call.ringing,call.answered,call.completed", simStatus: 200,
			check: func(t *testing.T, e *scEnv, c map[string]any, rep sim.CallReport, path string) {
				if d := scNum(c["duration"]); d < 3 {
					t.Errorf("duration %d, want at least the 3 s time limit", d)
				}
			}},
		{name: "play_16k_wav", suffix: "0000", answer: `[{"action":"play","url":"` + wav16k + `"}]`,
			status: "completed", cause: "normal_clearing", source: "caller", sipCode: 200,
			events: "call.initiated,call.ringing,call.answered,call.completed", heard: 800 * time.Millisecond, simStatus: 200,
			check: func(t *testing.T, e *scEnv, c map[string]any, rep sim.CallReport, path string) {
				// A 16 kHz file sent as 8 kHz samples without resampling
				// would last two seconds (and sound an octave low).
				if rep.HeardActive > 1300*time.Millisecond {
					t.Errorf("heard %v of a 1 s tone: not resampled to the call's 8 kHz", rep.HeardActive)
				}
			}},
		{name: "redirect", suffix: "0000", answer: `[{"action":"redirect","url":"` + redirectTo + `"},{"action":"pause","length":30}]`,
			status: "completed", cause: "normal_clearing", source: "caller", sipCode: 200,
			events: "call.initiated,call.ringing,call.answered,call.completed", heard: time.Second, simStatus: 200,
			check: func(t *testing.T, e *scEnv, c map[string]any, rep sim.CallReport, path string) {
				reqs := e.hooks.requests("/redirect-target")
				found := false
				for _, r := range reqs {
					if call, _ := r["call"].(map[string]any); call["id"] == c["id"] {
						found = true
					}
				}
				if !found {
					t.Errorf("the redirect URL was not asked for call %v", c["id"])
				}
			}},
	}
	for i, tc := range cases {
		number := fmt.Sprintf("+1555%03d%s", 100+i, tc.suffix)
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			e.runOutbound(t, tc, number)
		})
	}
}

// runOutbound sets up a customer of its own (so its trunks serve only this
// case), places the call and checks it.
func (e *scEnv) runOutbound(t *testing.T, tc scOutCase, number string) {
	path := scSlug(t)
	code := tc.answerCode
	if code == 0 {
		code = 200
	}
	answerURL := e.hooks.actions(path, code, tc.answer)
	fallbackURL := ""
	if tc.fallback != "" {
		fallbackURL = e.hooks.actions(path+"-fallback", 200, tc.fallback)
	}
	cust, app := e.scCustomer(t, answerURL, fallbackURL)
	trunks := []map[string]any{{"name": "sim", "host": "127.0.0.1", "port": int(e.sim.Addr().Port())}}
	if tc.trunks != nil {
		trunks = tc.trunks(t)
	}
	for _, tr := range trunks {
		tr["customer_id"] = cust
		scDo(t, e.l, "POST", "/v1/trunks", tr, 201)
	}
	body := map[string]any{"to": number, "from": scCaller, "application_id": app}
	for k, v := range tc.extra {
		body[k] = v
	}
	if tc.inline != "" {
		body["actions"] = json.RawMessage(tc.inline)
	}
	created := scDo(t, e.l, "POST", "/v1/calls", body, 201)
	id := created["id"].(string)
	if created["direction"] != "outbound" || created["to"] != number {
		t.Errorf("created call %v", created)
	}
	if tc.during != nil {
		tc.during(t, e, id)
	}
	c := scWaitCall(t, e.l, id)
	scCheckCall(t, c, tc.status, tc.cause, tc.source, tc.sipCode, tc.heard > 0 || tc.simStatus == 200)
	evs := scEvents(t, e.l, id)
	scCheckEvents(t, evs, tc.events, tc.simStatus >= 300)
	if d := scEvent(evs, "call.completed"); d == nil || d["hangup_cause"] != c["hangup_cause"] {
		t.Errorf("call.completed data %v does not match the call %v", d, c)
	}

	var rep sim.CallReport
	if tc.simStatus != 0 {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		var err error
		if rep, err = e.sim.WaitCall(ctx, number); err != nil {
			t.Fatal(err)
		}
		t.Logf("simulator: %d, heard %v active of %v (RMS %.0f), codec %q, ended by %s",
			rep.SIPStatus, rep.HeardActive, rep.HeardDuration, rep.HeardRMS, rep.Codec, rep.EndedBy)
		if rep.SIPStatus != tc.simStatus {
			t.Errorf("simulator's final status %d, want %d (report %+v)", rep.SIPStatus, tc.simStatus, rep)
		}
		if rep.From != scCaller {
			t.Errorf("simulator saw the call from %q, want %s", rep.From, scCaller)
		}
		if tc.simStatus == 200 && (!rep.Answered || rep.Codec != "G722") {
			t.Errorf("simulator report %+v: want answered with G722", rep)
		}
		if rep.HeardActive < tc.heard {
			t.Errorf("simulator heard %v of active audio (RMS %.0f, %v recorded), want at least %v",
				rep.HeardActive, rep.HeardRMS, rep.HeardDuration, tc.heard)
		}
	} else {
		for _, r := range e.sim.Calls() {
			if r.To == number {
				t.Errorf("simulator got a call to %s: %+v", number, r)
			}
		}
	}
	if tc.check != nil {
		tc.check(t, e, c, rep, path)
	}
}

// scCheckCall checks a finished call's outcome fields. answered calls must
// have a codec and a duration of at least a second; unanswered ones neither.
func scCheckCall(t *testing.T, c map[string]any, status, cause, source string, sipCode int, answered bool) {
	t.Helper()
	if c["status"] != status || scStr(c["hangup_cause"]) != cause {
		t.Errorf("call %s/%s, want %s/%s: %v", c["status"], scStr(c["hangup_cause"]), status, cause, c)
	}
	if source != "" && scStr(c["hangup_source"]) != source {
		t.Errorf("hangup_source %q, want %q", scStr(c["hangup_source"]), source)
	}
	if got := scNum(c["sip_code"]); got != sipCode {
		t.Errorf("sip_code %v, want %d", c["sip_code"], sipCode)
	}
	if answered {
		if scNum(c["duration"]) < 1 || scStr(c["codec"]) != "G722" || c["answered_at"] == nil {
			t.Errorf("answered call: duration %v, codec %v, answered_at %v", c["duration"], c["codec"], c["answered_at"])
		}
	} else if scNum(c["duration"]) != 0 || c["answered_at"] != nil {
		t.Errorf("unanswered call: duration %v, answered_at %v", c["duration"], c["answered_at"])
	}
	if c["ended_at"] == nil {
		t.Errorf("ended call without ended_at")
	}
}

// scInCase is one call the simulator places into a DID of the platform.
type scInCase struct {
	name   string
	answer string // what the application's answer_url returns
	// answerURL replaces the answer server (e.g. a closed port).
	answerURL string
	// setup changes the fixture before the call (no application, inactive
	// application, suspended customer, unknown DID...); it returns the DID
	// to call.
	setup       func(t *testing.T, e *scEnv, cust, app, did string) string
	hangupAfter time.Duration

	simStatus int // the final status the simulator receives
	// status empty: no call record may exist (the refusals that go to the
	// operator's log: unknown source or DID).
	status, cause, source string
	events                string
	heard                 time.Duration
	check                 func(t *testing.T, e *scEnv, c map[string]any, rep sim.CallReport)
}

// TestCallsInbound has the simulator call the platform's DIDs: routing,
// refusals, the answer_url and who hangs up.
func TestCallsInbound(t *testing.T) {
	t.Parallel()
	e := scStart(t, "sqlite")
	scDo(t, e.l, "POST", "/v1/trunks", map[string]any{"name": "sim", "direction": "inbound", "allowed_cidrs": []string{"127.0.0.1"}}, 201)
	closed := "http://127.0.0.1:" + fmt.Sprint(scClosedTCPPort(t)) + "/answer"

	cases := []scInCase{
		{name: "answered_say", answer: `[{"action":"say","text":"` + scPrompt + `"},{"action":"hangup"}]`,
			simStatus: 200, status: "completed", cause: "normal_clearing", source: "callee",
			events: "call.initiated,call.ringing,call.answered,call.completed", heard: time.Second,
			check: func(t *testing.T, e *scEnv, c map[string]any, rep sim.CallReport) {
				if rep.EndedBy != sim.EndedRemote {
					t.Errorf("simulator report: ended by %s, want the platform", rep.EndedBy)
				}
				if c["from"] != scCaller || c["direction"] != "inbound" || scStr(c["number_id"]) == "" || scStr(c["trunk_id"]) == "" {
					t.Errorf("call %v", c)
				}
			}},
		{name: "reject_busy", answer: `[{"action":"reject","reason":"busy"}]`,
			simStatus: 486, status: "busy", cause: "user_busy",
			events: "call.initiated,call.ringing,call.completed"},
		{name: "reject_rejected", answer: `[{"action":"reject","reason":"rejected"}]`,
			simStatus: 603, status: "failed", cause: "call_rejected",
			events: "call.initiated,call.ringing,call.completed",
			check:  scWantCallError("call_rejected", "reject action")},
		{name: "unknown_did", answer: `[{"action":"hangup"}]`, simStatus: 404,
			setup: func(t *testing.T, e *scEnv, cust, app, did string) string {
				return strings.Replace(did, "+1555", "+1556", 1) // no such number
			}},
		{name: "number_without_application", answer: `[{"action":"hangup"}]`, simStatus: 480,
			status: "failed", cause: "call_rejected", source: "system", events: "call.completed",
			check: scWantCallError("no_application", "is not routed to an application"),
			setup: func(t *testing.T, e *scEnv, cust, app, did string) string {
				list := scDo(t, e.l, "GET", "/v1/numbers?limit=200", nil, 200)["data"].([]any)
				for _, n := range list {
					if m := n.(map[string]any); m["number"] == did {
						scDo(t, e.l, "PATCH", "/v1/numbers/"+m["id"].(string), map[string]any{"application_id": nil}, 200)
						return did
					}
				}
				t.Fatalf("number %s not listed", did)
				return ""
			}},
		{name: "application_inactive", answer: `[{"action":"hangup"}]`, simStatus: 480,
			status: "failed", cause: "call_rejected", source: "system", events: "call.completed",
			check: scWantCallError("application_inactive", "is inactive"),
			setup: func(t *testing.T, e *scEnv, cust, app, did string) string {
				scDo(t, e.l, "PATCH", "/v1/applications/"+app, map[string]any{"status": "inactive"}, 200)
				return did
			}},
		{name: "customer_suspended", answer: `[{"action":"hangup"}]`, simStatus: 403,
			status: "failed", cause: "call_rejected", source: "system", events: "call.completed",
			check: scWantCallError("customer_suspended", "the customer is suspended"),
			setup: func(t *testing.T, e *scEnv, cust, app, did string) string {
				scDo(t, e.l, "PATCH", "/v1/customers/"+cust, map[string]any{"status": "suspended"}, 200)
				return did
			}},
		{name: "answer_url_unreachable", answerURL: closed,
			simStatus: 500, status: "failed", cause: "application_error", source: "system",
			events: "call.initiated,call.ringing,call.error,call.completed",
			check: func(t *testing.T, e *scEnv, c map[string]any, rep sim.CallReport) {
				d := scEvent(scEvents(t, e.l, scStr(c["id"])), "call.error")
				if d["code"] != "answer_url_unreachable" || d["url"] != closed {
					t.Errorf("call.error data %v", d)
				}
				if scNum(c["sip_code"]) != 500 {
					t.Errorf("sip_code %v, want 500", c["sip_code"])
				}
			}},
		{name: "caller_hangs_up", answer: `[{"action":"pause","length":10}]`, hangupAfter: time.Second,
			simStatus: 200, status: "completed", cause: "normal_clearing", source: "caller",
			events: "call.initiated,call.ringing,call.answered,call.completed",
			check: func(t *testing.T, e *scEnv, c map[string]any, rep sim.CallReport) {
				if rep.EndedBy != sim.EndedLocal {
					t.Errorf("simulator report: ended by %s, want the simulator", rep.EndedBy)
				}
			}},
	}
	for i, tc := range cases {
		did := fmt.Sprintf("+1555%03d0002", 200+i)
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			answerURL := tc.answerURL
			if answerURL == "" {
				answerURL = e.hooks.actions(scSlug(t), 200, tc.answer)
			}
			cust, app := e.scCustomer(t, answerURL, "")
			scDo(t, e.l, "POST", "/v1/numbers", map[string]any{"number": did, "customer_id": cust, "application_id": app}, 201)
			called := did
			if tc.setup != nil {
				called = tc.setup(t, e, cust, app, did)
			}
			e.runInbound(t, tc, cust, called, sim.CallOptions{})
		})
	}
}

// runInbound places the call and checks the simulator's report, the call
// record (or its absence) and its events.
func (e *scEnv) runInbound(t *testing.T, tc scInCase, cust, did string, opts sim.CallOptions) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	opts.Platform, opts.From, opts.To = e.l.p.SIP.Addr().String(), scCaller, did
	opts.HangupAfter, opts.MaxDuration = tc.hangupAfter, 30*time.Second
	rep, err := e.sim.Call(ctx, opts)
	if err != nil {
		t.Fatalf("sim call: %v (report %+v)", err, rep)
	}
	t.Logf("simulator: %d %s, heard %v active of %v (RMS %.0f), codec %q, ended by %s",
		rep.SIPStatus, rep.SIPReason, rep.HeardActive, rep.HeardDuration, rep.HeardRMS, rep.Codec, rep.EndedBy)
	if rep.SIPStatus != tc.simStatus {
		t.Errorf("simulator got %d %s, want %d", rep.SIPStatus, rep.SIPReason, tc.simStatus)
	}
	if rep.Answered != (tc.simStatus == 200) {
		t.Errorf("simulator report answered=%v", rep.Answered)
	}
	if rep.HeardActive < tc.heard {
		t.Errorf("simulator heard %v of active audio (RMS %.0f, %v recorded), want at least %v",
			rep.HeardActive, rep.HeardRMS, rep.HeardDuration, tc.heard)
	}
	calls := scCalls(t, e.l, "customer_id="+cust)
	if tc.status == "" {
		if len(calls) != 0 || len(scCalls(t, e.l, "to="+url.QueryEscape(did))) != 0 {
			t.Fatalf("a refused INVITE made a call record: %v", calls)
		}
		if tc.check != nil {
			tc.check(t, e, nil, rep)
		}
		return
	}
	if len(calls) != 1 {
		t.Fatalf("%d call records, want 1: %v", len(calls), calls)
	}
	id := calls[0].(map[string]any)["id"].(string)
	c := scWaitCall(t, e.l, id)
	sipCode := tc.simStatus
	scCheckCall(t, c, tc.status, tc.cause, tc.source, sipCode, tc.simStatus == 200)
	if c["direction"] != "inbound" || c["to"] != did {
		t.Errorf("call %v: want inbound to %s", c, did)
	}
	scCheckEvents(t, scEvents(t, e.l, id), tc.events, false)
	if tc.simStatus == 200 && rep.Codec != "G722" {
		t.Errorf("simulator codec %q", rep.Codec)
	}
	if tc.check != nil {
		tc.check(t, e, c, rep)
	}
}

// scCallError is a call's error code and message ("" when it has none).
func scCallError(c map[string]any) (code, message string) {
	e, _ := c["error"].(map[string]any)
	return scStr(e["code"]), scStr(e["message"])
}

// scWantCallError checks an inbound call's error: its code, and a message
// that contains fragment.
func scWantCallError(code, fragment string) func(t *testing.T, e *scEnv, c map[string]any, rep sim.CallReport) {
	return func(t *testing.T, e *scEnv, c map[string]any, rep sim.CallReport) {
		t.Helper()
		if got, msg := scCallError(c); got != code || !strings.Contains(msg, fragment) {
			t.Errorf("error %s %q, want %s containing %q", got, msg, code, fragment)
		}
	}
}

// scClosedTCPPort is a TCP port on 127.0.0.1 nothing listens on.
func scClosedTCPPort(t *testing.T) int {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}

// TestCallsInboundTrunkAuth: an INVITE from outside every inbound trunk's
// ACL is refused with 403 and leaves no record; a trunk with digest
// credentials (and no CIDRs) admits a carrier that answers the challenge
// and nobody else.
func TestCallsInboundTrunkAuth(t *testing.T) {
	t.Parallel()
	e := scStart(t, "sqlite")
	answer := e.hooks.actions("/answer", 200, `[{"action":"say","text":"`+scPrompt+`"},{"action":"hangup"}]`)

	t.Run("not_in_acl", func(t *testing.T) {
		cust, app := e.scCustomer(t, answer, "")
		did := "+15553000002"
		scDo(t, e.l, "POST", "/v1/numbers", map[string]any{"number": did, "customer_id": cust, "application_id": app}, 201)
		// No trunk at all, then a trunk whose ACL does not hold the source,
		// then one that does but is disabled: 403 every time.
		noRecord := scInCase{simStatus: 403}
		e.runInbound(t, noRecord, cust, did, sim.CallOptions{})
		tr := scDo(t, e.l, "POST", "/v1/trunks", map[string]any{"name": "elsewhere", "direction": "inbound",
			"allowed_cidrs": []string{"192.0.2.0/24"}}, 201)["id"].(string)
		e.runInbound(t, noRecord, cust, did, sim.CallOptions{})
		scDo(t, e.l, "PATCH", "/v1/trunks/"+tr, map[string]any{"allowed_cidrs": []string{"127.0.0.1"}, "status": "disabled"}, 200)
		e.runInbound(t, noRecord, cust, did, sim.CallOptions{})
		scDo(t, e.l, "DELETE", "/v1/trunks/"+tr, nil, 204)
		if calls := scCalls(t, e.l, "limit=100"); len(calls) != 0 {
			t.Fatalf("refused INVITEs made %d call records", len(calls))
		}
	})

	scDo(t, e.l, "POST", "/v1/trunks", map[string]any{"name": "digest", "direction": "inbound",
		"username": "carrier", "password": "s3cret-pass"}, 201)
	t.Run("digest", func(t *testing.T) {
		t.Run("right_password", func(t *testing.T) {
			t.Parallel()
			cust, app := e.scCustomer(t, answer, "")
			did := "+15553010002"
			scDo(t, e.l, "POST", "/v1/numbers", map[string]any{"number": did, "customer_id": cust, "application_id": app}, 201)
			e.runInbound(t, scInCase{simStatus: 200, status: "completed", cause: "normal_clearing", source: "callee",
				events: "call.initiated,call.ringing,call.answered,call.completed", heard: time.Second},
				cust, did, sim.CallOptions{Username: "carrier", Password: "s3cret-pass"})
		})
		// Each refused attempt gets a DID and a customer of its own, so "no
		// call record" is checked per attempt.
		refused := func(t *testing.T, did string, opts sim.CallOptions) {
			cust, app := e.scCustomer(t, answer, "")
			scDo(t, e.l, "POST", "/v1/numbers", map[string]any{"number": did, "customer_id": cust, "application_id": app}, 201)
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			opts.Platform, opts.From, opts.To, opts.MaxDuration = e.l.p.SIP.Addr().String(), scCaller, did, 10*time.Second
			rep, err := e.sim.Call(ctx, opts)
			if err != nil {
				t.Fatalf("sim call: %v", err)
			}
			if rep.SIPStatus != 401 && rep.SIPStatus != 403 {
				t.Errorf("simulator got %d %s, want 403 (or a 401 it cannot answer)", rep.SIPStatus, rep.SIPReason)
			}
			if rep.Answered {
				t.Errorf("answered with bad credentials")
			}
			if calls := scCalls(t, e.l, "customer_id="+cust); len(calls) != 0 {
				t.Fatalf("an unauthenticated INVITE made %d call records", len(calls))
			}
		}
		t.Run("wrong_password", func(t *testing.T) {
			t.Parallel()
			refused(t, "+15553020002", sim.CallOptions{Username: "carrier", Password: "wrong"})
		})
		t.Run("unknown_user", func(t *testing.T) {
			t.Parallel()
			refused(t, "+15553030002", sim.CallOptions{Username: "someone", Password: "s3cret-pass"})
		})
		t.Run("no_credentials", func(t *testing.T) {
			t.Parallel()
			refused(t, "+15553040002", sim.CallOptions{}) // challenged with 401, cannot answer
		})
	})
}

// TestCallsPostgres runs a basic inbound and outbound call on PostgreSQL.
func TestCallsPostgres(t *testing.T) {
	t.Parallel()
	e := scStart(t, "postgres") // skips without MINIVOICE_TEST_DATABASE_URL
	scDo(t, e.l, "POST", "/v1/trunks", map[string]any{"name": "sim-in", "direction": "inbound", "allowed_cidrs": []string{"127.0.0.1"}}, 201)
	t.Run("inbound", func(t *testing.T) {
		t.Parallel()
		cust, app := e.scCustomer(t, e.hooks.actions("/in", 200, `[{"action":"say","text":"`+scPrompt+`"},{"action":"hangup"}]`), "")
		did := "+15554000002"
		scDo(t, e.l, "POST", "/v1/numbers", map[string]any{"number": did, "customer_id": cust, "application_id": app}, 201)
		e.runInbound(t, scInCase{simStatus: 200, status: "completed", cause: "normal_clearing", source: "callee",
			events: "call.initiated,call.ringing,call.answered,call.completed", heard: time.Second}, cust, did, sim.CallOptions{})
	})
	t.Run("outbound", func(t *testing.T) {
		t.Parallel()
		e.runOutbound(t, scOutCase{answer: `[{"action":"say","text":"` + scPrompt + `"}]`,
			status: "completed", cause: "normal_clearing", source: "caller", sipCode: 200,
			events: "call.initiated,call.ringing,call.answered,call.completed", heard: time.Second, simStatus: 200},
			"+15554010000")
	})
}

// TestCallsEventOrderWithinAMillisecond: a call's events are listed oldest
// first (GET /v1/calls/{id}/events) however close together they happened.
// An inbound call whose answer_url is unreachable records call.initiated,
// call.ringing, call.error and call.completed within a few milliseconds.
func TestCallsEventOrderWithinAMillisecond(t *testing.T) {
	t.Parallel()
	e := scStart(t, "sqlite")
	scDo(t, e.l, "POST", "/v1/trunks", map[string]any{"name": "sim", "direction": "inbound", "allowed_cidrs": []string{"127.0.0.1"}}, 201)
	closed := "http://127.0.0.1:" + fmt.Sprint(scClosedTCPPort(t)) + "/answer"
	cust, app := e.scCustomer(t, closed, "")
	did := "+15555000002"
	scDo(t, e.l, "POST", "/v1/numbers", map[string]any{"number": did, "customer_id": cust, "application_id": app}, 201)
	const want = "call.initiated,call.ringing,call.error,call.completed"
	for i := 0; i < 20; i++ {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		rep, err := e.sim.Call(ctx, sim.CallOptions{Platform: e.l.p.SIP.Addr().String(), From: scCaller, To: did})
		cancel()
		if err != nil || rep.SIPStatus != 500 {
			t.Fatalf("call %d: %v, %+v", i, err, rep)
		}
	}
	calls := scCalls(t, e.l, "customer_id="+cust+"&limit=100")
	if len(calls) != 20 {
		t.Fatalf("%d calls, want 20", len(calls))
	}
	bad := 0
	for _, c := range calls {
		id := c.(map[string]any)["id"].(string)
		scWaitCall(t, e.l, id)
		if evs := scEvents(t, e.l, id); scNames(evs) != want {
			bad++
			t.Errorf("call %s events %s, want %s", id, scEventTimes(evs), want)
		}
	}
	if bad > 0 {
		t.Errorf("%d of 20 calls listed their events out of order", bad)
	}
}
