package billing_test

// The Gate's reservations and the running reservation (billing.md,
// Reservations) against a real store on both backends. The clock stands
// still and answered times are in its past, so every wait of Meter.Run is
// already over: nothing here depends on timing.

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/minivoice/minivoice/internal/billing"
	"github.com/minivoice/minivoice/internal/store"
	"github.com/minivoice/minivoice/internal/store/storetest"
	"github.com/minivoice/minivoice/internal/voice"
	"github.com/shopspring/decimal"
)

var mt0 = time.Date(2026, 3, 2, 10, 0, 0, 0, time.UTC)

func mtNow() time.Time { return mt0 }

// mtSetup is a store with customer cust_m holding credit and a 0.60/min rate
// on 6/6 increments (0.06 each) to +1, and a Gate over it.
func mtSetup(t *testing.T, backend, credit string) (*store.DB, *billing.Gate) {
	t.Helper()
	ctx := context.Background()
	db := storetest.Open(t, backend, mtNow)
	c := &voice.Customer{ID: "cust_m", Name: "m", Status: voice.CustomerActive, Currency: "EUR", MaxConcurrentCalls: 100,
		MaxCPS: 100, BlockedPrefixes: []string{}, CreatedAt: mt0, UpdatedAt: mt0}
	if err := db.CreateCustomer(ctx, c); err != nil {
		t.Fatal(err)
	}
	if err := db.AddLedgerEntry(ctx, &voice.LedgerEntry{ID: voice.NewID(voice.PrefixLedger, mt0), CustomerID: c.ID,
		Amount: decimal.RequireFromString(credit), Kind: voice.LedgerCredit, Description: "credit", CreatedAt: mt0}); err != nil {
		t.Fatal(err)
	}
	cust := c.ID
	if err := db.CreateRate(ctx, &voice.Rate{ID: "rate_m", CustomerID: &cust, Direction: voice.DirectionOutbound, Prefix: "1",
		PricePerMinute: decimal.RequireFromString("0.60"), InitialIncrement: 6, SubsequentIncrement: 6, Currency: "EUR",
		Status: voice.RateActive, CreatedAt: mt0}); err != nil {
		t.Fatal(err)
	}
	book, err := billing.NewBook(ctx, db)
	if err != nil {
		t.Fatal(err)
	}
	return db, &billing.Gate{Store: db, Book: book, Admitter: billing.NewAdmitter(), Now: mtNow}
}

func mtAdmit(t *testing.T, g *billing.Gate, callID string) *billing.Ticket {
	t.Helper()
	tk, err := g.Admit(context.Background(), callID, "cust_m", voice.DirectionOutbound, "+15550001111")
	if err != nil {
		t.Fatalf("admit %s: %v", callID, err)
	}
	return tk
}

func mtRefused(t *testing.T, g *billing.Gate, callID string) *voice.Error {
	t.Helper()
	_, err := g.Admit(context.Background(), callID, "cust_m", voice.DirectionOutbound, "+15550001111")
	ve, ok := err.(*voice.Error)
	if !ok || ve.Code != voice.ECodeInsufficientBalance {
		t.Fatalf("admit %s: %v, want 402 insufficient_balance", callID, err)
	}
	return ve
}

// TestGateReserves: admission holds each call's first increment, so money
// for two increments admits two calls, not more; a ticket released (the call
// was never placed) gives its increment back.
func TestGateReserves(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, backend string) {
		db, g := mtSetup(t, backend, "0.12")
		a := mtAdmit(t, g, "call_a")
		if a.CallID != "call_a" {
			t.Errorf("ticket call id %q", a.CallID)
		}
		mtAdmit(t, g, "call_b")
		ve := mtRefused(t, g, "call_c")
		if !strings.Contains(ve.Message, "0.12") || !strings.Contains(ve.Message, "reserved") {
			t.Errorf("message %q: want the money and what is reserved", ve.Message)
		}
		// The concurrency slot of the refused call was given back.
		if n := g.Admitter.Calls.Live("cust_m"); n != 2 {
			t.Errorf("%d live calls, want the 2 admitted", n)
		}
		a.Release()
		a.Release() // idempotent
		if r, _ := db.Reserved(context.Background(), "cust_m"); !r.Equal(decimal.RequireFromString("0.06")) {
			t.Errorf("reserved %s after releasing call_a, want 0.06", r)
		}
		mtAdmit(t, g, "call_c")
	})
}

// TestMeterCutWhenAnotherCallTookTheMoney: call A and call B are up on money
// for three increments. A extends first and takes the third; B cannot, so B
// is cut at the end of its first increment (rating.Cutoff of 6 s) and a new
// call is refused. Extending holds its money until the call ends: when A
// ends, charged for the 12 s it reserved, B still cannot grow (the balance
// is now 0.06, B holds it).
func TestMeterCutWhenAnotherCallTookTheMoney(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, backend string) {
		ctx := context.Background()
		db, g := mtSetup(t, backend, "0.18")
		ta, tb := mtAdmit(t, g, "call_a"), mtAdmit(t, g, "call_b")
		answered := mt0.Add(-time.Hour) // every boundary is already past
		ma := g.Meter("cust_m", ta.CallID, ta.Rate, answered, mtNow)
		mb := g.Meter("cust_m", tb.CallID, tb.Rate, answered, mtNow)
		if ok, err := ma.Extend(ctx); !ok || err != nil {
			t.Fatalf("A extends into the free increment: %v %v", ok, err)
		}
		if ma.ReservedSeconds() != 12 || !ma.Amount().Equal(decimal.RequireFromString("0.12")) {
			t.Errorf("A reserved %d s (%s), want 12 s (0.12)", ma.ReservedSeconds(), ma.Amount())
		}
		cut, err := mb.Run(ctx)
		if !cut || err != nil {
			t.Fatalf("B's Run: cut %v, err %v; want cut", cut, err)
		}
		if mb.ReservedSeconds() != 6 || !mb.Boundary().Equal(answered.Add(6*time.Second)) {
			t.Errorf("B holds %d s to %s, want 6 s", mb.ReservedSeconds(), mb.Boundary())
		}
		mtRefused(t, g, "call_c")

		// A ends, charged its 12 s (0.12), and frees its reservation in
		// the same write.
		c := &voice.Call{ID: "call_a", CustomerID: "cust_m", ApplicationID: "app_1", Status: voice.CallInProgress,
			Direction: voice.DirectionOutbound, From: "+15551230001", To: "+15550001111", RecordingChannels: "dual",
			Variables: map[string]string{}, RecordingIDs: []string{}, Currency: "EUR", CreatedAt: mt0, UpdatedAt: mt0}
		if err := db.CreateCall(ctx, c); err != nil {
			t.Fatal(err)
		}
		c.Status = voice.CallCompleted
		if err := db.UpdateCallWithCharge(ctx, c, &voice.LedgerEntry{ID: voice.NewID(voice.PrefixLedger, mt0), CustomerID: "cust_m",
			Amount: decimal.RequireFromString("-0.12"), Kind: voice.LedgerCallCharge, CallID: &c.ID, Description: "A", CreatedAt: mt0}); err != nil {
			t.Fatal(err)
		}
		if ok, err := mb.Extend(ctx); ok || err != nil {
			t.Errorf("B grows past the 0.06 left, which it already holds: %v %v", ok, err)
		}
		cust, _ := db.Customer(ctx, voice.Scope{}, "cust_m")
		if !cust.Balance.Equal(decimal.RequireFromString("0.06")) {
			t.Errorf("balance %s, want 0.06", cust.Balance)
		}
	})
}

// TestMeterRunsToTheMoney: alone, a call extends increment by increment
// until the money is held, then is cut; a free per-minute price needs no
// extension and Run only waits for the call to end.
func TestMeterRunsToTheMoney(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, backend string) {
		ctx := context.Background()
		db, g := mtSetup(t, backend, "0.30")
		tk := mtAdmit(t, g, "call_a")
		m := g.Meter("cust_m", tk.CallID, tk.Rate, mt0.Add(-time.Hour), mtNow)
		if cut, err := m.Run(ctx); !cut || err != nil {
			t.Fatalf("Run: %v %v", cut, err)
		}
		if m.ReservedSeconds() != 30 {
			t.Errorf("reserved %d s, want the 30 s that 0.30 pays", m.ReservedSeconds())
		}
		if r, _ := db.Reserved(ctx, "cust_m"); !r.Equal(decimal.RequireFromString("0.30")) {
			t.Errorf("reserved %s, want 0.30", r)
		}
		free := g.Meter("cust_m", "call_free", &voice.Rate{PricePerMinute: decimal.Zero, InitialIncrement: 60, SubsequentIncrement: 60},
			mt0.Add(-time.Hour), mtNow)
		if !free.Unlimited() {
			t.Error("a free rate is not unlimited")
		}
		done, cancel := context.WithCancel(ctx)
		cancel()
		if cut, err := free.Run(done); cut || err != nil {
			t.Errorf("free Run: %v %v", cut, err)
		}
	})
}

// TestMeterStop: Watch schedules the first extension ahead of the first
// increment's end (4 s away with the clock standing still), and Stop takes
// it back, so a call that ended leaves no timer behind.
func TestMeterStop(t *testing.T) {
	t.Parallel()
	_, g := mtSetup(t, "sqlite", "1")
	tk := mtAdmit(t, g, "call_a")
	cut := func(error) { t.Error("cut called") }
	watched := g.Meter("cust_m", tk.CallID, tk.Rate, mt0, mtNow)
	watched.Watch(context.Background(), cut)
	if !watched.StepPending() {
		t.Fatal("Watch scheduled no extension")
	}
	stopped := g.Meter("cust_m", tk.CallID, tk.Rate, mt0, mtNow)
	stopped.Watch(context.Background(), cut)
	stopped.Stop()
	if stopped.StepPending() {
		t.Fatal("a step is still scheduled after Stop")
	}
	stopped.Stop() // twice is harmless
}

// TestMeterExtendsASpanAtOnce: with 6 s increments one extension reserves
// the two that make up ExtendSpan, and near the end of the money it falls
// back to one at a time, so the call still gets every increment it can pay.
func TestMeterExtendsASpanAtOnce(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, backend string) {
		ctx := context.Background()
		_, g := mtSetup(t, backend, "0.24")
		tk := mtAdmit(t, g, "call_a")
		m := g.Meter("cust_m", tk.CallID, tk.Rate, mt0.Add(-time.Hour), mtNow)
		for i, want := range []int{18, 24, 24} {
			ok, err := m.Extend(ctx)
			if err != nil {
				t.Fatal(err)
			}
			if ok != (i < 2) || m.ReservedSeconds() != want {
				t.Errorf("extension %d: ok %v, reserved %d s; want %v, %d s", i+1, ok, m.ReservedSeconds(), i < 2, want)
			}
		}
	})
}
