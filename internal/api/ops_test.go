package api_test

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/minivoice/minivoice/internal/voice"
	"github.com/shopspring/decimal"
)

// endCall makes a call look ended, as the engine would leave it.
func (b *bundle) endCall(id, status string, ended time.Time, billable int, price string) {
	b.t.Helper()
	b.editCall(id, func(c *voice.Call) {
		c.Status = status
		e := ended.UTC()
		c.EndedAt = &e
		c.BillableSeconds = billable
		c.Duration = billable
		if price != "" {
			p := decimal.RequireFromString(price)
			c.Price = &p
		}
	})
}

// usageRows renders a usage answer's rows as "date direction calls minutes cost currency".
func usageRows(t *testing.T, r *response) []string {
	t.Helper()
	var out []string
	for _, row := range r.data() {
		calls, _ := row["calls"].(float64)
		out = append(out, fmt.Sprintf("%v %v %d %v %v %v", row["date"], row["direction"], int(calls), row["billable_minutes"], row["cost"], row["currency"]))
	}
	return out
}

func TestUsageValidation(t *testing.T) {
	each(t, func(t *testing.T, b *bundle) {
		cust := b.customer("a")
		for _, tc := range []struct {
			query, param string
		}{
			{"from=yesterday", "from"},
			{"from=2026-02-30", "from"},
			{"to=2026-13-01", "to"},
			{"to=01/02/2026", "to"},
			{"from=2026-02-10&to=2026-02-01", "to"},
			{"from=2026-02-10T00:00:00Z&to=2026-02-09T23:59:59Z", "to"},
			{"from=2025-01-01&to=2026-01-03", "from"},
			// 367 days, counting both ends.
			{"from=2025-01-01&to=2026-01-02", "from"},
			{"from=2020-01-01&to=2026-01-01", "from"},
		} {
			r := b.want(b.call("GET", "/v1/usage?"+tc.query, b.op, nil), 422, "invalid_request")
			if r.errParam() != tc.param {
				t.Errorf("%s: param %q, want %q", tc.query, r.errParam(), tc.param)
			}
		}
		// 366 days counting both ends is the most one report covers.
		r := b.ok(200, "GET", "/v1/usage?from=2024-01-01&to=2024-12-31", b.op, nil)
		if r.str("from") != "2024-01-01" || r.str("to") != "2024-12-31" || !strings.Contains(string(r.Raw), `"data":[]`) {
			t.Errorf("leap year: %s", r.Raw)
		}
		b.ok(200, "GET", "/v1/usage?from=2025-01-01&to=2026-01-01", b.op, nil)
		// A single day, and times that are truncated to their day.
		r = b.ok(200, "GET", "/v1/usage?from=2026-02-10&to=2026-02-10", b.op, nil)
		if r.str("from") != "2026-02-10" || r.str("to") != "2026-02-10" {
			t.Errorf("one day: %s", r.Raw)
		}
		r = b.ok(200, "GET", "/v1/usage?from="+url.QueryEscape("2026-02-10T23:00:00Z")+"&to="+url.QueryEscape("2026-02-11T01:00:00+02:00"), b.op, nil)
		if r.str("from") != "2026-02-10" || r.str("to") != "2026-02-10" {
			t.Errorf("times to days: %s", r.Raw)
		}
		// The default: the last 30 days, today included.
		for try := 0; ; try++ {
			before := time.Now().UTC().Format(time.DateOnly)
			r = b.ok(200, "GET", "/v1/usage", b.op, nil)
			if time.Now().UTC().Format(time.DateOnly) != before && try < 3 {
				continue // midnight passed during the request
			}
			today, _ := time.Parse(time.DateOnly, before)
			if r.str("to") != before || r.str("from") != today.AddDate(0, 0, -29).Format(time.DateOnly) {
				t.Errorf("default range: %s (today %s)", r.Raw, before)
			}
			break
		}
		// Only "to" given: 30 days up to it.
		r = b.ok(200, "GET", "/v1/usage?to=2026-03-31", b.op, nil)
		if r.str("from") != "2026-03-02" || r.str("to") != "2026-03-31" {
			t.Errorf("to only: %s", r.Raw)
		}
		// Who may ask.
		b.want(b.call("GET", "/v1/usage", b.applicationKey(b.application(cust)), nil), 403, "forbidden")
		b.want(b.call("GET", "/v1/usage", "", nil), 401, "unauthorized")
		b.want(b.call("GET", "/v1/usage?customer_id=cust_nope", b.op, nil), 404, "not_found")
		other := b.customer("other")
		b.want(b.call("GET", "/v1/usage?customer_id="+other, b.customerKey(cust), nil), 404, "not_found")
	})
}

func TestUsageAggregation(t *testing.T) {
	each(t, func(t *testing.T, b *bundle) {
		a := b.customer("a")
		usd := b.ok(201, "POST", "/v1/customers", b.op, map[string]any{"name": "usd", "currency": "USD",
			"verified_caller_ids": []string{testCallerID}}).str("id")
		appA, appU := b.application(a), b.application(usd)
		ak, uk := b.customerKey(a), b.customerKey(usd)
		day := func(d, h, m, s, ms int) time.Time { return time.Date(2026, 3, d, h, m, s, ms*1e6, time.UTC) }
		place := func() string { return b.placeCall(ak, appA, "+15551230002") }

		b.endCall(place(), voice.CallCompleted, day(1, 10, 0, 0, 0), 90, "0.015000")
		b.endCall(place(), voice.CallCompleted, day(1, 23, 59, 59, 999), 60, "0.0125")
		b.endCall(place(), voice.CallBusy, day(1, 12, 0, 0, 0), 0, "")
		b.endCall(place(), voice.CallCompleted, day(2, 0, 0, 0, 0), 6, "0.000001")
		b.endCall(place(), voice.CallCompleted, day(2, 0, 0, 1, 0), 1, "0.000167")
		b.endCall(place(), voice.CallCompleted, day(2, 0, 0, 2, 0), 1, "0.000167")
		inbound := b.cloneCall(place(), func(c *voice.Call) { c.Direction = voice.DirectionInbound })
		b.endCall(inbound, voice.CallCompleted, day(1, 5, 0, 0, 0), 100, "0.003334")
		place() // still queued: not in usage
		b.endCall(place(), voice.CallCompleted, time.Date(2026, 2, 28, 23, 59, 59, 999e6, time.UTC), 60, "1")
		b.endCall(place(), voice.CallCompleted, day(3, 0, 0, 0, 0), 60, "1")
		b.endCall(b.placeCall(uk, appU, "+15551230002"), voice.CallCompleted, day(1, 8, 0, 0, 0), 30, "0.5")

		aRows := []string{
			"2026-03-01 inbound 1 1.6667 0.003334 EUR",
			"2026-03-01 outbound 3 2.5 0.0275 EUR",
			"2026-03-02 outbound 3 0.1333 0.000335 EUR",
		}
		for _, tc := range []struct {
			query, key string
			want       []string
		}{
			{"from=2026-03-01&to=2026-03-02&customer_id=" + a, b.op, aRows},
			{"from=2026-03-01&to=2026-03-02", ak, aRows},
			{"from=2026-03-01&to=2026-03-02&customer_id=" + a, ak, aRows},
			{"from=2026-03-01&to=2026-03-02", uk, []string{"2026-03-01 outbound 1 0.5 0.5 USD"}},
			{"from=2026-03-01&to=2026-03-02", b.op, []string{aRows[0], aRows[1], "2026-03-01 outbound 1 0.5 0.5 USD", aRows[2]}},
			{"from=2026-03-02&to=2026-03-03", ak, []string{aRows[2], "2026-03-03 outbound 1 1 1 EUR"}},
			{"from=2026-02-28&to=2026-02-28", ak, []string{"2026-02-28 outbound 1 1 1 EUR"}},
			{"from=2026-03-04&to=2026-03-31", ak, nil},
		} {
			r := b.ok(200, "GET", "/v1/usage?"+tc.query, tc.key, nil)
			if got := usageRows(t, r); strings.Join(got, "\n") != strings.Join(tc.want, "\n") {
				t.Errorf("usage %s:\n%s\nwant\n%s", tc.query, strings.Join(got, "\n"), strings.Join(tc.want, "\n"))
			}
		}
		// Amounts are decimal strings, never floats.
		r := b.ok(200, "GET", "/v1/usage?from=2026-03-01&to=2026-03-01&customer_id="+a, b.op, nil)
		var raw struct {
			Data []map[string]json.RawMessage `json:"data"`
		}
		if err := json.Unmarshal(r.Raw, &raw); err != nil || len(raw.Data) == 0 {
			t.Fatalf("usage body: %v %s", err, r.Raw)
		}
		for _, f := range []string{"billable_minutes", "cost"} {
			if s := string(raw.Data[0][f]); !strings.HasPrefix(s, `"`) {
				t.Errorf("%s is not a string: %s", f, s)
			}
		}
		// A call that ended today shows in the default range.
		b.endCall(place(), voice.CallCompleted, time.Now(), 60, "0.01")
		r = b.ok(200, "GET", "/v1/usage", ak, nil)
		if rows := usageRows(t, r); len(rows) != 1 || !strings.HasSuffix(rows[0], "outbound 1 1 0.01 EUR") {
			t.Errorf("default range usage: %v", rows)
		}
	})
}

// allowSet normalises an Allow header: sorted, without HEAD (which Go's mux
// grants to every GET route whether or not it is listed).
func allowSet(h string) string {
	var out []string
	for _, m := range strings.Split(h, ",") {
		if m = strings.TrimSpace(m); m != "" && m != "HEAD" {
			out = append(out, m)
		}
	}
	sort.Strings(out)
	return strings.Join(out, ", ")
}

func TestOpsEndpoints(t *testing.T) {
	each(t, func(t *testing.T, b *bundle) {
		cust := b.customer("acme")
		ck, appKey := b.customerKey(cust), b.applicationKey(b.application(cust))

		// Liveness and readiness need no key, and ignore a bad one.
		for _, key := range []string{"", "mvk_cu_bogus"} {
			r := b.ok(200, "GET", "/healthz", key, nil)
			if r.str("status") != "ok" || r.str("version") != "test" {
				t.Errorf("healthz: %s", r.Raw)
			}
			r = b.ok(200, "GET", "/readyz", key, nil)
			if r.JSON["ready"] != true {
				t.Errorf("readyz: %s", r.Raw)
			}
			if checks, _ := r.JSON["checks"].(map[string]any); checks["database"] != "ok" {
				t.Errorf("readyz checks: %s", r.Raw)
			}
		}

		// Metrics: operator only.
		b.want(b.call("GET", "/metrics", "", nil), 401, "unauthorized")
		b.want(b.call("GET", "/metrics", "mvk_op_nottheoperatorkey000000000", nil), 401, "unauthorized")
		b.want(b.call("GET", "/metrics", ck, nil), 403, "forbidden")
		b.want(b.call("GET", "/metrics", appKey, nil), 403, "forbidden")
		r := b.ok(200, "GET", "/metrics", b.op, nil)
		if ct := r.Header.Get("Content-Type"); !strings.HasPrefix(ct, "text/plain") {
			t.Errorf("metrics Content-Type %q", ct)
		}
		for _, m := range []string{"minivoice_api_requests_total", "minivoice_api_request_duration_seconds"} {
			if !strings.Contains(string(r.Raw), m) {
				t.Errorf("metrics lack %s", m)
			}
		}
		if !strings.Contains(string(r.Raw), `route="GET /healthz"`) {
			t.Errorf("metrics lack the healthz route label:\n%s", r.Raw)
		}

		// The OpenAPI document is public.
		r = b.ok(200, "GET", "/v1/openapi.json", "", nil)
		if v, _ := r.JSON["openapi"].(string); !strings.HasPrefix(v, "3.1") || r.JSON["paths"] == nil {
			t.Errorf("openapi.json: %.200s", r.Raw)
		}

		// Unknown routes: 404 in the error shape, with or without a key.
		for _, path := range []string{"/v1/nope", "/nope", "/v1/calls/", "/v1/calls/x/y/z", "/v2/calls", "/"} {
			for _, key := range []string{"", b.op} {
				r := b.want(b.call("GET", path, key, nil), 404, "not_found")
				if r.JSON == nil {
					t.Errorf("GET %s: not JSON: %s", path, r.Raw)
				}
				e := r.JSON["error"].(map[string]any)
				if e["request_id"] != r.Header.Get("X-Request-Id") {
					t.Errorf("GET %s: request_id %v, header %q", path, e["request_id"], r.Header.Get("X-Request-Id"))
				}
			}
		}

		// A known path with a method it does not have: 405 with Allow, in the error shape.
		for _, tc := range []struct {
			method, path, allow string
		}{
			{"DELETE", "/v1/calls", "GET, POST"},
			{"PUT", "/v1/rates/rate_x", "DELETE, GET, PATCH"},
			{"POST", "/healthz", "GET"},
			{"PATCH", "/v1/calls/call_x", "GET"},
			{"PUT", "/v1/rates/import", "DELETE, GET, PATCH, POST"}, // also /v1/rates/{id}
			{"PUT", "/metrics", "GET"},
		} {
			for _, key := range []string{"", b.op} {
				r := b.call(tc.method, tc.path, key, nil)
				if r.Status != http.StatusMethodNotAllowed || r.JSON == nil || r.errCode() != "method_not_allowed" {
					t.Errorf("%s %s: %d %s", tc.method, tc.path, r.Status, r.Raw)
					continue
				}
				if got := allowSet(r.Header.Get("Allow")); got != tc.allow {
					t.Errorf("%s %s: Allow %q, want %q", tc.method, tc.path, got, tc.allow)
				}
			}
		}
		// GET /v1/rates/import is GET /v1/rates/{id} of a rate that does not exist.
		b.want(b.call("GET", "/v1/rates/import", b.op, nil), 404, "not_found")
		// HEAD of a GET route works like GET, without a body.
		if r := b.call("HEAD", "/healthz", "", nil); r.Status != 200 || len(r.Raw) != 0 {
			t.Errorf("HEAD /healthz: %d %q", r.Status, r.Raw)
		}
		// A bad Authorization header is a 401 in the error shape.
		for _, h := range []string{"Basic dXNlcjpwYXNz", "Bearer", "Bearer " + b.op + "x", "bearer"} {
			r := b.call("GET", "/v1/calls", "", nil, "Authorization: "+h)
			b.want(r, 401, "unauthorized")
		}
	})
}
