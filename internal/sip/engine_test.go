package sip

import (
	"context"
	"errors"
	"log/slog"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/minivoice/minivoice/internal/callctl"
	"github.com/minivoice/minivoice/internal/obs"
	"github.com/minivoice/minivoice/internal/voice"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/shopspring/decimal"
)

// memStore is the engine's Store in memory, with failures on demand: the
// engine's paths, a database that fails included, run in milliseconds.
type memStore struct {
	mu      sync.Mutex
	calls   map[string]*voice.Call
	events  []*voice.Event
	charges []*voice.LedgerEntry
	apps    map[string]*voice.Application
	// fail, when set, is asked before every call write; an error fails it.
	fail func(method string) error
	// block, when set, holds every call write until it is closed.
	block chan struct{}
}

func newMemStore() *memStore {
	return &memStore{calls: map[string]*voice.Call{}, apps: map[string]*voice.Application{}}
}

func (m *memStore) check(method string) error {
	m.mu.Lock()
	fail, block := m.fail, m.block
	m.mu.Unlock()
	if block != nil {
		<-block
	}
	if fail != nil {
		return fail(method)
	}
	return nil
}

func (m *memStore) setFail(f func(string) error) { m.mu.Lock(); m.fail = f; m.mu.Unlock() }

func (m *memStore) write(c *voice.Call, charge *voice.LedgerEntry, events []*voice.Event) {
	m.mu.Lock()
	defer m.mu.Unlock()
	cp := *cloneCall(c)
	m.calls[c.ID] = &cp
	m.events = append(m.events, events...)
	if charge != nil {
		m.charges = append(m.charges, charge)
	}
}

func (m *memStore) CreateCallWithEvents(_ context.Context, c *voice.Call, events ...*voice.Event) error {
	if err := m.check("CreateCallWithEvents"); err != nil {
		return err
	}
	m.write(c, nil, events)
	return nil
}

func (m *memStore) UpdateCallWithEvents(_ context.Context, c *voice.Call, events ...*voice.Event) error {
	if err := m.check("UpdateCallWithEvents"); err != nil {
		return err
	}
	m.write(c, nil, events)
	return nil
}

func (m *memStore) UpdateCallWithCharge(_ context.Context, c *voice.Call, charge *voice.LedgerEntry, events ...*voice.Event) error {
	if err := m.check("UpdateCallWithCharge"); err != nil {
		return err
	}
	m.write(c, charge, events)
	return nil
}

func (m *memStore) UnfinishedCalls(context.Context) ([]*voice.Call, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	var out []*voice.Call
	for _, c := range m.calls {
		if !voice.CallEnded(c.Status) {
			out = append(out, cloneCall(c))
		}
	}
	return out, nil
}

func (m *memStore) Application(_ context.Context, _ voice.Scope, id string) (*voice.Application, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if a, ok := m.apps[id]; ok {
		return a, nil
	}
	return nil, voice.Errorf(voice.ECodeNotFound, "no application %s", id)
}

func (m *memStore) ActiveTrunks(context.Context, string) ([]*voice.Trunk, error) { return nil, nil }
func (m *memStore) NumberByE164(context.Context, string) (*voice.Number, error) {
	return nil, errors.New("none")
}
func (m *memStore) Customer(context.Context, voice.Scope, string) (*voice.Customer, error) {
	return nil, errors.New("none")
}
func (m *memStore) CreateRecording(context.Context, *voice.Recording) error { return nil }
func (m *memStore) UpdateRecordingWithEvents(context.Context, *voice.Recording, ...*voice.Event) error {
	return nil
}
func (m *memStore) AddSIPRefusal(context.Context, *voice.SIPRefusal, int) error { return nil }

// eventsOf lists the types of a call's stored events, in order.
func (m *memStore) eventsOf(callID string) []voice.EventType {
	m.mu.Lock()
	defer m.mu.Unlock()
	var out []voice.EventType
	for _, ev := range m.events {
		if ev.CallID != nil && *ev.CallID == callID {
			out = append(out, ev.Event)
		}
	}
	return out
}

func (m *memStore) call(id string) *voice.Call {
	m.mu.Lock()
	defer m.mu.Unlock()
	return cloneCall(m.calls[id])
}

// testClock is a clock that moves only when told to.
type testClock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *testClock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.now }
func (c *testClock) Advance(d time.Duration) {
	c.mu.Lock()
	c.now = c.now.Add(d)
	c.mu.Unlock()
}

// engineBundle is an Engine with no sockets over a memStore.
type engineBundle struct {
	e     *Engine
	store *memStore
	clock *testClock
	app   *voice.Application
}

func setup(t *testing.T) *engineBundle {
	t.Helper()
	st := newMemStore()
	clk := &testClock{now: time.Date(2026, 12, 7, 10, 0, 0, 0, time.UTC)}
	ctx, cancel := context.WithCancel(context.Background())
	e := &Engine{store: st, log: slog.New(slog.DiscardHandler), metrics: obs.NewMetrics(), now: clk.Now,
		live: map[string]*liveCall{}, watchTick: time.Millisecond, mediaTimeout: time.Hour, ctx: ctx, cancel: cancel}
	e.finals = newFinalWrites(e, time.Minute, time.Millisecond)
	t.Cleanup(func() { cancel(); e.bg.Wait() })
	app := &voice.Application{ID: "app_1", WebhookURL: "https://example.com/hook", WebhookEvents: []string{"*"}}
	st.apps[app.ID] = app
	return &engineBundle{e: e, store: st, clock: clk, app: app}
}

// newCall records a new ringing inbound call and returns its record.
func (b *engineBundle) newCall(t *testing.T, id string) *callRecord {
	t.Helper()
	now := b.e.clock()
	c := &voice.Call{ID: id, CustomerID: "cus_1", ApplicationID: b.app.ID, Status: voice.CallRinging,
		Direction: voice.DirectionInbound, From: "+15551230001", To: "+15557654321", TimeLimit: 14400,
		Variables: map[string]string{}, RecordingIDs: []string{}, Currency: "EUR", CreatedAt: now, UpdatedAt: now}
	rec := b.e.newRecord(c, b.app)
	if err := rec.create(context.Background()); err != nil {
		t.Fatal(err)
	}
	return rec
}

// A call's life is written change by change, each with its event, and its
// end once: call.completed is never written twice.
func TestCallRecordLifecycle(t *testing.T) {
	t.Parallel()
	b := setup(t)
	ctx := context.Background()
	rec := b.newCall(t, "call_a")
	must(t, rec.ringing(ctx, 180))
	must(t, rec.ringing(ctx, 183)) // a second ring changes nothing
	b.clock.Advance(2 * time.Second)
	must(t, rec.answered(ctx, "PCMU", 200, "OK"))
	b.clock.Advance(61500 * time.Millisecond)
	rec.end(ctx, ending{Status: voice.CallCompleted, Cause: CauseNormalClearing, Source: SourceCaller})
	rec.end(ctx, ending{Status: voice.CallFailed, Cause: CauseMediaTimeout, Source: SourceSystem})

	want := []voice.EventType{voice.EventCallInitiated, voice.EventCallRinging, voice.EventCallAnswered, voice.EventCallCompleted}
	if got := b.store.eventsOf("call_a"); !slices.Equal(got, want) {
		t.Errorf("events %v, want %v", got, want)
	}
	c := b.store.call("call_a")
	if c.Status != voice.CallCompleted || *c.HangupCause != CauseNormalClearing || *c.HangupSource != SourceCaller {
		t.Errorf("call ended %s/%v/%v, want completed/normal_clearing/caller", c.Status, *c.HangupCause, *c.HangupSource)
	}
	if c.Duration != 62 || *c.Codec != "PCMU" || *c.SIPCode != 200 {
		t.Errorf("duration %d codec %v sip %v, want 62 s (61.5 rounded up), PCMU, 200", c.Duration, *c.Codec, *c.SIPCode)
	}
	// Events of one call order strictly, even within a millisecond.
	var last time.Time
	for _, ev := range b.store.events {
		if !ev.CreatedAt.After(last) {
			t.Errorf("event %s at %s does not follow %s", ev.Event, ev.CreatedAt, last)
		}
		last = ev.CreatedAt
	}
}

// The one subscription rule: an event is pending only for an application
// that subscribed to its type and has a webhook; disabled while the webhook
// is disabled.
func TestEventSubscriptionRule(t *testing.T) {
	t.Parallel()
	b := setup(t)
	b.app.WebhookEvents = []string{"call.completed"}
	ctx := context.Background()
	rec := b.newCall(t, "call_s")
	must(t, rec.answered(ctx, "PCMU", 200, "OK"))
	rec.end(ctx, ending{Status: voice.CallCompleted, Cause: CauseNormalClearing, Source: SourceCaller})
	for _, ev := range b.store.events {
		want := voice.DeliveryNone
		if ev.Event == voice.EventCallCompleted {
			want = voice.DeliveryPending
		}
		if ev.DeliveryStatus != want {
			t.Errorf("%s: delivery %s, want %s", ev.Event, ev.DeliveryStatus, want)
		}
	}
	app := &voice.Application{WebhookURL: "https://example.com", WebhookEvents: []string{"*"}, WebhookStatus: voice.WebhookDisabled}
	if got := voice.DeliveryStatusFor(app, voice.EventCallAnswered); got != voice.DeliveryDisabled {
		t.Errorf("disabled webhook: %s", got)
	}
	if got := voice.DeliveryStatusFor(nil, voice.EventCallAnswered); got != voice.DeliveryNone {
		t.Errorf("no application: %s", got)
	}
}

// A write that fails leaves the call as it was, in memory and in the store;
// the next change is computed from the state actually stored.
func TestFailedWriteChangesNothing(t *testing.T) {
	t.Parallel()
	b := setup(t)
	ctx := context.Background()
	rec := b.newCall(t, "call_f")
	b.store.setFail(func(string) error { return errors.New("disk I/O error") })
	if err := rec.setVariables(ctx, map[string]string{"a": "1"}); err == nil {
		t.Fatal("setVariables succeeded on a failing store")
	}
	if v := rec.snapshot().Variables; len(v) != 0 {
		t.Errorf("variables after a failed write: %v", v)
	}
	b.store.setFail(nil)
	must(t, rec.setVariables(ctx, map[string]string{"b": "2"}))
	if v := b.store.call("call_f").Variables; len(v) != 1 || v["b"] != "2" {
		t.Errorf("stored variables %v, want only b=2", v)
	}
}

// The final write is retried until the database takes it: the call ends
// once, at the moment it ended (not when the write finally got through),
// and every failure is counted.
func TestFinalWriteRetried(t *testing.T) {
	t.Parallel()
	b := setup(t)
	ctx := context.Background()
	rec := b.newCall(t, "call_r")
	rec.rate = &voice.Rate{PricePerMinute: decimal.RequireFromString("0.60"), InitialIncrement: 1, SubsequentIncrement: 1, Currency: "EUR"}
	must(t, rec.answered(ctx, "PCMU", 200, "OK"))
	b.clock.Advance(10 * time.Second)
	endedAt := b.e.clock()
	var failures atomic.Int32
	b.store.setFail(func(method string) error {
		if failures.Add(1) <= 3 {
			b.clock.Advance(time.Second) // time passes while the database is down
			return errors.New("database is locked")
		}
		return nil
	})
	rec.end(ctx, ending{Status: voice.CallCompleted, Cause: CauseNormalClearing, Source: SourceCaller})
	c := b.store.call("call_r")
	if c.Status != voice.CallCompleted || !c.EndedAt.Equal(endedAt) || c.Duration != 10 {
		t.Errorf("call %s ended %v after %d s, want completed at %v after 10 s", c.Status, c.EndedAt, c.Duration, endedAt)
	}
	if len(b.store.charges) != 1 || !b.store.charges[0].Amount.Equal(decimal.RequireFromString("-0.1")) {
		t.Errorf("charges %v, want one of -0.10", b.store.charges)
	}
	if got := testutil.ToFloat64(b.e.metrics.CallWriteFailures); got != 3 {
		t.Errorf("final write failures counted %v, want 3", got)
	}
	if n := b.e.finals.Pending(); n != 0 {
		t.Errorf("%d final writes pending", n)
	}
}

// A database down longer than the final-write deadline: the end goes to
// the background retries, which write it once the database is back.
func TestFinalWriteOutlastsDeadline(t *testing.T) {
	t.Parallel()
	b := setup(t)
	b.e.finals = newFinalWrites(b.e, time.Millisecond, time.Millisecond)
	b.e.bg.Add(1)
	go func() { defer b.e.bg.Done(); b.e.finals.run(b.e.ctx, time.Millisecond) }()
	ctx := context.Background()
	rec := b.newCall(t, "call_d")
	down := make(chan struct{})
	b.store.setFail(func(string) error {
		select {
		case <-down:
			return nil
		default:
			return errors.New("connection refused")
		}
	})
	rec.end(ctx, ending{Status: voice.CallCanceled, Cause: CauseOriginatorCancel, Source: SourceCaller})
	if b.e.finals.Pending() != 1 {
		t.Fatalf("pending %d, want the call's end handed to the background retries", b.e.finals.Pending())
	}
	close(down)
	for b.e.finals.Pending() != 0 {
		time.Sleep(time.Millisecond)
	}
	if got := b.store.eventsOf("call_d"); !slices.Equal(got, []voice.EventType{voice.EventCallInitiated, voice.EventCallCompleted}) {
		t.Errorf("events %v", got)
	}
}

// While one call's write hangs in the database, nothing else waits on it:
// the call can be read and hung up, other calls written, the engine asked.
func TestNoLockHeldAcrossWrites(t *testing.T) {
	t.Parallel()
	b := setup(t)
	ctx := context.Background()
	rec := b.newCall(t, "call_slow")
	other := b.newCall(t, "call_other")
	lc := b.e.open(b.e.ctx, rec, true)
	defer b.e.close(lc)
	release := make(chan struct{})
	b.store.mu.Lock()
	b.store.block = release
	b.store.mu.Unlock()
	writing := make(chan struct{})
	go func() {
		defer close(writing)
		_ = rec.setVariables(ctx, map[string]string{"k": "v"})
	}()
	time.Sleep(5 * time.Millisecond) // let the write reach the store
	_ = rec.snapshot()
	_ = b.e.ActiveCalls()
	if !b.e.Hangup("call_slow") || lc.hungUpBy() != SourceAPI {
		t.Error("hangup of a call whose write hangs did not land")
	}
	b.store.mu.Lock()
	b.store.block = nil
	b.store.mu.Unlock()
	must(t, other.setVariables(ctx, map[string]string{"x": "y"}))
	close(release)
	<-writing
}

// A live call is hung up once: the first source stands; close runs its
// releases once, newest first, and the engine no longer holds it.
func TestLiveCallHangupOnce(t *testing.T) {
	t.Parallel()
	b := setup(t)
	lc := b.e.open(b.e.ctx, b.newCall(t, "call_h"), true)
	var order []int
	lc.onRelease(func() { order = append(order, 1) })
	lc.onRelease(func() { order = append(order, 2) })
	if b.e.Hangup("call_unknown") {
		t.Error("Hangup of a call the engine does not hold reported true")
	}
	if !b.e.Hangup("call_h") {
		t.Fatal("Hangup of a live call reported false")
	}
	lc.hangup(SourceSystem)
	if lc.hungUpBy() != SourceAPI || lc.ctx.Err() == nil {
		t.Errorf("hung up by %q (ctx %v), want api and a canceled context", lc.hungUpBy(), lc.ctx.Err())
	}
	if b.e.ReplaceActions(context.Background(), "call_h", nil) {
		t.Error("actions replaced on a hung-up call")
	}
	b.e.close(lc)
	b.e.close(lc)
	if !slices.Equal(order, []int{2, 1}) || b.e.ActiveCalls() != 0 {
		t.Errorf("releases ran %v, %d calls held; want [2 1] once and none", order, b.e.ActiveCalls())
	}
}

// A trunk takes exactly max_channels calls, and at most max_cps INVITEs a
// second.
func TestTrunkChannels(t *testing.T) {
	t.Parallel()
	var tc trunkChannels
	now := time.Date(2026, 12, 7, 0, 0, 0, 0, time.UTC)
	trunk := &voice.Trunk{ID: "trk_1", MaxChannels: 2}
	r1, why1 := tc.take(trunk, now)
	r2, why2 := tc.take(trunk, now)
	_, why3 := tc.take(trunk, now)
	if why1 != "" || why2 != "" || why3 != "max_channels" {
		t.Fatalf("takes: %q %q %q, want two and then max_channels", why1, why2, why3)
	}
	r1()
	r1() // releasing twice frees one channel only
	if _, why := tc.take(trunk, now); why != "" {
		t.Errorf("after a release: %q", why)
	}
	if _, why := tc.take(trunk, now); why != "max_channels" {
		t.Errorf("double release freed two channels: %q", why)
	}
	r2()

	cps := &voice.Trunk{ID: "trk_2", MaxCPS: 2}
	for i, want := range []string{"", "", "max_cps"} {
		if _, why := tc.take(cps, now.Add(time.Duration(i)*100*time.Millisecond)); why != want {
			t.Errorf("INVITE %d in the second: %q, want %q", i+1, why, want)
		}
	}
	if _, why := tc.take(cps, now.Add(time.Second)); why != "" {
		t.Errorf("next second: %q", why)
	}
}

// The watchdog ends a call at its time limit or when its media goes quiet.
func TestWatchdog(t *testing.T) {
	t.Parallel()
	b := setup(t)
	rec := b.newCall(t, "call_w")
	rec.call.TimeLimit = 0
	stopped := make(chan struct{})
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	w := b.e.watch(ctx, rec, func(time.Time) time.Duration { return 0 }, func() { close(stopped) })
	<-stopped
	if w.cause() != CauseTimeLimit {
		t.Errorf("cause %q, want time_limit", w.cause())
	}

	rec2 := b.newCall(t, "call_m")
	b.e.mediaTimeout = 0 // read before the goroutine starts: set before watch
	stopped2 := make(chan struct{})
	w2 := b.e.watch(ctx, rec2, func(time.Time) time.Duration { return time.Second }, func() { close(stopped2) })
	<-stopped2
	if w2.cause() != CauseMediaTimeout {
		t.Errorf("cause %q, want media_timeout", w2.cause())
	}
}

// A lost node's calls: failed/node_lost, answered time up to the node's
// last heartbeat, one call.completed each; calls already final are left.
func TestCloseAbandoned(t *testing.T) {
	t.Parallel()
	b := setup(t)
	ctx := context.Background()
	answered := b.e.clock()
	up := b.newCall(t, "call_up")
	must(t, up.answered(ctx, "PCMU", 200, "OK"))
	ringing := b.newCall(t, "call_ring")
	done := b.newCall(t, "call_done")
	done.end(ctx, ending{Status: voice.CallCompleted, Cause: CauseNormalClearing, Source: SourceCaller})
	heartbeat := answered.Add(25 * time.Second)
	b.clock.Advance(time.Minute)
	calls := []*voice.Call{b.store.call("call_up"), b.store.call("call_ring"), b.store.call("call_done")}
	n, err := b.e.CloseAbandoned(ctx, calls, voice.CauseNodeLost, heartbeat)
	if err != nil || n != 2 {
		t.Fatalf("closed %d (%v), want 2", n, err)
	}
	c := b.store.call("call_up")
	if c.Status != voice.CallFailed || *c.HangupCause != voice.CauseNodeLost || c.Duration != 25 || c.Error.Code != "node_lost" {
		t.Errorf("call_up: %s/%v after %d s (%v), want failed/node_lost after 25 s", c.Status, *c.HangupCause, c.Duration, c.Error)
	}
	for _, id := range []string{"call_up", "call_ring", "call_done"} {
		completed := 0
		for _, ev := range b.store.eventsOf(id) {
			if ev == voice.EventCallCompleted {
				completed++
			}
		}
		if completed != 1 {
			t.Errorf("%s: %d call.completed, want 1", id, completed)
		}
	}
	_ = ringing
	b.store.setFail(func(string) error { return errors.New("down") })
	if _, err := b.e.CloseAbandoned(ctx, []*voice.Call{b.store.call("call_up")}, voice.CauseNodeLost, heartbeat); err != nil {
		t.Errorf("an already final call was written again: %v", err)
	}
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

// fakeDialog is an answered SIP dialog: Bye is the far end's BYE.
type fakeDialog struct {
	ctx     context.Context
	bye     context.CancelFunc
	hangups atomic.Int32
}

func newFakeDialog() *fakeDialog {
	d := &fakeDialog{}
	d.ctx, d.bye = context.WithCancel(context.Background())
	return d
}

func (d *fakeDialog) Context() context.Context { return d.ctx }
func (d *fakeDialog) Hangup(context.Context) error {
	d.hangups.Add(1)
	d.bye()
	return nil
}

// The answered-call runner decides how a call ended the same way for every
// leg: the far end's BYE, a hang-up through the API, the application's
// error, the actions running out; it sends a BYE only when the far end did
// not, and records the end once even when the database fails at first.
func TestRunAnswered(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name       string
		run        func(ctx context.Context, lc *liveCall, d *fakeDialog) callctl.End
		failFirst  bool
		want       ending
		wantBye    bool
		wantEvents []voice.EventType
	}{
		{name: "far end hangs up", run: func(ctx context.Context, _ *liveCall, d *fakeDialog) callctl.End {
			d.bye()
			<-ctx.Done()
			return callctl.End{}
		}, want: ending{Status: voice.CallCompleted, Cause: CauseNormalClearing, Source: SourceCaller}},
		{name: "api hangup", run: func(ctx context.Context, lc *liveCall, _ *fakeDialog) callctl.End {
			lc.hangup(SourceAPI)
			<-ctx.Done()
			return callctl.End{}
		}, want: ending{Status: voice.CallCompleted, Cause: CauseNormalClearing, Source: SourceAPI}, wantBye: true},
		{name: "drain", run: func(ctx context.Context, lc *liveCall, _ *fakeDialog) callctl.End {
			lc.hangup(SourceSystem)
			<-ctx.Done()
			return callctl.End{}
		}, want: ending{Status: voice.CallCompleted, Cause: CauseSystemShutdown, Source: SourceSystem}, wantBye: true},
		{name: "application error", run: func(context.Context, *liveCall, *fakeDialog) callctl.End {
			return callctl.End{Kind: callctl.EndError, Err: &callctl.FetchError{Code: "http_error", Message: "answer_url said 500", HTTPStatus: 500}}
		}, want: ending{Status: voice.CallCompleted, Cause: CauseApplicationError, Source: SourceSystem}, wantBye: true,
			wantEvents: []voice.EventType{voice.EventCallInitiated, voice.EventCallAnswered, voice.EventCallError, voice.EventCallCompleted}},
		{name: "actions done, database failing", failFirst: true, run: func(context.Context, *liveCall, *fakeDialog) callctl.End {
			return callctl.End{Kind: callctl.EndListDone}
		}, want: ending{Status: voice.CallCompleted, Cause: CauseNormalClearing, Source: SourceCallee}, wantBye: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			b := setup(t)
			rec := b.newCall(t, "call_x")
			lc := b.e.open(b.e.ctx, rec, true)
			defer b.e.close(lc)
			d := newFakeDialog()
			l := &leg{name: "PCMU", rate: 8000, cancel: func() {}}
			l.lastRTP.Store(time.Now().UnixNano())
			run := func(ctx context.Context) callctl.End {
				if tc.failFirst {
					// The call is up; from here the database fails twice.
					var n atomic.Int32
					b.store.setFail(func(string) error {
						if n.Add(1) <= 2 {
							return errors.New("database is locked")
						}
						return nil
					})
				}
				return tc.run(ctx, lc, d)
			}
			how := *b.e.runAnswered(&answeredLeg{lc: lc, dlg: d, leg: l, direction: voice.DirectionInbound,
				platformSide: SourceCallee, farSide: SourceCaller, sipCode: 200, sipReason: "OK",
				run: run})
			if how.Status != tc.want.Status || how.Cause != tc.want.Cause || how.Source != tc.want.Source {
				t.Errorf("ended %s/%s/%s, want %s/%s/%s", how.Status, how.Cause, how.Source, tc.want.Status, tc.want.Cause, tc.want.Source)
			}
			if got := d.hangups.Load() > 0; got != tc.wantBye {
				t.Errorf("BYE sent: %v, want %v", got, tc.wantBye)
			}
			want := tc.wantEvents
			if want == nil {
				want = []voice.EventType{voice.EventCallInitiated, voice.EventCallAnswered, voice.EventCallCompleted}
			}
			if got := b.store.eventsOf("call_x"); !slices.Equal(got, want) {
				t.Errorf("events %v, want %v", got, want)
			}
			if c := b.store.call("call_x"); c.Status != tc.want.Status || *c.HangupSource != tc.want.Source {
				t.Errorf("stored %s by %v", c.Status, *c.HangupSource)
			}
		})
	}
}
