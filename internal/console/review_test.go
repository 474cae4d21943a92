package console_test

import (
	"context"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/minivoice/minivoice/internal/voice"
)

func TestReviewForm(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	ctx := context.Background()
	cust := h.customer("acme")
	app := h.application(cust)
	key, keyID := h.customerKey(cust)
	call := h.addCall(cust, app, time.Now(), nil)
	other := h.customer("globex")
	otherKey, _ := h.customerKey(other)

	b := h.browser()
	b.signIn(key)
	p := b.get("/calls/" + call.ID)
	for _, want := range []string{`<form id="review" method="post" action="/calls/` + call.ID + `/reviews"`,
		`<select id="verdict" name="verdict"`, `<option value="needs_follow_up">`, `<textarea id="note" name="note"`,
		`id="review-submit"`, `Not reviewed yet.`} {
		if !strings.Contains(p.body, want) {
			t.Errorf("call page lacks %s", want)
		}
	}
	token := p.csrf(t)

	// Without the CSRF token: refused, nothing stored.
	if r := b.post("/calls/"+call.ID+"/reviews", url.Values{"verdict": {"ok"}}); r.status != http.StatusForbidden {
		t.Errorf("no csrf: %d", r.status)
	}
	// A bad verdict: the API's message.
	if r := b.post("/calls/"+call.ID+"/reviews", url.Values{"csrf": {token}, "verdict": {"great"}}); r.status != http.StatusBadRequest ||
		!strings.Contains(r.body, "must be one of ok, needs_follow_up, escalate") {
		t.Errorf("bad verdict: %d %s", r.status, r.body)
	}
	if list, _ := h.store.Reviews(ctx, voice.ReviewFilter{CallID: call.ID}, voice.Page{Limit: 10}); len(list.Data) != 0 {
		t.Fatalf("refused posts stored %d reviews", len(list.Data))
	}

	for _, f := range []url.Values{{"verdict": {"ok"}, "note": {"first"}}, {"verdict": {"escalate"}, "note": {" <b>angry</b> "}}} {
		f.Set("csrf", token)
		r := b.post("/calls/"+call.ID+"/reviews", f)
		if r.status != http.StatusSeeOther || !strings.HasPrefix(r.header.Get("Location"), "/calls/"+call.ID+"?reviewed=rev") {
			t.Fatalf("review: %d %s %s", r.status, r.header.Get("Location"), r.body)
		}
	}
	got, err := h.store.Call(ctx, voice.Scope{}, call.ID)
	if err != nil || got.Review == nil || got.Review.Verdict != voice.VerdictEscalate {
		t.Fatalf("call review: %+v %v", got, err)
	}
	list, _ := h.store.Reviews(ctx, voice.ReviewFilter{CallID: call.ID}, voice.Page{Limit: 10})
	if len(list.Data) != 2 || list.Data[0].Note != "<b>angry</b>" || list.Data[0].Reviewer.KeyID == nil || *list.Data[0].Reviewer.KeyID != keyID {
		t.Fatalf("reviews: %+v", list.Data)
	}
	events, _ := h.store.CallEvents(ctx, voice.Scope{}, call.ID)
	n := 0
	for _, e := range events {
		if e.Event == voice.EventCallReviewed {
			n++
		}
	}
	if n != 2 {
		t.Errorf("%d call.reviewed events, want 2", n)
	}

	// The history, newest first, escaped.
	p = b.get("/calls/" + call.ID)
	i, j := strings.Index(p.body, `verdict-escalate`), strings.Index(p.body, `verdict-ok`)
	if !strings.Contains(p.body, `<ol id="reviews"`) || i < 0 || j < 0 || i > j || !strings.Contains(p.body, "&lt;b&gt;angry&lt;/b&gt;") ||
		!strings.Contains(p.body, keyID) {
		t.Errorf("history: %s", p.body)
	}

	// Another tenant: 404, nothing stored.
	o := h.browser()
	o.signIn(otherKey)
	op := o.get("/calls")
	r := o.post("/calls/"+call.ID+"/reviews", url.Values{"csrf": {op.csrf(t)}, "verdict": {"ok"}})
	if r.status != http.StatusNotFound {
		t.Errorf("other tenant: %d", r.status)
	}
	if list, _ := h.store.Reviews(ctx, voice.ReviewFilter{CallID: call.ID}, voice.Page{Limit: 10}); len(list.Data) != 2 {
		t.Errorf("other tenant stored a review: %d", len(list.Data))
	}
}

func TestCallsReviewedFilter(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	cust := h.customer("acme")
	app := h.application(cust)
	now := time.Now()
	ok := h.addCall(cust, app, now.Add(-3*time.Minute), nil)
	esc := h.addCall(cust, app, now.Add(-2*time.Minute), func(c *voice.Call) { c.From = "+15550000009" })
	none := h.addCall(cust, app, now.Add(-time.Minute), nil)
	h.apiCall("POST", "/v1/calls/"+ok.ID+"/reviews", testOperatorKey, map[string]any{"verdict": "ok"}, 201)
	h.apiCall("POST", "/v1/calls/"+esc.ID+"/reviews", testOperatorKey, map[string]any{"verdict": "escalate"}, 201)

	b := h.browser()
	b.signIn(testOperatorKey)
	for q, want := range map[string][]string{
		"":                                    {none.ID, esc.ID, ok.ID},
		"?reviewed=yes":                       {esc.ID, ok.ID},
		"?reviewed=no":                        {none.ID},
		"?verdict=escalate":                   {esc.ID},
		"?reviewed=yes&verdict=ok":            {ok.ID},
		"?reviewed=yes&number=%2B15550000009": {esc.ID},
		"?number=%2B15557654321":              {none.ID, esc.ID, ok.ID},
	} {
		p := b.get("/calls" + q)
		if got := rowIDs(p.body); strings.Join(got, ",") != strings.Join(want, ",") {
			t.Errorf("calls%s: %v, want %v", q, got, want)
		}
	}
	p := b.get("/calls?reviewed=yes")
	if !strings.Contains(p.body, `<select id="f-reviewed" name="reviewed">`) || !strings.Contains(p.body, `<option value="yes" selected>`) {
		t.Errorf("reviewed select not echoed")
	}
	for _, q := range []string{"?reviewed=maybe", "?verdict=great"} {
		if p := b.get("/calls" + q); p.status != http.StatusBadRequest {
			t.Errorf("calls%s: %d", q, p.status)
		}
	}
}
