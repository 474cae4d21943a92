package api_test

import (
	"sort"
	"strings"
	"testing"
)

// numberCreate creates a DID and returns its id.
func (b *bundle) numberCreate(number, customerID string, appID any) string {
	b.t.Helper()
	body := map[string]any{"number": number, "customer_id": customerID}
	if appID != nil {
		body["application_id"] = appID
	}
	return b.ok(201, "POST", "/v1/numbers", b.op, body).str("id")
}

// numberList returns the numbers listed at path, sorted.
func (b *bundle) numberList(path, key string) string {
	b.t.Helper()
	var out []string
	for _, n := range b.ok(200, "GET", path, key, nil).data() {
		out = append(out, n["number"].(string))
	}
	sort.Strings(out)
	return strings.Join(out, ",")
}

func TestNumberCreateValidation(t *testing.T) {
	each(t, func(t *testing.T, b *bundle) {
		a, c := b.customer("a"), b.customer("c")
		appA, appC := b.application(a), b.application(c)
		r := b.ok(201, "POST", "/v1/numbers", b.op, map[string]any{"number": "+15551230001", "customer_id": a})
		if !strings.HasPrefix(r.str("id"), "num_") || r.str("number") != "+15551230001" || r.str("customer_id") != a ||
			r.JSON["application_id"] != nil || r.str("status") != "active" || r.str("created_at") == "" {
			t.Errorf("created number: %s", r.Raw)
		}
		if got := b.ok(200, "GET", "/v1/numbers/"+r.str("id"), b.op, nil); string(got.Raw) != string(r.Raw) {
			t.Errorf("GET differs from create:\n%s\n%s", r.Raw, got.Raw)
		}
		r = b.ok(201, "POST", "/v1/numbers", b.op, map[string]any{"number": " +442071234567 ", "customer_id": a, "application_id": appA, "status": "disabled"})
		if r.str("number") != "+442071234567" || r.str("application_id") != appA || r.str("status") != "disabled" {
			t.Errorf("created number with app: %s", r.Raw)
		}
		cases := []struct {
			name   string
			body   map[string]any
			status int
			code   string
			param  string
		}{
			{"no +", map[string]any{"number": "15551230009", "customer_id": a}, 422, "invalid_request", "number"},
			{"leading 0", map[string]any{"number": "+0155512300", "customer_id": a}, 422, "invalid_request", "number"},
			{"too short", map[string]any{"number": "+1234567", "customer_id": a}, 422, "invalid_request", "number"},
			{"too long", map[string]any{"number": "+1234567890123456", "customer_id": a}, 422, "invalid_request", "number"},
			{"letters", map[string]any{"number": "+1555abc0001", "customer_id": a}, 422, "invalid_request", "number"},
			{"formatted", map[string]any{"number": "+1 555 123 0009", "customer_id": a}, 422, "invalid_request", "number"},
			{"empty", map[string]any{"number": "", "customer_id": a}, 422, "invalid_request", "number"},
			{"missing", map[string]any{"customer_id": a}, 422, "invalid_request", "number"},
			{"number type", map[string]any{"number": 15551230009, "customer_id": a}, 400, "invalid_json", ""},
			{"no customer", map[string]any{"number": "+15551230009"}, 422, "invalid_request", "customer_id"},
			{"unknown customer", map[string]any{"number": "+15551230009", "customer_id": "cust_nope"}, 422, "invalid_request", "customer_id"},
			{"other customer's app", map[string]any{"number": "+15551230009", "customer_id": a, "application_id": appC}, 422, "invalid_request", "application_id"},
			{"unknown app", map[string]any{"number": "+15551230009", "customer_id": a, "application_id": "app_nope"}, 422, "invalid_request", "application_id"},
			{"status", map[string]any{"number": "+15551230009", "customer_id": a, "status": "paused"}, 422, "invalid_request", "status"},
			{"unknown field", map[string]any{"number": "+15551230009", "customer_id": a, "did": "x"}, 422, "invalid_request", "did"},
			{"duplicate", map[string]any{"number": "+15551230001", "customer_id": c}, 409, "conflict", ""},
		}
		for _, tc := range cases {
			r := b.call("POST", "/v1/numbers", b.op, tc.body)
			if r.Status != tc.status || r.errCode() != tc.code || (tc.param != "" && r.errParam() != tc.param) {
				t.Errorf("%s: got %d %s %s, want %d %s %s\n%s", tc.name, r.Status, r.errCode(), r.errParam(), tc.status, tc.code, tc.param, r.Raw)
			}
		}
		if got := b.numberList("/v1/numbers", b.op); got != "+15551230001,+442071234567" {
			t.Errorf("numbers after invalid creates: %s", got)
		}
		// Only the operator creates numbers.
		b.want(b.call("POST", "/v1/numbers", b.customerKey(a), map[string]any{"number": "+15551230009", "customer_id": a}), 403, "forbidden")
		b.want(b.call("POST", "/v1/numbers", b.applicationKey(appA), map[string]any{"number": "+15551230009", "customer_id": a}), 403, "forbidden")
	})
}

func TestNumberCustomerAccess(t *testing.T) {
	each(t, func(t *testing.T, b *bundle) {
		a, c := b.customer("a"), b.customer("c")
		appA1, appA2, appC := b.application(a), b.application(a), b.application(c)
		numA := b.numberCreate("+15551230001", a, appA1)
		b.numberCreate("+15551230002", a, nil)
		numC := b.numberCreate("+15551230003", c, appC)
		ak, ck := b.customerKey(a), b.customerKey(c)

		// Listing and reading: own numbers only.
		if got := b.numberList("/v1/numbers", ak); got != "+15551230001,+15551230002" {
			t.Errorf("customer a lists %s", got)
		}
		if got := b.numberList("/v1/numbers", ck); got != "+15551230003" {
			t.Errorf("customer c lists %s", got)
		}
		if got := b.numberList("/v1/numbers?customer_id="+a, ak); got != "+15551230001,+15551230002" {
			t.Errorf("customer a lists own with filter: %s", got)
		}
		if got := b.numberList("/v1/numbers?customer_id="+c, b.op); got != "+15551230003" {
			t.Errorf("operator lists c's: %s", got)
		}
		if got := b.numberList("/v1/numbers", b.op); got != "+15551230001,+15551230002,+15551230003" {
			t.Errorf("operator lists %s", got)
		}
		b.want(b.call("GET", "/v1/numbers?customer_id="+c, ak, nil), 404, "not_found")
		b.want(b.call("GET", "/v1/numbers?customer_id=cust_nope", b.op, nil), 404, "not_found")
		b.ok(200, "GET", "/v1/numbers/"+numA, ak, nil)
		b.want(b.call("GET", "/v1/numbers/"+numC, ak, nil), 404, "not_found")
		b.want(b.call("GET", "/v1/numbers/num_nope", ak, nil), 404, "not_found")

		// Re-pointing: only application_id, only to its own applications.
		r := b.ok(200, "PATCH", "/v1/numbers/"+numA, ak, map[string]any{"application_id": appA2})
		if r.str("application_id") != appA2 {
			t.Errorf("re-point: %s", r.Raw)
		}
		r = b.ok(200, "PATCH", "/v1/numbers/"+numA, ak, map[string]any{"application_id": nil})
		if r.JSON["application_id"] != nil {
			t.Errorf("un-point: %s", r.Raw)
		}
		b.ok(200, "PATCH", "/v1/numbers/"+numA, ak, map[string]any{"application_id": appA1})
		for _, tc := range []struct {
			body   map[string]any
			status int
			code   string
		}{
			{map[string]any{"application_id": appC}, 422, "invalid_request"},
			{map[string]any{"application_id": "app_nope"}, 422, "invalid_request"},
			{map[string]any{"number": "+15551239999"}, 403, "forbidden"},
			{map[string]any{"status": "disabled"}, 403, "forbidden"},
			{map[string]any{"customer_id": a}, 403, "forbidden"},
			{map[string]any{"customer_id": c}, 403, "forbidden"},
			{map[string]any{"application_id": appA2, "status": "active"}, 403, "forbidden"},
		} {
			got := b.want(b.call("PATCH", "/v1/numbers/"+numA, ak, tc.body), tc.status, tc.code)
			if tc.status == 422 && got.errParam() != "application_id" {
				t.Errorf("PATCH %v: param %q", tc.body, got.errParam())
			}
		}
		if got := b.ok(200, "GET", "/v1/numbers/"+numA, b.op, nil); got.str("application_id") != appA1 || got.str("status") != "active" ||
			got.str("number") != "+15551230001" || got.str("customer_id") != a {
			t.Errorf("refused PATCHes changed the number: %s", got.Raw)
		}
		// Another customer's number is invisible, whatever the body.
		b.want(b.call("PATCH", "/v1/numbers/"+numC, ak, map[string]any{"application_id": appA1}), 404, "not_found")
		b.want(b.call("PATCH", "/v1/numbers/"+numC, ak, map[string]any{"number": "+15551239999"}), 404, "not_found")
		// Deleting is the operator's.
		b.want(b.call("DELETE", "/v1/numbers/"+numA, ak, nil), 403, "forbidden")
		b.want(b.call("DELETE", "/v1/numbers/"+numC, ak, nil), 403, "forbidden")
		// Application keys have no access to numbers.
		appKey := b.applicationKey(appA1)
		b.want(b.call("GET", "/v1/numbers", appKey, nil), 403, "forbidden")
		b.want(b.call("GET", "/v1/numbers/"+numA, appKey, nil), 403, "forbidden")
		b.want(b.call("PATCH", "/v1/numbers/"+numA, appKey, map[string]any{"application_id": appA1}), 403, "forbidden")
	})
}

func TestNumberOperatorPatchDelete(t *testing.T) {
	each(t, func(t *testing.T, b *bundle) {
		a, c := b.customer("a"), b.customer("c")
		appA, appC := b.application(a), b.application(c)
		n1 := b.numberCreate("+15551230001", a, appA)
		n2 := b.numberCreate("+15551230002", a, nil)

		// Changing to an existing number is a conflict, and changes nothing.
		b.want(b.call("PATCH", "/v1/numbers/"+n2, b.op, map[string]any{"number": "+15551230001"}), 409, "conflict")
		if got := b.ok(200, "GET", "/v1/numbers/"+n2, b.op, nil); got.str("number") != "+15551230002" {
			t.Errorf("conflicting PATCH changed the number: %s", got.Raw)
		}
		// Same number again is no conflict with itself.
		b.ok(200, "PATCH", "/v1/numbers/"+n1, b.op, map[string]any{"number": "+15551230001"})
		r := b.ok(200, "PATCH", "/v1/numbers/"+n2, b.op, map[string]any{"number": "+15551230009", "status": "disabled"})
		if r.str("number") != "+15551230009" || r.str("status") != "disabled" {
			t.Errorf("PATCH number/status: %s", r.Raw)
		}
		for _, tc := range []struct {
			body  map[string]any
			param string
		}{
			{map[string]any{"number": "555"}, "number"},
			{map[string]any{"status": "gone"}, "status"},
			{map[string]any{"customer_id": "cust_nope"}, "customer_id"},
			{map[string]any{"customer_id": nil}, "customer_id"},
			{map[string]any{"application_id": appC}, "application_id"},
			{map[string]any{"customer_id": c, "application_id": appA}, "application_id"},
		} {
			got := b.want(b.call("PATCH", "/v1/numbers/"+n1, b.op, tc.body), 422, "invalid_request")
			if got.errParam() != tc.param {
				t.Errorf("PATCH %v: param %q, want %q", tc.body, got.errParam(), tc.param)
			}
		}
		// Moving a number to another customer drops the old customer's application...
		r = b.ok(200, "PATCH", "/v1/numbers/"+n1, b.op, map[string]any{"customer_id": c})
		if r.str("customer_id") != c || r.JSON["application_id"] != nil {
			t.Errorf("move to c: %s", r.Raw)
		}
		// ...or takes a new one of the new customer.
		r = b.ok(200, "PATCH", "/v1/numbers/"+n1, b.op, map[string]any{"customer_id": a, "application_id": appA})
		if r.str("customer_id") != a || r.str("application_id") != appA {
			t.Errorf("move back with app: %s", r.Raw)
		}
		b.want(b.call("PATCH", "/v1/numbers/num_nope", b.op, map[string]any{"status": "active"}), 404, "not_found")

		b.ok(204, "DELETE", "/v1/numbers/"+n1, b.op, nil)
		b.want(b.call("GET", "/v1/numbers/"+n1, b.op, nil), 404, "not_found")
		b.want(b.call("DELETE", "/v1/numbers/"+n1, b.op, nil), 404, "not_found")
		// The number is free again.
		b.numberCreate("+15551230001", c, appC)
	})
}
