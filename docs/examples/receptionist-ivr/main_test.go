package main

// End to end: the simulator calls the receptionist's number and presses
// keys like a caller would; the platform runs this application's actions;
// the test checks what the application was told, the calls, the dial's
// child call and the voicemail's audio.

import (
	"net/url"
	"testing"
	"time"

	"github.com/minivoice/minivoice/internal/sim"
	"github.com/minivoice/minivoice/internal/stacktest"
)

const (
	caller = "+15557000001"
	// sales is a simulator number with the default behaviour: answers,
	// says its greeting, stays until the platform hangs up.
	sales   = "+15550000001"
	message = "Hello, this is Alex. Please call me back about my order. Thank you."
)

// callTo returns the platform's call to did (the only one).
func callTo(t *testing.T, st *stacktest.Stack, did string) map[string]any {
	t.Helper()
	calls := st.Calls(t, "to="+url.QueryEscape(did))
	if len(calls) != 1 {
		t.Fatalf("%d calls to %s, want 1", len(calls), did)
	}
	return st.WaitCall(t, stacktest.Str(calls[0]["id"]))
}

// requestsOf is what the application was asked on path during call id.
func requestsOf(a *app, id, path string) []seenRequest {
	var out []seenRequest
	for _, r := range a.requests(path) {
		if r.CallID == id {
			out = append(out, r)
		}
	}
	return out
}

// checkEndedByApp checks that the platform ended an answered inbound call
// normally, as the application asked.
func checkEndedByApp(t *testing.T, c map[string]any, rep sim.CallReport) {
	t.Helper()
	if c["status"] != "completed" || c["hangup_cause"] != "normal_clearing" || c["hangup_source"] != "callee" {
		t.Errorf("call %s: status %v, cause %v, source %v; want completed by the platform", c["id"], c["status"], c["hangup_cause"], c["hangup_source"])
	}
	if !rep.Answered || rep.EndedBy != sim.EndedRemote {
		t.Errorf("caller's report %+v: want answered and hung up by the platform", rep)
	}
}

// TestReceptionist places four calls at once, one per path through the
// menu, then checks each.
func TestReceptionist(t *testing.T) {
	t.Parallel()
	ivr := newApp(appConfig{SalesNumber: sales})
	st := stacktest.Start(t, stacktest.Config{App: ivr, SimAnswerDelay: 500 * time.Millisecond})
	cust := st.Customer(t, "acme")
	appID := st.Application(t, cust, st.AppURL+"/ivr/answer")
	st.InboundTrunkFromSim(t)
	st.OutboundTrunkToSim(t, cust) // for the dial to sales
	// A receptionist of its own that offers the menu once, with a shorter
	// wait, keeps the no-input case short.
	quick := newApp(appConfig{SalesNumber: sales, MaxAttempts: 1, InputTimeout: 2})
	quickApp := st.Application(t, cust, st.Serve(t, quick)+"/ivr/answer")

	const (
		didSales     = "+15551230101"
		didVoicemail = "+15551230102"
		didWrong     = "+15551230103"
		didSilent    = "+15551230104"
	)
	st.Number(t, didSales, cust, appID)
	st.Number(t, didVoicemail, cust, appID)
	st.Number(t, didWrong, cust, appID)
	st.Number(t, didSilent, cust, quickApp)
	// The caller presses keys during the greeting and menu (about 6 s from
	// the answer) or the wait after it (5 s). The timings leave room for a
	// slow machine: keys pressed before a gather begins do not count.
	salesCall := st.GoSimCall(t, sim.CallOptions{From: caller, To: didSales, Script: []string{
		"wait 5", "dtmf 1", "wait 5", "say I would like to order five hundred widgets, please.", "wait 3", "hangup"}})
	voicemailCall := st.GoSimCall(t, sim.CallOptions{From: caller, To: didVoicemail, Script: []string{
		"wait 5", "dtmf 2", "wait 5", "say " + message, "wait 15"}})
	wrongCall := st.GoSimCall(t, sim.CallOptions{From: caller, To: didWrong, Script: []string{
		"wait 5", "dtmf 9", "wait 5", "dtmf 7", "wait 5", "dtmf 8", "wait 20"}})
	silentCall := st.GoSimCall(t, sim.CallOptions{From: caller, To: didSilent, Script: []string{"wait 40"}})

	t.Run("press_1_reaches_sales", func(t *testing.T) {
		rep := salesCall(t)
		c := callTo(t, st, didSales)
		menu := requestsOf(ivr, stacktest.Str(c["id"]), "/ivr/menu")
		if len(menu) != 1 || menu[0].Result["digits"] != "1" || menu[0].Result["reason"] != "max_digits" {
			t.Fatalf("menu results %+v, want one with digit 1; events:%s", menu, stacktest.EventTimes(st.Events(t, stacktest.Str(c["id"]))))
		}
		if c["status"] != "completed" || c["hangup_source"] != "caller" {
			t.Errorf("call %v: want completed, hung up by the caller", c)
		}
		kids := st.ChildCalls(t, stacktest.Str(c["id"]))
		if len(kids) != 1 {
			t.Fatalf("%d child calls, want the dial to sales", len(kids))
		}
		k := kids[0]
		if k["to"] != sales || k["from"] != didSales || k["direction"] != "outbound" || k["status"] != "completed" ||
			k["parent_call_id"] != c["id"] || stacktest.Num(k["duration"]) < 2 {
			t.Errorf("child call %v", k)
		}
		// Speech crossed the bridge both ways: sales heard the caller's
		// sentence, the caller heard the prompts and sales's greeting.
		salesRep := st.SimReport(t, sales)
		t.Logf("caller heard %v of speech, sales heard %v", rep.HeardActive, salesRep.HeardActive)
		if !salesRep.Answered || salesRep.HeardActive < time.Second {
			t.Errorf("sales report %+v: want the caller's sentence heard through the bridge", salesRep)
		}
		if rep.HeardActive < 5*time.Second {
			t.Errorf("caller heard %v of speech, want greeting, menu and sales's greeting", rep.HeardActive)
		}
	})

	t.Run("press_2_leaves_a_voicemail", func(t *testing.T) {
		rep := voicemailCall(t)
		c := callTo(t, st, didVoicemail)
		id := stacktest.Str(c["id"])
		if menu := requestsOf(ivr, id, "/ivr/menu"); len(menu) != 1 || menu[0].Result["digits"] != "2" {
			t.Fatalf("menu results %+v, want one with digit 2; events:%s", menu, stacktest.EventTimes(st.Events(t, id)))
		}
		done := requestsOf(ivr, id, "/ivr/voicemail-done")
		if len(done) != 1 {
			t.Fatalf("voicemail-done asked %d times, want once", len(done))
		}
		res := done[0].Result
		recID := stacktest.Str(res["recording_id"])
		if res["reason"] != "silence" || recID == "" {
			t.Fatalf("record result %v, want a recording ended by silence", res)
		}
		checkEndedByApp(t, c, rep)
		if ids, _ := c["recording_ids"].([]any); len(ids) != 1 || ids[0] != recID {
			t.Errorf("call recording_ids %v, want [%s]", c["recording_ids"], recID)
		}
		rec := st.WaitRecording(t, recID)
		if rec["status"] != "completed" || rec["source"] != "record_action" || rec["call_id"] != id {
			t.Errorf("recording %v", rec)
		}
		chans := st.RecordingWAV(t, recID)
		speech := stacktest.Active(chans[0], 0, time.Hour)
		t.Logf("voicemail: %v long, %v of speech", chans[0].Duration(), speech)
		if len(chans) != 1 || speech < 2*time.Second {
			t.Errorf("voicemail has %d channels and %v of speech; want the caller's message", len(chans), speech)
		}
	})

	t.Run("wrong_keys_repeat_the_menu_then_give_up", func(t *testing.T) {
		rep := wrongCall(t)
		c := callTo(t, st, didWrong)
		id := stacktest.Str(c["id"])
		var got []string
		for _, m := range requestsOf(ivr, id, "/ivr/menu") {
			got = append(got, m.Query+" "+stacktest.Str(m.Result["digits"]))
		}
		if len(got) != 3 || got[0] != "attempt=1 9" || got[1] != "attempt=2 7" || got[2] != "attempt=3 8" {
			t.Errorf("menu saw %q, want digits 9, 7, 8 on attempts 1 to 3; events:%s", got, stacktest.EventTimes(st.Events(t, id)))
		}
		// The first answer_url request, then two redirects back to it.
		if ans := requestsOf(ivr, id, "/ivr/answer"); len(ans) != 3 || ans[1].Query != "attempt=2&why=invalid" {
			t.Errorf("answer requests %+v, want 3 (two redirects)", ans)
		}
		checkEndedByApp(t, c, rep)
		if kids := st.ChildCalls(t, id); len(kids) != 0 {
			t.Errorf("%d child calls, want none", len(kids))
		}
	})

	t.Run("no_input_retries_then_gives_up", func(t *testing.T) {
		rep := silentCall(t)
		c := callTo(t, st, didSilent)
		menu := requestsOf(quick, stacktest.Str(c["id"]), "/ivr/menu")
		if len(menu) != 1 || menu[0].Result["digits"] != "" || menu[0].Result["reason"] != "timeout" {
			t.Fatalf("menu results %+v, want one no-input result", menu)
		}
		ans := requestsOf(quick, stacktest.Str(c["id"]), "/ivr/answer")
		// Greeting, prompt, 2 s, the no-input prompt, 2 s: the retry ran.
		if len(ans) != 1 || menu[0].At.Sub(ans[0].At) < 7*time.Second {
			t.Errorf("menu result %v after the answer, want a retry with its prompt and two waits", menu[0].At.Sub(ans[0].At))
		}
		checkEndedByApp(t, c, rep)
		t.Logf("caller heard %v of speech in %v", rep.HeardActive, rep.HeardDuration)
	})
}

// TestReceptionistSpoken answers the menu by voice: the simulator says
// "sales" and "leave a message" (flite's slt voice) after the menu, over
// PCMU (8 kHz G.711, what most carriers use) and over G.722, one platform
// and simulator per codec.
func TestReceptionistSpoken(t *testing.T) {
	if testing.Short() {
		t.Skip("real calls with speech recognition: skipped under -short")
	}
	t.Parallel()
	for _, codec := range []string{"PCMU", "G722"} {
		t.Run(codec, func(t *testing.T) {
			t.Parallel()
			ivr := newApp(appConfig{SalesNumber: sales})
			st := stacktest.Start(t, stacktest.Config{App: ivr, SimAnswerDelay: 500 * time.Millisecond, SimCodecs: []string{codec}})
			cust := st.Customer(t, "acme")
			appID := st.Application(t, cust, st.AppURL+"/ivr/answer")
			st.InboundTrunkFromSim(t)
			st.OutboundTrunkToSim(t, cust)
			const didSales, didVoicemail = "+15551230111", "+15551230112"
			st.Number(t, didSales, cust, appID)
			st.Number(t, didVoicemail, cust, appID)
			// The greeting and menu take about 9 s; the caller answers
			// after it, as a first-time caller would.
			// The caller stays on the line 25 s after answering, room
			// for a slow recognition on a loaded machine and the dial.
			salesCall := st.GoSimCall(t, sim.CallOptions{From: caller, To: didSales, Script: []string{
				"wait 10", "say sales", "wait 25", "hangup"}})
			voicemailCall := st.GoSimCall(t, sim.CallOptions{From: caller, To: didVoicemail, Script: []string{
				"wait 10", "say leave a message", "wait 5", "say " + message, "wait 15"}})

			t.Run("say_sales", func(t *testing.T) {
				rep := salesCall(t)
				if rep.Codec != codec {
					t.Fatalf("call used %s, want %s", rep.Codec, codec)
				}
				c := callTo(t, st, didSales)
				id := stacktest.Str(c["id"])
				menu := requestsOf(ivr, id, "/ivr/menu")
				if len(menu) != 1 || menu[0].Result["speech"] != "sales" || menu[0].Result["reason"] != "speech" ||
					stacktest.Num(menu[0].Result["confidence"]) < minConfidence || menu[0].Result["digits"] != "" {
					t.Fatalf("menu results %+v, want one with speech \"sales\"; events:%s", menu, stacktest.EventTimes(st.Events(t, id)))
				}
				t.Logf("%s: heard %v (confidence %v)", codec, menu[0].Result["speech"], menu[0].Result["confidence"])
				ev := stacktest.Event(st.Events(t, id), "call.gather")
				if ev == nil {
					t.Fatal("no call.gather event")
				}
				if ev["speech"] != "sales" {
					t.Errorf("call.gather data %v, want speech \"sales\"", ev)
				}
				kids := st.ChildCalls(t, id)
				if len(kids) != 1 || kids[0]["to"] != sales || kids[0]["status"] != "completed" {
					t.Fatalf("child calls %v, want the dial to sales", kids)
				}
			})

			t.Run("say_leave_a_message", func(t *testing.T) {
				rep := voicemailCall(t)
				c := callTo(t, st, didVoicemail)
				id := stacktest.Str(c["id"])
				menu := requestsOf(ivr, id, "/ivr/menu")
				if len(menu) != 1 || spoken[stacktest.Str(menu[0].Result["speech"])] != "2" {
					t.Fatalf("menu results %+v, want one with a voicemail phrase; events:%s", menu, stacktest.EventTimes(st.Events(t, id)))
				}
				t.Logf("%s: heard %v (confidence %v)", codec, menu[0].Result["speech"], menu[0].Result["confidence"])
				done := requestsOf(ivr, id, "/ivr/voicemail-done")
				if len(done) != 1 || stacktest.Str(done[0].Result["recording_id"]) == "" {
					t.Fatalf("voicemail-done %+v, want one recording", done)
				}
				checkEndedByApp(t, c, rep)
			})
		})
	}
}
