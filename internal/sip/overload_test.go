package sip

import (
	"testing"
	"time"
)

// With the setup gate full, an INVITE from a known trunk is refused at once
// with 503 and Retry-After: 1, while a stranger still gets the edge's 403
// (the 503 tells strangers nothing); once a place is free the same INVITE
// is routed again (404 here: the DID is nobody's).
func TestSetupGateOverSIP(t *testing.T) {
	t.Parallel()
	e, addr := proxyEngine(t)
	e.setups.limit = 1
	caller, stranger := udpFrom(t, "127.0.0.2"), udpFrom(t, "127.0.0.4")
	if !e.setups.enter() { // an admission under way holds the only place
		t.Fatal("the empty gate refused")
	}
	if got := setupsGauge(t, e); got != 1 {
		t.Errorf("minivoice_call_setups_in_progress %v with the gate full, want 1", got)
	}
	res := exchange(t, caller, addr, proxyRequest("INVITE", caller, addr, "gate-full"))
	if res.code != 503 || !res.has("Retry-After: 1") {
		t.Fatalf("gate full: %d %s %q, want 503 with Retry-After: 1", res.code, res.reason, res.raw)
	}
	if res := exchange(t, stranger, addr, proxyRequest("INVITE", stranger, addr, "gate-full-stranger")); res.code != 403 {
		t.Errorf("gate full, stranger: %d %s, want 403", res.code, res.reason)
	}
	e.setups.leave()
	if res := exchange(t, caller, addr, proxyRequest("INVITE", caller, addr, "gate-free")); res.code != 404 {
		t.Errorf("gate free: %d %s, want 404", res.code, res.reason)
	}
	// The handler gives its place back just after it answers.
	deadline := time.Now().Add(10 * time.Second)
	for e.setups.n.Load() != 0 && time.Now().Before(deadline) {
		time.Sleep(5 * time.Millisecond)
	}
	if n := e.setups.n.Load(); n != 0 {
		t.Errorf("%d places still taken after the refusals", n)
	}
}

func TestSetupGate(t *testing.T) {
	t.Parallel()
	g := &setupGate{limit: 2}
	for i := range 2 {
		if !g.enter() {
			t.Fatalf("place %d refused below the limit", i+1)
		}
	}
	if g.enter() {
		t.Fatal("admitted past the limit")
	}
	g.leave()
	if !g.enter() {
		t.Fatal("refused after a leave")
	}
	unlimited := &setupGate{}
	for range 1000 {
		if !unlimited.enter() {
			t.Fatal("a gate without a limit refused")
		}
	}
}

// setupsGauge reads minivoice_call_setups_in_progress from e's registry.
func setupsGauge(t *testing.T, e *Engine) float64 {
	t.Helper()
	mfs, err := e.metrics.Registry.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() == "minivoice_call_setups_in_progress" {
			return mf.GetMetric()[0].GetGauge().GetValue()
		}
	}
	t.Fatal("minivoice_call_setups_in_progress is not registered")
	return 0
}
