package cluster

import (
	"context"
	"encoding/json"
	"errors"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/minivoice/minivoice/internal/billing"
	"github.com/minivoice/minivoice/internal/callctl"
	"github.com/minivoice/minivoice/internal/store"
	"github.com/minivoice/minivoice/internal/store/postgres"
	"github.com/minivoice/minivoice/internal/store/storetest"
	"github.com/minivoice/minivoice/internal/voice"
	"github.com/shopspring/decimal"
)

// clock is a fake clock the test moves by hand.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *clock) add(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

// closer records the calls it is asked to close and closes them in the
// database as the engine would (status failed), failing the
// first fail times.
type closer struct {
	st   *store.DB
	mu   sync.Mutex
	fail int
	got  []string
	seen []time.Time
}

func (c *closer) close(ctx context.Context, calls []*voice.Call, lastSeen time.Time) (int, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.fail > 0 {
		c.fail--
		return 0, errors.New("database unreachable")
	}
	for _, call := range calls {
		c.got = append(c.got, call.ID)
		c.seen = append(c.seen, lastSeen)
		end := lastSeen
		call.Status, call.EndedAt, call.UpdatedAt = voice.CallFailed, &end, end
		if err := c.st.UpdateCall(ctx, call); err != nil {
			return 0, err
		}
	}
	return len(calls), nil
}

func (c *closer) ids() []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return slices.Sorted(slices.Values(c.got))
}

// cluster is one PostgreSQL schema with a store per node id.
type cluster struct {
	t     testing.TB
	url   string
	clock *clock
	cust  *voice.Customer
}

func newCluster(t testing.TB) *cluster {
	t.Helper()
	url := storetest.SchemaURL(t)
	c := &cluster{t: t, url: url, clock: &clock{t: time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)}}
	st := c.store("setup")
	now := c.clock.now()
	c.cust = &voice.Customer{ID: "cust_nodes", Name: "c", Status: voice.CustomerActive, Currency: "EUR", Balance: decimal.Zero,
		MaxConcurrentCalls: 5, MaxCPS: 5, BlockedPrefixes: []string{}, CreatedAt: now, UpdatedAt: now}
	if err := st.CreateCustomer(context.Background(), c.cust); err != nil {
		t.Fatal(err)
	}
	return c
}

// store opens the schema as node id's process does.
func (c *cluster) store(id string) *store.DB {
	c.t.Helper()
	db, err := postgres.Open(context.Background(), postgres.Config{URL: c.url, Now: c.clock.now, MaxConns: 4,
		Secrets: storetest.Keyring(), NodeID: id})
	if err != nil {
		c.t.Fatal(err)
	}
	c.t.Cleanup(func() { db.Close() })
	return db
}

// node starts node id (without its goroutines unless listen: the test
// drives Tick) and returns it with its store and closer.
func (c *cluster) node(id string, local Local, listen bool) (*Node, *store.DB, *closer) {
	c.t.Helper()
	st := c.store(id)
	cl := &closer{st: st}
	cfg := Config{Store: st, ID: id, Lease: 9 * time.Second, Now: c.clock.now, Close: cl.close, Local: local,
		CommandTimeout: 300 * time.Millisecond}
	if listen {
		cfg.DatabaseURL = c.url
	}
	n, err := New(cfg)
	if err != nil {
		c.t.Fatal(err)
	}
	ctx := context.Background()
	if listen {
		if err := n.Start(ctx); err != nil {
			c.t.Fatal(err)
		}
		c.t.Cleanup(func() { _ = n.Stop(ctx) })
	} else if err := n.Join(ctx); err != nil {
		c.t.Fatal(err)
	}
	return n, st, cl
}

// call creates a call with status through st (so it is held by st's node).
func (c *cluster) call(st *store.DB, id, status string) {
	c.t.Helper()
	now := c.clock.now()
	var answered *time.Time
	if status == voice.CallInProgress {
		a := now.Add(-30 * time.Second)
		answered = &a
	}
	call := &voice.Call{ID: id, CustomerID: c.cust.ID, ApplicationID: "app_x", Status: status, Direction: voice.DirectionOutbound,
		From: "+15551230001", To: "+15551230002", RecordingChannels: "dual", Variables: map[string]string{},
		RecordingIDs: []string{}, Currency: "EUR", CreatedAt: now.Add(-time.Minute), AnsweredAt: answered, UpdatedAt: now}
	if err := st.CreateCall(context.Background(), call); err != nil {
		c.t.Fatal(err)
	}
}

// TestTakeoverExactlyOnce: two survivors race to take over a node whose lease
// ran out; each of its unfinished calls is closed exactly once, with the
// lost node's last heartbeat, and its finished calls and the survivors'
// calls are left alone.
func TestTakeoverExactlyOnce(t *testing.T) {
	t.Parallel()
	c := newCluster(t)
	ctx := context.Background()
	a, stA, clA := c.node("node-a", nil, false)
	b, _, clB := c.node("node-b", nil, false)
	_, stC, _ := c.node("node-c", nil, false)
	lastSeen := c.clock.now()
	c.call(stC, "call_c1", voice.CallInProgress)
	c.call(stC, "call_c2", voice.CallRinging)
	c.call(stC, "call_c3", voice.CallQueued)
	c.call(stC, "call_c4", voice.CallCompleted)
	c.call(stA, "call_a1", voice.CallInProgress)

	// Within the lease nothing is taken over.
	c.clock.add(6 * time.Second)
	for _, n := range []*Node{a, b} {
		if err := n.Tick(ctx); err != nil {
			t.Fatal(err)
		}
	}
	if len(clA.ids())+len(clB.ids()) != 0 {
		t.Fatalf("closed within the lease: %v %v", clA.ids(), clB.ids())
	}
	// C stops renewing; past its lease both survivors tick at once.
	c.clock.add(4 * time.Second)
	var wg sync.WaitGroup
	errs := make([]error, 2)
	for i, n := range []*Node{a, b} {
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs[i] = n.Tick(ctx)
		}()
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		t.Fatal(err)
	}
	all := append(clA.ids(), clB.ids()...)
	slices.Sort(all)
	if want := []string{"call_c1", "call_c2", "call_c3"}; !slices.Equal(all, want) {
		t.Fatalf("closed %v, want each of %v once", all, want)
	}
	if len(clA.ids()) > 0 && len(clB.ids()) > 0 {
		t.Errorf("both survivors closed calls of one node: %v / %v", clA.ids(), clB.ids())
	}
	for _, s := range append(clA.seen, clB.seen...) {
		if !s.Equal(lastSeen) {
			t.Errorf("lastSeen %v, want the lost node's last heartbeat %v", s, lastSeen)
		}
	}
	lost, err := stA.GetNode(ctx, "node-c")
	if err != nil {
		t.Fatal(err)
	}
	if lost.TakenOverBy != "node-a" && lost.TakenOverBy != "node-b" {
		t.Errorf("node-c taken over by %q", lost.TakenOverBy)
	}
	// Later rounds find nothing more.
	c.clock.add(3 * time.Second)
	for _, n := range []*Node{a, b} {
		if err := n.Tick(ctx); err != nil {
			t.Fatal(err)
		}
	}
	if n := len(clA.ids()) + len(clB.ids()); n != 3 {
		t.Errorf("%d closes after more rounds, want 3", n)
	}
	if got, _ := stA.Call(ctx, voice.Scope{}, "call_a1"); got.Status != voice.CallInProgress {
		t.Errorf("survivor's own call: %s", got.Status)
	}
}

// TestTakeoverRetriesAFailedClose: a close that fails is retried on the next
// round, and the calls closed in between are not closed again.
func TestTakeoverRetriesAFailedClose(t *testing.T) {
	t.Parallel()
	c := newCluster(t)
	ctx := context.Background()
	a, _, clA := c.node("node-a", nil, false)
	_, stB, _ := c.node("node-b", nil, false)
	c.call(stB, "call_b1", voice.CallInProgress)
	c.call(stB, "call_b2", voice.CallInProgress)
	clA.fail = 1
	c.clock.add(10 * time.Second)
	if err := a.Tick(ctx); err != nil {
		t.Fatal(err)
	}
	if len(clA.ids()) != 0 {
		t.Fatalf("closed despite the failure: %v", clA.ids())
	}
	c.clock.add(3 * time.Second)
	if err := a.Tick(ctx); err != nil {
		t.Fatal(err)
	}
	if got := clA.ids(); !slices.Equal(got, []string{"call_b1", "call_b2"}) {
		t.Fatalf("closed %v after the retry", got)
	}
	c.clock.add(3 * time.Second)
	if err := a.Tick(ctx); err != nil {
		t.Fatal(err)
	}
	if got := clA.ids(); len(got) != 2 {
		t.Errorf("closed again: %v", got)
	}
}

// TestRejoinUnderTheSameID: a process restarted with the id of a dead one
// waits for nothing once the lease ran out, closes its predecessor's calls
// itself, and its own new calls are not touched by a later takeover round.
func TestRejoinUnderTheSameID(t *testing.T) {
	t.Parallel()
	c := newCluster(t)
	ctx := context.Background()
	_, st1, _ := c.node("node-x", nil, false)
	c.call(st1, "call_old", voice.CallInProgress)
	c.clock.add(10 * time.Second)
	n2, st2, cl2 := c.node("node-x", nil, false)
	if got := cl2.ids(); !slices.Equal(got, []string{"call_old"}) {
		t.Fatalf("restart closed %v, want its predecessor's call", got)
	}
	c.clock.add(time.Second)
	c.call(st2, "call_new", voice.CallInProgress)
	if err := n2.Tick(ctx); err != nil {
		t.Fatal(err)
	}
	node, err := st2.GetNode(ctx, "node-x")
	if err != nil {
		t.Fatal(err)
	}
	if !node.Live(c.clock.now()) {
		t.Errorf("rejoined node not live: %+v", node)
	}
	if got, _ := st2.Call(ctx, voice.Scope{}, "call_new"); got.Status != voice.CallInProgress {
		t.Errorf("new call: %s", got.Status)
	}
}

// TestJoinRefusesALiveID: a second process cannot join under the id of a
// node that keeps renewing.
func TestJoinRefusesALiveID(t *testing.T) {
	if testing.Short() {
		t.Skip("waits for two short leases of real time")
	}
	t.Parallel()
	url := storetest.SchemaURL(t)
	st, err := postgres.Open(context.Background(), postgres.Config{URL: url, MaxConns: 2, NodeID: "dup"})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	lease := 3 * time.Second
	first, err := New(Config{Store: st, ID: "dup", Lease: lease, Close: (&closer{st: st}).close})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	if err := first.Start(ctx); err != nil {
		t.Fatal(err)
	}
	defer first.Stop(ctx)
	second, _ := New(Config{Store: st, ID: "dup", Lease: lease, Close: (&closer{st: st}).close})
	if err := second.Join(ctx); err == nil {
		t.Fatal("joined under a live node's id")
	}
}

// engineCalls is a Local whose live calls are a set.
type engineCalls struct {
	mu      sync.Mutex
	live    map[string]bool
	hangups []string
	actions map[string][]callctl.Action
}

func newEngineCalls(ids ...string) *engineCalls {
	e := &engineCalls{live: map[string]bool{}, actions: map[string][]callctl.Action{}}
	for _, id := range ids {
		e.live[id] = true
	}
	return e
}

func (e *engineCalls) Accepting() bool                                { return true }
func (e *engineCalls) PlaceCall(*voice.Call, *billing.Ticket)         {}
func (e *engineCalls) HasTrunk(context.Context, string) (bool, error) { return true, nil }

func (e *engineCalls) Hangup(id string) bool {
	e.mu.Lock()
	defer e.mu.Unlock()
	if !e.live[id] {
		return false
	}
	delete(e.live, id)
	e.hangups = append(e.hangups, id)
	return true
}

func (e *engineCalls) ReplaceActions(_ context.Context, id string, list []callctl.Action) bool {
	e.mu.Lock()
	defer e.mu.Unlock()
	if !e.live[id] {
		return false
	}
	e.actions[id] = list
	return true
}

// TestCommandsReachTheOwner: a hang-up and new actions sent through node A
// for a call held by node B run on B's engine; a call live nowhere answers
// false; a call whose node's lease ran out, or whose node does not answer,
// is node_unavailable.
func TestCommandsReachTheOwner(t *testing.T) {
	if testing.Short() {
		t.Skip("opens LISTEN connections to PostgreSQL")
	}
	t.Parallel()
	c := newCluster(t)
	ctx := context.Background()
	engA, engB := newEngineCalls(), newEngineCalls("call_b1", "call_b2")
	a, _, _ := c.node("node-a", engA, true)
	b, stB, _ := c.node("node-b", engB, true)
	c.call(stB, "call_b1", voice.CallInProgress)
	c.call(stB, "call_b2", voice.CallInProgress)
	c.call(stB, "call_b3", voice.CallQueued)
	ctl := NewController(engA, a)
	get := func(id string) *voice.Call {
		call, err := stB.Call(ctx, voice.Scope{}, id)
		if err != nil {
			t.Fatal(err)
		}
		return call
	}

	if ok, err := ctl.Hangup(ctx, get("call_b1")); !ok || err != nil {
		t.Fatalf("hangup via A: %v %v", ok, err)
	}
	if !slices.Equal(engB.hangups, []string{"call_b1"}) {
		t.Errorf("B's hangups %v", engB.hangups)
	}
	raw := json.RawMessage(`[{"action": "say", "text": "moved"}, {"action": "hangup"}]`)
	list, err := callctl.Parse(raw)
	if err != nil {
		t.Fatal(err)
	}
	if ok, err := ctl.ReplaceActions(ctx, get("call_b2"), list, raw); !ok || err != nil {
		t.Fatalf("actions via A: %v %v", ok, err)
	}
	engB.mu.Lock()
	got := engB.actions["call_b2"]
	engB.mu.Unlock()
	if len(got) != 2 || got[0].Kind != "say" || got[0].Say.Text != "moved" || got[1].Kind != "hangup" {
		t.Errorf("B ran %+v", got)
	}
	if ok, err := ctl.Hangup(ctx, get("call_b3")); ok || err != nil {
		t.Errorf("call live nowhere: %v %v, want false and no error", ok, err)
	}

	// B's listener stops (the process hangs) while its lease still runs:
	// the command is not answered in time.
	if err := b.Stop(ctx); err != nil {
		t.Fatal(err)
	}
	// Stop gave the lease up; a hung process would not: renew it by hand.
	if _, err := stB.RenewNode(ctx, "node-b", c.clock.now(), c.clock.now().Add(9*time.Second), false); err != nil {
		t.Fatal(err)
	}
	_, err = ctl.Hangup(ctx, get("call_b2"))
	if ve := (*voice.Error)(nil); !errors.As(err, &ve) || ve.Code != voice.ECodeNodeUnavailable {
		t.Fatalf("unanswered: %v, want node_unavailable", err)
	}
	// The unanswered command is withdrawn: B catching up later finds
	// nothing to run.
	if pending, err := stB.PendingNodeCommands(ctx, "node-b", c.clock.now().Add(-time.Hour)); err != nil || len(pending) != 0 {
		t.Errorf("pending after the timeout: %d, %v; want it withdrawn", len(pending), err)
	}
	// Past B's lease the answer is immediate.
	c.clock.add(10 * time.Second)
	_, err = ctl.Hangup(ctx, get("call_b2"))
	if ve := (*voice.Error)(nil); !errors.As(err, &ve) || ve.Code != voice.ECodeNodeUnavailable || ve.RetryAfter != 9 {
		t.Fatalf("lost owner: %v, want node_unavailable", err)
	}
}

// TestControllerWithoutNodeIsLocal: on SQLite (no node) every command is
// the local engine's.
func TestControllerWithoutNodeIsLocal(t *testing.T) {
	t.Parallel()
	eng := newEngineCalls("call_1")
	ctl := NewController(eng, nil)
	ctx := context.Background()
	if ok, err := ctl.Hangup(ctx, &voice.Call{ID: "call_1"}); !ok || err != nil {
		t.Errorf("local hangup: %v %v", ok, err)
	}
	if ok, err := ctl.Hangup(ctx, &voice.Call{ID: "call_2"}); ok || err != nil {
		t.Errorf("unknown call: %v %v", ok, err)
	}
}

// TestChannelName: channel names are valid identifiers for any id.
func TestChannelName(t *testing.T) {
	t.Parallel()
	for _, id := range []string{"a", "host.example.com-1234", string(make([]byte, 100))} {
		if ch := channel(id); len(ch) > 63 {
			t.Errorf("channel(%q) = %q: longer than 63", id, ch)
		}
	}
	if channel("a") == channel("b") {
		t.Error("channels collide")
	}
}

// TestRatesWrittenElsewhereReload: a rate written through one node's store
// makes every listening node reload its rate index.
func TestRatesWrittenElsewhereReload(t *testing.T) {
	if testing.Short() {
		t.Skip("opens LISTEN connections to PostgreSQL")
	}
	t.Parallel()
	c := newCluster(t)
	ctx := context.Background()
	st := c.store("node-a")
	reloads := make(chan struct{}, 16)
	n, err := New(Config{Store: st, DatabaseURL: c.url, ID: "node-a", Lease: 9 * time.Second, Now: c.clock.now,
		Close: (&closer{st: st}).close, RatesChanged: func(context.Context) error {
			reloads <- struct{}{}
			return nil
		}})
	if err != nil {
		t.Fatal(err)
	}
	if err := n.Start(ctx); err != nil {
		t.Fatal(err)
	}
	defer n.Stop(ctx)
	wait := func(what string) {
		t.Helper()
		select {
		case <-reloads:
		case <-time.After(30 * time.Second):
			t.Fatalf("no reload %s", what)
		}
	}
	wait("when the listener connected")
	other := c.store("node-b")
	r := &voice.Rate{ID: "rate_x", Direction: voice.DirectionOutbound, Prefix: "44", PricePerMinute: decimal.RequireFromString("0.02"),
		ConnectionFee: decimal.Zero, InitialIncrement: 60, SubsequentIncrement: 60, Currency: "EUR", Status: "active",
		CreatedAt: c.clock.now()}
	if err := other.CreateRate(ctx, r); err != nil {
		t.Fatal(err)
	}
	wait("after a rate was created by another node")
	if err := other.DeleteRate(ctx, r.ID); err != nil {
		t.Fatal(err)
	}
	wait("after a rate was deleted by another node")
}

// TestCutOffNodeJoinsAgain: a node that could not renew for a whole lease
// is taken over although it runs; its next round finds that out and joins
// again, and its calls from then on are its own.
func TestCutOffNodeJoinsAgain(t *testing.T) {
	t.Parallel()
	c := newCluster(t)
	ctx := context.Background()
	a, stA, _ := c.node("node-a", nil, false)
	b, _, clB := c.node("node-b", nil, false)
	c.call(stA, "call_before", voice.CallInProgress)
	c.clock.add(10 * time.Second) // A misses its renewals
	if err := b.Tick(ctx); err != nil {
		t.Fatal(err)
	}
	if got := clB.ids(); !slices.Equal(got, []string{"call_before"}) {
		t.Fatalf("B closed %v", got)
	}
	if err := a.Tick(ctx); err != nil {
		t.Fatal(err)
	}
	row, err := stA.GetNode(ctx, "node-a")
	if err != nil {
		t.Fatal(err)
	}
	if !row.Live(c.clock.now()) {
		t.Fatalf("A did not join again: %+v", row)
	}
	c.clock.add(time.Second)
	c.call(stA, "call_after", voice.CallInProgress)
	c.clock.add(3 * time.Second)
	for _, n := range []*Node{a, b} {
		if err := n.Tick(ctx); err != nil {
			t.Fatal(err)
		}
	}
	if got := clB.ids(); len(got) != 1 {
		t.Errorf("B closed %v; the call A made after it joined again is A's", got)
	}
}

// BenchmarkRemoteCommand measures a command (new actions) sent through one
// node to a call another node holds, there and back through PostgreSQL:
// go test -run x -bench RemoteCommand ./internal/cluster (docs/cluster.md).
func BenchmarkRemoteCommand(b *testing.B) {
	c := newCluster(b)
	ctx := context.Background()
	engA, engB := newEngineCalls(), newEngineCalls("call_b1")
	a, _, _ := c.node("node-a", engA, true)
	_, stB, _ := c.node("node-b", engB, true)
	c.call(stB, "call_b1", voice.CallInProgress)
	ctl := NewController(engA, a)
	call, err := stB.Call(ctx, voice.Scope{}, "call_b1")
	if err != nil {
		b.Fatal(err)
	}
	raw := json.RawMessage(`[{"action": "pause", "length": 1}]`)
	list, err := callctl.Parse(raw)
	if err != nil {
		b.Fatal(err)
	}
	for b.Loop() {
		if ok, err := ctl.ReplaceActions(ctx, call, list, raw); !ok || err != nil {
			b.Fatal(ok, err)
		}
	}
}
