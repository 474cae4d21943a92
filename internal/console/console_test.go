package console_test

import (
	"context"
	"database/sql"
	"encoding/json"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/minivoice/minivoice/internal/voice"
	"github.com/shopspring/decimal"
)

func TestSignInSessionCookieAndHeaders(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	b := h.browser()

	// Signed out, every page sends the browser to the sign-in form.
	for _, path := range []string{"/", "/calls", "/calls/call_x", "/calls/call_x/recording.wav"} {
		if p := b.get(path); p.status != http.StatusSeeOther || p.header.Get("Location") != "/signin" {
			t.Errorf("GET %s signed out: %d %q", path, p.status, p.header.Get("Location"))
		}
	}
	form := b.get("/signin")
	for _, want := range []string{`<form id="signin" method="post" action="/signin">`,
		`<input id="key" name="key" type="password" autocomplete="off"`, `id="signin-submit"`, `name="csrf"`} {
		if !strings.Contains(form.body, want) {
			t.Errorf("sign-in form lacks %s", want)
		}
	}
	checkHeaders(t, "GET /signin", form.header)

	// A wrong key: refused, no session.
	bad := b.post("/signin", url.Values{"csrf": {form.csrf(t)}, "key": {"mvk_cu_notakey"}})
	if bad.status != http.StatusUnauthorized || !strings.Contains(bad.body, "not accepted") {
		t.Errorf("wrong key: %d %s", bad.status, bad.body)
	}
	if bad.header.Get("Set-Cookie") != "" && strings.Contains(bad.header.Get("Set-Cookie"), "mv_session") {
		t.Errorf("wrong key set a session cookie")
	}

	// The right key: a session cookie with the flags, a redirect to /.
	p := b.post("/signin", url.Values{"csrf": {form.csrf(t)}, "key": {testOperatorKey}})
	if p.status != http.StatusSeeOther || p.header.Get("Location") != "/" {
		t.Fatalf("sign in: %d %s", p.status, p.body)
	}
	var session *http.Cookie
	for _, c := range p.resp.Cookies() {
		if c.Name == "mv_session" {
			session = c
		}
	}
	if session == nil {
		t.Fatal("no mv_session cookie")
	}
	raw := strings.Join(p.header.Values("Set-Cookie"), "\n")
	for _, flag := range []string{"HttpOnly", "SameSite=Strict", "Path=/", "Max-Age="} {
		if !strings.Contains(raw, flag) {
			t.Errorf("session cookie lacks %s: %s", flag, raw)
		}
	}
	if strings.Contains(raw, "Secure") {
		t.Errorf("Secure on a plain-HTTP request: %s", raw)
	}
	if strings.Contains(raw, testOperatorKey) || strings.Contains(p.header.Get("Location"), testOperatorKey) {
		t.Error("the key is in a cookie or a URL")
	}
	over := b.get("/")
	if over.status != 200 || !strings.Contains(over.body, "Overview") || !strings.Contains(over.body, `id="signout"`) {
		t.Fatalf("overview: %d %s", over.status, over.body)
	}
	checkHeaders(t, "GET /", over.header)
	if over.header.Get("Cache-Control") != "no-store" {
		t.Errorf("Cache-Control %q", over.header.Get("Cache-Control"))
	}
	// Signed in, /signin goes home.
	if p := b.get("/signin"); p.status != http.StatusSeeOther {
		t.Errorf("signin while signed in: %d", p.status)
	}
	// A static asset has the headers too.
	css := b.get("/static/console.css")
	if css.status != 200 || !strings.HasPrefix(css.header.Get("Content-Type"), "text/css") {
		t.Errorf("css: %d %s", css.status, css.header.Get("Content-Type"))
	}
	checkHeaders(t, "GET /static/console.css", css.header)
	// The API still answers under /v1 on the same port.
	h.apiCall("GET", "/v1/calls", testOperatorKey, nil, 200)
	if r := b.get("/healthz"); r.status != 200 || r.header.Get("Content-Security-Policy") != "" {
		t.Errorf("/healthz through the mount: %d", r.status)
	}

	// Sign-out needs the CSRF token, then ends the session server-side:
	// replaying the old cookie finds nothing.
	if p := b.post("/signout", url.Values{}); p.status != http.StatusForbidden {
		t.Errorf("signout without csrf: %d", p.status)
	}
	if p := b.post("/signout", url.Values{"csrf": {over.csrf(t)}}); p.status != http.StatusSeeOther || p.header.Get("Location") != "/signin" {
		t.Errorf("signout: %d %s", p.status, p.header.Get("Location"))
	}
	replay := h.browser()
	u, _ := url.Parse(h.url)
	replay.jar.SetCookies(u, []*http.Cookie{{Name: "mv_session", Value: session.Value}})
	if p := replay.get("/calls"); p.status != http.StatusSeeOther {
		t.Errorf("old cookie after sign-out: %d", p.status)
	}

	// The key never reaches the log.
	if strings.Contains(h.log.String(), testOperatorKey) {
		t.Errorf("the key is in the log:\n%s", h.log.String())
	}
}

func checkHeaders(t *testing.T, what string, h http.Header) {
	t.Helper()
	want := map[string]string{
		"Content-Security-Policy": "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; media-src 'self'; " +
			"connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'",
		"X-Frame-Options":        "DENY",
		"X-Content-Type-Options": "nosniff",
		"Referrer-Policy":        "same-origin",
	}
	for k, v := range want {
		if got := h.Get(k); got != v {
			t.Errorf("%s: %s = %q, want %q", what, k, got, v)
		}
	}
}

func TestCSRF(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	b := h.browser()
	// The sign-in form's token must match its cookie.
	b.get("/signin")
	if p := b.post("/signin", url.Values{"key": {testOperatorKey}}); p.status != http.StatusForbidden {
		t.Errorf("sign-in without csrf: %d", p.status)
	}
	if p := b.post("/signin", url.Values{"csrf": {"forged"}, "key": {testOperatorKey}}); p.status != http.StatusForbidden {
		t.Errorf("sign-in with a wrong csrf: %d", p.status)
	}
	fresh := h.browser() // no pre-session cookie at all
	if p := fresh.post("/signin", url.Values{"csrf": {"x"}, "key": {testOperatorKey}}); p.status != http.StatusForbidden {
		t.Errorf("sign-in without the cookie: %d", p.status)
	}

	b.signIn(testOperatorKey)
	h.store.SetEventOutbox(func(context.Context, *sql.Tx, []*voice.Event) error { return nil })
	cust := h.customer("acme")
	app := h.application(cust)
	call := h.addCall(cust, app, time.Now(), nil)
	ev := addEvent(t, h, call, time.Now())
	path := "/calls/" + call.ID + "/events/" + ev + "/redeliver"
	if p := b.post(path, url.Values{}); p.status != http.StatusForbidden {
		t.Errorf("redeliver without csrf: %d", p.status)
	}
	if p := b.post(path, url.Values{"csrf": {"wrong"}}); p.status != http.StatusForbidden {
		t.Errorf("redeliver with a wrong csrf: %d", p.status)
	}
	// Another session's token is wrong too.
	other := h.browser()
	other.signIn(testOperatorKey)
	tok := other.get("/").csrf(t)
	if p := b.post(path, url.Values{"csrf": {tok}}); p.status != http.StatusForbidden {
		t.Errorf("redeliver with another session's csrf: %d", p.status)
	}
	detail := b.get("/calls/" + call.ID)
	p := b.post(path, url.Values{"csrf": {detail.csrf(t)}})
	if p.status != http.StatusSeeOther || !strings.HasPrefix(p.header.Get("Location"), "/calls/"+call.ID+"?redelivered="+ev) {
		t.Fatalf("redeliver: %d %s %s", p.status, p.header.Get("Location"), p.body)
	}
	got, err := h.store.EventByID(context.Background(), voice.Scope{}, ev)
	if err != nil || got.DeliveryStatus != voice.DeliveryPending {
		t.Errorf("redelivered event: %s, %v", got.DeliveryStatus, err)
	}
}

func addEvent(t testing.TB, h *harness, c *voice.Call, at time.Time) string {
	t.Helper()
	at = at.UTC().Truncate(time.Millisecond)
	e := &voice.Event{ID: voice.NewID(voice.PrefixEvent, at), Event: "call.completed", CreatedAt: at, CallID: &c.ID,
		ApplicationID: c.ApplicationID, CustomerID: c.CustomerID, Data: json.RawMessage(`{}`), DeliveryStatus: voice.DeliveryExhausted,
		Attempts: []voice.Attempt{{At: at, URL: "http://127.0.0.1:9/hook", HTTPStatus: 500, LatencyMS: 42, Response: "receiver said no"}}}
	if err := h.store.CreateEvent(context.Background(), e); err != nil {
		t.Fatal(err)
	}
	return e.ID
}

func TestRevokingTheKeyEndsItsSessions(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	cust := h.customer("acme")
	key, keyID := h.customerKey(cust)
	b := h.browser()
	b.signIn(key)
	if p := b.get("/calls"); p.status != 200 || !strings.Contains(p.body, keyID) {
		t.Fatalf("calls as a customer: %d", p.status)
	}
	h.apiCall("DELETE", "/v1/keys/"+keyID, testOperatorKey, nil, 200)
	if p := b.get("/calls"); p.status != http.StatusSeeOther || p.header.Get("Location") != "/signin" {
		t.Errorf("after revoking the key: %d %q", p.status, p.header.Get("Location"))
	}
	// And it cannot sign in again.
	form := b.get("/signin")
	if p := b.post("/signin", url.Values{"csrf": {form.csrf(t)}, "key": {key}}); p.status != http.StatusUnauthorized {
		t.Errorf("sign-in with a revoked key: %d", p.status)
	}
	if strings.Contains(h.log.String(), key) {
		t.Error("the customer key is in the log")
	}
}

func TestTenantIsolation(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	a, c := h.customer("a"), h.customer("c")
	appA, appC := h.application(a), h.application(c)
	keyA, _ := h.customerKey(a)
	mine := h.addCall(a, appA, time.Now(), nil)
	theirs := h.addCall(c, appC, time.Now(), nil)
	rec := addRecording(t, h, theirs, []byte("RIFFtheirs"))
	ev := addEvent(t, h, theirs, time.Now())

	b := h.browser()
	b.signIn(keyA)
	list := b.get("/calls")
	if !strings.Contains(list.body, `data-call-id="`+mine.ID+`"`) || strings.Contains(list.body, theirs.ID) {
		t.Errorf("calls list crosses tenants:\n%s", list.body)
	}
	for _, path := range []string{"/calls/" + theirs.ID, "/calls/" + theirs.ID + "/recording.wav", "/calls/call_nope"} {
		if p := b.get(path); p.status != http.StatusNotFound || strings.Contains(p.body, "RIFF") {
			t.Errorf("GET %s as another tenant: %d", path, p.status)
		}
	}
	tok := b.get("/calls/" + mine.ID).csrf(t)
	if p := b.post("/calls/"+theirs.ID+"/events/"+ev+"/redeliver", url.Values{"csrf": {tok}}); p.status != http.StatusNotFound {
		t.Errorf("redeliver another tenant's event: %d", p.status)
	}
	// Nor through one's own call id.
	if p := b.post("/calls/"+mine.ID+"/events/"+ev+"/redeliver", url.Values{"csrf": {tok}}); p.status != http.StatusNotFound {
		t.Errorf("redeliver another tenant's event via one's own call: %d", p.status)
	}
	// The search box does not jump to it either.
	if p := b.get("/calls?q=" + theirs.ID); p.status != http.StatusNotFound {
		t.Errorf("search for another tenant's call: %d", p.status)
	}
	// The operator sees both, and the recording.
	op := h.browser()
	op.signIn(testOperatorKey)
	if p := op.get("/calls/" + theirs.ID + "/recording.wav"); p.status != 200 || p.body != "RIFFtheirs" {
		t.Errorf("operator recording: %d %q", p.status, p.body)
	}
	_ = rec
}

// addRecording stores a completed recording of c with content as its file.
func addRecording(t testing.TB, h *harness, c *voice.Call, content []byte) *voice.Recording {
	t.Helper()
	ctx := context.Background()
	at := c.CreatedAt
	id := voice.NewID(voice.PrefixRecording, at)
	r := &voice.Recording{ID: id, CallID: c.ID, CustomerID: c.CustomerID, ApplicationID: c.ApplicationID, Status: voice.RecordingInProgress,
		Source: voice.RecordingSourceCall, Channels: voice.ChannelsDual, SampleRate: 16000, StartedAt: at,
		StorageKey: c.CustomerID + "/" + id + ".wav", CreatedAt: at, UpdatedAt: at}
	if err := h.store.CreateRecording(ctx, r); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(h.files.dir, c.CustomerID, id+".wav")
	if err := os.MkdirAll(filepath.Dir(path), 0o750); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, content, 0o600); err != nil {
		t.Fatal(err)
	}
	end := at.Add(5 * time.Second)
	r.Status, r.Duration, r.EndedAt, r.UpdatedAt, r.SizeBytes = voice.RecordingCompleted, 5, &end, end, int64(len(content))
	if err := h.store.UpdateRecordingWithEvents(ctx, r); err != nil {
		t.Fatal(err)
	}
	return r
}

var rowID = regexp.MustCompile(`<tr data-call-id="(call_[^"]+)"`)

func TestCallsPagePaginatesAndFilters(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	cust := h.customer("acme")
	app := h.application(cust)
	base := time.Now().UTC().Add(-time.Hour)
	var ids []string // newest first
	for i := 0; i < 60; i++ {
		c := h.addCall(cust, app, base.Add(time.Duration(i)*time.Second), func(c *voice.Call) {
			if i%3 == 0 {
				c.Status, c.Direction, c.To = voice.CallFailed, voice.DirectionInbound, "+15550009999"
			}
		})
		ids = append([]string{c.ID}, ids...)
	}
	b := h.browser()
	b.signIn(testOperatorKey)
	first := b.get("/calls")
	got := rowIDs(first.body)
	if len(got) != 50 || got[0] != ids[0] || got[49] != ids[49] || !strings.Contains(first.body, `<table id="calls">`) {
		t.Fatalf("first page: %d rows", len(got))
	}
	if !strings.Contains(first.body, `<a href="/calls/`+ids[0]+`">`) {
		t.Error("row without a link to its call")
	}
	older := regexp.MustCompile(`id="older" href="([^"]+)"`).FindStringSubmatch(first.body)
	if older == nil {
		t.Fatal("no Older link")
	}
	second := b.get(strings.ReplaceAll(older[1], "&amp;", "&"))
	if got := rowIDs(second.body); len(got) != 10 || got[0] != ids[50] || strings.Contains(second.body, `id="older"`) {
		t.Errorf("second page: %v", got)
	}

	// Filters: status, direction, number (either end), application, dates.
	failed := rowIDs(b.get("/calls?status=failed&direction=inbound").body)
	if len(failed) != 20 {
		t.Errorf("failed inbound: %d", len(failed))
	}
	if n := len(rowIDs(b.get("/calls?number=%2B15550009999").body)); n != 20 {
		t.Errorf("number as to: %d", n)
	}
	if n := len(rowIDs(b.get("/calls?number=%2B15551230001&status=completed").body)); n != 40 {
		t.Errorf("number as from: %d", n)
	}
	if n := len(rowIDs(b.get("/calls?application=" + app + "&created_after=" + base.Add(50*time.Second).Format(time.RFC3339)).body)); n != 10 {
		t.Errorf("application and created_after: %d", n)
	}
	tomorrow := time.Now().UTC().AddDate(0, 0, 1).Format(time.DateOnly)
	if n := len(rowIDs(b.get("/calls?created_after=" + tomorrow).body)); n != 0 {
		t.Errorf("created_after tomorrow: %d", n)
	}
	if p := b.get("/calls?status=bogus"); p.status != http.StatusBadRequest || !strings.Contains(p.body, "status") {
		t.Errorf("bad status filter: %d", p.status)
	}
	// The search box jumps to a call.
	if p := b.get("/calls?q=" + ids[3]); p.status != http.StatusSeeOther || p.header.Get("Location") != "/calls/"+ids[3] {
		t.Errorf("search: %d %q", p.status, p.header.Get("Location"))
	}
}

func rowIDs(body string) []string {
	var out []string
	for _, m := range rowID.FindAllStringSubmatch(body, -1) {
		out = append(out, m[1])
	}
	return out
}

func TestCallDetailShowsInsights(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	ctx := context.Background()
	h.store.SetInsightsOutbox(func(context.Context, *sql.Tx, string, string, float64) error { return nil })
	cust := h.customer("acme")
	app := h.application(cust)
	price := decimal.RequireFromString("0.0123")
	hangup := voice.CauseNormalClearing
	call := h.addCall(cust, app, time.Now(), func(c *voice.Call) {
		c.Duration, c.BillableSeconds, c.Price, c.HangupCause = 65, 65, &price, &hangup
	})
	ev := addEvent(t, h, call, time.Now())
	rec := addRecording(t, h, call, []byte("RIFF0123456789"))
	in, err := h.store.Insights(ctx, voice.Scope{}, rec.ID)
	if err != nil {
		t.Fatal(err)
	}
	in.Transcription = voice.Transcription{Status: voice.InsightCompleted, Engine: "test", Language: "en", Text: "hello there",
		Duration: 5, Segments: []voice.Segment{
			{Channel: 0, Speaker: voice.SpeakerCaller, Start: 1.23, End: 2.5, Text: "hello <there>"},
			{Channel: 1, Speaker: voice.SpeakerCallee, Start: 2.5, End: 4, Text: "hi"}}}
	if _, err := h.store.FinishInsightsStep(ctx, in, voice.StepTranscription, voice.StepInsights); err != nil {
		t.Fatal(err)
	}
	in.InsightsStatus, in.InsightsEngine = voice.InsightCompleted, "offline"
	in.Summary = &voice.Summary{Status: voice.InsightCompleted, Text: "A greeting.", KeyPoints: []string{"said hello"}}
	in.Score = &voice.Score{Status: voice.InsightCompleted, Score: 80, Rating: voice.RatingGood,
		Criteria: []voice.Criterion{{Name: "greeting", Score: 100, Passed: true, Evidence: "hello there"}}}
	in.Topics = &voice.Topics{Status: voice.InsightCompleted, Topics: []voice.Topic{{Name: "greetings", Confidence: 0.9, Mentions: 2}}}
	if _, err := h.store.FinishInsightsStep(ctx, in, voice.StepInsights, ""); err != nil {
		t.Fatal(err)
	}

	b := h.browser()
	b.signIn(testOperatorKey)
	p := b.get("/calls/" + call.ID)
	if p.status != 200 {
		t.Fatalf("detail: %d %s", p.status, p.body)
	}
	for _, want := range []string{
		`<audio id="recording" controls preload="metadata" src="/calls/` + call.ID + `/recording.wav">`,
		`<ol id="transcript">`, `<li data-start="1.23" data-end="2.5">`, `hello &lt;there&gt;`, `<li data-start="2.5" data-end="4">`,
		`id="summary"`, `A greeting.`, `id="score"`, `greeting`, `hello there`, `id="topics"`, `greetings`,
		`0.0123 USD`, `normal_clearing`, ev, `receiver said no`, `42 ms`, `/calls/` + call.ID + `/events/` + ev + `/redeliver`,
		`<script src="/static/transcript.js" defer></script>`,
	} {
		if !strings.Contains(p.body, want) {
			t.Errorf("detail lacks %s", want)
		}
	}
	if strings.Contains(p.body, "<script>") || regexp.MustCompile(`<script(?:\s[^>]*)?>[^<]`).MatchString(p.body) {
		t.Error("inline script on the page")
	}
	// The recording, with Range.
	req, _ := http.NewRequest("GET", h.url+"/calls/"+call.ID+"/recording.wav", nil)
	req.Header.Set("Range", "bytes=4-7")
	r := b.do(req)
	if r.status != http.StatusPartialContent || r.body != "0123" || r.header.Get("Content-Type") != "audio/wav" {
		t.Errorf("range: %d %q %s", r.status, r.body, r.header.Get("Content-Type"))
	}
	checkHeaders(t, "recording", r.header)
	if js := b.get("/static/transcript.js"); js.status != 200 || !strings.Contains(js.body, "transcript") {
		t.Errorf("transcript.js: %d", js.status)
	}
}

func TestOverview(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	a, c := h.customer("a"), h.customer("c")
	appA, appC := h.application(a), h.application(c)
	keyA, _ := h.customerKey(a)
	now := time.Now().UTC()
	p1, p2 := decimal.RequireFromString("0.1"), decimal.RequireFromString("0.25")
	answered := now.Add(-time.Minute)
	h.addCall(a, appA, now.Add(-2*time.Minute), func(c *voice.Call) {
		c.AnsweredAt, c.EndedAt, c.BillableSeconds, c.Price = &answered, &now, 120, &p1
	})
	h.addCall(a, appA, now.Add(-3*24*time.Hour), func(c *voice.Call) {
		c.Status, c.EndedAt = voice.CallNoAnswer, &now
	})
	h.addCall(a, appA, now.Add(-20*24*time.Hour), func(c *voice.Call) {
		c.AnsweredAt, c.EndedAt, c.BillableSeconds, c.Price = &answered, &now, 60, &p2
	})
	h.addCall(c, appC, now.Add(-time.Minute), func(c *voice.Call) { c.BillableSeconds = 600 })
	b := h.browser()
	b.signIn(keyA)
	p := b.get("/")
	stat := func(window, name string) string {
		re := regexp.MustCompile(`(?s)id="stats-` + window + `".*?data-stat="` + name + `">([^<]*)<`)
		m := re.FindStringSubmatch(p.body)
		if m == nil {
			t.Fatalf("no %s %s in\n%s", window, name, p.body)
		}
		return m[1]
	}
	for _, tc := range []struct{ window, name, want string }{
		{"30d", "calls", "3"}, {"30d", "answer-rate", "66.7%"}, {"30d", "minutes", "3.0"}, {"30d", "spend", "0.35 USD"},
		{"7d", "calls", "2"}, {"7d", "answer-rate", "50.0%"}, {"7d", "spend", "0.1 USD"},
	} {
		if got := stat(tc.window, tc.name); got != tc.want {
			t.Errorf("%s %s = %q, want %q", tc.window, tc.name, got, tc.want)
		}
	}
	if now.Truncate(24 * time.Hour).Before(now.Add(-2 * time.Minute)) {
		if got := stat("today", "calls"); got != "1" {
			t.Errorf("today calls = %q", got)
		}
	}

}
