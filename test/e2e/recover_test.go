package e2e

import (
	"context"
	"path/filepath"
	"testing"
	"time"

	"github.com/minivoice/minivoice/internal/platform"
	"github.com/minivoice/minivoice/internal/stacktest"
	"github.com/minivoice/minivoice/internal/store/sqlite"
	"github.com/minivoice/minivoice/internal/voice"
	"github.com/shopspring/decimal"
)

// TestRecoverCallsLeftByACrash: calls a dead process left ringing or in
// progress are closed at the next start with system_restart and get their
// call.completed; finished calls are untouched.
func TestRecoverCallsLeftByACrash(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	ctx := context.Background()
	db, err := sqlite.Open(ctx, sqlite.Config{Path: filepath.Join(dir, "minivoice.db")})
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now().UTC().Truncate(time.Millisecond)
	answered := now.Add(-42 * time.Second)
	cust := &voice.Customer{ID: "cust_crash", Name: "c", Status: voice.CustomerActive, Currency: "EUR", Balance: decimal.Zero,
		MaxConcurrentCalls: 5, MaxCPS: 5, BlockedPrefixes: []string{}, CreatedAt: now, UpdatedAt: now}
	if err := db.CreateCustomer(ctx, cust); err != nil {
		t.Fatal(err)
	}
	mk := func(id, status string, answeredAt *time.Time) {
		c := &voice.Call{ID: id, CustomerID: cust.ID, ApplicationID: "app_gone", Status: status, Direction: voice.DirectionOutbound,
			From: "+15551230001", To: "+15551230002", RecordingChannels: "dual", Variables: map[string]string{},
			RecordingIDs: []string{}, Currency: "EUR", CreatedAt: now.Add(-time.Minute), AnsweredAt: answeredAt, UpdatedAt: now}
		if err := db.CreateCall(ctx, c); err != nil {
			t.Fatal(err)
		}
	}
	mk("call_live", voice.CallInProgress, &answered)
	mk("call_ringing", voice.CallRinging, nil)
	mk("call_done", voice.CallCompleted, &answered)
	db.Close()

	l := newLive(t, stacktest.Config{NoSim: true, Platform: func(pc *platform.Config) { pc.Serve.Data = dir }})
	for id, want := range map[string]string{"call_live": "failed", "call_ringing": "failed", "call_done": "completed"} {
		c := l.do("GET", "/v1/calls/"+id, nil, 200)
		if c["status"] != want {
			t.Errorf("%s: status %v, want %s", id, c["status"], want)
		}
		if want == "failed" {
			if c["hangup_cause"] != "system_restart" || c["hangup_source"] != "system" || c["ended_at"] == nil {
				t.Errorf("%s: %v", id, c)
			}
			if e, _ := c["error"].(map[string]any); e["code"] != "system_restart" || e["message"] == "" {
				t.Errorf("%s: error %v, want system_restart with a message", id, c["error"])
			}
			if got := l.eventNames(id); got != "call.completed" {
				t.Errorf("%s events: %s", id, got)
			}
		}
	}
	if d := l.do("GET", "/v1/calls/call_live", nil, 200)["duration"].(float64); d != 42 {
		t.Errorf("recovered duration %v, want 42 (answered to last change)", d)
	}
}
