package main

// End to end: the simulator calls the agent's number, asks about opening
// hours while the greeting is still playing (a barge-in), waits for the
// answer, then says goodbye; the agent recognises both, replies, and ends
// the call. The test checks what the agent heard and said, what the caller
// heard, and the call's stream events.

import (
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/minivoice/minivoice/internal/sim"
	"github.com/minivoice/minivoice/internal/stacktest"
)

const did = "+15551230141"

func TestVoiceAgent(t *testing.T) {
	if _, err := exec.LookPath("pocketsphinx_continuous"); err != nil {
		t.Skip("pocketsphinx is not installed (Debian packages pocketsphinx and pocketsphinx-en-us)")
	}
	a, err := newAgent(config{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(a.close)
	st := stacktest.Start(t, stacktest.Config{App: a.routes()})
	cust := st.Customer(t, "acme")
	app := st.Application(t, cust, st.AppURL+"/answer")
	st.InboundTrunkFromSim(t)
	st.Number(t, did, cust, app)

	rep := st.SimCall(t, sim.CallOptions{From: "+15557000141", To: did, Script: []string{
		"wait 2", "say What are your opening hours?", "wait 10", "say Goodbye.", "wait 20"}})
	if !rep.Answered || rep.EndedBy != sim.EndedRemote {
		t.Errorf("caller's report %+v: want answered and hung up by the agent's side", rep)
	}
	a.mu.Lock()
	turns, bargeIns := a.turns, a.bargeIns
	a.mu.Unlock()
	if len(turns) != 2 || !strings.Contains(turns[0].Heard, "opening hours") || !strings.Contains(turns[0].Replied, "nine in the morning") ||
		turns[1].Heard != "goodbye" {
		t.Errorf("turns %+v: want the opening hours answered, then goodbye", turns)
	}
	if bargeIns < 1 {
		t.Error("the caller's question over the greeting did not stop it (no clear sent)")
	}
	// The greeting's start, the opening hours and the goodbye.
	if rep.HeardActive < 6*time.Second {
		t.Errorf("the caller heard %v of speech", rep.HeardActive)
	}
	calls := st.Calls(t, "customer_id="+cust)
	c := st.WaitCall(t, stacktest.Str(calls[0]["id"]))
	if c["status"] != "completed" || c["hangup_cause"] != "normal_clearing" {
		t.Errorf("call %v", c)
	}
	if s := stacktest.Event(st.Events(t, stacktest.Str(c["id"])), "stream.stopped"); s == nil || s["reason"] != "receiver_closed" {
		t.Errorf("stream.stopped %v: want the agent to have closed the stream", s)
	}
}
