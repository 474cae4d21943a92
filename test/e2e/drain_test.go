package e2e

import (
	"context"
	"testing"
	"time"

	"github.com/minivoice/minivoice/internal/sim"
)

// TestDrainRefusesNewCallsAndEndsLiveOnes: during a drain an INVITE gets 503;
// a live call is hung up with system_shutdown when the drain timeout passes.
func TestDrainRefusesNewCallsAndEndsLiveOnes(t *testing.T) {
	t.Parallel()
	l := startPlatform(t, "sqlite")
	cust, app := l.fixture()
	carrier, err := sim.New(sim.Config{Listen: "127.0.0.1:0", AnswerDelay: 100 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	carrier.Serve()
	t.Cleanup(func() { carrier.Close() })
	sc := carrier.Addr()
	l.do("POST", "/v1/trunks", map[string]any{"name": "sim", "host": sc.Addr().String(), "port": int(sc.Port())}, 201)
	l.do("POST", "/v1/trunks", map[string]any{"name": "in", "direction": "inbound", "allowed_cidrs": []string{"127.0.0.1"}}, 201)
	l.do("POST", "/v1/numbers", map[string]any{"number": "+15551230002", "customer_id": cust, "application_id": app}, 201)

	id := l.do("POST", "/v1/calls", map[string]any{"to": "+15550000001", "from": "+15551230001", "application_id": app,
		"actions": []any{map[string]any{"action": "pause", "length": 600}}}, 201)["id"].(string)
	deadline := time.Now().Add(30 * time.Second)
	for l.do("GET", "/v1/calls/"+id, nil, 200)["status"] != "in-progress" {
		if time.Now().After(deadline) {
			t.Fatal("call never answered")
		}
		time.Sleep(50 * time.Millisecond)
	}

	drained := make(chan struct{})
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		l.p.Drain(ctx)
		close(drained)
	}()
	// Wait until the engine says it is draining, then call in.
	for l.p.SIP.Ready(context.Background()) == nil {
		time.Sleep(10 * time.Millisecond)
	}
	caller, err := sim.New(sim.Config{Listen: "127.0.0.1:0"})
	if err != nil {
		t.Fatal(err)
	}
	defer caller.Close()
	rep, err := caller.Call(context.Background(), sim.CallOptions{Platform: l.p.SIP.Addr().String(), From: "+15550009999", To: "+15551230002"})
	if err != nil {
		t.Fatal(err)
	}
	if rep.SIPStatus != 503 {
		t.Errorf("INVITE during drain: %d, want 503", rep.SIPStatus)
	}
	// The API refuses new calls while draining rather than queue them.
	l.do("POST", "/v1/calls", map[string]any{"to": "+15550000001", "from": "+15551230001", "application_id": app}, 503)
	<-drained
	c := l.waitCall(id)
	if c["status"] != "completed" || c["hangup_cause"] != "system_shutdown" || c["hangup_source"] != "system" {
		t.Fatalf("call after drain: %v", c)
	}
}
