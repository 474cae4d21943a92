package jobs_test

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"reflect"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/minivoice/minivoice/internal/jobs"
	"github.com/minivoice/minivoice/internal/store/storetest"
	"github.com/minivoice/minivoice/internal/voice"
	"github.com/prometheus/client_golang/prometheus/testutil"
)

// The spec's known vector, checked against the test's own HMAC code so the
// signature tests below test something.
func TestIndependentVerifierKnownVector(t *testing.T) {
	t.Parallel()
	h := http.Header{}
	h.Set("webhook-id", "msg_p5jXN8AQM9LWM0D4loKWxJek")
	h.Set("webhook-timestamp", "1614265330")
	h.Set("webhook-signature", "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=")
	if !signedBy("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw", h, []byte(`{"test": 2432232314}`)) {
		t.Fatal("the known vector does not verify")
	}
}

// A delivered webhook: the seed's body shape, the call as it was when the
// event was written (not as it is at delivery), signed, with the user agent;
// the attempt is logged on the event.
func TestDeliverSignedSnapshot(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, backend string) {
		rc := newReceiver(t, nil)
		e := newEnv(t, backend, jobs.Config{})
		app := e.app(rc.URL + "/hooks")
		c, initiated := e.call(app)
		ev := e.waitStatus(initiated.ID, voice.DeliveryDelivered, 10*time.Second)
		// The call changes after call.initiated was written.
		answered := e.emit(c, "call.answered", func(c *voice.Call) {
			c.Status = voice.CallInProgress
			c.Variables["step"] = "menu"
		})
		e.waitStatus(answered.ID, voice.DeliveryDelivered, 10*time.Second)

		reqs := rc.requests()
		if len(reqs) != 2 {
			t.Fatalf("receiver got %d requests, want 2", len(reqs))
		}
		r := reqs[0]
		if !signedBy(app.WebhookSecret, r.Header, r.Body) {
			t.Errorf("signature does not verify: %v", r.Header)
		}
		if r.Header.Get("webhook-id") != initiated.ID || r.Header.Get("User-Agent") != "MiniVoice/test" ||
			r.Header.Get("Content-Type") != "application/json" {
			t.Errorf("headers %v", r.Header)
		}
		if ts, _ := strconv.ParseInt(r.Header.Get("webhook-timestamp"), 10, 64); time.Since(time.Unix(ts, 0)).Abs() > time.Minute {
			t.Errorf("webhook-timestamp %q", r.Header.Get("webhook-timestamp"))
		}
		// Keys in the seed's order.
		var keys []string
		dec := json.NewDecoder(bytes.NewReader(r.Body))
		_, _ = dec.Token()
		for dec.More() {
			k, _ := dec.Token()
			keys = append(keys, k.(string))
			var skip json.RawMessage
			_ = dec.Decode(&skip)
		}
		if strings.Join(keys, ",") != "id,event,created_at,call,variables,data" {
			t.Errorf("body keys %v", keys)
		}
		var body struct {
			ID        string            `json:"id"`
			Event     string            `json:"event"`
			CreatedAt string            `json:"created_at"`
			Call      map[string]any    `json:"call"`
			Variables map[string]string `json:"variables"`
			Data      map[string]any    `json:"data"`
		}
		if err := json.Unmarshal(r.Body, &body); err != nil {
			t.Fatal(err)
		}
		if body.ID != initiated.ID || body.Event != "call.initiated" || body.Data["n"] != "call.initiated" ||
			body.CreatedAt != initiated.CreatedAt.UTC().Format(time.RFC3339Nano) {
			t.Errorf("body %s", r.Body)
		}
		if body.Call["id"] != c.ID || body.Call["status"] != "ringing" || body.Call["customer_id"] != e.cust.ID ||
			body.Call["application_id"] != app.ID || body.Call["direction"] != "inbound" || body.Call["from"] != "+15551230001" {
			t.Errorf("call %v", body.Call)
		}
		if !reflect.DeepEqual(body.Variables, map[string]string{"order": "42"}) {
			t.Errorf("variables %v", body.Variables)
		}
		// The call in the webhook is exactly what GET /v1/calls/{id} would
		// have shown then: compare with the stored call's JSON at that state.
		var later struct {
			Call      map[string]any    `json:"call"`
			Variables map[string]string `json:"variables"`
		}
		_ = json.Unmarshal(reqs[1].Body, &later)
		if later.Call["status"] != "in-progress" || later.Variables["step"] != "menu" {
			t.Errorf("second webhook's call %v %v", later.Call, later.Variables)
		}
		stored, err := e.db.Call(context.Background(), voice.Scope{}, c.ID)
		if err != nil {
			t.Fatal(err)
		}
		want, _ := json.Marshal(stored)
		var wantMap map[string]any
		_ = json.Unmarshal(want, &wantMap)
		if !reflect.DeepEqual(later.Call, wantMap) {
			t.Errorf("webhook call\n %v\nstored call\n %v", later.Call, wantMap)
		}

		if len(ev.Attempts) != 1 || ev.Attempts[0].HTTPStatus != 204 || ev.Attempts[0].Error != "" ||
			ev.Attempts[0].URL != app.WebhookURL || ev.NextAttemptAt != nil {
			t.Errorf("event after delivery: %+v", ev)
		}
		if n := testutil.ToFloat64(e.m.WebhookResults.WithLabelValues("delivered")); n != 2 {
			t.Errorf("delivered counter %v", n)
		}
		if err := e.q.Ready(context.Background()); err != nil {
			t.Errorf("ready: %v", err)
		}
	})
}

// A receiver failing with 500 twice then answering 200 gets the event three
// times with the same webhook-id; every attempt is logged.
func TestRetryThenDelivered(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, backend string) {
		rc := newReceiver(t, func(n int, w http.ResponseWriter, r *http.Request) {
			if n <= 2 {
				http.Error(w, "try later", http.StatusInternalServerError)
				return
			}
			w.WriteHeader(http.StatusOK)
		})
		e := newEnv(t, backend, jobs.Config{RetrySchedule: []time.Duration{time.Second, time.Second}})
		app := e.app(rc.URL)
		_, ev := e.call(app)
		got := e.waitStatus(ev.ID, voice.DeliveryDelivered, 20*time.Second)
		if ids := rc.ids(); len(ids) != 3 || ids[0] != ev.ID || ids[1] != ev.ID || ids[2] != ev.ID {
			t.Fatalf("receiver got %v, want the event 3 times", ids)
		}
		var codes []int
		for _, a := range got.Attempts {
			codes = append(codes, a.HTTPStatus)
		}
		if !reflect.DeepEqual(codes, []int{500, 500, 200}) || got.Attempts[0].Error == "" || got.Attempts[0].Response != "try later\n" {
			t.Errorf("attempts %+v", got.Attempts)
		}
		reqs := rc.requests()
		for i := 1; i < 3; i++ {
			// 1 s ± 20 %, plus pick-up latency.
			if gap := reqs[i].At.Sub(reqs[i-1].At); gap < 750*time.Millisecond || gap > 3*time.Second {
				t.Errorf("gap before attempt %d: %v", i+1, gap)
			}
		}
		time.Sleep(1500 * time.Millisecond)
		if n := len(rc.requests()); n != 3 {
			t.Errorf("%d requests after delivery, want no more than 3", n)
		}
	})
}

// A receiver that always fails exhausts the schedule: 1 + len(schedule)
// attempts, then exhausted, and no more.
func TestExhausted(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, backend string) {
		rc := newReceiver(t, func(n int, w http.ResponseWriter, r *http.Request) { w.WriteHeader(http.StatusBadRequest) })
		e := newEnv(t, backend, jobs.Config{RetrySchedule: []time.Duration{300 * time.Millisecond, 300 * time.Millisecond}})
		_, ev := e.call(e.app(rc.URL))
		got := e.waitStatus(ev.ID, voice.DeliveryExhausted, 20*time.Second)
		if len(got.Attempts) != 3 || got.NextAttemptAt != nil {
			t.Fatalf("exhausted event %+v", got)
		}
		time.Sleep(time.Second)
		if n := len(rc.requests()); n != 3 {
			t.Errorf("receiver got %d requests, want 3", n)
		}
		if n := testutil.ToFloat64(e.m.WebhookResults.WithLabelValues("http_error")); n != 3 {
			t.Errorf("http_error counter %v", n)
		}
	})
}

// 410 Gone stops the event's retries and disables the application's webhook;
// its other undelivered events, and later ones, are disabled, not sent.
func TestGoneDisablesApplication(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, backend string) {
		rc := newReceiver(t, func(n int, w http.ResponseWriter, r *http.Request) { w.WriteHeader(http.StatusGone) })
		e := newEnv(t, backend, jobs.Config{RetrySchedule: []time.Duration{time.Second}})
		app := e.app(rc.URL)
		c, ev := e.call(app)
		got := e.waitStatus(ev.ID, voice.DeliveryDisabled, 10*time.Second)
		if len(got.Attempts) != 1 || got.Attempts[0].HTTPStatus != 410 {
			t.Errorf("attempts %+v", got.Attempts)
		}
		a, err := e.db.Application(context.Background(), voice.Scope{}, app.ID)
		if err != nil || a.WebhookStatus != voice.WebhookDisabled {
			t.Fatalf("application after 410: %+v %v", a, err)
		}
		later := e.emit(c, "call.answered", nil)
		if got := e.waitStatus(later.ID, voice.DeliveryDisabled, 10*time.Second); len(got.Attempts) != 0 {
			t.Errorf("a later event was attempted: %+v", got.Attempts)
		}
		if n := len(rc.requests()); n != 1 {
			t.Errorf("receiver got %d requests, want 1", n)
		}
	})
}

// Retry-After on a 503 is honoured when longer than the schedule's delay.
func TestRetryAfterHonoured(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, backend string) {
		rc := newReceiver(t, func(n int, w http.ResponseWriter, r *http.Request) {
			if n == 1 {
				w.Header().Set("Retry-After", "2")
				w.WriteHeader(http.StatusServiceUnavailable)
				return
			}
			w.WriteHeader(http.StatusNoContent)
		})
		e := newEnv(t, backend, jobs.Config{RetrySchedule: []time.Duration{100 * time.Millisecond}})
		_, ev := e.call(e.app(rc.URL))
		got := e.waitStatus(ev.ID, voice.DeliveryDelivered, 10*time.Second)
		reqs := rc.requests()
		if len(reqs) != 2 || len(got.Attempts) != 2 {
			t.Fatalf("%d requests, attempts %+v", len(reqs), got.Attempts)
		}
		if gap := reqs[1].At.Sub(reqs[0].At); gap < 1900*time.Millisecond {
			t.Errorf("retried after %v despite Retry-After: 2", gap)
		}
	})
}

// A receiver that hangs holds at most PerHost requests and never delays
// another application's webhooks; its own events time out and retry.
func TestSlowReceiverDoesNotStallOthers(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, backend string) {
		var inFlight, peak atomic.Int32
		release := make(chan struct{})
		slow := newReceiver(t, func(n int, w http.ResponseWriter, r *http.Request) {
			cur := inFlight.Add(1)
			defer inFlight.Add(-1)
			for {
				p := peak.Load()
				if cur <= p || peak.CompareAndSwap(p, cur) {
					break
				}
			}
			select {
			case <-release:
			case <-r.Context().Done():
			}
		})
		defer close(release)
		fast := newReceiver(t, nil)
		e := newEnv(t, backend, jobs.Config{Timeout: 3 * time.Second, PerHost: 2, RetrySchedule: []time.Duration{time.Minute}})
		slowApp, fastApp := e.app(slow.URL), e.app(fast.URL)
		var slowEvents []string
		for range 8 {
			_, ev := e.call(slowApp)
			slowEvents = append(slowEvents, ev.ID)
		}
		time.Sleep(300 * time.Millisecond) // the slow receiver's slots are taken
		start := time.Now()
		_, ev := e.call(fastApp)
		e.waitStatus(ev.ID, voice.DeliveryDelivered, 5*time.Second)
		if d := time.Since(start); d > time.Second {
			t.Errorf("the fast application's webhook took %v behind a hanging receiver", d)
		}
		// Read before the first attempts time out: after that the receiver
		// may still count a request its client gave up on (it notices the
		// disconnect later) next to the one that took its slot.
		if p := peak.Load(); p > 2 {
			t.Errorf("%d requests in flight to one host, want at most 2", p)
		}
		// The hanging receiver's events fail by timeout and are rescheduled.
		deadline := time.Now().Add(15 * time.Second)
		for retrying := 0; retrying < 2; {
			retrying = 0
			for _, id := range slowEvents {
				if got := e.event(id); got.DeliveryStatus == voice.DeliveryRetrying {
					retrying++
					if got.Attempts[0].HTTPStatus != 0 || !strings.Contains(got.Attempts[0].Error, "timeout") {
						t.Errorf("timed out attempt %+v", got.Attempts[0])
					}
				}
			}
			if time.Now().After(deadline) {
				t.Fatalf("%d of the hanging receiver's events timed out and were rescheduled, want 2 or more", retrying)
			}
			time.Sleep(50 * time.Millisecond)
		}
	})
}

// Events of one call go out in order: while call.initiated is retried,
// call.answered and call.completed wait; an exhausted event holds nothing.
func TestOrderedPerCall(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, backend string) {
		var fails atomic.Int32
		fails.Store(1)
		rc := newReceiver(t, func(n int, w http.ResponseWriter, r *http.Request) {
			if fails.Add(-1) >= 0 {
				w.WriteHeader(http.StatusInternalServerError)
				return
			}
			w.WriteHeader(http.StatusNoContent)
		})
		e := newEnv(t, backend, jobs.Config{RetrySchedule: []time.Duration{time.Second}})
		app := e.app(rc.URL)
		c, initiated := e.call(app)
		answered := e.emit(c, "call.answered", nil)
		completed := e.emit(c, "call.completed", nil)
		e.waitStatus(completed.ID, voice.DeliveryDelivered, 15*time.Second)
		want := []string{initiated.ID, initiated.ID, answered.ID, completed.ID}
		if got := rc.ids(); !reflect.DeepEqual(got, want) {
			t.Errorf("arrival order %v, want %v", got, want)
		}

		// An event that exhausts its schedule does not hold the next one.
		fails.Store(2)
		c2, first := e.call(app)
		next := e.emit(c2, "call.completed", nil)
		e.waitStatus(first.ID, voice.DeliveryExhausted, 15*time.Second)
		e.waitStatus(next.ID, voice.DeliveryDelivered, 15*time.Second)
	})
}

// Redelivery queues one more attempt of a delivered event, same webhook-id,
// and keeps the earlier attempts.
func TestRedeliver(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, backend string) {
		rc := newReceiver(t, nil)
		e := newEnv(t, backend, jobs.Config{})
		_, ev := e.call(e.app(rc.URL))
		e.waitStatus(ev.ID, voice.DeliveryDelivered, 10*time.Second)
		got, err := e.db.RedeliverEvent(context.Background(), voice.Scope{}, ev.ID)
		if err != nil || got.DeliveryStatus != voice.DeliveryPending || len(got.Attempts) != 1 {
			t.Fatalf("redeliver: %+v %v", got, err)
		}
		done := e.waitStatus(ev.ID, voice.DeliveryDelivered, 10*time.Second)
		if len(done.Attempts) != 2 {
			t.Errorf("attempts after redelivery %+v", done.Attempts)
		}
		if ids := rc.ids(); len(ids) != 2 || ids[1] != ev.ID {
			t.Errorf("receiver got %v", ids)
		}
	})
}

// During a secret rotation both signatures are sent; each verifies alone.
func TestRotationSignsWithBothSecrets(t *testing.T) {
	t.Parallel()
	rc := newReceiver(t, nil)
	e := newEnv(t, "sqlite", jobs.Config{})
	app := e.app(rc.URL)
	old := app.WebhookSecret
	exp := time.Now().Add(time.Hour)
	app.PreviousWebhookSecret, app.PreviousSecretExpiresAt, app.WebhookSecret = old, &exp, newSecret()
	if err := e.db.UpdateApplication(context.Background(), app); err != nil {
		t.Fatal(err)
	}
	_, ev := e.call(app)
	e.waitStatus(ev.ID, voice.DeliveryDelivered, 10*time.Second)
	r := rc.requests()[0]
	if n := len(strings.Fields(r.Header.Get("webhook-signature"))); n != 2 {
		t.Errorf("%d signatures, want 2", n)
	}
	if !signedBy(old, r.Header, r.Body) || !signedBy(app.WebhookSecret, r.Header, r.Body) {
		t.Error("a secret of the rotation does not verify")
	}
}

// The event and its job commit or roll back together.
func TestOutboxIsTransactional(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, backend string) {
		rc := newReceiver(t, nil)
		e := newEnv(t, backend, jobs.Config{})
		app := e.app(rc.URL)
		c, ev := e.call(app)
		e.waitStatus(ev.ID, voice.DeliveryDelivered, 10*time.Second)
		// A failing write (a duplicate event id) queues nothing.
		dup := e.newEvent(c, "call.answered", time.Now())
		dup.ID = ev.ID
		if err := e.db.UpdateCallWithEvents(context.Background(), c, e.newEvent(c, "call.ringing", time.Now()), dup); err == nil {
			t.Fatal("duplicate event id accepted")
		}
		// Events that are not to be delivered get no job.
		none := e.newEvent(c, "call.gather", time.Now())
		none.DeliveryStatus = voice.DeliveryNone
		if err := e.db.UpdateCallWithEvents(context.Background(), c, none); err != nil {
			t.Fatal(err)
		}
		time.Sleep(500 * time.Millisecond)
		if n := len(rc.requests()); n != 1 {
			t.Errorf("receiver got %d requests, want 1", n)
		}
		var jobs int
		if err := e.db.SQL().QueryRow(`SELECT count(*) FROM river_job`).Scan(&jobs); err != nil {
			t.Fatal(err)
		}
		if jobs != 1 {
			t.Errorf("%d jobs, want 1", jobs)
		}
		if got := e.event(none.ID); got.DeliveryStatus != voice.DeliveryNone || got.NextAttemptAt != nil {
			t.Errorf("undelivered event %+v", got)
		}
	})
}

// Events written while the workers are down are delivered once they start.
func TestQueuedBeforeStart(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, backend string) {
		rc := newReceiver(t, nil)
		db, url := storetest.OpenWithURL(t, backend, nil)
		ctx := context.Background()
		q, err := jobs.New(ctx, jobs.Config{Store: db, DatabaseURL: url, TestOnly: true, PollInterval: 50 * time.Millisecond,
			AllowPrivateURLs: loopback()})
		if err != nil {
			t.Fatal(err)
		}
		e := &env{t: t, db: db, q: q, cust: createCustomer(t, db)}
		_, ev := e.call(e.app(rc.URL))
		if err := q.Ready(ctx); err == nil {
			t.Error("ready before start")
		}
		time.Sleep(200 * time.Millisecond)
		if n := len(rc.requests()); n != 0 {
			t.Fatalf("delivered before the workers started")
		}
		if n, err := q.Depth(ctx); err != nil || n != 1 {
			t.Errorf("depth %d %v, want 1", n, err)
		}
		if err := q.Start(ctx); err != nil {
			t.Fatal(err)
		}
		defer func() { _ = q.Stop(ctx) }()
		e.waitStatus(ev.ID, voice.DeliveryDelivered, 10*time.Second)
	})
}

// A redelivered event releases the call's events waiting behind it: once it
// is delivered, the next one goes at once, not at the retry the redelivered
// event was waiting for (10 minutes away here).
func TestRedeliverReleasesWaitingEvents(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, backend string) {
		var fail atomic.Bool
		fail.Store(true)
		rc := newReceiver(t, func(n int, w http.ResponseWriter, r *http.Request) {
			if fail.Load() {
				w.WriteHeader(http.StatusInternalServerError)
				return
			}
			w.WriteHeader(http.StatusNoContent)
		})
		e := newEnv(t, backend, jobs.Config{RetrySchedule: []time.Duration{10 * time.Minute}})
		c, first := e.call(e.app(rc.URL))
		e.waitStatus(first.ID, voice.DeliveryRetrying, 10*time.Second)
		answered := e.emit(c, "call.answered", nil)
		completed := e.emit(c, "call.completed", nil)
		// Both later events have found call.initiated retrying and were put
		// back until its retry: their jobs are scheduled, not running.
		deadline := time.Now().Add(10 * time.Second)
		for !e.scheduledLater(answered.ID) || !e.scheduledLater(completed.ID) {
			if time.Now().After(deadline) {
				t.Fatal("the later events' jobs were not put back behind call.initiated")
			}
			time.Sleep(20 * time.Millisecond)
		}
		if n := len(rc.requests()); n != 1 {
			t.Fatalf("receiver got %d requests while call.initiated was retrying, want 1", n)
		}

		fail.Store(false)
		if _, err := e.db.RedeliverEvent(context.Background(), voice.Scope{}, first.ID); err != nil {
			t.Fatal(err)
		}
		e.waitStatus(completed.ID, voice.DeliveryDelivered, 20*time.Second)
		want := []string{first.ID, first.ID, answered.ID, completed.ID}
		if got := rc.ids(); !reflect.DeepEqual(got, want) {
			t.Errorf("arrival order %v, want %v", got, want)
		}
	})
}
