package jobs_test

import (
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/minivoice/minivoice/internal/jobs"
	"github.com/minivoice/minivoice/internal/obs"
	"github.com/minivoice/minivoice/internal/store"
	"github.com/minivoice/minivoice/internal/store/storetest"
	"github.com/minivoice/minivoice/internal/voice"
	"github.com/shopspring/decimal"
)

// env is a store with a running job queue and one customer.
type env struct {
	t    *testing.T
	db   *store.DB
	q    *jobs.Queue
	m    *obs.Metrics
	cust *voice.Customer
}

// newEnv opens a store of backend and starts a queue on it with cfg (its
// Store, DatabaseURL and loopback allowance filled in).
func newEnv(t *testing.T, backend string, cfg jobs.Config) *env {
	t.Helper()
	ctx := context.Background()
	db, url := storetest.OpenWithURL(t, backend, nil)
	e := &env{t: t, db: db, m: obs.NewMetrics()}
	cfg.Store, cfg.DatabaseURL, cfg.TestOnly, cfg.Metrics = db, url, true, e.m
	cfg.AllowPrivateURLs = loopback()
	if cfg.UserAgent == "" {
		cfg.UserAgent = "MiniVoice/test"
	}
	if cfg.PollInterval == 0 {
		cfg.PollInterval = 50 * time.Millisecond
	}
	q, err := jobs.New(ctx, cfg)
	if err != nil {
		t.Fatalf("jobs.New: %v", err)
	}
	e.q = q
	if err := q.Start(ctx); err != nil {
		t.Fatalf("start: %v", err)
	}
	t.Cleanup(func() {
		sctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := q.Stop(sctx); err != nil {
			t.Errorf("stop: %v", err)
		}
	})
	e.cust = createCustomer(t, db)
	return e
}

func loopback() []netip.Prefix { return []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8")} }

func createCustomer(t *testing.T, db *store.DB) *voice.Customer {
	t.Helper()
	now := time.Now().UTC()
	c := &voice.Customer{ID: voice.NewID(voice.PrefixCustomer, now), Name: "c", Status: voice.CustomerActive, Currency: "EUR",
		Balance: decimal.Zero, MaxConcurrentCalls: 10, MaxCPS: 10, BlockedPrefixes: []string{}, CreatedAt: now, UpdatedAt: now}
	if err := db.CreateCustomer(context.Background(), c); err != nil {
		t.Fatal(err)
	}
	return c
}

// newSecret is a fresh whsec_ secret.
func newSecret() string {
	var b [32]byte
	_, _ = rand.Read(b[:])
	return "whsec_" + base64.StdEncoding.EncodeToString(b[:])
}

// app creates an application sending its webhooks to hook.
func (e *env) app(hook string) *voice.Application {
	e.t.Helper()
	now := time.Now().UTC()
	a := &voice.Application{ID: voice.NewID(voice.PrefixApplication, now), CustomerID: e.cust.ID, Name: "a",
		Status: voice.ApplicationActive, AnswerMethod: "POST", WebhookURL: hook, WebhookStatus: voice.WebhookActive,
		WebhookEvents: []string{"*"}, Topics: []voice.TopicDef{}, WebhookSecret: newSecret(), CreatedAt: now, UpdatedAt: now}
	if err := e.db.CreateApplication(context.Background(), a); err != nil {
		e.t.Fatal(err)
	}
	return a
}

// call creates a ringing call of app with call.initiated.
func (e *env) call(app *voice.Application) (*voice.Call, *voice.Event) {
	e.t.Helper()
	now := time.Now().UTC()
	c := &voice.Call{ID: voice.NewID(voice.PrefixCall, now), CustomerID: e.cust.ID, ApplicationID: app.ID, Status: voice.CallRinging,
		Direction: voice.DirectionInbound, From: "+15551230001", To: "+15551230002", RecordingChannels: "dual",
		Variables: map[string]string{"order": "42"}, RecordingIDs: []string{}, Currency: "EUR", CreatedAt: now, UpdatedAt: now}
	ev := e.newEvent(c, "call.initiated", now)
	if err := e.db.CreateCallWithEvents(context.Background(), c, ev); err != nil {
		e.t.Fatal(err)
	}
	return c, ev
}

func (e *env) newEvent(c *voice.Call, name string, at time.Time) *voice.Event {
	id := c.ID
	return &voice.Event{ID: voice.NewID(voice.PrefixEvent, at), Event: voice.EventType(name), CreatedAt: at.Truncate(time.Millisecond), CallID: &id,
		ApplicationID: c.ApplicationID, CustomerID: c.CustomerID, Data: json.RawMessage(`{"n":"` + name + `"}`),
		DeliveryStatus: voice.DeliveryPending, Attempts: []voice.Attempt{}}
}

// emit writes a state change of c with an event named name, a millisecond
// after its previous one.
func (e *env) emit(c *voice.Call, name string, change func(c *voice.Call)) *voice.Event {
	e.t.Helper()
	time.Sleep(2 * time.Millisecond)
	now := time.Now().UTC()
	if change != nil {
		change(c)
	}
	c.UpdatedAt = now
	ev := e.newEvent(c, name, now)
	if err := e.db.UpdateCallWithEvents(context.Background(), c, ev); err != nil {
		e.t.Fatal(err)
	}
	return ev
}

// event reads an event with its attempts.
func (e *env) event(id string) *voice.Event {
	e.t.Helper()
	ev, err := e.db.EventByID(context.Background(), voice.Scope{}, id)
	if err != nil {
		e.t.Fatal(err)
	}
	return ev
}

// waitStatus polls event id until its delivery status is want.
func (e *env) waitStatus(id, want string, timeout time.Duration) *voice.Event {
	e.t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		ev := e.event(id)
		if ev.DeliveryStatus == want {
			return ev
		}
		if time.Now().After(deadline) {
			e.t.Fatalf("event %s (%s) is %s after %v, want %s; attempts %+v", id, ev.Event, ev.DeliveryStatus, timeout, want, ev.Attempts)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// received is one request a receiver got.
type received struct {
	At     time.Time
	Header http.Header
	Body   []byte
}

// receiver is a loopback webhook endpoint answering with respond (default
// 204) and keeping every request.
type receiver struct {
	*httptest.Server
	mu      sync.Mutex
	got     []received
	respond func(n int, w http.ResponseWriter, r *http.Request)
}

func newReceiver(t *testing.T, respond func(n int, w http.ResponseWriter, r *http.Request)) *receiver {
	rc := &receiver{respond: respond}
	rc.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		rc.mu.Lock()
		rc.got = append(rc.got, received{At: time.Now(), Header: r.Header.Clone(), Body: b})
		n := len(rc.got)
		rc.mu.Unlock()
		if rc.respond != nil {
			rc.respond(n, w, r)
			return
		}
		w.WriteHeader(http.StatusNoContent)
	}))
	t.Cleanup(rc.Close)
	return rc
}

func (rc *receiver) requests() []received {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	return append([]received(nil), rc.got...)
}

// ids is the webhook-id of each request, in arrival order.
func (rc *receiver) ids() []string {
	var out []string
	for _, r := range rc.requests() {
		out = append(out, r.Header.Get("webhook-id"))
	}
	return out
}

// signedBy checks a request's signature the Standard Webhooks way, written
// here from the spec rather than with the platform's own code: HMAC-SHA256
// over "{id}.{timestamp}.{body}" keyed with the base64 part of the secret, any
// of the space-separated v1 signatures matching.
func signedBy(secret string, h http.Header, body []byte) bool {
	key, err := base64.StdEncoding.DecodeString(strings.TrimPrefix(secret, "whsec_"))
	if err != nil {
		return false
	}
	mac := hmac.New(sha256.New, key)
	mac.Write([]byte(h.Get("webhook-id") + "." + h.Get("webhook-timestamp") + "."))
	mac.Write(body)
	want := "v1," + base64.StdEncoding.EncodeToString(mac.Sum(nil))
	for _, sig := range strings.Fields(h.Get("webhook-signature")) {
		if hmac.Equal([]byte(sig), []byte(want)) {
			return true
		}
	}
	return false
}

// scheduledLater reports whether event id's delivery job is put back in the
// queue (scheduled for later), not running or done.
func (e *env) scheduledLater(id string) bool {
	e.t.Helper()
	query := `SELECT count(*) FROM river_job WHERE kind = 'webhook_delivery' AND state = 'scheduled' AND args ->> 'event_id' = ?`
	if e.db.Dialect().Name == "postgres" {
		query = strings.Replace(query, "?", "$1", 1)
	}
	var n int
	if err := e.db.SQL().QueryRow(query, id).Scan(&n); err != nil {
		e.t.Fatal(err)
	}
	return n > 0
}
