package store_test

// Reservations (billing.md, Reservations): the check and the write are one
// transaction per customer, on both backends and across store handles.

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/minivoice/minivoice/internal/store"
	"github.com/minivoice/minivoice/internal/store/storetest"
	"github.com/minivoice/minivoice/internal/voice"
	"github.com/shopspring/decimal"
)

// resCustomer creates a customer with credit as its balance and creditLimit.
func resCustomer(t *testing.T, db *store.DB, id, credit, creditLimit string) {
	t.Helper()
	ctx := context.Background()
	c := &voice.Customer{ID: id, Name: id, Status: voice.CustomerActive, Currency: "EUR", CreditLimit: decimal.RequireFromString(creditLimit),
		MaxConcurrentCalls: 100, MaxCPS: 100, BlockedPrefixes: []string{}, CreatedAt: t0, UpdatedAt: t0}
	if err := db.CreateCustomer(ctx, c); err != nil {
		t.Fatalf("create customer: %v", err)
	}
	if err := db.AddLedgerEntry(ctx, &voice.LedgerEntry{ID: voice.NewID(voice.PrefixLedger, t0), CustomerID: id,
		Amount: decimal.RequireFromString(credit), Kind: voice.LedgerCredit, Description: "credit", CreatedAt: t0}); err != nil {
		t.Fatalf("credit: %v", err)
	}
}

// resCall records a call of the customer in status.
func resCall(t *testing.T, db *store.DB, id, cust, status string) *voice.Call {
	t.Helper()
	c := &voice.Call{ID: id, CustomerID: cust, ApplicationID: "app_1", Status: status, Direction: voice.DirectionOutbound,
		From: "+15551230001", To: "+15551230002", RecordingChannels: "dual", Variables: map[string]string{},
		RecordingIDs: []string{}, Currency: "EUR", CreatedAt: t0, UpdatedAt: t0}
	if err := db.CreateCall(context.Background(), c); err != nil {
		t.Fatalf("create call: %v", err)
	}
	return c
}

func reserve(t *testing.T, db *store.DB, cust, call, amount string, now time.Time) voice.ReservationResult {
	t.Helper()
	res, err := db.Reserve(context.Background(), voice.Reservation{CustomerID: cust, CallID: call,
		Amount: decimal.RequireFromString(amount), Now: now})
	if err != nil {
		t.Fatalf("reserve %s for %s: %v", amount, call, err)
	}
	return res
}

func wantReserved(t *testing.T, db *store.DB, cust, want string) {
	t.Helper()
	got, err := db.Reserved(context.Background(), cust)
	if err != nil {
		t.Fatal(err)
	}
	if !got.Equal(decimal.RequireFromString(want)) {
		t.Errorf("reserved %s, want %s", got, want)
	}
}

// TestReservations: reservations add up against balance + credit_limit; one
// more than fits is refused with what the store saw; growing a call's
// reservation replaces its amount; the final write of a call (with its
// charge) frees it in the same transaction; stale reservations stop counting.
func TestReservations(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, backend string) {
		ctx := context.Background()
		db := open(t, backend)
		resCustomer(t, db, "cust_r", "0.12", "0.06") // 0.18 to spend: three 0.06 increments
		for _, id := range []string{"call_a", "call_b", "call_c"} {
			resCall(t, db, id, "cust_r", voice.CallInProgress)
			if res := reserve(t, db, "cust_r", id, "0.06", t0); res.Refused != "" {
				t.Fatalf("%s refused: %+v", id, res)
			}
		}
		wantReserved(t, db, "cust_r", "0.18")
		res := reserve(t, db, "cust_r", "call_d", "0.06", t0)
		if res.Refused != voice.ECodeInsufficientBalance || !res.Reserved.Equal(decimal.RequireFromString("0.18")) ||
			!res.Balance.Equal(decimal.RequireFromString("0.12")) || !res.CreditLimit.Equal(decimal.RequireFromString("0.06")) {
			t.Errorf("fourth call: %+v, want insufficient_balance with 0.18 reserved of 0.12 + 0.06", res)
		}
		// call_a cannot grow into money the others hold; the same amount
		// again is fine (it replaces, it does not add).
		if res := reserve(t, db, "cust_r", "call_a", "0.12", t0); res.Refused != voice.ECodeInsufficientBalance {
			t.Errorf("growing call_a past the money: %+v", res)
		}
		if res := reserve(t, db, "cust_r", "call_a", "0.06", t0); res.Refused != "" {
			t.Errorf("call_a's own amount again: %+v", res)
		}
		wantReserved(t, db, "cust_r", "0.18")

		// call_b ends, charged 0.04 of its 0.06: the charge and the release
		// are one write, and 0.02 comes free.
		b, err := db.Call(ctx, voice.Scope{}, "call_b")
		if err != nil {
			t.Fatal(err)
		}
		b.Status = voice.CallCompleted
		charge := &voice.LedgerEntry{ID: voice.NewID(voice.PrefixLedger, t0), CustomerID: "cust_r", Amount: decimal.RequireFromString("-0.04"),
			Kind: voice.LedgerCallCharge, CallID: &b.ID, Description: "call", CreatedAt: t0}
		if err := db.UpdateCallWithCharge(ctx, b, charge); err != nil {
			t.Fatal(err)
		}
		wantReserved(t, db, "cust_r", "0.12")
		if res := reserve(t, db, "cust_r", "call_a", "0.08", t0); res.Refused != "" {
			t.Errorf("call_a grows into the 0.02 call_b left: %+v", res)
		}
		wantReserved(t, db, "cust_r", "0.14")
		// call_c ends unanswered (no charge): its 0.06 is free.
		c, _ := db.Call(ctx, voice.Scope{}, "call_c")
		c.Status = voice.CallNoAnswer
		if err := db.UpdateCallWithEvents(ctx, c); err != nil {
			t.Fatal(err)
		}
		wantReserved(t, db, "cust_r", "0.08")

		// Admission reserves before the call row exists: that reservation
		// counts for OrphanReservationAge, then no longer (and is swept).
		if res := reserve(t, db, "cust_r", "call_new", "0.06", t0); res.Refused != "" {
			t.Fatalf("call_new: %+v", res)
		}
		if res := reserve(t, db, "cust_r", "call_x", "0.01", t0); res.Refused != voice.ECodeInsufficientBalance {
			t.Errorf("all 0.14 is held, 0.01 more: %+v", res)
		}
		later := t0.Add(store.OrphanReservationAge + time.Second)
		if res := reserve(t, db, "cust_r", "call_x", "0.06", later); res.Refused != "" || !res.Reserved.Equal(decimal.RequireFromString("0.08")) {
			t.Errorf("after the orphan's age: %+v, want admitted with 0.08 (call_a) held", res)
		}
		if err := db.ReleaseReservation(ctx, "call_x"); err != nil {
			t.Fatal(err)
		}
		if err := db.ReleaseReservation(ctx, "call_x"); err != nil {
			t.Errorf("releasing twice: %v", err)
		}
		// A reservation whose call row is final does not count, whatever
		// left it behind.
		if res := reserve(t, db, "cust_r", "call_f", "0.06", t0); res.Refused != "" {
			t.Fatalf("call_f: %+v", res)
		}
		resCall(t, db, "call_f", "cust_r", voice.CallFailed)
		wantReserved(t, db, "cust_r", "0.08")

		// The daily limit counts today's charges and open reservations.
		lim := decimal.RequireFromString("0.15")
		day := voice.Reservation{CustomerID: "cust_r", CallID: "call_day", Amount: decimal.RequireFromString("0.04"),
			DailySpendLimit: &lim, DayStart: t0.Add(-time.Hour), Now: t0}
		res, err = db.Reserve(ctx, day) // 0.04 charged + 0.08 held + 0.04 > 0.15
		if err != nil || res.Refused != voice.ECodeDailySpendLimit || !res.SpentToday.Equal(decimal.RequireFromString("0.04")) {
			t.Errorf("daily limit: %+v %v, want daily_spend_limit with 0.04 spent", res, err)
		}
		day.Amount = decimal.RequireFromString("0.03")
		if res, err = db.Reserve(ctx, day); err != nil || res.Refused != "" {
			t.Errorf("exactly the daily limit: %+v %v", res, err)
		}
		if _, err := db.Reserve(ctx, voice.Reservation{CustomerID: "cust_none", CallID: "call_z", Amount: decimal.Zero, Now: t0}); err == nil {
			t.Error("a reservation for a customer that does not exist was accepted")
		}
	})
}

// TestReservationsConcurrent: 50 calls race for money that pays for 3, on
// two store handles at once (two pools: on PostgreSQL as two processes
// would be, on SQLite as two connections to one file). Exactly 3 win.
func TestReservationsConcurrent(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, backend string) {
		ctx := context.Background()
		a, b := twoHandles(t, backend)
		resCustomer(t, a, "cust_c", "0.18", "0")
		const n = 50
		var wg sync.WaitGroup
		var mu sync.Mutex
		won, refused := 0, 0
		start := make(chan struct{})
		for i := range n {
			db := a
			if i%2 == 1 {
				db = b
			}
			wg.Go(func() {
				<-start
				res, err := db.Reserve(ctx, voice.Reservation{CustomerID: "cust_c", CallID: voice.NewID(voice.PrefixCall, time.Now()),
					Amount: decimal.RequireFromString("0.06"), Now: time.Now()})
				mu.Lock()
				defer mu.Unlock()
				switch {
				case err != nil:
					t.Errorf("reserve: %v", err)
				case res.Refused == "":
					won++
				case res.Refused == voice.ECodeInsufficientBalance:
					refused++
				}
			})
		}
		began := time.Now()
		close(start)
		wg.Wait()
		t.Logf("%s: %d racing reservations on two handles: %v", backend, n, time.Since(began).Round(time.Millisecond))
		if won != 3 || refused != n-3 {
			t.Errorf("%d reservations made and %d refused, want 3 and %d", won, refused, n-3)
		}
		wantReserved(t, b, "cust_c", "0.18")
	})
}

// TestSweepReservations: start-up recovery's sweep deletes reservations of
// final calls and of calls never recorded before the given time, and keeps
// those of live calls and newer admissions.
func TestSweepReservations(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, backend string) {
		db := open(t, backend)
		resCustomer(t, db, "cust_s", "1", "0")
		resCall(t, db, "call_live", "cust_s", voice.CallInProgress)
		for _, id := range []string{"call_live", "call_done", "call_orphan"} {
			reserve(t, db, "cust_s", id, "0.10", t0)
		}
		reserve(t, db, "cust_s", "call_new", "0.10", t0.Add(time.Minute))
		resCall(t, db, "call_done", "cust_s", voice.CallCompleted)
		n, err := db.SweepReservations(context.Background(), t0.Add(time.Second))
		if err != nil || n != 2 {
			t.Fatalf("swept %d (%v), want 2: the final call's and the orphan's", n, err)
		}
		wantReserved(t, db, "cust_s", "0.20") // call_live and call_new
	})
}
