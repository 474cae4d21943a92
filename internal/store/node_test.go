package store_test

import (
	"context"
	"slices"
	"testing"
	"time"

	"github.com/minivoice/minivoice/internal/store/storetest"
	"github.com/minivoice/minivoice/internal/voice"
	"github.com/shopspring/decimal"
)

// TestSecondEndOfACallIsSkipped: the first write that ends a call wins; a
// second (a survivor's node_lost close racing the engine of a node that was
// only cut off) writes no second call.completed and no second charge.
func TestSecondEndOfACallIsSkipped(t *testing.T) {
	storetest.Each(t, func(t *testing.T, backend string) {
		ctx := context.Background()
		t0 := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
		db := storetest.Open(t, backend, func() time.Time { return t0 })
		if err := db.CreateCustomer(ctx, &voice.Customer{ID: "cust_e", Name: "e", Status: voice.CustomerActive, Currency: "EUR",
			Balance: decimal.Zero, MaxConcurrentCalls: 5, MaxCPS: 5, BlockedPrefixes: []string{}, CreatedAt: t0, UpdatedAt: t0}); err != nil {
			t.Fatal(err)
		}
		answered := t0.Add(-time.Minute)
		c := &voice.Call{ID: "call_e", CustomerID: "cust_e", ApplicationID: "app_e", Status: voice.CallInProgress,
			Direction: voice.DirectionOutbound, From: "+15551230001", To: "+15551230002", RecordingChannels: "dual",
			Variables: map[string]string{}, RecordingIDs: []string{}, Currency: "EUR", CreatedAt: answered, AnsweredAt: &answered, UpdatedAt: t0}
		if err := db.CreateCall(ctx, c); err != nil {
			t.Fatal(err)
		}
		end := func(status, charge string) error {
			next := *c
			next.Status = status
			subject := voice.EventSubject{CallID: c.ID, ApplicationID: c.ApplicationID, CustomerID: c.CustomerID}
			ev := voice.NewEvent(nil, voice.EventCallCompleted, subject, map[string]any{"status": status}, t0)
			entry := &voice.LedgerEntry{ID: voice.NewID(voice.PrefixLedger, t0), CustomerID: c.CustomerID,
				Amount: decimal.RequireFromString(charge), Kind: voice.LedgerCallCharge, CallID: &c.ID, Description: "call", CreatedAt: t0}
			return db.UpdateCallWithCharge(ctx, &next, entry, ev)
		}
		if err := end(voice.CallFailed, "-0.01"); err != nil {
			t.Fatal(err)
		}
		if err := end(voice.CallCompleted, "-0.02"); err != nil {
			t.Fatalf("second end: %v, want it skipped without an error", err)
		}
		got, err := db.Call(ctx, voice.Scope{}, c.ID)
		if err != nil {
			t.Fatal(err)
		}
		if got.Status != voice.CallFailed {
			t.Errorf("status %s, want the first end's failed", got.Status)
		}
		events, err := db.CallEvents(ctx, voice.Scope{}, c.ID)
		if err != nil {
			t.Fatal(err)
		}
		if len(events) != 1 {
			t.Errorf("%d events, want one call.completed", len(events))
		}
		ledger, err := db.LedgerEntries(ctx, "cust_e", voice.Page{})
		if err != nil {
			t.Fatal(err)
		}
		if len(ledger.Data) != 1 || !ledger.Data[0].Amount.Equal(decimal.RequireFromString("-0.01")) {
			t.Errorf("ledger %v, want the first charge only", ledger.Data)
		}
	})
}

// TestClaimNodeCalls: a lost node's unfinished calls created before the
// claim move to the claimer once; a second claim finds none.
func TestClaimNodeCalls(t *testing.T) {
	storetest.Each(t, func(t *testing.T, backend string) {
		ctx := context.Background()
		t0 := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
		db := storetest.Open(t, backend, func() time.Time { return t0 })
		if err := db.CreateCustomer(ctx, &voice.Customer{ID: "cust_n", Name: "n", Status: voice.CustomerActive, Currency: "EUR",
			Balance: decimal.Zero, MaxConcurrentCalls: 5, MaxCPS: 5, BlockedPrefixes: []string{}, CreatedAt: t0, UpdatedAt: t0}); err != nil {
			t.Fatal(err)
		}
		// A bare store has no node id: set the owner as the lost node's
		// process would have.
		for i, st := range []string{voice.CallInProgress, voice.CallRinging, voice.CallCompleted} {
			c := &voice.Call{ID: "call_n" + string(rune('1'+i)), CustomerID: "cust_n", ApplicationID: "app_n", Status: st,
				Direction: voice.DirectionOutbound, From: "+15551230001", To: "+15551230002", RecordingChannels: "dual",
				Variables: map[string]string{}, RecordingIDs: []string{}, Currency: "EUR", CreatedAt: t0, UpdatedAt: t0}
			if err := db.CreateCall(ctx, c); err != nil {
				t.Fatal(err)
			}
		}
		if _, err := db.SQL().ExecContext(ctx, `UPDATE calls SET node_id = 'lost'`); err != nil {
			t.Fatal(err)
		}
		calls, err := db.ClaimNodeCalls(ctx, "lost", "survivor", t0.Add(time.Second))
		if err != nil {
			t.Fatal(err)
		}
		var ids []string
		for _, c := range calls {
			ids = append(ids, c.ID)
		}
		slices.Sort(ids)
		if !slices.Equal(ids, []string{"call_n1", "call_n2"}) {
			t.Errorf("claimed %v, want the two unfinished calls", ids)
		}
		if owner, err := db.CallNode(ctx, "call_n1"); err != nil || owner != "survivor" {
			t.Errorf("owner %q %v, want survivor", owner, err)
		}
		again, err := db.ClaimNodeCalls(ctx, "lost", "other", t0.Add(time.Second))
		if err != nil || len(again) != 0 {
			t.Errorf("second claim: %d calls, %v", len(again), err)
		}
	})
}
