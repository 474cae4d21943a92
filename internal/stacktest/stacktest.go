// Package stacktest starts a whole MiniVoice on loopback — the platform, the
// network simulator as carrier and phone network, and HTTP servers for the
// application — for end-to-end tests and runnable examples, as storetest
// does for storage.
//
// One Stack is one process-local deployment: the platform's API and SIP
// engine on 127.0.0.1 with a temporary data directory, private URLs allowed
// for 127.0.0.0/8 (so an application served by the test can be the
// answer_url), and a simulator speaking with the same flite voice as the
// platform. Everything is torn down by t.Cleanup. Tests are skipped when
// flite is not installed, since prompts and the simulator's speech need it.
//
// The helpers fail the test on any unexpected answer, so a test reads as the
// steps an operator and a customer would take with curl:
//
//	st := stacktest.Start(t, stacktest.Config{App: myApp})
//	cust := st.Customer(t, "acme")
//	app := st.Application(t, cust, st.AppURL+"/answer")
//	st.OutboundTrunkToSim(t, cust)
//	call := st.Do(t, "POST", "/v1/calls", map[string]any{"to": "+15550000001", "from": "+15551230001",
//		"application_id": app}, 201)
//	done := st.WaitCall(t, call["id"].(string))
package stacktest

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"net/url"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/minivoice/minivoice/internal/config"
	"github.com/minivoice/minivoice/internal/media"
	"github.com/minivoice/minivoice/internal/platform"
	"github.com/minivoice/minivoice/internal/sim"
	"github.com/minivoice/minivoice/internal/sip"
	"github.com/minivoice/minivoice/internal/store/storetest"
	"github.com/minivoice/minivoice/internal/tts"
)

// AdminKey is the operator key every Stack's platform is started with.
const AdminKey = "mvk_op_stacktest_operator_key_0000"

// Timeouts of the polling helpers: long enough for a slow, shared CI
// machine, short enough that a hung call fails the test rather than the
// whole package's deadline.
const (
	CallTimeout      = 60 * time.Second
	RecordingTimeout = 30 * time.Second
)

// Config configures a Stack. The zero value is a SQLite platform with a
// simulator that has no scripts.
type Config struct {
	// Backend is "sqlite" (default) or "postgres". PostgreSQL uses a fresh
	// schema from storetest.SchemaURL, and skips the test when
	// MINIVOICE_TEST_DATABASE_URL is not set.
	Backend string
	// SimScripts are the simulator's per-number scripts (sim.Config.Scripts):
	// an E.164 number to steps "say TEXT", "wait SECONDS", "dtmf DIGITS",
	// "hangup". A scripted number answers whatever its last four digits.
	SimScripts map[string][]string
	// SimAnswerDelay is how long the simulator's answering numbers ring.
	// Zero is sim.DefaultAnswerDelay (1 s, as `minivoice sim` does);
	// negative answers at once.
	SimAnswerDelay time.Duration
	// MediaTimeout overrides the platform's 30 s without RTP; zero keeps it.
	MediaTimeout time.Duration
	// App, when set, is served on loopback as the application's web server;
	// Stack.AppURL is its base URL. More servers can be added with Serve.
	App http.Handler
	// Logger receives the platform's and simulator's logs; default discarded.
	Logger *slog.Logger
	// SimVoice is the flite voice the simulator speaks with; default
	// sim.DefaultVoice.
	SimVoice string
	// SimCodecs are the codecs the simulator offers and accepts, by SDP
	// name ("PCMU", "G722"); nil keeps the simulator's default.
	SimCodecs []string
	// Refusals bounds what refused INVITEs write (the refusals log's size
	// and write rates); zero values keep the platform's defaults.
	Refusals sip.RefusalConfig
	// Edge is the SIP edge's configuration (timeouts, caps, refusal rates).
	// Its refusal rates default to 1000/s with a burst of 1000 per source
	// here, far above the platform's, so that tests sending many INVITEs
	// from 127.0.0.1 without a trunk see every 403.
	Edge sip.EdgeConfig
	// NoSim starts no simulator (Stack.Sim is nil), for tests whose calls
	// come from sipp, baresip or raw SIP; flite is then not required.
	NoSim bool
	// Platform, when set, adjusts the platform's configuration just before
	// it starts, for what Config does not name: the serve settings (a data
	// directory left by an earlier platform, a database URL two platforms
	// share, TLS listeners, the SIP edge's connection bounds) or a secret
	// key.
	Platform func(*platform.Config)
}

// Stack is a running platform, simulator and application server.
type Stack struct {
	// API is the platform's base URL, e.g. "http://127.0.0.1:41234" (no
	// trailing slash; paths start with /v1).
	API string
	// Key is the operator key, sent by Do.
	Key string
	// AppURL is the base URL of Config.App ("" without one).
	AppURL string
	// Platform is the running platform (its SIP engine, store, API).
	Platform *platform.Platform
	// Sim is the network simulator: the trunk for outbound calls and the
	// caller for SimCall; nil with Config.NoSim.
	Sim *sim.Sim

	client *http.Client
}

// Start runs a platform, a simulator (unless cfg.NoSim) and (if cfg.App is
// set) an application server, all on loopback, stopped when the test ends. It skips the test
// under -short (go test -short is the quick loop of unit and API tests) and
// when flite is not installed.
func Start(t testing.TB, cfg Config) *Stack {
	t.Helper()
	if testing.Short() {
		t.Skip("stacktest: a whole platform with real calls does not run under -short; run without -short")
	}
	if _, err := exec.LookPath("flite"); err != nil && !cfg.NoSim {
		t.Skip("flite is not installed (Debian package flite): the platform's say and the simulator's speech need it")
	}
	logger := cfg.Logger
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	st := &Stack{Key: AdminKey, client: &http.Client{Timeout: 30 * time.Second}}
	t.Cleanup(st.client.CloseIdleConnections)
	if cfg.App != nil {
		// Registered first, so it closes last: the platform may still fetch
		// action URLs while it drains.
		st.AppURL = st.Serve(t, cfg.App)
	}

	sc := &config.Serve{Data: t.TempDir(), HTTP: "127.0.0.1:0", SIP: "127.0.0.1:0",
		AllowPrivateURLs: []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8")}, DrainTimeout: 5 * time.Second,
		WebhookRetrySchedule: []time.Duration{time.Second}}
	switch cfg.Backend {
	case "", "sqlite":
	case "postgres":
		sc.Database = storetest.SchemaURL(t)
	default:
		t.Fatalf("stacktest: unknown backend %q (want sqlite or postgres)", cfg.Backend)
	}
	if cfg.Edge.RefusalRate == 0 && cfg.Edge.RefusalBurst == 0 {
		cfg.Edge.RefusalRate, cfg.Edge.RefusalBurst = 1000, 1000
		cfg.Edge.RefusalRateTotal, cfg.Edge.RefusalBurstTotal = 1000, 1000
	}
	pc := platform.Config{Serve: sc, AdminKey: AdminKey, Version: "stacktest",
		Logger: logger, MediaTimeout: cfg.MediaTimeout, Refusals: cfg.Refusals, Edge: cfg.Edge}
	if cfg.Platform != nil {
		cfg.Platform(&pc)
	}
	p, err := platform.Start(context.Background(), pc)
	if err != nil {
		t.Fatalf("stacktest: start platform: %v", err)
	}
	t.Cleanup(func() {
		// Calls still up when the test ends are hung up after a short grace,
		// not the 10 minutes of a production drain.
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		p.Drain(ctx)
		cancel()
		ctx, cancel = context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := p.Shutdown(ctx); err != nil {
			t.Errorf("stacktest: platform shutdown: %v", err)
		}
	})
	st.Platform, st.API = p, "http://"+p.HTTPAddr
	if p.HTTPS {
		st.API = "https://" + p.HTTPAddr
	}
	if cfg.NoSim {
		return st
	}

	speaker, err := tts.New(tts.Config{CacheDir: t.TempDir()})
	if err != nil {
		t.Fatalf("stacktest: tts: %v", err)
	}
	s, err := sim.New(sim.Config{Listen: "127.0.0.1:0", RecordDir: t.TempDir(), Speaker: speaker,
		AnswerDelay: cfg.SimAnswerDelay, Scripts: cfg.SimScripts, Logger: logger, Voice: cfg.SimVoice, Codecs: cfg.SimCodecs})
	if err != nil {
		t.Fatalf("stacktest: simulator: %v", err)
	}
	s.Serve()
	t.Cleanup(func() {
		if err := s.Close(); err != nil {
			t.Errorf("stacktest: simulator close: %v", err)
		}
	})
	st.Sim = s
	return st
}

// Serve runs h on a loopback HTTP server until the test ends and returns its
// base URL ("http://127.0.0.1:PORT"), for an application's answer_url,
// action URLs and webhooks.
func (st *Stack) Serve(t testing.TB, h http.Handler) string {
	t.Helper()
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	return srv.URL
}

// SIPAddr is the platform's SIP address, HOST:PORT (UDP and TCP).
func (st *Stack) SIPAddr() string { return st.Platform.SIP.Addr().String() }

// SimAddr is the simulator's SIP address, HOST:PORT.
func (st *Stack) SimAddr() string { return st.Sim.Addr().String() }

// Do sends an API request with the operator key (body, if not nil, as JSON)
// and decodes the JSON answer, failing the test unless the status is want.
// A body-less answer (204) decodes to nil.
func (st *Stack) Do(t testing.TB, method, path string, body any, want int) map[string]any {
	t.Helper()
	raw := st.do(t, method, path, body, want)
	if len(bytes.TrimSpace(raw)) == 0 {
		return nil
	}
	var m map[string]any
	if err := json.Unmarshal(raw, &m); err != nil {
		t.Fatalf("%s %s: answer is not a JSON object: %v: %s", method, path, err, raw)
	}
	return m
}

func (st *Stack) do(t testing.TB, method, path string, body any, want int) []byte {
	t.Helper()
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			t.Fatalf("%s %s: encoding the body: %v", method, path, err)
		}
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequest(method, st.API+path, rd)
	if err != nil {
		t.Fatalf("%s %s: %v", method, path, err)
	}
	req.Header.Set("Authorization", "Bearer "+st.Key)
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := st.client.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("%s %s: reading the answer: %v", method, path, err)
	}
	if resp.StatusCode != want {
		t.Fatalf("%s %s: %d, want %d: %s", method, path, resp.StatusCode, want, raw)
	}
	return raw
}

// Customer creates an active customer named name with 100.00 of credit, an
// outbound and an inbound rate matching every number (0.01 per minute, 1/1 s
// increments), and limits (100 concurrent calls, 100 calls per second) that
// tests placing several calls at once do not hit, so calls are allowed and
// billed whatever the number. It may present any caller ID
// (allow_any_caller_id): the tests on top of it place calls from many
// numbers and are not about the caller-ID rule, which has tests of its own.
// It returns the customer's id.
func (st *Stack) Customer(t testing.TB, name string) string {
	t.Helper()
	id := Str(st.Do(t, "POST", "/v1/customers", map[string]any{"name": name, "max_concurrent_calls": 100,
		"max_cps": 100, "allow_any_caller_id": true}, 201)["id"])
	st.Do(t, "POST", "/v1/customers/"+id+"/credits", map[string]any{"amount": "100.00", "description": "stacktest"}, 201)
	for _, dir := range []string{"outbound", "inbound"} {
		st.Do(t, "POST", "/v1/rates", map[string]any{"customer_id": id, "direction": dir, "prefix": "",
			"price_per_minute": "0.01", "initial_increment": 1, "subsequent_increment": 1}, 201)
	}
	return id
}

// Application creates an application of customerID whose answer_url is
// answerURL ("" for none: calls then need inline actions) and returns its id.
func (st *Stack) Application(t testing.TB, customerID, answerURL string) string {
	t.Helper()
	body := map[string]any{"customer_id": customerID, "name": "app"}
	if answerURL != "" {
		body["answer_url"] = answerURL
	}
	return Str(st.Do(t, "POST", "/v1/applications", body, 201)["id"])
}

// OutboundTrunkToSim creates an outbound trunk of customerID that sends its
// calls to the simulator (up to 100 new calls a second), and returns its id. The simulator then plays the
// called party, by the number's script or last four digits.
func (st *Stack) OutboundTrunkToSim(t testing.TB, customerID string) string {
	t.Helper()
	return Str(st.Do(t, "POST", "/v1/trunks", map[string]any{"name": "simulator", "host": "127.0.0.1",
		"port": int(st.Sim.Addr().Port()), "customer_id": customerID, "max_cps": 100}, 201)["id"])
}

// InboundTrunkFromSim creates a shared inbound trunk accepting INVITEs from
// 127.0.0.1 (the simulator, and anything else on loopback), so SimCall
// reaches the platform's DIDs; it returns the trunk's id. One per Stack is
// enough.
func (st *Stack) InboundTrunkFromSim(t testing.TB) string {
	t.Helper()
	return Str(st.Do(t, "POST", "/v1/trunks", map[string]any{"name": "simulator-in", "direction": "inbound",
		"allowed_cidrs": []string{"127.0.0.1/32"}, "max_cps": 100}, 201)["id"])
}

// Number creates the DID e164 for customerID, routed to application appID
// ("" for none), and returns its id.
func (st *Stack) Number(t testing.TB, e164, customerID, appID string) string {
	t.Helper()
	body := map[string]any{"number": e164, "customer_id": customerID}
	if appID != "" {
		body["application_id"] = appID
	}
	return Str(st.Do(t, "POST", "/v1/numbers", body, 201)["id"])
}

// Ended reports whether a call status is final.
func Ended(status any) bool {
	switch status {
	case "completed", "busy", "no-answer", "failed", "canceled":
		return true
	}
	return false
}

// WaitCall polls call id until it has ended (completed, busy, no-answer,
// failed or canceled) and returns it; it fails the test after CallTimeout.
func (st *Stack) WaitCall(t testing.TB, id string) map[string]any {
	t.Helper()
	deadline := time.Now().Add(CallTimeout)
	for {
		c := st.Do(t, "GET", "/v1/calls/"+url.PathEscape(id), nil, 200)
		if Ended(c["status"]) {
			return c
		}
		if time.Now().After(deadline) {
			t.Fatalf("call %s has not ended after %v: %v", id, CallTimeout, c)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// Calls lists calls (newest first) with a query such as
// "customer_id=cust_...&direction=inbound"; up to 200.
func (st *Stack) Calls(t testing.TB, query string) []map[string]any {
	t.Helper()
	if query != "" {
		query += "&"
	}
	return list(t, st.Do(t, "GET", "/v1/calls?"+query+"limit=200", nil, 200))
}

// Events lists a call's events, oldest first.
func (st *Stack) Events(t testing.TB, callID string) []map[string]any {
	t.Helper()
	return list(t, st.Do(t, "GET", "/v1/calls/"+url.PathEscape(callID)+"/events", nil, 200))
}

// EventNames is the names of evs joined by commas, e.g.
// "call.initiated,call.answered,call.completed".
func EventNames(evs []map[string]any) string {
	names := make([]string, len(evs))
	for i, e := range evs {
		names[i] = Str(e["event"])
	}
	return strings.Join(names, ",")
}

// EventTimes shows evs with their times and data, one per line, for
// failure messages about timing ("12:00:01.250 call.gather {digits: 1}").
func EventTimes(evs []map[string]any) string {
	var b strings.Builder
	for _, e := range evs {
		at := Str(e["created_at"])
		if ts, err := time.Parse(time.RFC3339Nano, at); err == nil {
			at = ts.Format("15:04:05.000")
		}
		fmt.Fprintf(&b, "\n\t%s %s %v", at, Str(e["event"]), e["data"])
	}
	return b.String()
}

// Event returns the data of the first event called name in evs, or nil.
func Event(evs []map[string]any, name string) map[string]any {
	for _, e := range evs {
		if e["event"] == name {
			d, _ := e["data"].(map[string]any)
			if d == nil {
				d = map[string]any{}
			}
			return d
		}
	}
	return nil
}

// WaitRecording polls recording id until it is no longer in progress and
// returns it; it fails the test after RecordingTimeout.
func (st *Stack) WaitRecording(t testing.TB, id string) map[string]any {
	t.Helper()
	deadline := time.Now().Add(RecordingTimeout)
	for {
		r := st.Do(t, "GET", "/v1/recordings/"+url.PathEscape(id), nil, 200)
		if r["status"] != "in-progress" {
			return r
		}
		if time.Now().After(deadline) {
			t.Fatalf("recording %s still in progress after %v", id, RecordingTimeout)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// RecordingWAV downloads recording id's media and returns its channels (one
// for mono; left = far end and right = platform for dual).
func (st *Stack) RecordingWAV(t testing.TB, id string) []*media.PCM {
	t.Helper()
	path := "/v1/recordings/" + url.PathEscape(id) + "/media"
	req, err := http.NewRequest("GET", st.API+path, nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+st.Key)
	resp, err := st.client.Do(req)
	if err != nil {
		t.Fatalf("GET %s: %v", path, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != 200 || resp.Header.Get("Content-Type") != "audio/wav" {
		b, _ := io.ReadAll(resp.Body)
		t.Fatalf("GET %s: %d %s: %s", path, resp.StatusCode, resp.Header.Get("Content-Type"), b)
	}
	chans, err := media.ReadWAVChannels(resp.Body, 256<<20)
	if err != nil {
		t.Fatalf("GET %s: not a WAV: %v", path, err)
	}
	return chans
}

// ChildCalls returns the calls a dial of parentID placed (parent_call_id),
// oldest first, each waited for until it has ended.
func (st *Stack) ChildCalls(t testing.TB, parentID string) []map[string]any {
	t.Helper()
	p := st.Do(t, "GET", "/v1/calls/"+url.PathEscape(parentID), nil, 200)
	all := st.Calls(t, "customer_id="+url.QueryEscape(Str(p["customer_id"])))
	var out []map[string]any
	for i := len(all) - 1; i >= 0; i-- {
		if all[i]["parent_call_id"] == parentID {
			out = append(out, st.WaitCall(t, Str(all[i]["id"])))
		}
	}
	return out
}

// SimCall has the simulator call a DID on the platform, as the phone
// network delivering a caller (opts.Platform is filled in; set From, To and
// Script), and returns the simulator's report once the call is over. The
// platform needs an inbound trunk for it (InboundTrunkFromSim).
func (st *Stack) SimCall(t testing.TB, opts sim.CallOptions) sim.CallReport {
	t.Helper()
	return st.GoSimCall(t, opts)(t)
}

// GoSimCall starts SimCall in the background and returns a function that
// waits for the call to end and returns its report (failing the test it is
// given if the call could not be placed). Calls started together run at the
// same time whatever `go test -parallel` allows, so a test of several
// scenarios lasts as long as its longest call.
func (st *Stack) GoSimCall(t testing.TB, opts sim.CallOptions) func(t testing.TB) sim.CallReport {
	t.Helper()
	opts.Platform = st.SIPAddr()
	if opts.MaxDuration == 0 {
		opts.MaxDuration = CallTimeout
	}
	type outcome struct {
		rep sim.CallReport
		err error
	}
	done := make(chan outcome, 1)
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), opts.MaxDuration+10*time.Second)
		defer cancel()
		rep, err := st.Sim.Call(ctx, opts)
		done <- outcome{rep, err}
	}()
	return func(t testing.TB) sim.CallReport {
		t.Helper()
		o := <-done
		done <- o // a second wait sees the same outcome
		if o.err != nil {
			t.Fatalf("simulator call %s -> %s: %v (report %+v)", opts.From, opts.To, o.err, o.rep)
		}
		return o.rep
	}
}

// SimReport waits for the simulator's most recent call to or from number to
// end (e.g. the callee of an outbound call or of a dial) and returns its
// report.
func (st *Stack) SimReport(t testing.TB, number string) sim.CallReport {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), CallTimeout)
	defer cancel()
	rep, err := st.Sim.WaitCall(ctx, number)
	if err != nil {
		t.Fatalf("simulator: %v", err)
	}
	return rep
}

// Active is how much of p, between from and to, is louder than -40 dBFS
// (media.ActiveDuration): speech, not silence or comfort noise.
func Active(p *media.PCM, from, to time.Duration) time.Duration {
	a := max(int(from.Seconds()*float64(p.Rate)), 0)
	b := min(int(to.Seconds()*float64(p.Rate)), len(p.Samples))
	if a >= b {
		return 0
	}
	return media.ActiveDuration(&media.PCM{Rate: p.Rate, Samples: p.Samples[a:b]}, -40)
}

// Str is a JSON string field; "" for null, absent or another type.
func Str(v any) string {
	s, _ := v.(string)
	return s
}

// Num is a JSON number field; 0 for null, absent or another type.
func Num(v any) float64 {
	f, _ := v.(float64)
	return f
}

// Vars is a call object's variables; empty (never nil) when it has none.
func Vars(call map[string]any) map[string]string {
	out := map[string]string{}
	m, _ := call["variables"].(map[string]any)
	for k, v := range m {
		out[k] = fmt.Sprint(v)
	}
	return out
}

// list is the "data" of a list answer.
func list(t testing.TB, page map[string]any) []map[string]any {
	t.Helper()
	data, ok := page["data"].([]any)
	if !ok {
		t.Fatalf("list answer without data: %v", page)
	}
	out := make([]map[string]any, len(data))
	for i, x := range data {
		out[i], _ = x.(map[string]any)
	}
	return out
}
