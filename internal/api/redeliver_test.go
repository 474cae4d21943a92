package api_test

import (
	"context"
	"database/sql"
	"sync"
	"testing"
	"time"

	"github.com/minivoice/minivoice/internal/store"
	"github.com/minivoice/minivoice/internal/voice"
)

// queued records what the store's outbox was handed, in place of the job queue.
type queued struct {
	mu     sync.Mutex
	events []voice.Event
}

func (q *queued) outbox(_ context.Context, _ *sql.Tx, events []*voice.Event) error {
	q.mu.Lock()
	defer q.mu.Unlock()
	for _, e := range events {
		q.events = append(q.events, *e)
	}
	return nil
}

func (q *queued) list() []voice.Event {
	q.mu.Lock()
	defer q.mu.Unlock()
	return append([]voice.Event(nil), q.events...)
}

func TestRedeliverEvent(t *testing.T) {
	each(t, func(t *testing.T, b *bundle) {
		a, c := b.customer("a"), b.customer("c")
		app, other, cApp := b.application(a), b.application(a), b.application(c)
		ak, ck, appKey, otherKey := b.customerKey(a), b.customerKey(c), b.applicationKey(app), b.applicationKey(other)
		call := b.placeCall(ak, app, "+15551230002")
		t0 := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
		attempt := voice.Attempt{At: t0.Add(time.Second), URL: "http://127.0.0.1:9/hook", HTTPStatus: 500, LatencyMS: 3, Error: "receiver answered HTTP 500"}
		ev := b.addEvent("call.completed", call, app, a, t0, attempt)

		// Without job workers there is nothing to queue it on.
		b.want(b.call("POST", "/v1/events/"+ev+"/redeliver", ak, nil), 503, "not_ready")

		var q queued
		b.store.SetEventOutbox(q.outbox)
		b.want(b.call("POST", "/v1/events/"+ev+"/redeliver", ck, nil), 404, "not_found")
		b.want(b.call("POST", "/v1/events/"+ev+"/redeliver", otherKey, nil), 404, "not_found")
		b.want(b.call("POST", "/v1/events/evt_nope/redeliver", b.op, nil), 404, "not_found")
		for _, key := range []string{appKey, ak, b.op} {
			r := b.ok(202, "POST", "/v1/events/"+ev+"/redeliver", key, nil)
			if r.str("id") != ev || r.str("delivery_status") != "pending" || r.JSON["next_attempt_at"] == nil ||
				len(r.JSON["attempts"].([]any)) != 1 {
				t.Errorf("redeliver answer %s", r.Raw)
			}
		}
		got := q.list()
		if len(got) != 3 || got[0].ID != ev || got[0].DeliveryRound != 1 || got[2].DeliveryRound != 3 || got[0].RoundAttempts != 0 {
			t.Fatalf("queued %+v", got)
		}
		if r := b.ok(200, "GET", "/v1/events/"+ev, appKey, nil); r.str("delivery_status") != "pending" {
			t.Errorf("event after redeliver %s", r.Raw)
		}

		// No webhook to deliver to: 409.
		b.ok(200, "PATCH", "/v1/applications/"+app, b.op, map[string]any{"webhook_status": "disabled"})
		b.want(b.call("POST", "/v1/events/"+ev+"/redeliver", ak, nil), 409, "conflict")
		b.ok(200, "PATCH", "/v1/applications/"+app, b.op, map[string]any{"webhook_status": "active", "webhook_url": ""})
		b.want(b.call("POST", "/v1/events/"+ev+"/redeliver", ak, nil), 409, "conflict")
		cCall := b.placeCall(ck, cApp, "+15551230002")
		cEv := b.addEvent("call.initiated", cCall, cApp, c, t0)
		b.ok(204, "DELETE", "/v1/applications/"+cApp, b.op, nil)
		b.want(b.call("POST", "/v1/events/"+cEv+"/redeliver", ck, nil), 409, "conflict")
		// cEv was queued when it was written; the refusals queued nothing.
		if got := q.list(); len(got) != 4 || got[3].ID != cEv || got[3].DeliveryRound != 0 {
			t.Errorf("queued %+v", got)
		}
	})
}

func TestEventsDeliveryFilters(t *testing.T) {
	each(t, func(t *testing.T, b *bundle) {
		a, c := b.customer("a"), b.customer("c")
		a1, a2, cApp := b.application(a), b.application(a), b.application(c)
		ak, a1k := b.customerKey(a), b.applicationKey(a1)
		call1, call2 := b.placeCall(ak, a1, "+15551230002"), b.placeCall(ak, a2, "+15551230002")
		t0 := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
		e1 := b.addEvent("call.initiated", call1, a1, a, t0)
		e2 := b.addEvent("call.initiated", call2, a2, a, t0.Add(time.Second))
		if err := b.store.UpdateDelivery(context.Background(), deliveredUpdate(e2)); err != nil {
			t.Fatal(err)
		}
		for _, tc := range []struct{ path, key, want string }{
			{"/v1/events?application_id=" + a1, ak, e1},
			{"/v1/events?application_id=" + a2, b.op, e2},
			{"/v1/events?delivery_status=delivered", ak, e2},
			{"/v1/events?delivery_status=pending", ak, e1},
			{"/v1/events?delivery_status=pending&application_id=" + a2, ak, ""},
			{"/v1/events?delivery_status=delivered", a1k, ""},
		} {
			ids := listIDs(b.ok(200, "GET", tc.path, tc.key, nil))
			if got := join(ids); got != tc.want {
				t.Errorf("GET %s = %q, want %q", tc.path, got, tc.want)
			}
		}
		b.want(b.call("GET", "/v1/events?application_id="+cApp, ak, nil), 404, "not_found")
		b.want(b.call("GET", "/v1/events?application_id="+a2, a1k, nil), 404, "not_found")
		if r := b.want(b.call("GET", "/v1/events?delivery_status=lost", ak, nil), 422, "invalid_request"); r.errParam() != "delivery_status" {
			t.Errorf("param %q", r.errParam())
		}
	})
}

func deliveredUpdate(id string) store.DeliveryUpdate {
	return store.DeliveryUpdate{EventID: id, Status: voice.DeliveryDelivered,
		Attempt: &voice.Attempt{At: time.Now().UTC().Truncate(time.Millisecond), URL: "http://127.0.0.1:9/hook", HTTPStatus: 204}}
}

func join(ids []string) string {
	out := ""
	for i, id := range ids {
		if i > 0 {
			out += ","
		}
		out += id
	}
	return out
}
