package api_test

import (
	"encoding/json"
	"strings"
	"testing"
)

// A required field that is missing (absent, null, or an empty string) is
// 422 invalid_request "PARAM: is required" with param naming it, on every
// create and update route; a field that is given but wrong keeps the message
// saying what is wrong with it.
func TestRequiredFieldMessages(t *testing.T) {
	each(t, func(t *testing.T, b *bundle) {
		cust := b.customer("acme")
		app := b.application(cust)
		call := b.placeCall(b.op, app, "+15551230002")
		number := b.ok(201, "POST", "/v1/numbers", b.op, map[string]any{"number": "+15551239999", "customer_id": cust}).str("id")
		long := strings.Repeat("x", 201)
		callWith := func(edit func(m map[string]any)) map[string]any {
			m := map[string]any{"to": "+15551230002", "from": "+15551230001", "application_id": app}
			edit(m)
			return m
		}
		withActions := func(actions string) map[string]any {
			return callWith(func(m map[string]any) { m["actions"] = json.RawMessage(actions) })
		}
		cases := []struct {
			name, method, path string
			body               any
			param, message     string
		}{
			// POST /v1/calls
			{"call without to", "POST", "/v1/calls", callWith(func(m map[string]any) { delete(m, "to") }),
				"to", "to: is required"},
			{"call with empty to", "POST", "/v1/calls", callWith(func(m map[string]any) { m["to"] = " " }),
				"to", "to: is required"},
			{"call with null to", "POST", "/v1/calls", callWith(func(m map[string]any) { m["to"] = nil }),
				"to", "to: is required"},
			{"call with bad to", "POST", "/v1/calls", callWith(func(m map[string]any) { m["to"] = "5551230002" }),
				"to", "to: must be an E.164 number"},
			{"call without from", "POST", "/v1/calls", callWith(func(m map[string]any) { delete(m, "from") }),
				"from", "from: is required"},
			{"call with bad from", "POST", "/v1/calls", callWith(func(m map[string]any) { m["from"] = "+1555abc0001" }),
				"from", "from: must be an E.164 number"},
			{"call without application", "POST", "/v1/calls", callWith(func(m map[string]any) { delete(m, "application_id") }),
				"application_id", "application_id: is required"},
			{"say without text", "POST", "/v1/calls", withActions(`[{"action":"say"}]`),
				"actions[0].text", "actions[0].text: is required"},
			{"say with too long text", "POST", "/v1/calls", withActions(`[{"action":"say","text":"` + strings.Repeat("a", 5000) + `"}]`),
				"actions[0].text", "actions[0].text: must be at most 4000 characters"},
			{"dial without to", "POST", "/v1/calls", withActions(`[{"action":"dial"}]`),
				"actions[0].to", "actions[0].to: is required"},
			{"dial with bad to", "POST", "/v1/calls", withActions(`[{"action":"dial","to":"abc"}]`),
				"actions[0].to[0]", "actions[0].to[0]: must be an E.164 number"},
			{"play without url", "POST", "/v1/calls", withActions(`[{"action":"play"}]`),
				"actions[0].url", "actions[0].url: is required"},
			// POST /v1/calls/{id}/actions
			{"actions missing", "POST", "/v1/calls/" + call + "/actions", map[string]any{},
				"actions", "actions: is required"},
			{"actions null", "POST", "/v1/calls/" + call + "/actions", map[string]any{"actions": nil},
				"actions", "actions: is required"},
			// customers and credits
			{"customer without name", "POST", "/v1/customers", map[string]any{},
				"name", "name: is required"},
			{"customer with blank name", "POST", "/v1/customers", map[string]any{"name": "  "},
				"name", "name: is required"},
			{"customer with long name", "POST", "/v1/customers", map[string]any{"name": long},
				"name", "name: must be at most 200 characters"},
			{"customer name emptied", "PATCH", "/v1/customers/" + cust, map[string]any{"name": ""},
				"name", "name: is required"},
			{"credit without amount", "POST", "/v1/customers/" + cust + "/credits", map[string]any{"description": "x"},
				"amount", "amount: is required"},
			{"credit with zero adjustment", "POST", "/v1/customers/" + cust + "/credits", map[string]any{"amount": "0", "kind": "adjustment"},
				"amount", "amount: must not be zero"},
			// applications
			{"application without customer", "POST", "/v1/applications", map[string]any{"name": "a"},
				"customer_id", "customer_id: is required with the operator key"},
			{"application without name", "POST", "/v1/applications", map[string]any{"customer_id": cust},
				"name", "name: is required"},
			{"application with long name", "POST", "/v1/applications", map[string]any{"customer_id": cust, "name": long},
				"name", "name: must be at most 200 characters"},
			{"application name emptied", "PATCH", "/v1/applications/" + app, map[string]any{"name": ""},
				"name", "name: is required"},
			// numbers
			{"number without number", "POST", "/v1/numbers", map[string]any{"customer_id": cust},
				"number", "number: is required"},
			{"number with empty number", "POST", "/v1/numbers", map[string]any{"number": "", "customer_id": cust},
				"number", "number: is required"},
			{"number with bad number", "POST", "/v1/numbers", map[string]any{"number": "12", "customer_id": cust},
				"number", "number: must be an E.164 number"},
			{"number without customer", "POST", "/v1/numbers", map[string]any{"number": "+15551238888"},
				"customer_id", "customer_id: is required"},
			{"number emptied", "PATCH", "/v1/numbers/" + number, map[string]any{"number": nil},
				"number", "number: is required"},
			// rates
			{"rate without price", "POST", "/v1/rates", map[string]any{"prefix": "1"},
				"price_per_minute", "price_per_minute: is required"},
			{"rate with negative price", "POST", "/v1/rates", map[string]any{"prefix": "1", "price_per_minute": "-1"},
				"price_per_minute", "price_per_minute: must not be negative"},
			{"rate lookup without to", "GET", "/v1/rates/lookup", nil,
				"to", "to: is required"},
			{"rate lookup with bad to", "GET", "/v1/rates/lookup?to=abc", nil,
				"to", "to: must be an E.164 number"},
			// trunks
			{"trunk without name", "POST", "/v1/trunks", map[string]any{"host": "127.0.0.1"},
				"name", "name: is required"},
			{"trunk with long name", "POST", "/v1/trunks", map[string]any{"name": long, "host": "127.0.0.1"},
				"name", "name: must be at most 200 characters"},
			{"outbound trunk without host", "POST", "/v1/trunks", map[string]any{"name": "t"},
				"host", "host: is required for an outbound trunk"},
		}
		for _, tc := range cases {
			var r *response
			if tc.body == nil {
				r = b.call(tc.method, tc.path, b.op, nil)
			} else {
				r = b.call(tc.method, tc.path, b.op, tc.body)
			}
			e, _ := r.JSON["error"].(map[string]any)
			if r.Status != 422 || r.errCode() != "invalid_request" || r.errParam() != tc.param || e["message"] != tc.message {
				t.Errorf("%s: %d %s param %q message %q; want 422 invalid_request param %q message %q",
					tc.name, r.Status, r.errCode(), r.errParam(), e["message"], tc.param, tc.message)
			}
		}

		// A CSV import line without a price says which field it lacks.
		r := b.call("POST", "/v1/rates/import", b.op, "1,0.01\n44,\n", "Content-Type: text/csv")
		errs, _ := r.JSON["error"].(map[string]any)["errors"].([]any)
		if r.Status != 422 || len(errs) != 1 {
			t.Fatalf("import with a line without price: %d %s", r.Status, r.Raw)
		}
		if line := errs[0].(map[string]any); line["field"] != "price_per_minute" || line["message"] != "price_per_minute: is required" {
			t.Errorf("import line error %v, want price_per_minute: is required", line)
		}
	})
}
