package api_test

import (
	"fmt"
	"strings"
	"testing"
)

// TestCallerIDOwnership: POST /v1/calls takes as from only one of the
// customer's numbers or a caller ID the operator verified for it, or any
// number once the operator allows it; another customer's number or an
// unknown one is 403 caller_id_not_allowed. The same rule holds for the
// from of a dial in an inline action list, on both backends.
func TestCallerIDOwnership(t *testing.T) {
	each(t, func(t *testing.T, b *bundle) {
		a := b.ok(201, "POST", "/v1/customers", b.op, map[string]any{"name": "a"}).str("id")
		other := b.ok(201, "POST", "/v1/customers", b.op, map[string]any{"name": "other"}).str("id")
		b.numberCreate("+15551230010", a, nil)
		b.numberCreate("+15551230020", other, nil)
		app := b.application(a)
		key := b.customerKey(a)
		appKey := b.applicationKey(app)
		place := func(k, from string, extra map[string]any) *response {
			body := map[string]any{"to": "+15551239000", "from": from, "application_id": app}
			for f, v := range extra {
				body[f] = v
			}
			return b.call("POST", "/v1/calls", k, body)
		}
		refused := func(r *response, param string) {
			t.Helper()
			b.want(r, 403, "caller_id_not_allowed")
			if r.errParam() != param {
				t.Errorf("param %q, want %q", r.errParam(), param)
			}
		}
		// Defaults: nothing verified, not allowed any.
		c := b.ok(200, "GET", "/v1/customers/"+a, key, nil)
		if ids, _ := c.JSON["verified_caller_ids"].([]any); ids == nil || len(ids) != 0 || c.JSON["allow_any_caller_id"] != false {
			t.Fatalf("defaults: %s", c.Raw)
		}
		for _, k := range []string{b.op, key, appKey} {
			b.ok(201, "POST", "/v1/calls", k, map[string]any{"to": "+15551239000", "from": "+15551230010", "application_id": app})
			refused(place(k, "+15551230020", nil), "from") // the other customer's number
			refused(place(k, "+15551230099", nil), "from") // nobody's
		}
		// A dial in an inline list: its from, or the call's when it has none.
		dial := func(from string) map[string]any {
			d := map[string]any{"action": "dial", "to": "+15551239001"}
			if from != "" {
				d["from"] = from
			}
			return map[string]any{"actions": []any{map[string]any{"action": "say", "text": "hi"}, d}}
		}
		b.ok(201, "POST", "/v1/calls", key, map[string]any{"to": "+15551239000", "from": "+15551230010", "application_id": app,
			"actions": dial("")["actions"]})
		refused(place(key, "+15551230010", dial("+15551230020")), "actions[1].from")

		// Only the operator sets the two fields.
		b.want(b.call("PATCH", "/v1/customers/"+a, key, map[string]any{"verified_caller_ids": []string{"+15551230099"}}), 403, "forbidden")
		// Verified: the number works, the other customer's still does not.
		r := b.ok(200, "PATCH", "/v1/customers/"+a, b.op, map[string]any{"verified_caller_ids": []string{"+15551230099", " +15551230099"}})
		if ids, _ := r.JSON["verified_caller_ids"].([]any); len(ids) != 1 || ids[0] != "+15551230099" {
			t.Errorf("verified_caller_ids %v, want the one number once", r.JSON["verified_caller_ids"])
		}
		b.ok(201, "POST", "/v1/calls", key, map[string]any{"to": "+15551239000", "from": "+15551230099", "application_id": app})
		refused(place(key, "+15551230020", nil), "from")
		// Any, for a trusted customer.
		b.ok(200, "PATCH", "/v1/customers/"+a, b.op, map[string]any{"allow_any_caller_id": true})
		b.ok(201, "POST", "/v1/calls", key, map[string]any{"to": "+15551239000", "from": "+15551230020", "application_id": app})
		b.ok(201, "POST", "/v1/calls", key, map[string]any{"to": "+15551239000", "from": "+15551230010", "application_id": app,
			"actions": dial("+15551230077")["actions"]})
		// The other customer is unaffected by a's settings.
		otherApp := b.application(other)
		b.want(b.call("POST", "/v1/calls", b.op, map[string]any{"to": "+15551239000", "from": "+15551230099", "application_id": otherApp}),
			403, "caller_id_not_allowed")
	})
}

// TestCallerIDValidation: verified_caller_ids holds at most 100 E.164
// numbers; allow_any_caller_id is a boolean.
func TestCallerIDValidation(t *testing.T) {
	each(t, func(t *testing.T, b *bundle) {
		id := b.customer("v")
		for _, tc := range []struct {
			body  map[string]any
			param string
		}{
			{map[string]any{"verified_caller_ids": []string{"+15551230001", "12"}}, "verified_caller_ids[1]"},
			{map[string]any{"verified_caller_ids": []string{"not a number"}}, "verified_caller_ids[0]"},
			{map[string]any{"verified_caller_ids": manyNumbers(101)}, "verified_caller_ids"},
			{map[string]any{"allow_any_caller_id": nil}, "allow_any_caller_id"},
		} {
			r := b.want(b.call("PATCH", "/v1/customers/"+id, b.op, tc.body), 422, "invalid_request")
			if r.errParam() != tc.param {
				t.Errorf("%v: param %q, want %q", tc.body, r.errParam(), tc.param)
			}
		}
		b.want(b.call("PATCH", "/v1/customers/"+id, b.op, map[string]any{"allow_any_caller_id": "yes"}), 400, "invalid_json")
		r := b.ok(200, "PATCH", "/v1/customers/"+id, b.op, map[string]any{"verified_caller_ids": manyNumbers(100)})
		if ids, _ := r.JSON["verified_caller_ids"].([]any); len(ids) != 100 {
			t.Errorf("%d ids kept, want 100", len(ids))
		}
		// null and [] both empty the list.
		for _, empty := range []any{nil, []string{}} {
			r = b.ok(200, "PATCH", "/v1/customers/"+id, b.op, map[string]any{"verified_caller_ids": empty})
			if !strings.Contains(string(r.Raw), `"verified_caller_ids":[]`) {
				t.Errorf("after %v: %s", empty, r.Raw)
			}
		}
		// Create takes them too.
		r = b.ok(201, "POST", "/v1/customers", b.op, map[string]any{"name": "w", "verified_caller_ids": []string{"+442071838750"},
			"allow_any_caller_id": true})
		if r.JSON["allow_any_caller_id"] != true || !strings.Contains(string(r.Raw), `"verified_caller_ids":["+442071838750"]`) {
			t.Errorf("create: %s", r.Raw)
		}
		got := b.ok(200, "GET", "/v1/customers/"+r.str("id"), b.op, nil)
		if got.JSON["allow_any_caller_id"] != true || !strings.Contains(string(got.Raw), `"verified_caller_ids":["+442071838750"]`) {
			t.Errorf("stored: %s", got.Raw)
		}
	})
}

func manyNumbers(n int) []string {
	out := make([]string, n)
	for i := range out {
		out[i] = fmt.Sprintf("+1555124%04d", i)
	}
	return out
}

// TestCustomerMoneyFieldsValidated: credit_limit, daily_spend_limit and
// max_rate_per_minute follow the rules of the other money fields (at most 6
// decimal places, below 1000000000, not negative) on create and update;
// "1e1000" and "0.0000001" were accepted before.
func TestCustomerMoneyFieldsValidated(t *testing.T) {
	each(t, func(t *testing.T, b *bundle) {
		id := b.customer("m")
		for _, field := range []string{"credit_limit", "daily_spend_limit", "max_rate_per_minute"} {
			for _, v := range []string{"1e1000", "0.0000001", "1000000000", "-1", "1e9"} {
				for _, req := range []struct{ method, path string }{{"POST", "/v1/customers"}, {"PATCH", "/v1/customers/" + id}} {
					r := b.want(b.call(req.method, req.path, b.op, map[string]any{"name": "m", field: v}), 422, "invalid_request")
					if r.errParam() != field {
						t.Errorf("%s %s %s=%s: param %q", req.method, req.path, field, v, r.errParam())
					}
				}
			}
			r := b.ok(200, "PATCH", "/v1/customers/"+id, b.op, map[string]any{field: "999999999.999999"})
			if r.str(field) != "999999999.999999" {
				t.Errorf("%s: %s", field, r.Raw)
			}
		}
	})
}

// TestCallVariablesBounded: POST /v1/calls refuses variables above the
// per-call total (64 KiB of names and values), which set cannot pass either.
func TestCallVariablesBounded(t *testing.T) {
	each(t, func(t *testing.T, b *bundle) {
		app := b.application(b.customer("v"))
		vars := map[string]string{}
		for i := 0; i < 17; i++ {
			vars[fmt.Sprintf("v%d", i)] = strings.Repeat("x", 4000)
		}
		r := b.want(b.call("POST", "/v1/calls", b.op, map[string]any{"to": "+15551239000", "from": testCallerID,
			"application_id": app, "variables": vars}), 422, "invalid_request")
		if r.errParam() != "variables" || !strings.Contains(r.str("message")+string(r.Raw), "65536") {
			t.Errorf("%s", r.Raw)
		}
		delete(vars, "v16")
		b.ok(201, "POST", "/v1/calls", b.op, map[string]any{"to": "+15551239000", "from": testCallerID,
			"application_id": app, "variables": vars})
	})
}

// TestBodySizeBounded: a rate CSV, like every body, is at most 1 MiB: 413.
func TestBodySizeBounded(t *testing.T) {
	each(t, func(t *testing.T, b *bundle) {
		csv := strings.Repeat("1,0.01\n", (1<<20)/7+1)
		b.want(b.importCSV("", csv), 413, "invalid_request")
		b.want(b.call("POST", "/v1/customers", b.op, `{"name": "`+strings.Repeat("x", 1<<20)+`"}`), 413, "invalid_request")
	})
}
