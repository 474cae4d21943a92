package main

// End to end: the simulator calls the forwarded number (the caller) and is
// also the phone the call is forwarded to (the carrier's subscriber, whose
// number's last four digits pick what it does); the test checks the dial's
// result as the application saw it, the child call, and the voicemail.

import (
	"net/url"
	"testing"
	"time"

	"github.com/minivoice/minivoice/internal/sim"
	"github.com/minivoice/minivoice/internal/stacktest"
)

const (
	caller  = "+15557000002"
	message = "Hi, it is Sam from the garage. Your car is ready, you can pick it up tomorrow."
)

// scenario is one forwarded call: the phone it rings, and what the caller does.
type scenario struct {
	name, did, forwardTo string
	dialTimeout          int
	script               []string
	// dialStatus is the result the application must see ("" when the
	// caller hangs up first, so MiniVoice posts no result).
	dialStatus, childStatus string
	voicemail               bool
}

func TestForwarding(t *testing.T) {
	t.Parallel()
	st := stacktest.Start(t, stacktest.Config{SimAnswerDelay: 500 * time.Millisecond})
	cust := st.Customer(t, "garage")
	st.InboundTrunkFromSim(t)
	st.OutboundTrunkToSim(t, cust)

	// The caller starts speaking a little after the beep (about 6 s after
	// the answer when busy, 10.5 s when the dial times out after 5 s),
	// within the record's 5 s silence timeout, leaving room for a slow
	// machine either way.
	leaveMessage := func(wait string) []string { return []string{"wait " + wait, "say " + message, "wait 15"} }
	cases := []scenario{
		// 0999 answers, talks briefly and hangs up: the call ends there.
		{name: "answered", did: "+15551230111", forwardTo: "+15550000999", script: []string{"wait 20"},
			dialStatus: "completed", childStatus: "completed"},
		// 0486 is busy: straight to the voicemail.
		{name: "busy_goes_to_voicemail", did: "+15551230112", forwardTo: "+15550000486", script: leaveMessage("8.5"),
			dialStatus: "busy", childStatus: "busy", voicemail: true},
		// 0408 rings forever; the timeout is shortened from 20 s to keep
		// the test short (the action is the same).
		{name: "no_answer_goes_to_voicemail", did: "+15551230113", forwardTo: "+15550000408", dialTimeout: 5,
			script:     leaveMessage("12.5"),
			dialStatus: "no-answer", childStatus: "no-answer", voicemail: true},
	}
	apps := make([]*app, len(cases))
	waits := make([]func(testing.TB) sim.CallReport, len(cases))
	for i, tc := range cases {
		apps[i] = newApp(appConfig{ForwardTo: tc.forwardTo, DialTimeout: tc.dialTimeout})
		appID := st.Application(t, cust, st.Serve(t, apps[i])+"/forward/answer")
		st.Number(t, tc.did, cust, appID)
		waits[i] = st.GoSimCall(t, sim.CallOptions{From: caller, To: tc.did, Script: tc.script})
	}
	for i, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			rep := waits[i](t)
			calls := st.Calls(t, "to="+url.QueryEscape(tc.did))
			if len(calls) != 1 {
				t.Fatalf("%d calls to %s, want 1", len(calls), tc.did)
			}
			c := st.WaitCall(t, stacktest.Str(calls[0]["id"]))
			id := stacktest.Str(c["id"])
			if c["status"] != "completed" || c["hangup_source"] != "callee" || c["hangup_cause"] != "normal_clearing" {
				t.Errorf("call %v: want completed, ended by the application", c)
			}
			if !rep.Answered || rep.EndedBy != sim.EndedRemote {
				t.Errorf("caller's report %+v: want answered, hung up by the platform", rep)
			}

			kids := st.ChildCalls(t, id)
			if len(kids) != 1 {
				t.Fatalf("%d child calls, want the forwarded leg", len(kids))
			}
			k := kids[0]
			if k["to"] != tc.forwardTo || k["from"] != tc.did || k["status"] != tc.childStatus || k["parent_call_id"] != id {
				t.Errorf("child call %v, want %s to %s", k, tc.childStatus, tc.forwardTo)
			}
			out, ok := apps[i].outcome(id)
			if !ok || out.DialStatus != tc.dialStatus || out.ChildCallID != k["id"] || out.From != caller {
				t.Errorf("application saw %+v, want dial_status %s for child %s", out, tc.dialStatus, k["id"])
			}
			if !tc.voicemail {
				if out.RecordingID != "" {
					t.Errorf("a voicemail %s was recorded", out.RecordingID)
				}
				return
			}
			rec := st.WaitRecording(t, out.RecordingID)
			if rec["status"] != "completed" || rec["source"] != "record_action" || rec["call_id"] != id {
				t.Errorf("voicemail recording %v", rec)
			}
			t.Logf("call answered %v, recording started %v", c["answered_at"], rec["started_at"])
			chans := st.RecordingWAV(t, out.RecordingID)
			speech := stacktest.Active(chans[0], 0, time.Hour)
			t.Logf("voicemail: %v long (application told %.1f s), %v of speech", chans[0].Duration(), out.Voicemail, speech)
			if speech < 2*time.Second || out.Voicemail < 3 {
				t.Errorf("voicemail of %v with %v of speech; want the caller's message", chans[0].Duration(), speech)
			}
		})
	}
}
