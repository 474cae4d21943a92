package api_test

import (
	"context"
	"encoding/json"
	"net/url"
	"reflect"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/minivoice/minivoice/internal/voice"
)

// addEvent inserts an event of a call (callID may be "" for none) straight into the store.
func (b *bundle) addEvent(kind, callID, appID, customerID string, at time.Time, attempts ...voice.Attempt) string {
	b.t.Helper()
	e := &voice.Event{ID: voice.NewID(voice.PrefixEvent, at), Event: voice.EventType(kind), CreatedAt: at.UTC().Truncate(time.Millisecond),
		ApplicationID: appID, CustomerID: customerID, Data: json.RawMessage(`{"kind":"` + kind + `"}`),
		DeliveryStatus: voice.DeliveryPending, Attempts: attempts}
	if callID != "" {
		e.CallID = &callID
	}
	if err := b.store.CreateEvent(context.Background(), e); err != nil {
		b.t.Fatalf("create event: %v", err)
	}
	return e.ID
}

func TestEventsEmpty(t *testing.T) {
	each(t, func(t *testing.T, b *bundle) {
		a, c := b.customer("a"), b.customer("c")
		appA, appC := b.application(a), b.application(c)
		ak := b.customerKey(a)
		callA, callC := b.placeCall(ak, appA, "+15551230002"), b.placeCall(b.op, appC, "+15551230002")
		for _, key := range []string{b.op, ak, b.applicationKey(appA)} {
			r := b.ok(200, "GET", "/v1/events", key, nil)
			if !strings.Contains(string(r.Raw), `"data":[]`) || r.JSON["has_more"] != false || r.str("next_cursor") != "" {
				t.Errorf("empty event list: %s", r.Raw)
			}
		}
		b.want(b.call("GET", "/v1/events/evt_x", b.op, nil), 404, "not_found")
		b.want(b.call("GET", "/v1/events/evt_x", ak, nil), 404, "not_found")
		b.want(b.call("GET", "/v1/events", "", nil), 401, "unauthorized")
		r := b.ok(200, "GET", "/v1/calls/"+callA+"/events", ak, nil)
		if !strings.Contains(string(r.Raw), `"data":[]`) {
			t.Errorf("empty call events: %s", r.Raw)
		}
		b.ok(200, "GET", "/v1/calls/"+callA+"/events", b.op, nil)
		b.ok(200, "GET", "/v1/calls/"+callA+"/events", b.applicationKey(appA), nil)
		b.want(b.call("GET", "/v1/calls/"+callC+"/events", ak, nil), 404, "not_found")
		b.want(b.call("GET", "/v1/calls/"+callA+"/events", b.applicationKey(b.application(a)), nil), 404, "not_found")
		b.want(b.call("GET", "/v1/calls/call_nope/events", b.op, nil), 404, "not_found")
	})
}

func TestEventsListFiltersIsolation(t *testing.T) {
	each(t, func(t *testing.T, b *bundle) {
		a, c := b.customer("a"), b.customer("c")
		a1, a2, c1 := b.application(a), b.application(a), b.application(c)
		ak, ck, a1k, a2k := b.customerKey(a), b.customerKey(c), b.applicationKey(a1), b.applicationKey(a2)
		callA1, callA2, callC := b.placeCall(ak, a1, "+15551230002"), b.placeCall(ak, a2, "+15551230002"), b.placeCall(ck, c1, "+15551230002")
		t0 := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
		attempt := voice.Attempt{At: t0.Add(3 * time.Second), URL: "http://127.0.0.1:9/hook", HTTPStatus: 500, LatencyMS: 12, Error: "status 500"}
		// Inserted out of order: the store sorts.
		ev := map[string]string{
			"a1done": b.addEvent("call.completed", callA1, a1, a, t0.Add(2*time.Second), attempt),
			"a1init": b.addEvent("call.initiated", callA1, a1, a, t0),
			"a1ring": b.addEvent("call.ringing", callA1, a1, a, t0.Add(time.Second)),
			"a2init": b.addEvent("call.initiated", callA2, a2, a, t0.Add(4*time.Second)),
			"c1init": b.addEvent("call.initiated", callC, c1, c, t0.Add(5*time.Second)),
			"a1app":  b.addEvent("application.webhook_disabled", "", a1, a, t0.Add(6*time.Second)),
		}
		name := map[string]string{}
		for n, id := range ev {
			name[id] = n
		}
		ordered := func(path, key string) string {
			t.Helper()
			var out []string
			for _, id := range listIDs(b.ok(200, "GET", path, key, nil)) {
				out = append(out, name[id])
			}
			return strings.Join(out, ",")
		}
		sorted := func(path, key string) string {
			t.Helper()
			out := strings.Split(ordered(path, key), ",")
			sort.Strings(out)
			return strings.Join(out, ",")
		}
		// Newest first.
		if got := ordered("/v1/events", b.op); got != "a1app,c1init,a2init,a1done,a1ring,a1init" {
			t.Errorf("operator events: %s", got)
		}
		// A call's events: oldest first.
		if got := ordered("/v1/calls/"+callA1+"/events", ak); got != "a1init,a1ring,a1done" {
			t.Errorf("call events: %s", got)
		}
		esc := url.QueryEscape
		for _, tc := range []struct {
			path, key, want string
		}{
			{"/v1/events", ak, "a1app,a1done,a1init,a1ring,a2init"},
			{"/v1/events", ck, "c1init"},
			{"/v1/events", a1k, "a1app,a1done,a1init,a1ring"},
			{"/v1/events", a2k, "a2init"},
			{"/v1/events?event=call.initiated", b.op, "a1init,a2init,c1init"},
			{"/v1/events?event=call.initiated", ak, "a1init,a2init"},
			{"/v1/events?event=call.initiated", a1k, "a1init"},
			{"/v1/events?event=call.answered", b.op, ""},
			{"/v1/events?call_id=" + callA1, b.op, "a1done,a1init,a1ring"},
			{"/v1/events?call_id=" + callA1 + "&event=" + esc("call.ringing"), ak, "a1ring"},
			{"/v1/events?call_id=" + callC, ck, "c1init"},
			{"/v1/calls/" + callA2 + "/events", a2k, "a2init"},
		} {
			if got := sorted(tc.path, tc.key); got != tc.want {
				t.Errorf("GET %s = %q, want %q", tc.path, got, tc.want)
			}
		}
		// Another tenant's call or event is not found.
		b.want(b.call("GET", "/v1/events?call_id="+callC, ak, nil), 404, "not_found")
		b.want(b.call("GET", "/v1/events?call_id="+callA2, a1k, nil), 404, "not_found")
		b.want(b.call("GET", "/v1/events?call_id=call_nope", b.op, nil), 404, "not_found")
		b.want(b.call("GET", "/v1/calls/"+callA1+"/events", ck, nil), 404, "not_found")
		b.want(b.call("GET", "/v1/calls/"+callA1+"/events", a2k, nil), 404, "not_found")
		b.want(b.call("GET", "/v1/events/"+ev["c1init"], ak, nil), 404, "not_found")
		b.want(b.call("GET", "/v1/events/"+ev["a2init"], a1k, nil), 404, "not_found")

		// One event, with its delivery attempts.
		r := b.ok(200, "GET", "/v1/events/"+ev["a1done"], a1k, nil)
		want := map[string]any{"id": ev["a1done"], "event": "call.completed", "created_at": "2026-03-01T12:00:02Z", "call_id": callA1,
			"application_id": a1, "customer_id": a, "data": map[string]any{"kind": "call.completed"}, "delivery_status": "pending",
			"attempts": []any{map[string]any{"at": "2026-03-01T12:00:03Z", "url": "http://127.0.0.1:9/hook", "http_status": float64(500),
				"latency_ms": float64(12), "error": "status 500"}}}
		for k, v := range want {
			if !reflect.DeepEqual(r.JSON[k], v) {
				t.Errorf("event %s = %#v, want %#v", k, r.JSON[k], v)
			}
		}
		r = b.ok(200, "GET", "/v1/events/"+ev["a1app"], ak, nil)
		if r.JSON["call_id"] != nil || !reflect.DeepEqual(r.JSON["attempts"], []any{}) {
			t.Errorf("event without a call: %s", r.Raw)
		}
		b.ok(200, "GET", "/v1/events/"+ev["c1init"], b.op, nil)

		// Pagination over events.
		p1 := b.ok(200, "GET", "/v1/events?limit=4", b.op, nil)
		p2 := b.ok(200, "GET", "/v1/events?limit=4&after="+p1.str("next_cursor"), b.op, nil)
		if p1.JSON["has_more"] != true || p2.JSON["has_more"] != false || len(p2.data()) != 2 {
			t.Errorf("event pages: %s / %s", p1.Raw, p2.Raw)
		}
		if all := append(listIDs(p1), listIDs(p2)...); len(all) != 6 || !sameSet(all, listIDs(b.ok(200, "GET", "/v1/events", b.op, nil))) {
			t.Errorf("pages hold %v", all)
		}
	})
}
