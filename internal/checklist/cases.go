package checklist

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"strings"
	"time"

	"github.com/minivoice/minivoice/internal/sim"
)

// checklistCase is one case: how its calls are answered and how it runs.
type checklistCase struct {
	name, title string
	// did is the platform number an inbound case calls ("" for none); the
	// numbers' shared answer_url picks the case by it.
	did string
	// answer returns the actions for an answer_url or action_url request.
	answer func(r *run, body map[string]any) []map[string]any
	run    func(ctx context.Context, t *tally) error
}

// Scripts of the simulator's numbers and callers: what the far end says and
// presses. They are fixed, so transcripts and topics are comparable between
// runs.
var (
	recordedScript  = []string{"wait 1", "say I would like to book an appointment for Tuesday morning, please.", "dtmf 42#", "wait 20"}
	voicemailScript = []string{"wait 4", "say Hi, this is Sam. Please call me back about my invoice. Thank you.", "wait 1", "hangup"}
	noInputScript   = []string{"wait 30"}
	hangupScript    = []string{"wait 2", "hangup"}
)

func simScripts() map[string][]string {
	return map[string][]string{toRecorded: recordedScript}
}

// The answers.
var (
	recordedPrompt  = "Welcome to the MiniVoice checklist. Please tell us why you are calling, then enter your code followed by the pound key."
	voicemailPrompt = "Please leave a message after the beep."
	noInputPrompt   = "Press one for sales or two for support."
	goodbye         = "Thank you. Goodbye."
)

func hangup(body map[string]any) []map[string]any { return []map[string]any{{"action": "hangup"}} }

// cases are every case, in the order of the tables.
var cases = []*checklistCase{
	{
		name: "outbound_recorded", title: "outbound call, recorded: say + gather; the callee speaks and presses 42#",
		answer: func(r *run, body map[string]any) []map[string]any {
			if res, ok := body["result"].(map[string]any); ok {
				return []map[string]any{{"action": "say", "text": "You entered " + strings.Join(strings.Split(str(res["digits"]), ""), " ") + ". " + goodbye}, {"action": "hangup"}}
			}
			return []map[string]any{{"action": "gather", "input": []string{"dtmf"}, "max_digits": 4, "finish_on_key": "#",
				"timeout": 15, "prompt": []map[string]any{{"action": "say", "text": recordedPrompt}},
				"action_url": r.rcv.actionURL(roleMain, "outbound_recorded")}}
		},
		run: runOutboundRecorded,
	},
	{
		name: "inbound_voicemail", title: "inbound call to a DID: the caller leaves a voicemail", did: didVoicemail,
		answer: func(r *run, body map[string]any) []map[string]any {
			if _, ok := body["result"]; ok {
				return []map[string]any{{"action": "say", "text": goodbye}, {"action": "hangup"}}
			}
			return []map[string]any{{"action": "say", "text": voicemailPrompt},
				{"action": "record", "max_length": 20, "silence_timeout": 5, "beep": true,
					"action_url": r.rcv.actionURL(roleMain, "inbound_voicemail")}}
		},
		run: runInboundVoicemail,
	},
	{
		name: "caller_no_input", title: "inbound call: the caller presses nothing (gather times out)", did: didNoInput,
		answer: func(r *run, body map[string]any) []map[string]any {
			if _, ok := body["result"]; ok {
				return []map[string]any{{"action": "say", "text": "We did not receive your choice. Goodbye."}, {"action": "hangup"}}
			}
			return []map[string]any{{"action": "gather", "input": []string{"dtmf"}, "max_digits": 1, "timeout": 3,
				"prompt":     []map[string]any{{"action": "say", "text": noInputPrompt}},
				"action_url": r.rcv.actionURL(roleMain, "caller_no_input")}}
		},
		run: runNoInput,
	},
	{
		name: "caller_hangup", title: "inbound call: the caller hangs up during the menu", did: didHangup,
		answer: func(r *run, body map[string]any) []map[string]any {
			return []map[string]any{{"action": "gather", "input": []string{"dtmf"}, "max_digits": 1, "timeout": 20,
				"prompt": []map[string]any{{"action": "say", "text": noInputPrompt + " " + noInputPrompt}}}}
		},
		run: runCallerHangup,
	},
	{
		name: "busy", title: "outbound call to a busy number (486)",
		answer: func(*run, map[string]any) []map[string]any { return hangup(nil) },
		run: func(ctx context.Context, t *tally) error {
			return runRefusedOutbound(ctx, t, toBusy, nil, "busy", "user_busy", 486)
		},
	},
	{
		name: "no_answer", title: "outbound call nobody answers (5 s ring timeout)",
		answer: func(*run, map[string]any) []map[string]any { return hangup(nil) },
		run: func(ctx context.Context, t *tally) error {
			return runRefusedOutbound(ctx, t, toNoAnswer, map[string]any{"timeout": 5}, "no-answer", "no_answer", 0)
		},
	},
	{
		name: "unreachable", title: "outbound call through a carrier that never answers",
		answer: func(*run, map[string]any) []map[string]any { return hangup(nil) },
		run:    runUnreachable,
	},
	{
		name: "rejected_request", title: "rejected requests: missing and invalid number, no rate, no balance",
		run: runRejected,
	},
	{
		name: "webhook_retry", title: "webhook receiver answers 500: retried, then delivered",
		// The far end (a number that hangs up after 2 s) ends the call, so
		// hangup_source is always callee.
		answer: func(*run, map[string]any) []map[string]any {
			return []map[string]any{{"action": "say", "text": "Checking webhook retries."}, {"action": "pause", "length": 15}}
		},
		run: runWebhookRetry,
	},
	{
		name: "webhook_test", title: "webhook test: a receiver answering 500, then a working one",
		run: runWebhookTest,
	},
}

// CaseNames lists every case, in table order.
func CaseNames() []string {
	out := make([]string, len(cases))
	for i, c := range cases {
		out[i] = c.name
	}
	return out
}

func caseByName(name string) *checklistCase {
	for _, c := range cases {
		if c.name == name {
			return c
		}
	}
	return nil
}

// finalStatuses are the call statuses that do not change any more.
var finalStatuses = []string{"completed", "busy", "no-answer", "failed", "canceled"}

func isFinal(status string) bool {
	for _, s := range finalStatuses {
		if s == status {
			return true
		}
	}
	return false
}

// place sends POST /v1/calls with c, records the exchange and returns the
// call's id (after checking the status is 201).
func (t *tally) place(ctx context.Context, c *client, body map[string]any) (string, error) {
	ex, err := c.exchange(ctx, "POST", "/v1/calls", body)
	if err != nil {
		return "", t.check("POST /v1/calls", err, "")
	}
	t.res.Fixture.Requests = append(t.res.Fixture.Requests, ex)
	if ex.Status != 201 {
		return "", t.check("POST /v1/calls", answerError(ex), "")
	}
	var call map[string]any
	_ = json.Unmarshal(ex.Answer, &call)
	id := str(call["id"])
	t.res.CallID, t.res.Fixture.CallID = id, id
	return id, t.check("POST /v1/calls", nil, "201 "+id)
}

// waitCall polls the call until its status is final and records it.
func (t *tally) waitCall(ctx context.Context, id string) (map[string]any, error) {
	for {
		c, err := t.r.op.do(ctx, "GET", "/v1/calls/"+url.PathEscape(id), nil, 200)
		if err != nil {
			return nil, t.check("call ended", err, "")
		}
		if isFinal(str(c["status"])) {
			t.res.Status, t.res.HangupCause = str(c["status"]), str(c["hangup_cause"])
			t.res.Fixture.Call = c
			t.step("call ended", Passed, fmt.Sprintf("%s, hangup_cause %s, hangup_source %s", str(c["status"]),
				str(c["hangup_cause"]), str(c["hangup_source"])))
			return c, nil
		}
		select {
		case <-ctx.Done():
			return nil, t.check("call ended", fmt.Errorf("still %s: %w", str(c["status"]), ctx.Err()), "")
		case <-time.After(250 * time.Millisecond):
		}
	}
}

// waitWebhooks waits until every event in want was delivered for the call
// (signature verified, answered 2xx) and records what arrived.
func (t *tally) waitWebhooks(ctx context.Context, id string, want ...string) error {
	err := t.r.rcv.wait(ctx, func() bool { return hasAll(t.r.rcv.forCall(id), want) })
	got := t.r.rcv.forCall(id)
	t.res.Fixture.Webhooks = got
	for _, w := range got {
		if !w.Verified {
			return t.check("webhooks", fmt.Errorf("a %s request for the call failed signature verification", w.Kind), "")
		}
	}
	if err != nil {
		return t.check("webhooks", fmt.Errorf("want %s, got %s", strings.Join(want, ", "),
			strings.Join(deliveredEvents(got), ", ")), "")
	}
	return t.check("webhooks", nil, strings.Join(deliveredEvents(got), ", ")+" (signatures verified)")
}

// expectCall checks fields of the ended call.
func (t *tally) expectCall(c map[string]any, status, cause string, sipCode int) error {
	if err := t.expect("status", str(c["status"]) == status, status, fmt.Sprintf("status %q, want %q", str(c["status"]), status)); err != nil {
		return err
	}
	if cause != "" {
		if err := t.expect("hangup_cause", str(c["hangup_cause"]) == cause, cause,
			fmt.Sprintf("hangup_cause %q, want %q", str(c["hangup_cause"]), cause)); err != nil {
			return err
		}
	}
	if sipCode != 0 {
		if err := t.expect("sip_code", int(num(c["sip_code"])) == sipCode, itoa(sipCode),
			fmt.Sprintf("sip_code %v, want %d", c["sip_code"], sipCode)); err != nil {
			return err
		}
	}
	return nil
}

// simCall has the simulator call did with script and records it.
func (t *tally) simCall(ctx context.Context, did string, script []string) (sim.CallReport, time.Time, error) {
	start := time.Now()
	t.res.Fixture.SIP = &SIPCall{From: callerNumber, To: did, Script: script}
	rep, err := t.r.sim.Call(ctx, sim.CallOptions{Platform: t.r.sip, From: callerNumber, To: did, Script: script,
		MaxDuration: 90 * time.Second})
	t.res.Fixture.SIPResult = &SIPResult{SIPStatus: rep.SIPStatus, Answered: rep.Answered, EndedBy: rep.EndedBy}
	if err != nil {
		return rep, start, t.check("simulator call", fmt.Errorf("%w (is the platform's SIP at %s? set --sip)", err, t.r.sip), "")
	}
	if !rep.Answered {
		return rep, start, t.check("simulator call", fmt.Errorf("not answered: %d %s (is the platform's SIP at %s? set --sip)",
			rep.SIPStatus, rep.SIPReason, t.r.sip), "")
	}
	return rep, start, t.check("simulator call", nil, fmt.Sprintf("answered, %s, heard %.1f s of speech", rep.Codec,
		rep.HeardActive.Seconds()))
}

// inboundCallID finds the platform's id of the inbound call to did: the one
// whose answer_url request reached the receiver after start.
func (t *tally) inboundCallID(ctx context.Context, did string, start time.Time) (string, error) {
	var id string
	err := t.r.rcv.wait(ctx, func() bool { id = t.r.rcv.answered(did, start); return id != "" })
	if err != nil {
		return "", t.check("answer_url requested", errors.New("no answer_url request for the call arrived"), "")
	}
	t.res.CallID, t.res.Fixture.CallID = id, id
	return id, t.check("answer_url requested", nil, id)
}

// outbound places a call and waits for it to end.
func (t *tally) outbound(ctx context.Context, c *client, body map[string]any) (map[string]any, error) {
	id, err := t.place(ctx, c, body)
	if err != nil {
		return nil, err
	}
	return t.waitCall(ctx, id)
}

// inbound has the simulator call did with script, finds the platform's
// call and waits for it to end.
func (t *tally) inbound(ctx context.Context, did string, script []string) (map[string]any, error) {
	_, start, err := t.simCall(ctx, did, script)
	if err != nil {
		return nil, err
	}
	id, err := t.inboundCallID(ctx, did, start)
	if err != nil {
		return nil, err
	}
	return t.waitCall(ctx, id)
}

// actionResult is field of the result the call's last action_url request
// carried ("" without one).
func (t *tally) actionResult(callID, field string) string {
	v := ""
	for _, w := range t.r.rcv.forCall(callID) {
		if w.Kind == "action" {
			var b struct {
				Result map[string]any `json:"result"`
			}
			_ = json.Unmarshal(w.Body, &b)
			v = str(b.Result[field])
		}
	}
	return v
}

// recordingAndInsights waits for the call's recording and its insights,
// fetching each through the API.
func (t *tally) recordingAndInsights(ctx context.Context, call map[string]any) error {
	id := str(call["id"])
	ids, _ := call["recording_ids"].([]any)
	if len(ids) == 0 {
		// The recording may be listed a moment after the call ends.
		c, err := t.r.op.do(ctx, "GET", "/v1/calls/"+url.PathEscape(id), nil, 200)
		if err != nil {
			return t.check("recording", err, "")
		}
		ids, _ = c["recording_ids"].([]any)
	}
	if len(ids) == 0 {
		return t.check("recording", errors.New("the call has no recording_ids"), "")
	}
	recID := str(ids[len(ids)-1])
	var rec map[string]any
	for {
		var err error
		rec, err = t.r.app.do(ctx, "GET", "/v1/recordings/"+url.PathEscape(recID), nil, 200)
		if err != nil {
			return t.check("recording", err, "")
		}
		if str(rec["status"]) != "in-progress" {
			break
		}
		if err := sleep(ctx, 250*time.Millisecond); err != nil {
			return t.check("recording", errors.New("still in progress"), "")
		}
	}
	t.result("recording", rec)
	t.res.Recording = num(rec["duration"])
	if err := t.expect("recording", str(rec["status"]) == "completed" && num(rec["duration"]) > 1,
		fmt.Sprintf("%s, %.1f s, %s, %d Hz", str(rec["source"]), num(rec["duration"]), str(rec["channels"]), int(num(rec["sample_rate"]))),
		fmt.Sprintf("status %s, %.1f s", str(rec["status"]), num(rec["duration"]))); err != nil {
		return err
	}
	for _, kind := range []string{"transcription", "summary", "score", "topics"} {
		var got map[string]any
		for {
			ex, err := t.r.app.exchange(ctx, "GET", "/v1/calls/"+url.PathEscape(id)+"/"+kind, nil)
			if err != nil {
				return t.check(kind, err, "")
			}
			if ex.Status == 200 {
				_ = json.Unmarshal(ex.Answer, &got)
				if s := str(got["status"]); s == "completed" || s == "failed" {
					break
				}
			} else if ex.Status != 404 {
				return t.check(kind, answerError(ex), "")
			}
			if err := sleep(ctx, time.Second); err != nil {
				return t.check(kind, fmt.Errorf("not completed: %v", got["status"]), "")
			}
		}
		t.result(kind, got)
		if str(got["status"]) != "completed" {
			e, _ := got["error"].(map[string]any)
			return t.check(kind, fmt.Errorf("failed: %s: %s", str(e["code"]), str(e["message"])), "")
		}
		detail := ""
		switch kind {
		case "transcription":
			t.res.Transcript = transcriptLines(got)
			detail = fmt.Sprintf("%d words", len(strings.Fields(str(got["text"]))))
		case "summary":
			t.res.Summary = str(got["text"])
			detail = fmt.Sprintf("%d characters", len(t.res.Summary))
		case "score":
			t.res.Score, t.res.Rating = int(num(got["score"])), str(got["rating"])
			detail = fmt.Sprintf("%d (%s)", t.res.Score, t.res.Rating)
		case "topics":
			tops, _ := got["topics"].([]any)
			for _, x := range tops {
				m, _ := x.(map[string]any)
				t.res.Topics = append(t.res.Topics, str(m["name"]))
			}
			detail = strings.Join(t.res.Topics, ", ")
			if detail == "" {
				detail = "(none found)"
			}
		}
		if err := t.check(kind, nil, detail); err != nil {
			return err
		}
	}
	return nil
}

// transcriptLines is the transcript with its speakers, one segment a line.
func transcriptLines(tr map[string]any) string {
	segs, _ := tr["segments"].([]any)
	var b strings.Builder
	for _, x := range segs {
		s, _ := x.(map[string]any)
		fmt.Fprintf(&b, "%s: %s\n", str(s["speaker"]), str(s["text"]))
	}
	return strings.TrimSpace(b.String())
}

// result keeps a fetched object in the fixture.
func (t *tally) result(name string, v any) {
	b, _ := json.Marshal(v)
	if t.res.Fixture.Results == nil {
		t.res.Fixture.Results = map[string]json.RawMessage{}
	}
	t.res.Fixture.Results[name] = b
}

func sleep(ctx context.Context, d time.Duration) error {
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-time.After(d):
		return nil
	}
}

func runOutboundRecorded(ctx context.Context, t *tally) error {
	r := t.r
	call, err := t.outbound(ctx, r.app, map[string]any{"to": toRecorded, "from": fromNumber,
		"application_id": r.dep.apps[roleMain], "record": true,
		"answer_url": r.rcv.answerURL(roleMain, "outbound_recorded")})
	if err != nil {
		return err
	}
	id := str(call["id"])
	if err := t.expectCall(call, "completed", "", 0); err != nil {
		return err
	}
	if err := t.waitWebhooks(ctx, id, "call.initiated", "call.ringing", "call.answered", "call.gather",
		"call.completed", "recording.completed", "transcription.completed", "insights.completed"); err != nil {
		return err
	}
	// The application's hangup ends it: on an outbound call the platform's
	// side is the caller.
	if err := t.expect("hung up by the application", str(call["hangup_source"]) == "caller", "hangup_source caller",
		fmt.Sprintf("hangup_source %q, want caller (the application's hangup)", str(call["hangup_source"]))); err != nil {
		return err
	}
	digits := t.actionResult(id, "digits")
	if err := t.expect("gather digits", digits == "42", "42 reached the action_url", fmt.Sprintf("action_url got digits %q, want 42", digits)); err != nil {
		return err
	}
	return t.recordingAndInsights(ctx, call)
}

func runInboundVoicemail(ctx context.Context, t *tally) error {
	call, err := t.inbound(ctx, didVoicemail, voicemailScript)
	if err != nil {
		return err
	}
	id := str(call["id"])
	if err := t.expectCall(call, "completed", "", 0); err != nil {
		return err
	}
	if err := t.waitWebhooks(ctx, id, "call.initiated", "call.answered", "call.completed", "recording.completed",
		"transcription.completed", "insights.completed"); err != nil {
		return err
	}
	return t.recordingAndInsights(ctx, call)
}

func runNoInput(ctx context.Context, t *tally) error {
	call, err := t.inbound(ctx, didNoInput, noInputScript)
	if err != nil {
		return err
	}
	id := str(call["id"])
	if err := t.expectCall(call, "completed", "", 0); err != nil {
		return err
	}
	// On an inbound call the application is the callee: its hangup action
	// ends the call from that side.
	if err := t.expect("hung up by the application", str(call["hangup_source"]) == "callee",
		"hangup_source callee", fmt.Sprintf("hangup_source %q, want callee (the application's hangup)", str(call["hangup_source"]))); err != nil {
		return err
	}
	if err := t.waitWebhooks(ctx, id, "call.initiated", "call.answered", "call.gather", "call.completed"); err != nil {
		return err
	}
	reason := t.actionResult(id, "reason")
	return t.expect("gather timed out", reason == "timeout", "action_url got reason timeout", fmt.Sprintf("action_url got reason %q, want timeout", reason))
}

func runCallerHangup(ctx context.Context, t *tally) error {
	call, err := t.inbound(ctx, didHangup, hangupScript)
	if err != nil {
		return err
	}
	id := str(call["id"])
	if err := t.expectCall(call, "completed", "", 0); err != nil {
		return err
	}
	if err := t.expect("hung up by the caller", str(call["hangup_source"]) == "caller", "hangup_source caller",
		fmt.Sprintf("hangup_source %q, want caller", str(call["hangup_source"]))); err != nil {
		return err
	}
	return t.waitWebhooks(ctx, id, "call.initiated", "call.answered", "call.completed")
}

// runRefusedOutbound places a call the carrier does not connect and checks
// how it ended.
func runRefusedOutbound(ctx context.Context, t *tally, to string, extra map[string]any, status, cause string, sipCode int) error {
	r := t.r
	body := map[string]any{"to": to, "from": fromNumber, "application_id": r.dep.apps[roleMain],
		"answer_url": r.rcv.answerURL(roleMain, t.res.Case)}
	for k, v := range extra {
		body[k] = v
	}
	call, err := t.outbound(ctx, r.app, body)
	if err != nil {
		return err
	}
	id := str(call["id"])
	if err := t.expectCall(call, status, cause, sipCode); err != nil {
		return err
	}
	if status == "no-answer" {
		if err := t.expect("hung up by the platform", str(call["hangup_source"]) == "system", "hangup_source system",
			fmt.Sprintf("hangup_source %q, want system (the platform cancelled the call)", str(call["hangup_source"]))); err != nil {
			return err
		}
	}
	return t.waitWebhooks(ctx, id, "call.initiated", "call.completed")
}

func runUnreachable(ctx context.Context, t *tally) error {
	r := t.r
	call, err := t.outbound(ctx, r.op, map[string]any{"to": toUnreachable, "from": fromNumber,
		"application_id": r.dep.apps[roleUnreachable], "answer_url": r.rcv.answerURL(roleUnreachable, "unreachable")})
	if err != nil {
		return err
	}
	id := str(call["id"])
	if err := t.expectCall(call, "failed", "unreachable", 0); err != nil {
		return err
	}
	e, _ := call["error"].(map[string]any)
	if err := t.expect("error says why", e != nil && str(e["message"]) != "", str(e["code"])+": "+str(e["message"]),
		"the failed call's error is null"); err != nil {
		return err
	}
	return t.waitWebhooks(ctx, id, "call.initiated", "call.completed")
}

func runRejected(ctx context.Context, t *tally) error {
	r := t.r
	for _, c := range []struct {
		name   string
		cl     *client
		body   map[string]any
		status int
		code   string
		says   string
	}{
		{"missing to", r.app, map[string]any{"from": fromNumber, "application_id": r.dep.apps[roleMain]}, 422, "invalid_request", "required"},
		{"to not E.164", r.app, map[string]any{"to": toNotE164, "from": fromNumber, "application_id": r.dep.apps[roleMain]}, 422, "invalid_request", "E.164"},
		{"no rate", r.app, map[string]any{"to": toNoRate, "from": fromNumber, "application_id": r.dep.apps[roleMain]}, 403, "destination_not_allowed", ""},
		{"no balance", r.op, map[string]any{"to": toRecorded, "from": fromNumber, "application_id": r.dep.apps[roleBroke]}, 402, "insufficient_balance", ""},
	} {
		ex, err := c.cl.exchange(ctx, "POST", "/v1/calls", c.body)
		if err != nil {
			return t.check(c.name, err, "")
		}
		t.res.Fixture.Requests = append(t.res.Fixture.Requests, ex)
		ae, _ := answerError(ex).(*APIError)
		ok := ex.Status == c.status && ae.Code == c.code && strings.Contains(ae.Message, c.says)
		if err := t.expect(c.name, ok, fmt.Sprintf("%d %s: %s", ex.Status, ae.Code, ae.Message),
			fmt.Sprintf("%d %s %q, want %d %s (saying %q)", ex.Status, ae.Code, ae.Message, c.status, c.code, c.says)); err != nil {
			return err
		}
	}
	return nil
}

func runWebhookRetry(ctx context.Context, t *tally) error {
	r := t.r
	call, err := t.outbound(ctx, r.op, map[string]any{"to": toAnswerHangup, "from": fromNumber,
		"application_id": r.dep.apps[roleFlaky], "answer_url": r.rcv.answerURL(roleFlaky, "webhook_retry")})
	if err != nil {
		return err
	}
	id := str(call["id"])
	if err := t.expectCall(call, "completed", "", 0); err != nil {
		return err
	}
	if err := t.waitWebhooks(ctx, id, "call.initiated", "call.ringing", "call.answered", "call.completed"); err != nil {
		return err
	}
	// Every event was refused once before it was delivered.
	failed := map[string]bool{}
	for _, w := range r.rcv.forCall(id) {
		if w.Kind == "webhook" && w.Answered == 500 {
			failed[w.Headers["webhook-id"]] = true
		}
	}
	for _, w := range r.rcv.forCall(id) {
		if w.Kind == "webhook" && w.Answered/100 == 2 && !failed[w.Headers["webhook-id"]] {
			return t.check("retried", fmt.Errorf("%s was delivered without the 500 first", w.event), "")
		}
	}
	// The platform records an attempt just after the receiver answered it:
	// poll until the events API shows every delivery.
	for {
		evs, err := r.op.list(ctx, "/v1/calls/"+url.PathEscape(id)+"/events", "", 100)
		if err != nil {
			return t.check("retried", err, "")
		}
		var pending error
		for _, e := range evs {
			atts, _ := e["attempts"].([]any)
			if str(e["delivery_status"]) != "delivered" || len(atts) < 2 {
				pending = fmt.Errorf("event %s: delivery_status %s after %d attempts, want delivered after 2",
					str(e["event"]), str(e["delivery_status"]), len(atts))
			}
		}
		if pending == nil {
			t.result("events", evs)
			return t.check("retried", nil, fmt.Sprintf("%d events each answered 500 once, then delivered", len(evs)))
		}
		if sleep(ctx, 250*time.Millisecond) != nil {
			return t.check("retried", pending, "")
		}
	}
}

func runWebhookTest(ctx context.Context, t *tally) error {
	r := t.r
	for _, c := range []struct {
		name, role string
		status     int
	}{
		{"webhook-test to a receiver answering 500", roleFailing, 502},
		{"webhook-test to a working receiver", roleMain, 200},
	} {
		cl := r.op
		if c.role == roleMain {
			cl = r.app
		}
		ex, err := cl.exchange(ctx, "POST", "/v1/applications/"+r.dep.apps[c.role]+"/webhook-test", nil)
		if err != nil {
			return t.check(c.name, err, "")
		}
		t.res.Fixture.Requests = append(t.res.Fixture.Requests, ex)
		detail := fmt.Sprintf("%d %s", ex.Status, ex.Answer)
		ok := ex.Status == c.status
		if c.status == 502 {
			ae, _ := answerError(ex).(*APIError)
			var body struct {
				Error struct {
					HTTPStatus int `json:"http_status"`
				} `json:"error"`
			}
			_ = json.Unmarshal(ex.Answer, &body)
			ok = ok && ae.Code == "webhook_test_failed"
			detail = fmt.Sprintf("%d %s: %s (the receiver answered %d)", ex.Status, ae.Code, ae.Message, body.Error.HTTPStatus)
		}
		if err := t.expect(c.name, ok, detail, fmt.Sprintf("%d %s, want %d", ex.Status, ex.Answer, c.status)); err != nil {
			return err
		}
	}
	return nil
}
