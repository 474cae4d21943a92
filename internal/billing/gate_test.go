package billing_test

// The customer's and the trunk's limits through Gate against a real store on
// both backends, with two Gates over one database as two nodes have
// (billing.md, Limits; telephony.md, Outbound). The Gates' clock is a
// variable the test moves: nothing here depends on timing.

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/minivoice/minivoice/internal/billing"
	"github.com/minivoice/minivoice/internal/store"
	"github.com/minivoice/minivoice/internal/store/postgres"
	"github.com/minivoice/minivoice/internal/store/sqlite"
	"github.com/minivoice/minivoice/internal/store/storetest"
	"github.com/minivoice/minivoice/internal/voice"
	"github.com/shopspring/decimal"
)

// testClock is a clock two Gates share, moved by the test.
type testClock struct{ ns atomic.Int64 }

func newTestClock(t time.Time) *testClock {
	c := &testClock{}
	c.ns.Store(t.UnixNano())
	return c
}

func (c *testClock) Now() time.Time          { return time.Unix(0, c.ns.Load()).UTC() }
func (c *testClock) Advance(d time.Duration) { c.ns.Add(int64(d)) }
func (c *testClock) Set(t time.Time)         { c.ns.Store(t.UnixNano()) }

// nodes is two Gates, each with its own store handle (its own connection
// pool), over one database.
type nodes struct {
	db    [2]*store.DB
	gate  [2]*billing.Gate
	clock *testClock
}

// twoNodes opens one database twice and creates customer cust_n (credit,
// maxCalls, maxCPS), a 0.60/min rate on 6/6 increments (0.06 each) to +1,
// and an outbound trunk trk_n (maxChannels, trunkCPS).
func twoNodes(t *testing.T, backend, credit string, maxCalls, maxCPS, maxChannels, trunkCPS int) *nodes {
	t.Helper()
	ctx := context.Background()
	n := &nodes{clock: newTestClock(mt0)}
	switch backend {
	case "sqlite":
		path := filepath.Join(t.TempDir(), "cluster.db")
		for i := range n.db {
			db, err := sqlite.Open(ctx, sqlite.Config{Path: path, Now: n.clock.Now, Secrets: storetest.Keyring()})
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { db.Close() })
			n.db[i] = db
		}
	case "postgres":
		var u string
		n.db[0], u = storetest.OpenWithURL(t, backend, n.clock.Now)
		db, err := postgres.Open(ctx, postgres.Config{URL: u, MaxConns: 10, Now: n.clock.Now, Secrets: storetest.Keyring()})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { db.Close() })
		n.db[1] = db
	}
	db := n.db[0]
	c := &voice.Customer{ID: "cust_n", Name: "n", Status: voice.CustomerActive, Currency: "EUR", MaxConcurrentCalls: maxCalls,
		MaxCPS: maxCPS, BlockedPrefixes: []string{}, CreatedAt: mt0, UpdatedAt: mt0}
	if err := db.CreateCustomer(ctx, c); err != nil {
		t.Fatal(err)
	}
	if err := db.AddLedgerEntry(ctx, &voice.LedgerEntry{ID: voice.NewID(voice.PrefixLedger, mt0), CustomerID: c.ID,
		Amount: decimal.RequireFromString(credit), Kind: voice.LedgerCredit, Description: "credit", CreatedAt: mt0}); err != nil {
		t.Fatal(err)
	}
	if err := db.CreateRate(ctx, &voice.Rate{ID: "rate_n", Direction: voice.DirectionOutbound, Prefix: "1",
		PricePerMinute: decimal.RequireFromString("0.60"), InitialIncrement: 6, SubsequentIncrement: 6, Currency: "EUR",
		Status: voice.RateActive, CreatedAt: mt0}); err != nil {
		t.Fatal(err)
	}
	if err := db.CreateTrunk(ctx, &voice.Trunk{ID: "trk_n", Name: "carrier", Direction: voice.DirectionOutbound, Host: "carrier.example",
		Port: 5060, Transport: "udp", SRTP: voice.SRTPOff, AllowedCIDRs: []string{}, MaxChannels: maxChannels, MaxCPS: trunkCPS,
		Priority: 1, SetupTimeout: 8, Status: voice.TrunkActive, CreatedAt: mt0, UpdatedAt: mt0}); err != nil {
		t.Fatal(err)
	}
	for i, db := range n.db {
		book, err := billing.NewBook(ctx, db)
		if err != nil {
			t.Fatal(err)
		}
		n.gate[i] = &billing.Gate{Store: db, Book: book, Admitter: billing.NewAdmitter(), Now: n.clock.Now}
	}
	return n
}

// outcome is what a race of admissions ended with.
type outcome struct {
	mu      sync.Mutex
	tickets []*billing.Ticket
	refused map[string]int // by code
	errs    []*voice.Error
}

// race runs count admissions at once, alternating between the two nodes.
func (n *nodes) race(t *testing.T, count int) *outcome {
	t.Helper()
	o := &outcome{refused: map[string]int{}}
	var wg sync.WaitGroup
	start := make(chan struct{})
	for i := range count {
		g := n.gate[i%2]
		wg.Go(func() {
			<-start
			tk, err := g.Admit(context.Background(), voice.NewID(voice.PrefixCall, time.Now()), "cust_n",
				voice.DirectionOutbound, fmt.Sprintf("+1555000%04d", i))
			o.mu.Lock()
			defer o.mu.Unlock()
			var ve *voice.Error
			switch {
			case err == nil:
				o.tickets = append(o.tickets, tk)
			case errors.As(err, &ve):
				o.refused[ve.Code]++
				o.errs = append(o.errs, ve)
			default:
				t.Errorf("admit: %v", err)
			}
		})
	}
	close(start)
	wg.Wait()
	return o
}

// TestGateLimitsAcrossNodes: two nodes admitting in parallel never pass the
// customer's max_concurrent_calls, never reserve more money than it has,
// and refuse with the codes, messages and Retry-After the API answers.
func TestGateLimitsAcrossNodes(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, backend string) {
		ctx := context.Background()
		n := twoNodes(t, backend, "1.00", 4, 1000, 100, 100)
		o := n.race(t, 40)
		if len(o.tickets) != 4 || o.refused[voice.ECodeConcurrencyLimit] != 36 {
			t.Fatalf("%d admitted, refusals %v; want 4 and 36 concurrency_limit", len(o.tickets), o.refused)
		}
		for _, e := range o.errs {
			if e.RetryAfter != billing.ConcurrencyRetryAfter || e.Message != "the customer already has max_concurrent_calls (4) calls up" {
				t.Fatalf("refusal %+v", e)
			}
		}
		// Each node counts its own share of the calls.
		if got := n.gate[0].Admitter.Calls.Live("cust_n") + n.gate[1].Admitter.Calls.Live("cust_n"); got != 4 {
			t.Errorf("nodes hold %d calls together, want 4", got)
		}
		// Releasing two tickets (on whichever node) frees two slots.
		o.tickets[0].Release()
		o.tickets[1].Release()
		o.tickets[1].Release()
		again := n.race(t, 10)
		if len(again.tickets) != 2 || again.refused[voice.ECodeConcurrencyLimit] != 8 {
			t.Fatalf("after two releases: %d admitted, refusals %v; want 2 and 8", len(again.tickets), again.refused)
		}
		// Money: 1.00 pays for 16 first increments of 0.06; 4 are held.
		if r, err := n.db[1].Reserved(ctx, "cust_n"); err != nil || !r.Equal(decimal.RequireFromString("0.24")) {
			t.Errorf("reserved %s, %v; want 0.24", r, err)
		}
	})
}

// TestGateMoneyAcrossNodes: money for 5 calls, 40 admissions on two nodes
// at once, a concurrency limit far away: exactly 5 admitted, the reserved
// money never above balance + credit_limit.
func TestGateMoneyAcrossNodes(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, backend string) {
		n := twoNodes(t, backend, "0.30", 1000, 1000, 100, 100)
		o := n.race(t, 40)
		if len(o.tickets) != 5 || o.refused[voice.ECodeInsufficientBalance] != 35 {
			t.Fatalf("%d admitted, refusals %v; want 5 and 35 insufficient_balance", len(o.tickets), o.refused)
		}
		if r, _ := n.db[0].Reserved(context.Background(), "cust_n"); !r.Equal(decimal.RequireFromString("0.30")) {
			t.Errorf("reserved %s of 0.30", r)
		}
	})
}

// TestGateCPSAcrossNodes: max_cps 3 with the clock frozen: 20 admissions on
// two nodes, exactly 3 pass, the rest are cps_limit with Retry-After 1; a
// third of a second later, one more passes.
func TestGateCPSAcrossNodes(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, backend string) {
		n := twoNodes(t, backend, "10.00", 1000, 3, 100, 100)
		o := n.race(t, 20)
		if len(o.tickets) != 3 || o.refused[voice.ECodeCPSLimit] != 17 {
			t.Fatalf("%d admitted, refusals %v; want 3 and 17 cps_limit", len(o.tickets), o.refused)
		}
		for _, e := range o.errs {
			if e.RetryAfter != 1 || e.Message != "more than max_cps (3) calls per second" {
				t.Fatalf("refusal %+v", e)
			}
		}
		// The cps refusals hold nothing.
		if r, _ := n.db[0].Reserved(context.Background(), "cust_n"); !r.Equal(decimal.RequireFromString("0.18")) {
			t.Errorf("reserved %s, want the 3 admitted calls' 0.18", r)
		}
		n.clock.Advance(334 * time.Millisecond)
		if again := n.race(t, 5); len(again.tickets) != 1 {
			t.Errorf("a third of a second later: %d admitted, refusals %v; want 1", len(again.tickets), again.refused)
		}
	})
}

// TestAdmitTrunk: exactly max_channels calls get the trunk, the next is
// refused with an error the engine recognises, a release frees one; the
// trunk's max_cps admits that many per second; both across two nodes.
func TestAdmitTrunk(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, backend string) {
		ctx := context.Background()
		n := twoNodes(t, backend, "1.00", 100, 100, 3, 1000)
		trunk := &voice.Trunk{ID: "trk_n", Name: "carrier"}
		var releases []func()
		for i := range 3 {
			rel, err := n.gate[i%2].AdmitTrunk(ctx, trunk, fmt.Sprintf("call_%d", i))
			if err != nil {
				t.Fatalf("channel %d of 3: %v", i, err)
			}
			releases = append(releases, rel)
		}
		rel, err := n.gate[1].AdmitTrunk(ctx, trunk, "call_3")
		var tle *billing.TrunkLimitError
		if !errors.Is(err, billing.ErrTrunkAtMaxChannels) || !errors.As(err, &tle) || tle.Max != 3 ||
			err.Error() != "at its max_channels (3)" || rel == nil {
			t.Fatalf("fourth call: %v (release %v), want at its max_channels (3)", err, rel != nil)
		}
		rel() // a refusal's release is a no-op
		releases[0]()
		releases[0]()
		if _, err := n.gate[1].AdmitTrunk(ctx, trunk, "call_3"); err != nil {
			t.Fatalf("after a release: %v", err)
		}
		if _, err := n.gate[0].AdmitTrunk(ctx, trunk, "call_4"); !errors.Is(err, billing.ErrTrunkAtMaxChannels) {
			t.Fatalf("full again: %v", err)
		}
		// A trunk that does not exist is an error, not a limit.
		if _, err := n.gate[0].AdmitTrunk(ctx, &voice.Trunk{ID: "trk_gone"}, "call_5"); err == nil ||
			errors.Is(err, billing.ErrTrunkAtMaxChannels) || errors.Is(err, billing.ErrTrunkAtMaxCPS) {
			t.Errorf("missing trunk: %v", err)
		}
	})
}

// TestAdmitTrunkCPS: a trunk at max_cps 5 and many channels, attempts every
// 50 ms for 3 s on alternating nodes: the burst of 5 plus what refills in
// the first second, then 5 per second.
func TestAdmitTrunkCPS(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, backend string) {
		ctx := context.Background()
		n := twoNodes(t, backend, "1.00", 100, 100, 1000, 5)
		trunk := &voice.Trunk{ID: "trk_n", Name: "carrier"}
		perSecond := map[int]int{}
		for i := range 60 {
			n.clock.Set(mt0.Add(time.Duration(i) * 50 * time.Millisecond))
			_, err := n.gate[i%2].AdmitTrunk(ctx, trunk, fmt.Sprintf("call_%d", i))
			var tle *billing.TrunkLimitError
			switch {
			case err == nil:
				perSecond[i/20]++
			case errors.As(err, &tle) && errors.Is(err, billing.ErrTrunkAtMaxCPS):
				if tle.RetryAfter <= 0 || tle.RetryAfter > 200*time.Millisecond || err.Error() != "at its max_cps (5)" {
					t.Fatalf("attempt %d: %v retry %v", i, err, tle.RetryAfter)
				}
			default:
				t.Fatalf("attempt %d: %v", i, err)
			}
		}
		// Second 0: the full bucket of 5 and 4.75 tokens refilled by 950 ms;
		// each later second: 5.
		if perSecond[0] != 9 || perSecond[1] != 5 || perSecond[2] != 5 {
			t.Errorf("admitted per second %v, want the burst then 5 per second", perSecond)
		}
	})
}
