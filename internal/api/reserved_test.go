package api_test

// GET /v1/customers/{id} shows what the customer's calls that are up hold
// (billing.md, Reservations), and POST /v1/calls refuses a call the money
// left after those reservations cannot start.

import (
	"testing"
)

// TestCustomerReserved: two calls on money for two first increments hold it
// all (reserved 0.12 of 0.12, the third is 402 and says what is reserved);
// hanging one up frees its increment; the field is read-only.
func TestCustomerReserved(t *testing.T) {
	blEach(t, func(t *testing.T, b *blBundle) {
		cust, app := b.customer(nil, "0.12")
		b.rate(map[string]any{"customer_id": cust, "prefix": "1", "price_per_minute": "0.60",
			"initial_increment": 6, "subsequent_increment": 6})
		if got := b.ok(200, "GET", "/v1/customers/"+cust, b.op, nil).str("reserved"); got != "0" {
			t.Errorf("reserved %q before any call, want \"0\"", got)
		}
		first := b.admitted(app, "+15550001111")
		b.admitted(app, "+15550001112")
		if got := b.ok(200, "GET", "/v1/customers/"+cust, b.op, nil).str("reserved"); got != "0.12" {
			t.Errorf("reserved %q with two calls up, want \"0.12\"", got)
		}
		r := b.refused(app, "+15550001113", 402, "insufficient_balance", 0)
		if e, _ := r.JSON["error"].(map[string]any); e == nil || e["message"] == nil {
			t.Errorf("refusal without a message: %s", r.Raw)
		}
		b.ok(200, "POST", "/v1/calls/"+first+"/hangup", b.op, nil)
		if got := b.ok(200, "GET", "/v1/customers/"+cust, b.op, nil).str("reserved"); got != "0.06" {
			t.Errorf("reserved %q after hanging one up, want \"0.06\"", got)
		}
		b.admitted(app, "+15550001114")
		// Read-only: a PATCH naming it is refused like any unknown field.
		if r := b.call("PATCH", "/v1/customers/"+cust, b.op, map[string]any{"reserved": "0"}); r.Status != 422 || r.errCode() != "invalid_request" {
			t.Errorf("PATCH reserved: %d %s, want 422 invalid_request", r.Status, r.Raw)
		}
	})
}
