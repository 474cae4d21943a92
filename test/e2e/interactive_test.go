package e2e

// Interactive call control end to end: gather with digits pressed by the
// simulator, voicemail and whole-call recordings checked sample by sample,
// and dial with two real legs bridged through the platform.

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/minivoice/minivoice/internal/media"
	"github.com/minivoice/minivoice/internal/sim"
)

// Carrier numbers of the interactive tests, each with its simulator script.
const (
	ivDigits    = "+15552000101"
	ivWrong     = "+15552000102"
	ivVoicemail = "+15552000103"
	ivDual      = "+15552000104"
	ivBridge    = "+15552000105"
	ivSilent    = "+15552000106"
	ivTalker    = "+15552000007" // default behaviour: answers, speaks, stays
	ivShort     = "+15552000999" // answers, hangs up after 2 s
	ivBusy      = "+15552000486"
	ivRingOut   = "+15552000408"
)

const ivMessage = "This is a voicemail message left by the simulator for the end to end test."

func ivScripts() map[string][]string {
	return map[string][]string{
		ivDigits:    {"wait 1", "dtmf 42#", "wait 20"},
		ivWrong:     {"wait 1", "dtmf 9", "wait 20"},
		ivVoicemail: {"wait 1", "say " + ivMessage, "wait 20"},
		ivDual:      {"say The simulator speaks first in this call.", "wait 20"},
		ivBridge:    {"wait 2", "say The caller is speaking through the bridge now.", "wait 4", "hangup"},
		ivSilent:    {"wait 30"},
	}
}

// ivCall places an outbound call to number whose answer_url returns answer,
// waits for it to end and returns it with its answer path.
func (e *scEnv) ivCall(t *testing.T, number, answer string, extra map[string]any) (map[string]any, string) {
	t.Helper()
	path := scSlug(t)
	cust, app := e.scCustomer(t, e.hooks.actions(path, 200, answer), "")
	scDo(t, e.l, "POST", "/v1/trunks", map[string]any{"name": "sim", "host": "127.0.0.1", "port": int(e.sim.Addr().Port()),
		"customer_id": cust}, 201)
	body := map[string]any{"to": number, "from": scCaller, "application_id": app}
	for k, v := range extra {
		body[k] = v
	}
	id := scDo(t, e.l, "POST", "/v1/calls", body, 201)["id"].(string)
	return scWaitCall(t, e.l, id), path
}

// ivResult is the "result" of the only request path received.
func (e *scEnv) ivResult(t *testing.T, path string) map[string]any {
	t.Helper()
	reqs := e.hooks.requests(path)
	if len(reqs) != 1 {
		t.Fatalf("%s asked %d times, want once: %v", path, len(reqs), reqs)
	}
	r, _ := reqs[0]["result"].(map[string]any)
	if r == nil {
		t.Fatalf("%s request without result: %v", path, reqs[0])
	}
	if c, _ := reqs[0]["call"].(map[string]any); c["id"] == nil {
		t.Errorf("%s request without the call: %v", path, reqs[0])
	}
	return r
}

// ivWaitRecording polls a recording until it is no longer in progress.
func ivWaitRecording(t *testing.T, l *live, id string) map[string]any {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		r := scDo(t, l, "GET", "/v1/recordings/"+id, nil, 200)
		if r["status"] != "in-progress" {
			return r
		}
		time.Sleep(100 * time.Millisecond)
	}
	t.Fatalf("recording %s still in progress", id)
	return nil
}

// ivChannels downloads a recording's WAV and returns its channels.
func ivChannels(t *testing.T, l *live, id string) []*media.PCM {
	t.Helper()
	req, _ := http.NewRequest("GET", l.api+"/v1/recordings/"+id+"/media", nil)
	req.Header.Set("Authorization", "Bearer "+l.key)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != 200 || resp.Header.Get("Content-Type") != "audio/wav" {
		b, _ := io.ReadAll(resp.Body)
		t.Fatalf("media: %d %s: %s", resp.StatusCode, resp.Header.Get("Content-Type"), b)
	}
	chans, err := media.ReadWAVChannels(resp.Body, 64<<20)
	if err != nil {
		t.Fatalf("recording WAV: %v", err)
	}
	return chans
}

// active is how much of p is above -40 dBFS in [from, to).
func active(p *media.PCM, from, to time.Duration) time.Duration {
	a := int(from.Seconds() * float64(p.Rate))
	b := min(int(to.Seconds()*float64(p.Rate)), len(p.Samples))
	if a >= b {
		return 0
	}
	return media.ActiveDuration(&media.PCM{Rate: p.Rate, Samples: p.Samples[a:b]}, -40)
}

// TestInteractive runs gather, record and dial against the simulator.
func TestInteractive(t *testing.T) {
	t.Parallel()
	e := scStartWith(t, "sqlite", ivScripts())
	prompt := `[{"action":"say","text":"Please enter your account code, followed by the pound key. Take your time."}]`

	t.Run("gather_digits_with_barge_in", func(t *testing.T) {
		t.Parallel()
		next := e.hooks.actions(scSlug(t)+"-next", 200, `[{"action":"say","text":"Thank you."},{"action":"hangup"}]`)
		c, _ := e.ivCall(t, ivDigits, `[{"action":"gather","max_digits":6,"timeout":8,"variable":"code","action_url":"`+next+
			`","prompt":`+prompt+`},{"action":"say","text":"never reached"}]`, nil)
		r := e.ivResult(t, scSlug(t)+"-next")
		if r["digits"] != "42" || r["reason"] != "finish_key" {
			t.Errorf("gather result %v, want digits 42 by finish_key", r)
		}
		if v, _ := c["variables"].(map[string]any); v["code"] != "42" {
			t.Errorf("variables %v, want code=42", c["variables"])
		}
		evs := scEvents(t, e.l, scStr(c["id"]))
		if d := scEvent(evs, "call.gather"); d == nil || d["digits"] != "42" {
			t.Errorf("call.gather event %v (events %s)", d, scNames(evs))
		}
		scCheckCall(t, c, "completed", "normal_clearing", "caller", 200, true)
	})

	t.Run("gather_no_input_retries_then_times_out", func(t *testing.T) {
		t.Parallel()
		next := e.hooks.actions(scSlug(t)+"-next", 200, `[]`)
		start := time.Now()
		c, _ := e.ivCall(t, ivSilent, `[{"action":"gather","timeout":2,"retries":1,"action_url":"`+next+`",`+
			`"prompt":[{"action":"say","text":"Press one."}],"no_input_prompt":[{"action":"say","text":"We did not hear you."}]}]`, nil)
		r := e.ivResult(t, scSlug(t)+"-next")
		if r["digits"] != "" || r["reason"] != "timeout" {
			t.Errorf("gather result %v, want the no-input case", r)
		}
		// Two prompts and two 2 s waits: well over 4 s.
		if d := time.Since(start); d < 4*time.Second {
			t.Errorf("gather with one retry took %v, want two waits of 2 s", d)
		}
		scCheckCall(t, c, "completed", "normal_clearing", "caller", 200, true)
	})

	t.Run("gather_wrong_input_reaches_the_application", func(t *testing.T) {
		t.Parallel()
		next := e.hooks.actions(scSlug(t)+"-next", 200, `[{"action":"say","text":"That is not a valid option."},{"action":"hangup"}]`)
		c, _ := e.ivCall(t, ivWrong, `[{"action":"gather","timeout":8,"action_url":"`+next+`","prompt":`+prompt+`}]`, nil)
		if r := e.ivResult(t, scSlug(t)+"-next"); r["digits"] != "9" || r["reason"] != "max_digits" {
			t.Errorf("gather result %v, want 9 by max_digits", r)
		}
		scCheckCall(t, c, "completed", "normal_clearing", "caller", 200, true)
	})

	t.Run("voicemail", func(t *testing.T) {
		t.Parallel()
		next := e.hooks.actions(scSlug(t)+"-next", 200, `[{"action":"say","text":"Goodbye."}]`)
		c, _ := e.ivCall(t, ivVoicemail, `[{"action":"record","silence_timeout":3,"max_length":30,"variable":"vm","action_url":"`+next+`"}]`, nil)
		r := e.ivResult(t, scSlug(t)+"-next")
		id := scStr(r["recording_id"])
		if r["reason"] != "silence" || !strings.HasPrefix(id, "rec_") {
			t.Fatalf("record result %v, want a recording ended by silence", r)
		}
		if v, _ := c["variables"].(map[string]any); v["vm"] != id {
			t.Errorf("variables %v, want vm=%s", c["variables"], id)
		}
		rec := ivWaitRecording(t, e.l, id)
		if rec["status"] != "completed" || rec["source"] != "record_action" || rec["channels"] != "mono" ||
			scNum(rec["sample_rate"]) != 16000 || rec["call_id"] != c["id"] || len(scStr(rec["sha256"])) != 64 {
			t.Errorf("recording %v", rec)
		}
		chans := ivChannels(t, e.l, id)
		if len(chans) != 1 {
			t.Fatalf("%d channels, want mono", len(chans))
		}
		p := chans[0]
		act := media.ActiveDuration(p, -40)
		t.Logf("voicemail: %v long, %v active", p.Duration(), act)
		// The message is about 4 s of speech; silence_timeout adds 3 s.
		if act < 2*time.Second || p.Duration() < 5*time.Second || p.Duration() > 20*time.Second {
			t.Errorf("voicemail holds %v of speech in %v; want the simulator's message", act, p.Duration())
		}
		if d, _ := rec["duration"].(float64); d < p.Duration().Seconds()-0.1 || d > p.Duration().Seconds()+0.1 {
			t.Errorf("recording duration %v, file %v", d, p.Duration())
		}
		evs := scEvents(t, e.l, scStr(c["id"]))
		if d := scEvent(evs, "recording.completed"); d == nil || d["id"] != id {
			t.Errorf("recording.completed %v (events %s)", d, scNames(evs))
		}
		if ids, _ := c["recording_ids"].([]any); len(ids) != 1 || ids[0] != id {
			t.Errorf("call recording_ids %v", c["recording_ids"])
		}
	})

	t.Run("rtp_metrics", func(t *testing.T) {
		t.Parallel()
		e.ivCall(t, ivSilent, `[{"action":"pause","length":2},{"action":"hangup"}]`, nil)
		req, _ := http.NewRequest("GET", e.l.api+"/metrics", nil)
		req.Header.Set("Authorization", "Bearer "+e.l.key)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		for _, dir := range []string{"rx", "tx"} {
			var n float64
			for _, line := range strings.Split(string(b), "\n") {
				if strings.HasPrefix(line, `minivoice_rtp_packets_total{direction="`+dir+`"}`) {
					_, _ = fmt.Sscanf(line[strings.LastIndexByte(line, ' ')+1:], "%g", &n)
				}
			}
			// Two seconds of a call are 100 packets each way.
			if n < 90 {
				t.Errorf("minivoice_rtp_packets_total{direction=%q} = %v, want the call's packets", dir, n)
			}
		}
	})

	t.Run("whole_call_dual_recording", func(t *testing.T) {
		t.Parallel()
		c, _ := e.ivCall(t, ivDual, `[{"action":"pause","length":5},{"action":"say","text":"`+scPrompt+`"},{"action":"hangup"}]`,
			map[string]any{"record": true})
		ids, _ := c["recording_ids"].([]any)
		if len(ids) != 1 {
			t.Fatalf("recording_ids %v", c["recording_ids"])
		}
		rec := ivWaitRecording(t, e.l, ids[0].(string))
		if rec["status"] != "completed" || rec["source"] != "call" || rec["channels"] != "dual" {
			t.Errorf("recording %v", rec)
		}
		chans := ivChannels(t, e.l, ids[0].(string))
		if len(chans) != 2 {
			t.Fatalf("%d channels, want dual", len(chans))
		}
		left, right := chans[0], chans[1]
		// Left is the far end (the simulator talks in the first seconds),
		// right what the platform sent (silence for 5 s, then the prompt).
		l1, l2 := active(left, 0, 4500*time.Millisecond), active(left, 5500*time.Millisecond, time.Hour)
		r1, r2 := active(right, 0, 4500*time.Millisecond), active(right, 5500*time.Millisecond, time.Hour)
		t.Logf("left %v then %v; right %v then %v; %v long", l1, l2, r1, r2, left.Duration())
		if l1 < time.Second || r1 > 200*time.Millisecond || r2 < time.Second || l2 > 500*time.Millisecond {
			t.Errorf("channels mixed up: left (far end) %v/%v, right (platform) %v/%v", l1, l2, r1, r2)
		}
		if left.Rate != 16000 {
			t.Errorf("rate %d, want 16000 for a G.722 call", left.Rate)
		}
	})

	t.Run("dial_bridges_audio_both_ways", func(t *testing.T) {
		t.Parallel()
		c, _ := e.ivCall(t, ivBridge, `[{"action":"dial","to":"`+ivTalker+`","timeout":20}]`, nil)
		scCheckCall(t, c, "completed", "normal_clearing", "callee", 200, true)
		child := ivChild(t, e, scStr(c["id"]))
		if child["to"] != ivTalker || child["status"] != "completed" || child["hangup_source"] != "caller" || child["from"] != scCaller {
			t.Errorf("child call %v", child)
		}
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		caller, err := e.sim.WaitCall(ctx, ivBridge)
		if err != nil {
			t.Fatal(err)
		}
		callee, err := e.sim.WaitCall(ctx, ivTalker)
		if err != nil {
			t.Fatal(err)
		}
		t.Logf("parent leg heard %v active, child leg heard %v active", caller.HeardActive, callee.HeardActive)
		// The callee's greeting crossed to the parent leg, the parent's
		// sentence to the callee (plus ringback before the answer).
		if caller.HeardActive < 1500*time.Millisecond || callee.HeardActive < 1500*time.Millisecond {
			t.Errorf("bridge audio: parent leg heard %v, child leg heard %v; want speech both ways",
				caller.HeardActive, callee.HeardActive)
		}
	})

	dialCases := []struct {
		name, to, status string
		childStatus      string
		timeout          int
	}{
		{"dial_callee_hangs_up", ivShort, "completed", "completed", 20},
		{"dial_busy", ivBusy, "busy", "busy", 20},
		{"dial_no_answer", ivRingOut, "no-answer", "no-answer", 5},
	}
	for _, tc := range dialCases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			next := e.hooks.actions(scSlug(t)+"-next", 200, `[{"action":"say","text":"The dial is over."},{"action":"hangup"}]`)
			c, _ := e.ivCall(t, ivSilent, fmt.Sprintf(`[{"action":"dial","to":%q,"timeout":%d,"variable":"ds","action_url":%q}]`,
				tc.to, tc.timeout, next), nil)
			r := e.ivResult(t, scSlug(t)+"-next")
			child := ivChild(t, e, scStr(c["id"]))
			if r["dial_status"] != tc.status || r["child_call_id"] != child["id"] {
				t.Errorf("dial result %v, want %s for child %v", r, tc.status, child["id"])
			}
			if child["status"] != tc.childStatus {
				t.Errorf("child %v, want status %s", child, tc.childStatus)
			}
			if v, _ := c["variables"].(map[string]any); v["ds"] != tc.status {
				t.Errorf("variables %v", c["variables"])
			}
			if tc.status == "completed" && scNum(r["duration"]) < 1 {
				t.Errorf("dial duration %v", r["duration"])
			}
			scCheckCall(t, c, "completed", "normal_clearing", "caller", 200, true)
		})
	}

	t.Run("dial_first_answer_wins", func(t *testing.T) {
		t.Parallel()
		next := e.hooks.actions(scSlug(t)+"-next", 200, `[]`)
		c, _ := e.ivCall(t, ivSilent, `[{"action":"dial","to":["`+ivRingOut+`","`+ivShort+`"],"timeout":20,"action_url":"`+next+`"}]`, nil)
		r := e.ivResult(t, scSlug(t)+"-next")
		kids := ivChildren(t, e, scStr(c["id"]))
		if len(kids) != 2 {
			t.Fatalf("%d children, want 2", len(kids))
		}
		byTo := map[string]map[string]any{}
		for _, k := range kids {
			byTo[scStr(k["to"])] = k
		}
		if byTo[ivShort]["status"] != "completed" || byTo[ivRingOut]["status"] != "canceled" {
			t.Errorf("children: %s %v, %s %v", ivShort, byTo[ivShort]["status"], ivRingOut, byTo[ivRingOut]["status"])
		}
		if r["dial_status"] != "completed" || r["child_call_id"] != byTo[ivShort]["id"] {
			t.Errorf("dial result %v", r)
		}
	})

	t.Run("inbound_caller_hangs_up_mid_gather", func(t *testing.T) {
		t.Parallel()
		path := scSlug(t)
		cust, _ := e.scCustomer(t, e.hooks.actions(path, 200, `[{"action":"gather","timeout":20,"prompt":[{"action":"say","text":"Press a key."}]}]`), "")
		did := "+15552100001"
		apps := scDo(t, e.l, "GET", "/v1/applications?customer_id="+cust, nil, 200)["data"].([]any)
		app := apps[0].(map[string]any)["id"].(string)
		scDo(t, e.l, "POST", "/v1/trunks", map[string]any{"name": "sim-in", "direction": "inbound", "allowed_cidrs": []string{"127.0.0.1/32"},
			"customer_id": cust}, 201)
		scDo(t, e.l, "POST", "/v1/numbers", map[string]any{"number": did, "customer_id": cust, "application_id": app}, 201)
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		rep, err := e.sim.Call(ctx, sim.CallOptions{Platform: e.l.p.SIP.Addr().String(), From: scCaller, To: did,
			Script: []string{"wait 3", "hangup"}})
		if err != nil {
			t.Fatal(err)
		}
		if !rep.Answered {
			t.Fatalf("sim report %+v", rep)
		}
		list := scCalls(t, e.l, "customer_id="+cust)
		if len(list) != 1 {
			t.Fatalf("%d calls", len(list))
		}
		c := scWaitCall(t, e.l, list[0].(map[string]any)["id"].(string))
		scCheckCall(t, c, "completed", "normal_clearing", "caller", 200, true)
		if d := scEvent(scEvents(t, e.l, scStr(c["id"])), "call.gather"); d == nil || d["reason"] != "hangup" {
			t.Errorf("call.gather %v, want reason hangup", d)
		}
	})
}

// ivChildren lists the calls a dial made from parent.
func ivChildren(t *testing.T, e *scEnv, parent string) []map[string]any {
	t.Helper()
	p := scDo(t, e.l, "GET", "/v1/calls/"+parent, nil, 200)
	var out []map[string]any
	for _, x := range scCalls(t, e.l, "customer_id="+scStr(p["customer_id"])+"&limit=100") {
		c := x.(map[string]any)
		if c["parent_call_id"] == parent {
			out = append(out, scWaitCall(t, e.l, scStr(c["id"])))
		}
	}
	return out
}

// ivChild is the only child of parent.
func ivChild(t *testing.T, e *scEnv, parent string) map[string]any {
	t.Helper()
	kids := ivChildren(t, e, parent)
	if len(kids) != 1 {
		b, _ := json.Marshal(kids)
		t.Fatalf("%d child calls of %s, want 1: %s", len(kids), parent, b)
	}
	return kids[0]
}
