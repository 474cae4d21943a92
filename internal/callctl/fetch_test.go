package callctl_test

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"net/url"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/minivoice/minivoice/internal/callctl"
	"github.com/minivoice/minivoice/internal/netguard"
	"github.com/minivoice/minivoice/internal/voice"
	"github.com/minivoice/minivoice/webhook"
)

var (
	loopback   = []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8")}
	fetchClock = time.Date(2026, 5, 29, 12, 0, 0, 0, time.UTC)

	secretNew = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
	secretOld = "whsec_b2xkLXNlY3JldC1vbGQtc2VjcmV0LW9sZC1zZWNyZXQ="
)

func fetchNow() time.Time { return fetchClock }

func fetchApp() *voice.Application {
	return &voice.Application{ID: "app_1", CustomerID: "cust_1", WebhookSecret: secretNew}
}

func fetchCall() *voice.Call {
	parent := "call_parent"
	return &voice.Call{ID: "call_123", Status: voice.CallInProgress, Direction: "inbound",
		From: "+15551230001", To: "+15551230002", CustomerID: "cust_1", ApplicationID: "app_1",
		ParentCallID: &parent, Variables: map[string]string{"lang": "en"}, CreatedAt: fetchClock, UpdatedAt: fetchClock}
}

// reply is one scripted answer of an appServer.
type reply struct {
	status   int
	body     string
	location string
}

// received is a request as the appServer saw it.
type received struct {
	method string
	header http.Header
	query  url.Values
	body   []byte
}

// appServer is a test application server: it answers with its script (the
// last reply repeats) and records every request, so tests can count attempts.
type appServer struct {
	*httptest.Server
	mu   sync.Mutex
	reqs []received
}

func newAppServer(t *testing.T, script ...reply) *appServer {
	t.Helper()
	rc := &appServer{}
	rc.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		rc.mu.Lock()
		n := len(rc.reqs)
		rc.reqs = append(rc.reqs, received{method: r.Method, header: r.Header.Clone(), query: r.URL.Query(), body: body})
		rc.mu.Unlock()
		if len(script) == 0 {
			_, _ = io.WriteString(w, "[]")
			return
		}
		rp := script[min(n, len(script)-1)]
		if rp.location != "" {
			w.Header().Set("location", rp.location)
		}
		w.WriteHeader(rp.status)
		_, _ = io.WriteString(w, rp.body)
	}))
	t.Cleanup(rc.Close)
	return rc
}

// blockingAppServer never answers until the client gives up; arrived gets a
// value per request.
func blockingAppServer(t *testing.T) (*appServer, <-chan struct{}) {
	t.Helper()
	arrived := make(chan struct{}, 10)
	rc := &appServer{}
	rc.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		// Reading the body lets the server notice the client hanging up,
		// which cancels r.Context().
		_, _ = io.Copy(io.Discard, r.Body)
		rc.mu.Lock()
		rc.reqs = append(rc.reqs, received{method: r.Method})
		rc.mu.Unlock()
		arrived <- struct{}{}
		select {
		case <-r.Context().Done():
		case <-time.After(30 * time.Second):
		}
	}))
	t.Cleanup(rc.Close)
	return rc, arrived
}

func (rc *appServer) requests() []received {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	return append([]received(nil), rc.reqs...)
}

func (rc *appServer) hits() int { return len(rc.requests()) }

func newFetcher() *callctl.Fetcher {
	return callctl.NewFetcher(callctl.FetcherConfig{Allow: loopback, Now: fetchNow, UserAgent: "MiniVoice/test"})
}

func asFetchError(t *testing.T, err error) *callctl.FetchError {
	t.Helper()
	var fe *callctl.FetchError
	if !errors.As(err, &fe) {
		t.Fatalf("err = %v (%T), want a *FetchError", err, err)
	}
	return fe
}

func TestFetchSignature(t *testing.T) {
	t.Parallel()
	later, earlier := fetchClock.Add(time.Hour), fetchClock.Add(-time.Second)
	cases := []struct {
		name        string
		expires     *time.Time
		oldVerifies bool
		signatures  int
	}{
		{"no rotation", nil, false, 1},
		{"during a rotation", &later, true, 2},
		{"after the previous secret expired", &earlier, false, 1},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			rc := newAppServer(t)
			app := fetchApp()
			if tc.expires != nil {
				app.PreviousWebhookSecret, app.PreviousSecretExpiresAt = secretOld, tc.expires
			}
			if _, err := newFetcher().Fetch(context.Background(), callctl.FetchRequest{URL: rc.URL, App: app, Call: fetchCall()}); err != nil {
				t.Fatal(err)
			}
			req := rc.requests()[0]
			if err := webhook.Verify(secretNew, req.header, req.body, fetchClock, webhook.DefaultTolerance); err != nil {
				t.Errorf("current secret: %v", err)
			}
			err := webhook.Verify(secretOld, req.header, req.body, fetchClock, webhook.DefaultTolerance)
			if tc.oldVerifies && err != nil {
				t.Errorf("previous secret: %v", err)
			}
			if !tc.oldVerifies && !errors.Is(err, webhook.ErrSignature) {
				t.Errorf("previous secret: %v, want no valid signature", err)
			}
			if n := len(strings.Fields(req.header.Get(webhook.HeaderSignature))); n != tc.signatures {
				t.Errorf("%d signatures, want %d", n, tc.signatures)
			}
			if id := req.header.Get(webhook.HeaderID); !voice.ValidID(voice.PrefixRequest, id) {
				t.Errorf("webhook-id %q is not a req_ id", id)
			}
		})
	}
}

func TestFetchBody(t *testing.T) {
	t.Parallel()
	result := map[string]any{"digits": "12", "reason": "finish_key"}
	cases := []struct {
		name      string
		variables map[string]string
		result    any
		wantVars  map[string]string
	}{
		{"answer_url", map[string]string{"a": "1"}, nil, map[string]string{"a": "1"}},
		{"action_url with a result", map[string]string{"a": "1"}, result, map[string]string{"a": "1"}},
		{"variables default to the call's", nil, nil, map[string]string{"lang": "en"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			rc := newAppServer(t, reply{status: 200, body: `[{"action": "say", "text": "hi"}]`})
			call := fetchCall()
			res, err := newFetcher().Fetch(context.Background(), callctl.FetchRequest{
				URL: rc.URL + "/answer?step=1", App: fetchApp(), Call: call, Variables: tc.variables, Result: tc.result})
			if err != nil {
				t.Fatal(err)
			}
			if len(res.Actions) != 1 || res.Actions[0].Say.Text != "hi" || res.Attempts != 1 || res.URL != rc.URL+"/answer?step=1" {
				t.Errorf("result %+v", res)
			}
			req := rc.requests()[0]
			if req.method != http.MethodPost || req.header.Get("content-type") != "application/json" ||
				req.header.Get("user-agent") != "MiniVoice/test" || req.query.Get("step") != "1" {
				t.Errorf("request %s %v %v", req.method, req.header, req.query)
			}
			var body map[string]json.RawMessage
			if err := json.Unmarshal(req.body, &body); err != nil {
				t.Fatal(err)
			}
			wantKeys := []string{"call", "variables"}
			if tc.result != nil {
				wantKeys = append(wantKeys, "result")
			}
			if len(body) != len(wantKeys) {
				t.Errorf("body keys %s, want %v", req.body, wantKeys)
			}
			wantCall, _ := json.Marshal(call)
			if string(body["call"]) != string(wantCall) {
				t.Errorf("call %s\nwant %s", body["call"], wantCall)
			}
			var vars map[string]string
			if err := json.Unmarshal(body["variables"], &vars); err != nil || !reflect.DeepEqual(vars, tc.wantVars) {
				t.Errorf("variables %s, want %v", body["variables"], tc.wantVars)
			}
			if tc.result != nil {
				var got map[string]any
				if err := json.Unmarshal(body["result"], &got); err != nil || !reflect.DeepEqual(got, tc.result) {
					t.Errorf("result %s, want %v", body["result"], tc.result)
				}
			}
		})
	}
}

func TestFetchGET(t *testing.T) {
	t.Parallel()
	primary := newAppServer(t, reply{status: 500})
	fallback := newAppServer(t, reply{status: 200, body: `[]`})
	res, err := newFetcher().Fetch(context.Background(), callctl.FetchRequest{
		URL: primary.URL + "/answer?step=2", FallbackURL: fallback.URL, Method: "get", App: fetchApp(), Call: fetchCall(),
		Result: map[string]any{"recording_id": "rec_1", "duration": 12.4, "speech": nil}})
	if err != nil {
		t.Fatal(err)
	}
	if res.URL != fallback.URL || res.Attempts != 3 || len(res.Actions) != 0 {
		t.Errorf("result %+v", res)
	}
	want := url.Values{
		"call_id": {"call_123"}, "from": {"+15551230001"}, "to": {"+15551230002"}, "direction": {"inbound"},
		"status": {"in-progress"}, "customer_id": {"cust_1"}, "application_id": {"app_1"},
		"parent_call_id": {"call_parent"}, "variables[lang]": {"en"},
		"result[recording_id]": {"rec_1"}, "result[duration]": {"12.4"}, "result[speech]": {""},
	}
	for i, req := range append(primary.requests(), fallback.requests()...) {
		w := url.Values{}
		for k, v := range want {
			w[k] = v
		}
		if i < 2 {
			w.Set("step", "2")
		} else {
			w.Set("error_code", callctl.CodeHTTPError)
			w.Set("error_url", primary.URL+"/answer?step=2")
		}
		if req.method != http.MethodGet || len(req.body) != 0 || req.header.Get("content-type") != "" {
			t.Errorf("request %d: %s, body %q, content-type %q", i, req.method, req.body, req.header.Get("content-type"))
		}
		if !reflect.DeepEqual(req.query, w) {
			t.Errorf("request %d: query %v\nwant %v", i, req.query, w)
		}
		if err := webhook.Verify(secretNew, req.header, nil, fetchClock, webhook.DefaultTolerance); err != nil {
			t.Errorf("request %d: signature of the empty body: %v", i, err)
		}
	}
	if primary.hits() != 2 || fallback.hits() != 1 {
		t.Errorf("hits %d + %d, want 2 + 1", primary.hits(), fallback.hits())
	}
}

func TestFetchRetriesAndFallback(t *testing.T) {
	t.Parallel()
	ok := reply{status: 200, body: `[{"action": "say", "text": "hi"}]`}
	cases := []struct {
		name         string
		primary      []reply
		fallback     []reply // nil: no fallback_url
		wantFallback bool    // success came from the fallback
		wantActions  int
		wantAttempts int
		wantCode     string // "" for success
		wantStatus   int
		wantPath     string
		wantFirst    string // the first failure's code
		wantHits     [2]int
		errorCode    string // error_code the fallback received
	}{
		{name: "200 first", primary: []reply{ok}, fallback: []reply{ok},
			wantActions: 1, wantAttempts: 1, wantHits: [2]int{1, 0}},
		{name: "empty list hangs up", primary: []reply{{status: 200, body: ` [] `}},
			wantAttempts: 1, wantHits: [2]int{1, 0}},
		{name: "actions object", primary: []reply{{status: 201, body: `{"actions": [{"action": "hangup"}, {"action": "pause"}]}`}},
			wantActions: 2, wantAttempts: 1, wantHits: [2]int{1, 0}},
		{name: "500 then 200", primary: []reply{{status: 500}, ok}, fallback: []reply{ok},
			wantActions: 1, wantAttempts: 2, wantHits: [2]int{2, 0}},
		{name: "500, 500, fallback 200", primary: []reply{{status: 500}}, fallback: []reply{ok},
			wantFallback: true, wantActions: 1, wantAttempts: 3, wantHits: [2]int{2, 1}, errorCode: callctl.CodeHTTPError},
		{name: "invalid, fallback 200", primary: []reply{{status: 200, body: `[{"action": "say"}]`}}, fallback: []reply{ok},
			wantFallback: true, wantActions: 1, wantAttempts: 3, wantHits: [2]int{2, 1}, errorCode: callctl.CodeInvalidActions},
		{name: "all failing", primary: []reply{{status: 500}}, fallback: []reply{{status: 503}},
			wantAttempts: 3, wantCode: callctl.CodeHTTPError, wantStatus: 503, wantFirst: callctl.CodeHTTPError,
			wantHits: [2]int{2, 1}, errorCode: callctl.CodeHTTPError},
		{name: "all failing without fallback", primary: []reply{{status: 404}},
			wantAttempts: 2, wantCode: callctl.CodeHTTPError, wantStatus: 404, wantFirst: callctl.CodeHTTPError, wantHits: [2]int{2, 0}},
		{name: "fallback invalid", primary: []reply{{status: 500}}, fallback: []reply{{status: 200, body: `{"actions": [{"action": "play"}]}`}},
			wantAttempts: 3, wantCode: callctl.CodeInvalidActions, wantStatus: 200, wantPath: "actions[0].url",
			wantFirst: callctl.CodeHTTPError, wantHits: [2]int{2, 1}, errorCode: callctl.CodeHTTPError},
		{name: "invalid actions", primary: []reply{{status: 200, body: `[{"action": "say"}]`}},
			wantAttempts: 2, wantCode: callctl.CodeInvalidActions, wantStatus: 200, wantPath: "actions[0].text",
			wantFirst: callctl.CodeInvalidActions, wantHits: [2]int{2, 0}},
		{name: "not JSON", primary: []reply{{status: 200, body: `<Response><Say>hi</Say></Response>`}},
			wantAttempts: 2, wantCode: callctl.CodeInvalidActions, wantStatus: 200, wantPath: "actions",
			wantFirst: callctl.CodeInvalidActions, wantHits: [2]int{2, 0}},
		{name: "empty 204", primary: []reply{{status: 204}},
			wantAttempts: 2, wantCode: callctl.CodeInvalidActions, wantStatus: 204, wantPath: "actions",
			wantFirst: callctl.CodeInvalidActions, wantHits: [2]int{2, 0}},
		{name: "larger than 1 MiB", primary: []reply{{status: 200, body: strings.Repeat(" ", callctl.MaxResponseBytes) + "[]"}},
			wantAttempts: 2, wantCode: callctl.CodeInvalidActions, wantStatus: 200,
			wantFirst: callctl.CodeInvalidActions, wantHits: [2]int{2, 0}},
		// A followed redirect would show as extra hits on the same server.
		{name: "redirect is not followed", primary: []reply{{status: 302, location: "/elsewhere"}},
			wantAttempts: 2, wantCode: callctl.CodeHTTPError, wantStatus: 302, wantFirst: callctl.CodeHTTPError, wantHits: [2]int{2, 0}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			primary, fallback := newAppServer(t, tc.primary...), newAppServer(t, tc.fallback...)
			req := callctl.FetchRequest{URL: primary.URL + "/answer", App: fetchApp(), Call: fetchCall()}
			if tc.fallback != nil {
				req.FallbackURL = fallback.URL + "/fallback"
			}
			res, err := newFetcher().Fetch(context.Background(), req)
			if tc.wantCode == "" {
				if err != nil {
					t.Fatal(err)
				}
				wantURL := req.URL
				if tc.wantFallback {
					wantURL = req.FallbackURL
				}
				if res.URL != wantURL || res.Attempts != tc.wantAttempts || len(res.Actions) != tc.wantActions {
					t.Errorf("result %+v, want url %s, %d attempts, %d actions", res, wantURL, tc.wantAttempts, tc.wantActions)
				}
			} else {
				fe := asFetchError(t, err)
				wantURL := req.URL
				if tc.fallback != nil {
					wantURL = req.FallbackURL
				}
				if fe.Code != tc.wantCode || fe.HTTPStatus != tc.wantStatus || fe.Path != tc.wantPath ||
					fe.URL != wantURL || fe.Attempts != tc.wantAttempts || fe.Message == "" {
					t.Errorf("error %+v, want %s %d %q at %s after %d", fe, tc.wantCode, tc.wantStatus, tc.wantPath, wantURL, tc.wantAttempts)
				}
				if fe.First == nil || fe.First.Code != tc.wantFirst || fe.First.URL != req.URL {
					t.Errorf("first failure %+v, want %s at %s", fe.First, tc.wantFirst, req.URL)
				}
				if tc.wantPath != "" {
					var pe *callctl.ParseError
					if !errors.As(err, &pe) || pe.Path != tc.wantPath {
						t.Errorf("ParseError not wrapped: %v", err)
					}
				}
			}
			if got := [2]int{primary.hits(), fallback.hits()}; got != tc.wantHits {
				t.Errorf("hits %v, want %v", got, tc.wantHits)
			}
			if tc.errorCode != "" {
				var body struct {
					Call      *voice.Call       `json:"call"`
					Variables map[string]string `json:"variables"`
					ErrorCode string            `json:"error_code"`
					ErrorURL  string            `json:"error_url"`
				}
				if err := json.Unmarshal(fallback.requests()[0].body, &body); err != nil {
					t.Fatal(err)
				}
				if body.ErrorCode != tc.errorCode || body.ErrorURL != req.URL || body.Call == nil || body.Call.ID != "call_123" {
					t.Errorf("fallback body %+v, want error_code %s, error_url %s", body, tc.errorCode, req.URL)
				}
			}
		})
	}
}

func TestFetchURLNotAllowed(t *testing.T) {
	t.Parallel()
	ok := reply{status: 200, body: `[]`}

	// Without an allowed range, loopback is refused before any request, and
	// a refusal is not retried: the address would not change.
	t.Run("loopback refused, fallback refused too", func(t *testing.T) {
		t.Parallel()
		primary, fallback := newAppServer(t, ok), newAppServer(t, ok)
		f := callctl.NewFetcher(callctl.FetcherConfig{Now: fetchNow})
		_, err := f.Fetch(context.Background(), callctl.FetchRequest{URL: primary.URL, FallbackURL: fallback.URL, App: fetchApp(), Call: fetchCall()})
		fe := asFetchError(t, err)
		if fe.Code != callctl.CodeURLNotAllowed || fe.Attempts != 2 || fe.URL != fallback.URL || fe.HTTPStatus != 0 {
			t.Errorf("error %+v", fe)
		}
		if !errors.Is(err, netguard.ErrNotAllowed) {
			t.Errorf("error %v does not wrap netguard.ErrNotAllowed", err)
		}
		if primary.hits()+fallback.hits() != 0 {
			t.Errorf("%d requests reached the servers", primary.hits()+fallback.hits())
		}
	})

	t.Run("loopback refused without fallback", func(t *testing.T) {
		t.Parallel()
		primary := newAppServer(t, ok)
		f := callctl.NewFetcher(callctl.FetcherConfig{})
		_, err := f.Fetch(context.Background(), callctl.FetchRequest{URL: primary.URL, App: fetchApp(), Call: fetchCall()})
		if fe := asFetchError(t, err); fe.Code != callctl.CodeURLNotAllowed || fe.Attempts != 1 || fe.First != nil {
			t.Errorf("error %+v", fe)
		}
		if primary.hits() != 0 {
			t.Errorf("%d requests reached the server", primary.hits())
		}
	})

	// A refused primary still falls back. The guard refuses 10.x before
	// connecting, so nothing needs to listen there.
	for _, bad := range []string{"http://10.255.255.1/answer", "ftp://example.com/answer", "/relative"} {
		t.Run("falls back from "+bad, func(t *testing.T) {
			t.Parallel()
			fallback := newAppServer(t, ok)
			res, err := newFetcher().Fetch(context.Background(), callctl.FetchRequest{URL: bad, FallbackURL: fallback.URL, App: fetchApp(), Call: fetchCall()})
			if err != nil {
				t.Fatal(err)
			}
			if res.URL != fallback.URL || res.Attempts != 2 {
				t.Errorf("result %+v", res)
			}
			var body struct {
				ErrorCode string `json:"error_code"`
				ErrorURL  string `json:"error_url"`
			}
			if err := json.Unmarshal(fallback.requests()[0].body, &body); err != nil {
				t.Fatal(err)
			}
			if body.ErrorCode != callctl.CodeURLNotAllowed || body.ErrorURL != bad {
				t.Errorf("fallback body %+v", body)
			}
		})
	}
}

func TestFetchUnreachable(t *testing.T) {
	t.Parallel()
	// A short client timeout stands in for the 5 s one.
	short := callctl.NewFetcher(callctl.FetcherConfig{Now: fetchNow,
		Client: netguard.NewClient(netguard.ClientConfig{Allow: loopback, Timeout: 200 * time.Millisecond})})

	t.Run("slow server", func(t *testing.T) {
		t.Parallel()
		slow, _ := blockingAppServer(t)
		_, err := short.Fetch(context.Background(), callctl.FetchRequest{URL: slow.URL, App: fetchApp(), Call: fetchCall()})
		if fe := asFetchError(t, err); fe.Code != callctl.CodeUnreachable || fe.Attempts != 2 || fe.HTTPStatus != 0 {
			t.Errorf("error %+v", fe)
		}
		if slow.hits() != 2 {
			t.Errorf("%d requests, want 2", slow.hits())
		}
	})

	t.Run("connection refused", func(t *testing.T) {
		t.Parallel()
		gone := httptest.NewServer(http.NotFoundHandler())
		gone.Close()
		_, err := short.Fetch(context.Background(), callctl.FetchRequest{URL: gone.URL, App: fetchApp(), Call: fetchCall()})
		if fe := asFetchError(t, err); fe.Code != callctl.CodeUnreachable || fe.Attempts != 2 || fe.URL != gone.URL {
			t.Errorf("error %+v", fe)
		}
	})
}

func TestFetchCanceled(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name     string
		before   bool // canceled before Fetch rather than while it waits
		wantHits int
	}{
		{"while waiting for the answer", false, 1},
		{"before the request", true, 0},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			primary, arrived := blockingAppServer(t)
			fallback := newAppServer(t)
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			if tc.before {
				cancel()
			} else {
				go func() {
					<-arrived
					cancel()
				}()
			}
			res, err := newFetcher().Fetch(ctx, callctl.FetchRequest{URL: primary.URL, FallbackURL: fallback.URL, App: fetchApp(), Call: fetchCall()})
			if !errors.Is(err, context.Canceled) || res != nil {
				t.Fatalf("Fetch = %v, %v, want context.Canceled", res, err)
			}
			var fe *callctl.FetchError
			if errors.As(err, &fe) {
				t.Errorf("a canceled fetch is not an application error: %+v", fe)
			}
			if primary.hits() != tc.wantHits || fallback.hits() != 0 {
				t.Errorf("hits %d + %d, want %d + 0", primary.hits(), fallback.hits(), tc.wantHits)
			}
		})
	}
}

func TestFetchBadRequest(t *testing.T) {
	t.Parallel()
	rc := newAppServer(t)
	cases := []struct {
		name string
		req  callctl.FetchRequest
	}{
		{"unknown method", callctl.FetchRequest{URL: rc.URL, Method: "PUT", App: fetchApp(), Call: fetchCall()}},
		{"result that does not marshal", callctl.FetchRequest{URL: rc.URL, App: fetchApp(), Call: fetchCall(), Result: func() {}}},
		{"malformed secret", callctl.FetchRequest{URL: rc.URL, App: &voice.Application{WebhookSecret: "whsec_!!"}, Call: fetchCall()}},
	}
	for _, tc := range cases {
		_, err := newFetcher().Fetch(context.Background(), tc.req)
		var fe *callctl.FetchError
		if err == nil || errors.As(err, &fe) {
			t.Errorf("%s: err = %v, want a plain error", tc.name, err)
		}
	}
	if rc.hits() != 0 {
		t.Errorf("%d requests were sent", rc.hits())
	}
}

func TestFetchUnsigned(t *testing.T) {
	t.Parallel()
	rc := newAppServer(t)
	if _, err := newFetcher().Fetch(context.Background(), callctl.FetchRequest{URL: rc.URL}); err != nil {
		t.Fatal(err)
	}
	req := rc.requests()[0]
	if req.header.Get(webhook.HeaderSignature) != "" || string(req.body) != `{"call":null,"variables":{}}` {
		t.Errorf("request %v %s", req.header, req.body)
	}
}

func TestFetchErrorMessage(t *testing.T) {
	t.Parallel()
	fe := &callctl.FetchError{Code: callctl.CodeHTTPError, Message: "the URL answered HTTP 500", Attempts: 3}
	if got, want := fe.Error(), "callctl: answer_url_http_error: the URL answered HTTP 500 (after 3 attempts)"; got != want {
		t.Errorf("Error() = %q, want %q", got, want)
	}
}
