package store_test

import (
	"context"
	"testing"
	"time"

	"github.com/minivoice/minivoice/internal/store/storetest"
	"github.com/minivoice/minivoice/internal/voice"
	"github.com/shopspring/decimal"
)

func TestCallStateAndEventsAreAtomic(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, backend string) {
		ctx := context.Background()
		db := storetest.Open(t, backend, nil)
		now := time.Date(2026, 5, 29, 12, 10, 0, 0, time.UTC)
		cust := &voice.Customer{ID: "cust_123", Name: "c", Status: voice.CustomerActive, Currency: "EUR", Balance: decimal.Zero,
			MaxConcurrentCalls: 1, MaxCPS: 1, BlockedPrefixes: []string{}, CreatedAt: now, UpdatedAt: now}
		if err := db.CreateCustomer(ctx, cust); err != nil {
			t.Fatal(err)
		}
		callID := "call_123"
		c := &voice.Call{ID: callID, CustomerID: cust.ID, ApplicationID: "app_123", Status: voice.CallRinging,
			Direction: voice.DirectionInbound, From: "+15551230001", To: "+15551230002", RecordingChannels: "dual",
			Variables: map[string]string{}, RecordingIDs: []string{}, Currency: "EUR", CreatedAt: now, UpdatedAt: now}
		ev := func(id, name string) *voice.Event {
			return &voice.Event{ID: id, Event: voice.EventType(name), CreatedAt: now, CallID: &callID, ApplicationID: "app_123",
				CustomerID: cust.ID, Data: []byte(`{}`), DeliveryStatus: voice.DeliveryPending}
		}
		if err := db.CreateCallWithEvents(ctx, c, ev("evt_1", "call.initiated")); err != nil {
			t.Fatal(err)
		}
		// A failing event insert (duplicate id) rolls the state change back.
		c.Status = voice.CallInProgress
		if err := db.UpdateCallWithEvents(ctx, c, ev("evt_2", "call.answered"), ev("evt_1", "call.answered")); err == nil {
			t.Fatal("duplicate event id accepted")
		}
		got, err := db.Call(ctx, voice.Scope{}, callID)
		if err != nil {
			t.Fatal(err)
		}
		if got.Status != voice.CallRinging {
			t.Fatalf("status %s after a failed transition, want ringing", got.Status)
		}
		if evs, _ := db.CallEvents(ctx, voice.Scope{}, callID); len(evs) != 1 {
			t.Fatalf("%d events after a failed transition, want 1", len(evs))
		}
		// A good one lands both.
		if err := db.UpdateCallWithEvents(ctx, c, ev("evt_2", "call.answered")); err != nil {
			t.Fatal(err)
		}
		if evs, _ := db.CallEvents(ctx, voice.Scope{}, callID); len(evs) != 2 || evs[1].Event != "call.answered" {
			t.Fatalf("events: %+v", evs)
		}
		unfinished, err := db.UnfinishedCalls(ctx)
		if err != nil || len(unfinished) != 1 || unfinished[0].Status != voice.CallInProgress {
			t.Fatalf("unfinished: %+v %v", unfinished, err)
		}
		c.Status = voice.CallCompleted
		if err := db.UpdateCall(ctx, c); err != nil {
			t.Fatal(err)
		}
		if unfinished, _ = db.UnfinishedCalls(ctx); len(unfinished) != 0 {
			t.Fatalf("a completed call is unfinished: %+v", unfinished)
		}
	})
}
