package api_test

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"
)

func TestCallCreateAndGetSeedShape(t *testing.T) {
	each(t, func(t *testing.T, b *bundle) {
		cust := b.customer("acme")
		app := b.application(cust)
		id := b.placeCall(b.op, app, "+15551230002")
		got := b.ok(200, "GET", "/v1/calls/"+id, b.customerKey(cust), nil)
		// The seed's fields, with the seed's values where they are fixed.
		for k, v := range map[string]string{"id": id, "status": "queued", "direction": "outbound",
			"from": "+15551230001", "to": "+15551230002", "customer_id": cust, "application_id": app} {
			if got.str(k) != v {
				t.Errorf("%s = %q, want %q", k, got.str(k), v)
			}
		}
		// The seed's order: id, status, direction, from, to come first.
		if !strings.HasPrefix(string(got.Raw), fmt.Sprintf(`{"id":%q,"status":"queued","direction":"outbound","from":"+15551230001","to":"+15551230002"`, id)) {
			t.Errorf("call JSON does not start in the seed's order: %s", got.Raw)
		}
		for _, f := range []string{"parent_call_id", "trunk_id", "number_id", "codec", "record", "variables", "created_at",
			"ringing_at", "answered_at", "ended_at", "duration", "billable_seconds", "price", "currency", "hangup_cause",
			"hangup_source", "sip_code", "sip_reason", "recording_ids", "error"} {
			if _, ok := got.JSON[f]; !ok {
				t.Errorf("call lacks field %s", f)
			}
		}
	})
}

func TestCallCreateValidation(t *testing.T) {
	each(t, func(t *testing.T, b *bundle) {
		cust := b.customer("acme")
		app := b.application(cust)
		base := func() map[string]any {
			return map[string]any{"to": "+15551230002", "from": "+15551230001", "application_id": app}
		}
		cases := []struct {
			name   string
			edit   func(m map[string]any)
			status int
			code   string
			param  string
		}{
			{"bad to", func(m map[string]any) { m["to"] = "5551230002" }, 422, "invalid_request", "to"},
			{"to too short", func(m map[string]any) { m["to"] = "+1234567" }, 422, "invalid_request", "to"},
			{"to leading zero", func(m map[string]any) { m["to"] = "+0155512300" }, 422, "invalid_request", "to"},
			{"bad from", func(m map[string]any) { m["from"] = "+1555abc0001" }, 422, "invalid_request", "from"},
			{"no app", func(m map[string]any) { delete(m, "application_id") }, 422, "invalid_request", "application_id"},
			{"unknown app", func(m map[string]any) { m["application_id"] = "app_nope" }, 404, "not_found", ""},
			{"unknown field", func(m map[string]any) { m["recrod"] = true }, 422, "invalid_request", "recrod"},
			{"timeout low", func(m map[string]any) { m["timeout"] = 4 }, 422, "invalid_request", "timeout"},
			{"timeout high", func(m map[string]any) { m["timeout"] = 601 }, 422, "invalid_request", "timeout"},
			{"time_limit", func(m map[string]any) { m["time_limit"] = 0 }, 422, "invalid_request", "time_limit"},
			{"channels", func(m map[string]any) { m["recording_channels"] = "stereo" }, 422, "invalid_request", "recording_channels"},
			{"wrong type", func(m map[string]any) { m["record"] = "yes" }, 400, "invalid_json", ""},
			{"bad action", func(m map[string]any) { m["actions"] = []any{map[string]any{"action": "dance"}} }, 422, "invalid_request", "actions[0].action"},
			{"bad say", func(m map[string]any) { m["actions"] = []any{map[string]any{"action": "say"}} }, 422, "invalid_request", "actions[0].text"},
			{"private answer_url", func(m map[string]any) { m["answer_url"] = "http://10.0.0.1/x" }, 422, "invalid_request", "answer_url"},
			{"metadata answer_url", func(m map[string]any) { m["answer_url"] = "http://169.254.169.254/" }, 422, "invalid_request", "answer_url"},
			{"ftp answer_url", func(m map[string]any) { m["answer_url"] = "ftp://example.com/" }, 422, "invalid_request", "answer_url"},
			{"private play url", func(m map[string]any) {
				m["actions"] = []any{map[string]any{"action": "play", "url": "http://10.1.2.3/a.wav"}}
			}, 422, "invalid_request", "actions[0].url"},
			{"encoded loopback in a gather prompt", func(m map[string]any) {
				m["actions"] = []any{map[string]any{"action": "gather", "prompt": []any{map[string]any{"action": "play", "url": "http://2130706433/a.wav"}}}}
			}, 422, "invalid_request", "actions[0].prompt[0].url"},
			{"metadata action_url", func(m map[string]any) {
				m["actions"] = []any{map[string]any{"action": "record", "action_url": "http://169.254.169.254/x"}}
			}, 422, "invalid_request", "actions[0].action_url"},
		}
		for _, tc := range cases {
			m := base()
			tc.edit(m)
			r := b.want(b.call("POST", "/v1/calls", b.op, m), tc.status, tc.code)
			if tc.param != "" && r.errParam() != tc.param {
				t.Errorf("%s: param = %q, want %q", tc.name, r.errParam(), tc.param)
			}
		}
		b.want(b.call("POST", "/v1/calls", b.op, "{not json"), 400, "invalid_json")
		b.want(b.call("POST", "/v1/calls", b.op, `{"to":"+15551230002"} {}`), 400, "invalid_json")
		b.want(b.call("POST", "/v1/calls", b.op, strings.Repeat(" ", 1<<20+10)), 413, "invalid_request")
		// Inline actions are accepted as an array or wrapped.
		m := base()
		m["actions"] = json.RawMessage(`{"actions":[{"action":"say","text":"hi"}]}`)
		b.ok(201, "POST", "/v1/calls", b.op, m)
	})
}

func TestCallIdempotency(t *testing.T) {
	each(t, func(t *testing.T, b *bundle) {
		cust := b.customer("acme")
		app := b.application(cust)
		key := b.customerKey(cust)
		body := map[string]any{"to": "+15551230002", "from": "+15551230001", "application_id": app}
		first := b.ok(201, "POST", "/v1/calls", key, body, "Idempotency-Key: k1")
		again := b.ok(201, "POST", "/v1/calls", key, body, "Idempotency-Key: k1")
		if again.Header.Get("Idempotent-Replayed") != "true" || string(again.Raw) != string(first.Raw) {
			t.Fatalf("replay differs:\n%s\n%s", first.Raw, again.Raw)
		}
		body["to"] = "+15551230003"
		b.want(b.call("POST", "/v1/calls", key, body, "Idempotency-Key: k1"), 409, "idempotency_key_reused")
		list := b.ok(200, "GET", "/v1/calls", key, nil)
		if n := len(list.data()); n != 1 {
			t.Fatalf("%d calls after a replay, want 1", n)
		}
		// Keys are per caller: the operator's k1 is another key.
		b.ok(201, "POST", "/v1/calls", b.op, body, "Idempotency-Key: k1")
		b.want(b.call("POST", "/v1/calls", key, body, "Idempotency-Key: "+strings.Repeat("x", 256)), 422, "invalid_request")
	})
}

func TestCallHangupAndActionsWithoutEngine(t *testing.T) {
	each(t, func(t *testing.T, b *bundle) {
		cust := b.customer("acme")
		app := b.application(cust)
		key := b.customerKey(cust)
		id := b.placeCall(key, app, "+15551230002")
		// Not in progress: actions cannot be replaced; a bad list is still a 422 first.
		b.want(b.call("POST", "/v1/calls/"+id+"/actions", key, map[string]any{"actions": []any{map[string]any{"action": "say"}}}), 422, "invalid_request")
		b.want(b.call("POST", "/v1/calls/"+id+"/actions", key, map[string]any{"actions": []any{map[string]any{"action": "hangup"}}}), 409, "conflict")
		// A queued call that no engine runs is canceled here, with call.completed.
		got := b.ok(200, "POST", "/v1/calls/"+id+"/hangup", key, nil)
		if got.str("status") != "canceled" || got.str("hangup_cause") != "originator_cancel" || got.str("hangup_source") != "api" {
			t.Fatalf("hangup: %s", got.Raw)
		}
		evs := b.ok(200, "GET", "/v1/calls/"+id+"/events", key, nil).data()
		if len(evs) != 1 || evs[0]["event"] != "call.completed" {
			t.Fatalf("events: %v", evs)
		}
		b.want(b.call("POST", "/v1/calls/"+id+"/hangup", key, nil), 409, "conflict")
		// Another tenant's call reads as missing.
		other := b.customer("other")
		b.want(b.call("POST", "/v1/calls/"+id+"/hangup", b.customerKey(other), nil), 404, "not_found")
	})
}
