package store_test

// Call limits that hold across processes (billing.md, Limits; telephony.md,
// Outbound): a customer's max_concurrent_calls and max_cps in Reserve, a
// trunk's max_channels and max_cps in TakeTrunkChannel, on both backends and
// across store handles.

import (
	"context"
	"fmt"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/minivoice/minivoice/internal/store"
	"github.com/minivoice/minivoice/internal/store/postgres"
	"github.com/minivoice/minivoice/internal/store/sqlite"
	"github.com/minivoice/minivoice/internal/store/storetest"
	"github.com/minivoice/minivoice/internal/voice"
	"github.com/shopspring/decimal"
)

// twoHandles opens two stores on one database: two pools, on PostgreSQL as
// two processes (nodes) would have, on SQLite two connections to one file.
func twoHandles(t *testing.T, backend string) (a, b *store.DB) {
	t.Helper()
	ctx := context.Background()
	var err error
	switch backend {
	case "sqlite":
		path := filepath.Join(t.TempDir(), "shared.db")
		if a, err = sqlite.Open(ctx, sqlite.Config{Path: path}); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { a.Close() })
		if b, err = sqlite.Open(ctx, sqlite.Config{Path: path}); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { b.Close() })
	case "postgres":
		var u string
		a, u = storetest.OpenWithURL(t, backend, nil)
		if b, err = postgres.Open(ctx, postgres.Config{URL: u, MaxConns: 10}); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { b.Close() })
	default:
		t.Fatalf("unknown backend %q", backend)
	}
	return a, b
}

// admit reserves amount for call with the customer's call limits, as
// admission does.
func admit(t *testing.T, db *store.DB, cust, call, amount string, maxCalls, maxCPS int, now time.Time) voice.ReservationResult {
	t.Helper()
	res, err := db.Reserve(context.Background(), voice.Reservation{CustomerID: cust, CallID: call,
		Amount: decimal.RequireFromString(amount), Now: now,
		Limits: &voice.AdmissionLimits{MaxConcurrentCalls: maxCalls, MaxCPS: maxCPS}})
	if err != nil {
		t.Fatalf("reserve %s: %v", call, err)
	}
	return res
}

// TestReserveConcurrencyLimit: the customer's open reservations are its
// calls up; one more than max_concurrent_calls is refused; a release, a
// final call write or a stale reservation frees a slot; the money check
// comes first; extensions (no Limits) are not limited.
func TestReserveConcurrencyLimit(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, backend string) {
		ctx := context.Background()
		db := open(t, backend)
		resCustomer(t, db, "cust_l", "1.00", "0")
		for i := range 3 {
			if res := admit(t, db, "cust_l", fmt.Sprintf("call_%d", i), "0.01", 3, 100, t0); res.Refused != "" || res.Live != i {
				t.Fatalf("call %d: %+v, want admitted with %d up", i, res, i)
			}
		}
		res := admit(t, db, "cust_l", "call_3", "0.01", 3, 100, t0)
		if res.Refused != voice.ECodeConcurrencyLimit || res.Live != 3 {
			t.Fatalf("fourth call: %+v, want concurrency_limit with 3 up", res)
		}
		wantReserved(t, db, "cust_l", "0.03") // the refusal wrote nothing
		// Money is checked before the slot: the reason a retry will not fix.
		if res := admit(t, db, "cust_l", "call_3", "5.00", 3, 100, t0); res.Refused != voice.ECodeInsufficientBalance {
			t.Errorf("too dear and over the limit: %+v, want insufficient_balance", res)
		}
		// An answered call growing its reservation is not a new call.
		if res := reserve(t, db, "cust_l", "call_0", "0.02", t0); res.Refused != "" {
			t.Errorf("extension at the limit: %+v", res)
		}
		// Releasing frees the slot.
		if err := db.ReleaseReservation(ctx, "call_1"); err != nil {
			t.Fatal(err)
		}
		if res := admit(t, db, "cust_l", "call_3", "0.01", 3, 100, t0); res.Refused != "" {
			t.Fatalf("after a release: %+v", res)
		}
		// The final write of a call frees its slot in the same transaction.
		c := resCall(t, db, "call_0", "cust_l", voice.CallInProgress)
		c.Status = voice.CallBusy
		if err := db.UpdateCallWithEvents(ctx, c); err != nil {
			t.Fatal(err)
		}
		if res := admit(t, db, "cust_l", "call_4", "0.01", 3, 100, t0); res.Refused != "" || res.Live != 2 {
			t.Fatalf("after call_0 ended: %+v, want admitted with 2 up", res)
		}
		// Reservations whose call was never recorded stop counting after
		// OrphanReservationAge: a node that died mid-admission holds no slot.
		later := t0.Add(store.OrphanReservationAge + time.Second)
		if res := admit(t, db, "cust_l", "call_5", "0.01", 3, 100, later); res.Refused != "" || res.Live != 0 {
			t.Fatalf("after the orphans' age: %+v, want admitted with none up", res)
		}
		// A limit of 0 admits nothing.
		if res := admit(t, db, "cust_l", "call_6", "0.01", 0, 100, later); res.Refused != voice.ECodeConcurrencyLimit {
			t.Errorf("max_concurrent_calls 0: %+v", res)
		}
	})
}

// TestReserveCPSLimit: the customer's max_cps bucket, in the database: a
// burst of max_cps, then one per 1/max_cps, Retry-After the wait; a call
// refused for concurrency or money takes no token.
func TestReserveCPSLimit(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, backend string) {
		ctx := context.Background()
		db := open(t, backend)
		resCustomer(t, db, "cust_p", "1.00", "0")
		resCustomer(t, db, "cust_q", "1.00", "0")
		for i := range 2 {
			if res := admit(t, db, "cust_p", fmt.Sprintf("call_p%d", i), "0.01", 100, 2, t0); res.Refused != "" {
				t.Fatalf("call %d within the burst: %+v", i, res)
			}
		}
		res := admit(t, db, "cust_p", "call_p2", "0.01", 100, 2, t0)
		if res.Refused != voice.ECodeCPSLimit || res.RetryAfter != 500*time.Millisecond {
			t.Fatalf("third call in the same instant: %+v, want cps_limit retry 500ms", res)
		}
		if res := admit(t, db, "cust_p", "call_p2", "0.01", 100, 2, t0.Add(200*time.Millisecond)); res.RetryAfter != 300*time.Millisecond {
			t.Errorf("200 ms later: %+v, want retry 300ms", res)
		}
		// Another customer has its own bucket.
		if res := admit(t, db, "cust_q", "call_q0", "0.01", 100, 2, t0); res.Refused != "" {
			t.Errorf("cust_q refused because of cust_p: %+v", res)
		}
		// Refusals before the bucket take no token: at +500 ms one token
		// is back, and two refused attempts leave it there.
		at := t0.Add(500 * time.Millisecond)
		if res := admit(t, db, "cust_p", "call_p2", "0.01", 2, 2, at); res.Refused != voice.ECodeConcurrencyLimit {
			t.Fatalf("over max_concurrent_calls: %+v", res)
		}
		if res := admit(t, db, "cust_p", "call_p2", "9.00", 100, 2, at); res.Refused != voice.ECodeInsufficientBalance {
			t.Fatalf("too dear: %+v", res)
		}
		if res := admit(t, db, "cust_p", "call_p2", "0.01", 100, 2, at); res.Refused != "" {
			t.Fatalf("the token back at +500 ms: %+v", res)
		}
		if err := db.ReleaseReservation(ctx, "call_p2"); err != nil {
			t.Fatal(err)
		}
		// Releasing a call gives no token back.
		if res := admit(t, db, "cust_p", "call_p3", "0.01", 100, 2, at); res.Refused != voice.ECodeCPSLimit {
			t.Errorf("after a release in the same instant: %+v, want cps_limit", res)
		}
		if res := admit(t, db, "cust_p", "call_p3", "0.01", 100, 0, t0.Add(time.Hour)); res.Refused != voice.ECodeCPSLimit || res.RetryAfter != time.Second {
			t.Errorf("max_cps 0: %+v", res)
		}
	})
}

// TestReserveLimitsConcurrent: 60 admissions race on two handles (two
// nodes) for a customer with max_concurrent_calls 5 and money for 7 calls:
// exactly 5 win, the rest are refused for concurrency; then, with time
// frozen and slots freed, max_cps 3 admits exactly 3 more across both.
func TestReserveLimitsConcurrent(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, backend string) {
		ctx := context.Background()
		a, b := twoHandles(t, backend)
		resCustomer(t, a, "cust_n", "0.07", "0")
		race := func(n, maxCalls, maxCPS int, now time.Time) (won []string, codes map[string]int) {
			var wg sync.WaitGroup
			var mu sync.Mutex
			codes = map[string]int{}
			start := make(chan struct{})
			for i := range n {
				db := a
				if i%2 == 1 {
					db = b
				}
				wg.Go(func() {
					<-start
					id := voice.NewID(voice.PrefixCall, time.Now())
					res, err := db.Reserve(ctx, voice.Reservation{CustomerID: "cust_n", CallID: id,
						Amount: decimal.RequireFromString("0.01"), Now: now,
						Limits: &voice.AdmissionLimits{MaxConcurrentCalls: maxCalls, MaxCPS: maxCPS}})
					mu.Lock()
					defer mu.Unlock()
					switch {
					case err != nil:
						t.Errorf("reserve: %v", err)
					case res.Refused == "":
						won = append(won, id)
					default:
						codes[res.Refused]++
					}
				})
			}
			close(start)
			wg.Wait()
			return won, codes
		}
		// The store's own clock is the real one here (Reserved counts
		// reservations younger than OrphanReservationAge by it).
		base := time.Now()
		won, codes := race(60, 5, 100, base)
		if len(won) != 5 || codes[voice.ECodeConcurrencyLimit] != 55 {
			t.Fatalf("%d admitted, refusals %v; want 5 and 55 concurrency_limit", len(won), codes)
		}
		wantReserved(t, a, "cust_n", "0.05")
		for _, id := range won {
			if err := b.ReleaseReservation(ctx, id); err != nil {
				t.Fatal(err)
			}
		}
		// Frozen time one hour on: a full bucket of 3 for 40 attempts.
		won, codes = race(40, 100, 3, base.Add(time.Hour))
		if len(won) != 3 || codes[voice.ECodeCPSLimit] != 37 {
			t.Fatalf("%d admitted, refusals %v; want 3 and 37 cps_limit", len(won), codes)
		}
	})
}

// resTrunk creates an outbound trunk with the given limits.
func resTrunk(t *testing.T, db *store.DB, id string, maxChannels, maxCPS int) {
	t.Helper()
	tr := &voice.Trunk{ID: id, Name: id, Direction: voice.DirectionOutbound, Host: "carrier.example", Port: 5060, Transport: "udp",
		SRTP: voice.SRTPOff, AllowedCIDRs: []string{}, MaxChannels: maxChannels, MaxCPS: maxCPS,
		Priority: 1, SetupTimeout: 8, Status: voice.TrunkActive, CreatedAt: t0, UpdatedAt: t0}
	if err := db.CreateTrunk(context.Background(), tr); err != nil {
		t.Fatalf("create trunk: %v", err)
	}
}

func takeChannel(t *testing.T, db *store.DB, trunk, call string, now time.Time) voice.TrunkChannelResult {
	t.Helper()
	res, err := db.TakeTrunkChannel(context.Background(), voice.TrunkChannel{TrunkID: trunk, CallID: call, Now: now})
	if err != nil {
		t.Fatalf("take channel of %s for %s: %v", trunk, call, err)
	}
	return res
}

// TestTrunkChannels: exactly max_channels calls hold a trunk, the next is
// refused, a release or the call's final write frees one, stale channels
// stop counting, and a call asking again keeps its channel.
func TestTrunkChannels(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, backend string) {
		ctx := context.Background()
		db := open(t, backend)
		resCustomer(t, db, "cust_t", "1.00", "0")
		resTrunk(t, db, "trk_a", 2, 100)
		resTrunk(t, db, "trk_b", 2, 100)
		for _, id := range []string{"call_a", "call_b", "call_c"} {
			resCall(t, db, id, "cust_t", voice.CallQueued)
		}
		for i, id := range []string{"call_a", "call_b"} {
			if res := takeChannel(t, db, "trk_a", id, t0); res.Refused != "" || res.Live != i {
				t.Fatalf("%s: %+v", id, res)
			}
		}
		res := takeChannel(t, db, "trk_a", "call_c", t0)
		if res.Refused != voice.TrunkAtMaxChannels || res.Live != 2 || res.MaxChannels != 2 {
			t.Fatalf("third call: %+v, want max_channels with 2 live", res)
		}
		if n, err := db.TrunkChannels(ctx, "trk_a"); err != nil || n != 2 {
			t.Errorf("TrunkChannels = %d, %v; want 2", n, err)
		}
		// Another trunk has its own channels; asking again keeps one's own.
		if res := takeChannel(t, db, "trk_b", "call_c", t0); res.Refused != "" {
			t.Fatalf("trk_b: %+v", res)
		}
		if res := takeChannel(t, db, "trk_a", "call_a", t0); res.Refused != "" || res.Live != 1 {
			t.Errorf("call_a again: %+v", res)
		}
		// call_c fails over from trk_b: released; trk_a still full.
		if err := db.ReleaseTrunkChannel(ctx, "trk_b", "call_c"); err != nil {
			t.Fatal(err)
		}
		if err := db.ReleaseTrunkChannel(ctx, "trk_b", "call_c"); err != nil {
			t.Errorf("releasing twice: %v", err)
		}
		if n, _ := db.TrunkChannels(ctx, "trk_b"); n != 0 {
			t.Errorf("trk_b has %d after the release", n)
		}
		// call_a ends: its final write frees its channel.
		c, err := db.Call(ctx, voice.Scope{}, "call_a")
		if err != nil {
			t.Fatal(err)
		}
		c.Status = voice.CallCompleted
		if err := db.UpdateCallWithEvents(ctx, c); err != nil {
			t.Fatal(err)
		}
		if res := takeChannel(t, db, "trk_a", "call_c", t0); res.Refused != "" || res.Live != 1 {
			t.Fatalf("after call_a ended: %+v", res)
		}
		// A channel of a call never recorded stops counting after
		// OrphanReservationAge; one of a call up never does.
		if err := db.ReleaseTrunkChannel(ctx, "trk_a", "call_c"); err != nil {
			t.Fatal(err)
		}
		if res := takeChannel(t, db, "trk_a", "call_ghost", t0); res.Refused != "" {
			t.Fatalf("call_ghost: %+v", res)
		}
		later := t0.Add(store.OrphanReservationAge + time.Second)
		if res := takeChannel(t, db, "trk_a", "call_c", later); res.Refused != "" || res.Live != 1 {
			t.Fatalf("after the orphan's age: %+v, want admitted beside call_b only", res)
		}
		if _, err := db.TakeTrunkChannel(ctx, voice.TrunkChannel{TrunkID: "trk_none", CallID: "call_c", Now: t0}); err == nil {
			t.Error("a channel of a trunk that does not exist was granted")
		}
	})
}

// TestTrunkCPS: a trunk's max_cps bucket: a burst of max_cps, then one per
// 1/max_cps; an attempt refused at max_channels takes no token.
func TestTrunkCPS(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, backend string) {
		ctx := context.Background()
		db := open(t, backend)
		resTrunk(t, db, "trk_c", 100, 4)
		for i := range 4 {
			if res := takeChannel(t, db, "trk_c", fmt.Sprintf("call_%d", i), t0); res.Refused != "" {
				t.Fatalf("call %d in the burst: %+v", i, res)
			}
		}
		res := takeChannel(t, db, "trk_c", "call_4", t0)
		if res.Refused != voice.TrunkAtMaxCPS || res.RetryAfter != 250*time.Millisecond || res.MaxCPS != 4 {
			t.Fatalf("fifth call in the same instant: %+v, want max_cps retry 250ms", res)
		}
		// One second of attempts every 10 ms: 4 per second get through.
		n := 0
		for ms := 10; ms <= 1000; ms += 10 {
			if res := takeChannel(t, db, "trk_c", fmt.Sprintf("call_s%d", ms), t0.Add(time.Duration(ms)*time.Millisecond)); res.Refused == "" {
				n++
			}
		}
		if n != 4 {
			t.Errorf("%d calls in the next second at max_cps 4, want 4", n)
		}
		// An attempt refused at max_channels takes no token.
		resTrunk(t, db, "trk_d", 1, 1)
		if res := takeChannel(t, db, "trk_d", "call_d0", t0); res.Refused != "" {
			t.Fatal(res)
		}
		if res := takeChannel(t, db, "trk_d", "call_d1", t0.Add(2*time.Second)); res.Refused != voice.TrunkAtMaxChannels {
			t.Fatalf("at max_channels: %+v", res)
		}
		if err := db.ReleaseTrunkChannel(ctx, "trk_d", "call_d0"); err != nil {
			t.Fatal(err)
		}
		if res := takeChannel(t, db, "trk_d", "call_d1", t0.Add(2*time.Second)); res.Refused != "" {
			t.Errorf("the token was spent by a refusal: %+v", res)
		}
	})
}

// TestTrunkChannelsConcurrent: 40 attempts race on two handles (two nodes)
// for a trunk of max_channels 6: exactly 6 get a channel.
func TestTrunkChannelsConcurrent(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, backend string) {
		ctx := context.Background()
		a, b := twoHandles(t, backend)
		resTrunk(t, a, "trk_r", 6, 1000)
		var wg sync.WaitGroup
		var mu sync.Mutex
		won, full := 0, 0
		start := make(chan struct{})
		for i := range 40 {
			db := a
			if i%2 == 1 {
				db = b
			}
			wg.Go(func() {
				<-start
				res, err := db.TakeTrunkChannel(ctx, voice.TrunkChannel{TrunkID: "trk_r", CallID: fmt.Sprintf("call_%d", i), Now: time.Now()})
				mu.Lock()
				defer mu.Unlock()
				switch {
				case err != nil:
					t.Errorf("take: %v", err)
				case res.Refused == "":
					won++
				case res.Refused == voice.TrunkAtMaxChannels:
					full++
				}
			})
		}
		close(start)
		wg.Wait()
		if won != 6 || full != 34 {
			t.Fatalf("%d channels taken, %d refused at max_channels; want 6 and 34", won, full)
		}
		if n, err := b.TrunkChannels(ctx, "trk_r"); err != nil || n != 6 {
			t.Errorf("TrunkChannels = %d, %v", n, err)
		}
	})
}
