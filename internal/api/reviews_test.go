package api_test

import (
	"reflect"
	"strings"
	"testing"

	"github.com/minivoice/minivoice/internal/voice"
)

// reviewSetup is a customer with an application, a key of each kind and a
// call, plus a second tenant with its own call.
type reviewSetup struct {
	cust, app, custKey, custKeyID, appKey, appKeyID, call string
	otherKey, otherCall, otherAppKey                      string
}

func newReviewSetup(b *bundle) *reviewSetup {
	b.t.Helper()
	s := &reviewSetup{cust: b.customer("a")}
	k := b.ok(201, "POST", "/v1/customers/"+s.cust+"/keys", b.op, map[string]any{})
	s.custKey, s.custKeyID = k.str("key"), k.str("id")
	s.app = b.application(s.cust)
	k = b.ok(201, "POST", "/v1/applications/"+s.app+"/keys", b.op, map[string]any{})
	s.appKey, s.appKeyID = k.str("key"), k.str("id")
	s.call = b.placeCall(s.custKey, s.app, "+15557770001")
	// A second application of the same customer: its key must not see s.call.
	s.otherAppKey = b.applicationKey(b.application(s.cust))
	other := b.customer("b")
	s.otherKey = b.customerKey(other)
	s.otherCall = b.placeCall(s.otherKey, b.application(other), "+15557770002")
	return s
}

func TestReviewValidation(t *testing.T) {
	each(t, func(t *testing.T, b *bundle) {
		s := newReviewSetup(b)
		path := "/v1/calls/" + s.call + "/reviews"
		for _, tc := range []struct {
			body                 any
			status               int
			code, param, message string
		}{
			{map[string]any{}, 422, "invalid_request", "verdict", "verdict: is required"},
			{map[string]any{"verdict": nil}, 422, "invalid_request", "verdict", "verdict: is required"},
			{map[string]any{"verdict": "  "}, 422, "invalid_request", "verdict", "verdict: is required"},
			{map[string]any{"verdict": "OK"}, 422, "invalid_request", "verdict", "verdict: must be one of ok, needs_follow_up, escalate"},
			{map[string]any{"verdict": "great"}, 422, "invalid_request", "verdict", "verdict: must be one of ok, needs_follow_up, escalate"},
			{map[string]any{"verdict": "ok", "note": strings.Repeat("é", 2001)}, 422, "invalid_request", "note", "note: must be at most 2000 characters"},
			{map[string]any{"verdict": "ok", "score": 5}, 422, "invalid_request", "score", ""},
			{map[string]any{"verdict": "ok", "reviewer": map[string]any{"kind": "operator"}}, 422, "invalid_request", "reviewer", ""},
			{map[string]any{"verdict": 1}, 400, "invalid_json", "verdict", ""},
			{`{"verdict": "ok"`, 400, "invalid_json", "", ""},
		} {
			r := b.want(b.call("POST", path, s.custKey, tc.body), tc.status, tc.code)
			if r.errParam() != tc.param {
				t.Errorf("%v: param %q, want %q", tc.body, r.errParam(), tc.param)
			}
			if msg, _ := r.JSON["error"].(map[string]any)["message"].(string); tc.message != "" && msg != tc.message {
				t.Errorf("%v: message %q, want %q", tc.body, msg, tc.message)
			}
		}
		// 2000 characters (not bytes) after trimming are fine.
		r := b.ok(201, "POST", path, s.custKey, map[string]any{"verdict": "ok", "note": "  " + strings.Repeat("é", 2000) + "\n"})
		if n := len([]rune(r.str("note"))); n != 2000 {
			t.Errorf("note has %d characters, want 2000 (trimmed)", n)
		}
		// Nothing was written by the refused requests.
		if got := b.ok(200, "GET", path, s.custKey, nil).data(); len(got) != 1 {
			t.Errorf("%d reviews, want 1", len(got))
		}
	})
}

func TestReviewCreateListAndCallObject(t *testing.T) {
	each(t, func(t *testing.T, b *bundle) {
		s := newReviewSetup(b)
		path := "/v1/calls/" + s.call + "/reviews"
		if c := b.ok(200, "GET", "/v1/calls/"+s.call, s.custKey, nil); c.JSON["review"] != nil {
			t.Fatalf("a new call has review %v", c.JSON["review"])
		} else if _, ok := c.JSON["review"]; !ok {
			t.Fatal("the call object has no review key")
		}

		first := b.ok(201, "POST", path, s.custKey, map[string]any{"verdict": "escalate", "note": "  angry caller \n"})
		wantKeys := []string{"application_id", "call_id", "created_at", "customer_id", "id", "note", "reviewer", "verdict"}
		var gotKeys []string
		for k := range first.JSON {
			gotKeys = append(gotKeys, k)
		}
		if !sameSet(gotKeys, wantKeys) {
			t.Errorf("review keys %v, want %v", gotKeys, wantKeys)
		}
		if !voice.ValidID(voice.PrefixReview, first.str("id")) || first.str("call_id") != s.call || first.str("customer_id") != s.cust ||
			first.str("application_id") != s.app || first.str("verdict") != "escalate" || first.str("note") != "angry caller" {
			t.Errorf("review %s", first.Raw)
		}
		if rv := first.JSON["reviewer"]; !reflect.DeepEqual(rv, map[string]any{"key_id": s.custKeyID, "kind": "customer"}) {
			t.Errorf("reviewer %v, want the customer key %s", rv, s.custKeyID)
		}
		if strings.Contains(string(first.Raw), s.custKey) {
			t.Error("the review shows the key's secret")
		}
		second := b.ok(201, "POST", path, s.appKey, map[string]any{"verdict": "needs_follow_up"})
		if rv := second.JSON["reviewer"]; !reflect.DeepEqual(rv, map[string]any{"key_id": s.appKeyID, "kind": "application"}) {
			t.Errorf("reviewer %v, want the application key", rv)
		}
		if second.str("note") != "" {
			t.Errorf("note %q, want empty", second.str("note"))
		}
		third := b.ok(201, "POST", path, b.op, map[string]any{"verdict": "ok", "note": "resolved"})
		if rv := third.JSON["reviewer"]; !reflect.DeepEqual(rv, map[string]any{"key_id": nil, "kind": "operator"}) {
			t.Errorf("reviewer %v, want the operator with a null key_id", rv)
		}

		// Newest first, paginated.
		p1 := b.ok(200, "GET", path+"?limit=2", s.appKey, nil)
		if ids := idsOf(p1.data()); !reflect.DeepEqual(ids, []string{third.str("id"), second.str("id")}) || p1.JSON["has_more"] != true {
			t.Fatalf("page 1 %v has_more %v", ids, p1.JSON["has_more"])
		}
		if !reflect.DeepEqual(p1.data()[0], third.JSON) {
			t.Errorf("listed %v, created %v", p1.data()[0], third.JSON)
		}
		p2 := b.ok(200, "GET", path+"?limit=2&after="+p1.str("next_cursor"), s.appKey, nil)
		if ids := idsOf(p2.data()); !reflect.DeepEqual(ids, []string{first.str("id")}) || p2.JSON["has_more"] != false || p2.str("next_cursor") != "" {
			t.Fatalf("page 2 %v has_more %v", ids, p2.JSON["has_more"])
		}
		b.want(b.call("GET", path+"?limit=0", s.appKey, nil), 422, "invalid_request")

		// The call object shows the latest review, in GET and in lists.
		want := map[string]any{"verdict": "ok", "reviewed_at": third.str("created_at")}
		c := b.ok(200, "GET", "/v1/calls/"+s.call, s.custKey, nil)
		if !reflect.DeepEqual(c.JSON["review"], want) {
			t.Errorf("call review %v, want %v", c.JSON["review"], want)
		}
		for _, k := range []string{"id", "status", "direction", "from", "to", "customer_id", "application_id", "created_at"} {
			if _, ok := c.JSON[k]; !ok {
				t.Errorf("the call object lost the seed's key %q", k)
			}
		}
		for _, it := range b.ok(200, "GET", "/v1/calls", s.custKey, nil).data() {
			if it["id"] == s.call && !reflect.DeepEqual(it["review"], want) {
				t.Errorf("listed call review %v, want %v", it["review"], want)
			}
		}

		// One call.reviewed event per review, its data the review, its call the reviewed call.
		evs := b.ok(200, "GET", "/v1/events?event=call.reviewed&call_id="+s.call, s.custKey, nil).data()
		if len(evs) != 3 {
			t.Fatalf("%d call.reviewed events, want 3", len(evs))
		}
		if !reflect.DeepEqual(evs[0]["data"], third.JSON) || evs[0]["application_id"] != s.app || evs[0]["delivery_status"] != "pending" {
			t.Errorf("event %v, want data %v", evs[0], third.JSON)
		}
		if !reflect.DeepEqual(evs[2]["data"], first.JSON) {
			t.Errorf("oldest event data %v, want %v", evs[2]["data"], first.JSON)
		}
		// The application may subscribe to it by name.
		b.ok(200, "PATCH", "/v1/applications/"+s.app, s.custKey, map[string]any{"webhook_events": []string{"call.reviewed"}})
	})
}

func TestReviewTenancy(t *testing.T) {
	each(t, func(t *testing.T, b *bundle) {
		s := newReviewSetup(b)
		body := map[string]any{"verdict": "ok"}
		for _, tc := range []struct{ name, key, call string }{
			{"another tenant's call", s.custKey, s.otherCall},
			{"a call the other tenant cannot see", s.otherKey, s.call},
			{"a call of another application", s.otherAppKey, s.call},
			{"a missing call", s.custKey, "call_nope"},
		} {
			b.want(b.call("POST", "/v1/calls/"+tc.call+"/reviews", tc.key, body), 404, "not_found")
			b.want(b.call("GET", "/v1/calls/"+tc.call+"/reviews", tc.key, nil), 404, "not_found")
		}
		b.want(b.call("POST", "/v1/calls/"+s.call+"/reviews", "", body), 401, "")
		if got := b.ok(200, "GET", "/v1/calls/"+s.call+"/reviews", b.op, nil).data(); len(got) != 0 {
			t.Errorf("refused reviews were written: %v", got)
		}
		if c := b.ok(200, "GET", "/v1/calls/"+s.call, b.op, nil); c.JSON["review"] != nil {
			t.Errorf("call review %v after refused reviews", c.JSON["review"])
		}
	})
}

func TestReviewIdempotency(t *testing.T) {
	each(t, func(t *testing.T, b *bundle) {
		s := newReviewSetup(b)
		path := "/v1/calls/" + s.call + "/reviews"
		body := map[string]any{"verdict": "needs_follow_up", "note": "call back"}
		r1 := b.ok(201, "POST", path, s.custKey, body, "Idempotency-Key: rev-1")
		r2 := b.ok(201, "POST", path, s.custKey, body, "Idempotency-Key: rev-1")
		if r2.Header.Get("Idempotent-Replayed") != "true" || r1.str("id") != r2.str("id") {
			t.Errorf("replay: %s %s (replayed %q)", r1.str("id"), r2.str("id"), r2.Header.Get("Idempotent-Replayed"))
		}
		b.want(b.call("POST", path, s.custKey, map[string]any{"verdict": "ok"}, "Idempotency-Key: rev-1"), 409, "idempotency_key_reused")
		if got := b.ok(200, "GET", path, s.custKey, nil).data(); len(got) != 1 {
			t.Errorf("%d reviews after a replay, want 1", len(got))
		}
	})
}

func TestReviewCallFilters(t *testing.T) {
	each(t, func(t *testing.T, b *bundle) {
		s := newReviewSetup(b)
		c2 := b.placeCall(s.custKey, s.app, "+15557770003")
		c3 := b.placeCall(s.custKey, s.app, "+15557770004")
		review := func(call, verdict string) {
			b.ok(201, "POST", "/v1/calls/"+call+"/reviews", s.custKey, map[string]any{"verdict": verdict})
		}
		review(s.call, "escalate")
		review(s.call, "ok") // the latest verdict counts
		review(c2, "escalate")
		for _, tc := range []struct {
			query string
			want  []string
		}{
			{"reviewed=true", []string{c2, s.call}},
			{"reviewed=false", []string{c3}},
			{"verdict=ok", []string{s.call}},
			{"verdict=escalate", []string{c2}},
			{"verdict=needs_follow_up", []string{}},
			{"reviewed=true&verdict=escalate", []string{c2}},
			{"reviewed=false&verdict=ok", []string{}},
		} {
			got := idsOf(b.ok(200, "GET", "/v1/calls?"+tc.query, s.custKey, nil).data())
			if !reflect.DeepEqual(got, tc.want) {
				t.Errorf("?%s = %v, want %v", tc.query, got, tc.want)
			}
		}
		// Another tenant's filtered list holds only its own calls.
		if got := idsOf(b.ok(200, "GET", "/v1/calls?reviewed=false", s.otherKey, nil).data()); !reflect.DeepEqual(got, []string{s.otherCall}) {
			t.Errorf("other tenant ?reviewed=false = %v", got)
		}
		for _, tc := range []struct{ query, param, message string }{
			{"reviewed=yes", "reviewed", "reviewed: must be true or false"},
			{"reviewed=1", "reviewed", "reviewed: must be true or false"},
			{"verdict=fine", "verdict", "verdict: must be one of ok, needs_follow_up, escalate"},
		} {
			r := b.want(b.call("GET", "/v1/calls?"+tc.query, s.custKey, nil), 422, "invalid_request")
			if msg, _ := r.JSON["error"].(map[string]any)["message"].(string); r.errParam() != tc.param || msg != tc.message {
				t.Errorf("?%s: param %q message %q", tc.query, r.errParam(), msg)
			}
		}
	})
}

func idsOf(items []map[string]any) []string {
	out := []string{}
	for _, it := range items {
		id, _ := it["id"].(string)
		out = append(out, id)
	}
	return out
}
