package api_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/minivoice/minivoice/internal/api"
	"github.com/minivoice/minivoice/internal/auth"
	"github.com/minivoice/minivoice/internal/store"
	"github.com/minivoice/minivoice/internal/voice"
)

// Helpers shared by customers_test.go, keys_test.go, applications_test.go and
// auth_test.go; prefixed ck so they cannot clash with other test files.

// ckCheck reports (without stopping the test) when r is not status with the
// given error code and param ("" skips the code or param check).
func ckCheck(t *testing.T, name string, r *response, status int, code, param string) bool {
	t.Helper()
	if r.Status != status || (code != "" && r.errCode() != code) || (param != "" && r.errParam() != param) {
		t.Errorf("%s: got %d %s param=%q, want %d %s param=%q\n%s", name, r.Status, r.errCode(), r.errParam(), status, code, param, r.Raw)
		return false
	}
	return true
}

// ckJSON renders a decoded JSON value back as JSON, for comparisons.
func ckJSON(v any) string {
	b, _ := json.Marshal(v)
	return string(b)
}

// ckIDs returns the ids of list items.
func ckIDs(items []map[string]any) []string {
	out := make([]string, len(items))
	for i, it := range items {
		out[i], _ = it["id"].(string)
	}
	return out
}

// ckSameSet reports whether a and b hold the same strings, ignoring order.
func ckSameSet(a, b []string) bool {
	a, b = slices.Clone(a), slices.Clone(b)
	sort.Strings(a)
	sort.Strings(b)
	return slices.Equal(a, b)
}

// ckListAll follows a list's cursors with the given page size and returns
// every item, checking the page invariants on the way.
func ckListAll(t *testing.T, b *bundle, path, key string, limit int) []map[string]any {
	t.Helper()
	sep := "?"
	if strings.Contains(path, "?") {
		sep = "&"
	}
	var all []map[string]any
	after := ""
	for range 1000 {
		p := fmt.Sprintf("%s%slimit=%d", path, sep, limit)
		if after != "" {
			p += "&after=" + url.QueryEscape(after)
		}
		r := b.ok(200, "GET", p, key, nil)
		page := r.data()
		if len(page) > limit {
			t.Fatalf("%s: %d items on a page of %d", p, len(page), limit)
		}
		more, _ := r.JSON["has_more"].(bool)
		next := r.str("next_cursor")
		if more != (next != "") {
			t.Fatalf("%s: has_more=%v but next_cursor=%q", p, more, next)
		}
		all = append(all, page...)
		if !more {
			return all
		}
		if len(page) != limit {
			t.Fatalf("%s: has_more with a short page (%d)", p, len(page))
		}
		after = next
	}
	t.Fatalf("%s: more than 1000 pages", path)
	return nil
}

// ckNewestFirst checks that created_at never increases along items.
func ckNewestFirst(t *testing.T, what string, items []map[string]any) {
	t.Helper()
	var prev time.Time
	for i, it := range items {
		s, _ := it["created_at"].(string)
		ts, err := time.Parse(time.RFC3339Nano, s)
		if err != nil {
			t.Fatalf("%s[%d].created_at %q: %v", what, i, s, err)
		}
		if i > 0 && ts.After(prev) {
			t.Fatalf("%s: not newest first at %d (%s after %s)", what, i, ts, prev)
		}
		prev = ts
	}
}

// ckDo sends a request without touching testing.T, so goroutines may use it.
func ckDo(b *bundle, method, path, key string, body any) (int, []byte, error) {
	j, err := json.Marshal(body)
	if err != nil {
		return 0, nil, err
	}
	req, err := http.NewRequest(method, b.url+path, bytes.NewReader(j))
	if err != nil {
		return 0, nil, err
	}
	req.Header.Set("Authorization", "Bearer "+key)
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0, nil, err
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	return resp.StatusCode, raw, err
}

func TestCustomerCreateDefaults(t *testing.T) {
	each(t, func(t *testing.T, b *bundle) {
		r := b.ok(201, "POST", "/v1/customers", b.op, map[string]any{"name": "  Acme Ltd  "})
		id := r.str("id")
		if !strings.HasPrefix(id, "cust_") {
			t.Errorf("id = %q, want cust_...", id)
		}
		for k, v := range map[string]string{"name": "Acme Ltd", "status": "active", "currency": "EUR", "balance": "0",
			"credit_limit": "0"} {
			if r.str(k) != v {
				t.Errorf("%s = %q, want %q", k, r.str(k), v)
			}
		}
		for k, v := range map[string]string{"max_concurrent_calls": "10", "max_cps": "5", "daily_spend_limit": "null",
			"max_rate_per_minute": "null", "blocked_prefixes": "[]"} {
			got, ok := r.JSON[k]
			if !ok {
				t.Errorf("customer lacks %s", k)
			} else if ckJSON(got) != v {
				t.Errorf("%s = %s, want %s", k, ckJSON(got), v)
			}
		}
		created, err := time.Parse(time.RFC3339Nano, r.str("created_at"))
		if err != nil || !strings.HasSuffix(r.str("created_at"), "Z") {
			t.Errorf("created_at %q is not an RFC 3339 UTC time: %v", r.str("created_at"), err)
		}
		if r.str("updated_at") != r.str("created_at") {
			t.Errorf("updated_at %q != created_at %q on create", r.str("updated_at"), r.str("created_at"))
		}
		if created.IsZero() {
			t.Errorf("created_at is zero")
		}
		// Money is a decimal string, never a float.
		if !bytes.Contains(r.Raw, []byte(`"balance":"0"`)) || !bytes.Contains(r.Raw, []byte(`"credit_limit":"0"`)) {
			t.Errorf("money is not a decimal string: %s", r.Raw)
		}
		// GET answers the very same object.
		got := b.ok(200, "GET", "/v1/customers/"+id, b.op, nil)
		if string(got.Raw) != string(r.Raw) {
			t.Errorf("GET differs from create:\n%s\n%s", r.Raw, got.Raw)
		}
		b.want(b.call("GET", "/v1/customers/cust_nope", b.op, nil), 404, "not_found")
		b.want(b.call("GET", "/v1/customers/not-an-id", b.op, nil), 404, "not_found")
	})
}

func TestCustomerCreateAllFields(t *testing.T) {
	each(t, func(t *testing.T, b *bundle) {
		in := map[string]any{"name": "Big Co", "status": "suspended", "currency": "USD", "credit_limit": "50.5",
			"max_concurrent_calls": 3, "max_cps": 2, "daily_spend_limit": "100.25", "max_rate_per_minute": "0.0125",
			"blocked_prefixes": []string{"4490", "1900"}}
		r := b.ok(201, "POST", "/v1/customers", b.op, in)
		for k, v := range in {
			if ckJSON(r.JSON[k]) != ckJSON(v) {
				t.Errorf("%s = %s, want %s", k, ckJSON(r.JSON[k]), ckJSON(v))
			}
		}
		got := b.ok(200, "GET", "/v1/customers/"+r.str("id"), b.op, nil)
		if string(got.Raw) != string(r.Raw) {
			t.Errorf("GET differs from create:\n%s\n%s", r.Raw, got.Raw)
		}
		// max_rate_per_minute may be zero (nothing above free), credit_limit too.
		b.ok(201, "POST", "/v1/customers", b.op, map[string]any{"name": "z", "max_rate_per_minute": "0", "credit_limit": "0"})
		// The bounds themselves are accepted.
		b.ok(201, "POST", "/v1/customers", b.op, map[string]any{"name": strings.Repeat("n", 200), "max_concurrent_calls": 100000,
			"max_cps": 10000, "blocked_prefixes": []string{"1", "123456789012345"}})
		b.ok(201, "POST", "/v1/customers", b.op, map[string]any{"name": "one", "max_concurrent_calls": 1, "max_cps": 1,
			"daily_spend_limit": "0.000001"})
	})
}

func TestCustomerCreateValidation(t *testing.T) {
	each(t, func(t *testing.T, b *bundle) {
		many := make([]string, 1001)
		for i := range many {
			many[i] = fmt.Sprint(i)
		}
		cases := []struct {
			name   string
			edit   func(m map[string]any)
			status int
			code   string
			param  string
		}{
			{"no name", func(m map[string]any) { delete(m, "name") }, 422, "invalid_request", "name"},
			{"blank name", func(m map[string]any) { m["name"] = "   " }, 422, "invalid_request", "name"},
			{"long name", func(m map[string]any) { m["name"] = strings.Repeat("x", 201) }, 422, "invalid_request", "name"},
			{"status", func(m map[string]any) { m["status"] = "closed" }, 422, "invalid_request", "status"},
			{"status empty", func(m map[string]any) { m["status"] = "" }, 422, "invalid_request", "status"},
			{"currency lower", func(m map[string]any) { m["currency"] = "eur" }, 422, "invalid_request", "currency"},
			{"currency long", func(m map[string]any) { m["currency"] = "EURO" }, 422, "invalid_request", "currency"},
			{"currency empty", func(m map[string]any) { m["currency"] = "" }, 422, "invalid_request", "currency"},
			{"credit_limit negative", func(m map[string]any) { m["credit_limit"] = "-1" }, 422, "invalid_request", "credit_limit"},
			{"credit_limit null", func(m map[string]any) { m["credit_limit"] = nil }, 422, "invalid_request", "credit_limit"},
			{"max_concurrent_calls 0", func(m map[string]any) { m["max_concurrent_calls"] = 0 }, 422, "invalid_request", "max_concurrent_calls"},
			{"max_concurrent_calls -1", func(m map[string]any) { m["max_concurrent_calls"] = -1 }, 422, "invalid_request", "max_concurrent_calls"},
			{"max_concurrent_calls high", func(m map[string]any) { m["max_concurrent_calls"] = 100001 }, 422, "invalid_request", "max_concurrent_calls"},
			{"max_cps 0", func(m map[string]any) { m["max_cps"] = 0 }, 422, "invalid_request", "max_cps"},
			{"max_cps high", func(m map[string]any) { m["max_cps"] = 10001 }, 422, "invalid_request", "max_cps"},
			{"daily_spend_limit 0", func(m map[string]any) { m["daily_spend_limit"] = "0" }, 422, "invalid_request", "daily_spend_limit"},
			{"daily_spend_limit negative", func(m map[string]any) { m["daily_spend_limit"] = "-5" }, 422, "invalid_request", "daily_spend_limit"},
			{"max_rate_per_minute negative", func(m map[string]any) { m["max_rate_per_minute"] = "-0.01" }, 422, "invalid_request", "max_rate_per_minute"},
			{"blocked plus", func(m map[string]any) { m["blocked_prefixes"] = []string{"+44"} }, 422, "invalid_request", "blocked_prefixes"},
			{"blocked empty entry", func(m map[string]any) { m["blocked_prefixes"] = []string{""} }, 422, "invalid_request", "blocked_prefixes"},
			{"blocked letters", func(m map[string]any) { m["blocked_prefixes"] = []string{"44", "12a"} }, 422, "invalid_request", "blocked_prefixes"},
			{"blocked 16 digits", func(m map[string]any) { m["blocked_prefixes"] = []string{"1234567890123456"} }, 422, "invalid_request", "blocked_prefixes"},
			{"blocked too many", func(m map[string]any) { m["blocked_prefixes"] = many }, 422, "invalid_request", "blocked_prefixes"},
			{"unknown field", func(m map[string]any) { m["nmae"] = "typo" }, 422, "invalid_request", "nmae"},
			{"balance read-only", func(m map[string]any) { m["balance"] = "100" }, 422, "invalid_request", "balance"},
			{"id read-only", func(m map[string]any) { m["id"] = "cust_mine" }, 422, "invalid_request", "id"},
			{"created_at read-only", func(m map[string]any) { m["created_at"] = "2026-01-01T00:00:00Z" }, 422, "invalid_request", "created_at"},
			{"max_cps string", func(m map[string]any) { m["max_cps"] = "5" }, 400, "invalid_json", ""},
			{"credit_limit bool", func(m map[string]any) { m["credit_limit"] = true }, 400, "invalid_json", ""},
			{"credit_limit not a number", func(m map[string]any) { m["credit_limit"] = "ten" }, 400, "invalid_json", ""},
			{"blocked not a list", func(m map[string]any) { m["blocked_prefixes"] = "44" }, 400, "invalid_json", ""},
			{"name number", func(m map[string]any) { m["name"] = 7 }, 400, "invalid_json", ""},
		}
		for _, tc := range cases {
			m := map[string]any{"name": "acme"}
			tc.edit(m)
			ckCheck(t, tc.name, b.call("POST", "/v1/customers", b.op, m), tc.status, tc.code, tc.param)
		}
		ckCheck(t, "not json", b.call("POST", "/v1/customers", b.op, "{"), 400, "invalid_json", "")
		ckCheck(t, "array", b.call("POST", "/v1/customers", b.op, `[{"name":"x"}]`), 400, "invalid_json", "")
		ckCheck(t, "two values", b.call("POST", "/v1/customers", b.op, `{"name":"x"}{"name":"y"}`), 400, "invalid_json", "")
		ckCheck(t, "empty body", b.call("POST", "/v1/customers", b.op, nil), 422, "invalid_request", "name")
		// Nothing invalid was stored.
		if n := len(b.ok(200, "GET", "/v1/customers", b.op, nil).data()); n != 0 {
			t.Errorf("%d customers after only invalid requests", n)
		}
	})
}

func TestCustomerPatch(t *testing.T) {
	each(t, func(t *testing.T, b *bundle) {
		id := b.customer("acme")
		path := "/v1/customers/" + id
		before := b.ok(200, "GET", path, b.op, nil)

		r := b.ok(200, "PATCH", path, b.op, map[string]any{"name": "Acme 2", "daily_spend_limit": "20",
			"max_rate_per_minute": "0.5", "credit_limit": "10", "blocked_prefixes": []string{"882"}, "max_cps": 7})
		for k, v := range map[string]any{"name": "Acme 2", "daily_spend_limit": "20", "max_rate_per_minute": "0.5",
			"credit_limit": "10", "blocked_prefixes": []string{"882"}, "max_cps": 7,
			// untouched fields stay
			"status": "active", "currency": "EUR", "balance": "0", "max_concurrent_calls": 10, "created_at": before.str("created_at"), "id": id} {
			if ckJSON(r.JSON[k]) != ckJSON(v) {
				t.Errorf("after PATCH %s = %s, want %s", k, ckJSON(r.JSON[k]), ckJSON(v))
			}
		}
		ua, _ := time.Parse(time.RFC3339Nano, r.str("updated_at"))
		ca, _ := time.Parse(time.RFC3339Nano, r.str("created_at"))
		if ua.Before(ca) {
			t.Errorf("updated_at %s before created_at %s", ua, ca)
		}
		if got := b.ok(200, "GET", path, b.op, nil); string(got.Raw) != string(r.Raw) {
			t.Errorf("GET after PATCH differs:\n%s\n%s", r.Raw, got.Raw)
		}

		// null removes the limits, and it is persisted.
		r = b.ok(200, "PATCH", path, b.op, map[string]any{"daily_spend_limit": nil, "max_rate_per_minute": nil, "blocked_prefixes": nil})
		got := b.ok(200, "GET", path, b.op, nil)
		for _, x := range []*response{r, got} {
			if x.JSON["daily_spend_limit"] != nil || x.JSON["max_rate_per_minute"] != nil {
				t.Errorf("limits not cleared by null: %s", x.Raw)
			}
			if ckJSON(x.JSON["blocked_prefixes"]) != "[]" {
				t.Errorf("blocked_prefixes = %s after null, want []", ckJSON(x.JSON["blocked_prefixes"]))
			}
		}

		// An empty PATCH changes nothing.
		if r := b.ok(200, "PATCH", path, b.op, map[string]any{}); r.str("name") != "Acme 2" {
			t.Errorf("empty PATCH changed the name: %s", r.Raw)
		}

		// Currency is fixed after creation; naming the same one is fine.
		ckCheck(t, "currency change", b.call("PATCH", path, b.op, map[string]any{"currency": "USD"}), 422, "invalid_request", "currency")
		b.ok(200, "PATCH", path, b.op, map[string]any{"currency": "EUR"})

		for _, tc := range []struct {
			name  string
			body  map[string]any
			param string
		}{
			{"balance", map[string]any{"balance": "1000"}, "balance"},
			{"blank name", map[string]any{"name": ""}, "name"},
			{"status", map[string]any{"status": "deleted"}, "status"},
			{"credit_limit", map[string]any{"credit_limit": "-0.01"}, "credit_limit"},
			{"credit_limit null", map[string]any{"credit_limit": nil}, "credit_limit"},
			{"daily_spend_limit", map[string]any{"daily_spend_limit": "0"}, "daily_spend_limit"},
			{"max_concurrent_calls", map[string]any{"max_concurrent_calls": 0}, "max_concurrent_calls"},
			{"max_cps", map[string]any{"max_cps": 0}, "max_cps"},
			{"max_rate_per_minute", map[string]any{"max_rate_per_minute": "-1"}, "max_rate_per_minute"},
			{"blocked_prefixes", map[string]any{"blocked_prefixes": []string{"44 20"}}, "blocked_prefixes"},
			{"unknown", map[string]any{"colour": "red"}, "colour"},
			// A valid change next to an invalid one is not applied either.
			{"partial", map[string]any{"name": "Changed", "max_cps": 0}, "max_cps"},
		} {
			ckCheck(t, "PATCH "+tc.name, b.call("PATCH", path, b.op, tc.body), 422, "invalid_request", tc.param)
		}
		if got := b.ok(200, "GET", path, b.op, nil); got.str("name") != "Acme 2" || got.str("balance") != "0" {
			t.Errorf("invalid PATCHes changed the customer: %s", got.Raw)
		}

		// Suspending and reactivating.
		if r := b.ok(200, "PATCH", path, b.op, map[string]any{"status": "suspended"}); r.str("status") != "suspended" {
			t.Errorf("status = %q, want suspended", r.str("status"))
		}
		if r := b.ok(200, "PATCH", path, b.op, map[string]any{"status": "active"}); r.str("status") != "active" {
			t.Errorf("status = %q, want active", r.str("status"))
		}

		b.want(b.call("PATCH", "/v1/customers/cust_nope", b.op, map[string]any{"name": "x"}), 404, "not_found")
		ckCheck(t, "PATCH bad json", b.call("PATCH", path, b.op, "{"), 400, "invalid_json", "")
	})
}

func TestCustomerListPagination(t *testing.T) {
	each(t, func(t *testing.T, b *bundle) {
		var ids []string
		for i := range 7 {
			ids = append(ids, b.customer(fmt.Sprintf("c%d", i)))
		}
		// Default page: everything, no cursor.
		r := b.ok(200, "GET", "/v1/customers", b.op, nil)
		if got := ckIDs(r.data()); !ckSameSet(got, ids) {
			t.Errorf("list = %v, want %v", got, ids)
		}
		if r.JSON["has_more"] != false || r.str("next_cursor") != "" {
			t.Errorf("single page has has_more=%v next_cursor=%q", r.JSON["has_more"], r.str("next_cursor"))
		}
		if !bytes.HasPrefix(r.Raw, []byte(`{"data":[`)) {
			t.Errorf("list shape: %s", r.Raw)
		}
		ckNewestFirst(t, "customers", r.data())
		for _, limit := range []int{1, 2, 3, 7, 200} {
			all := ckListAll(t, b, "/v1/customers", b.op, limit)
			if got := ckIDs(all); !ckSameSet(got, ids) || len(got) != len(ids) {
				t.Errorf("limit %d: paged list = %v, want %v", limit, got, ids)
			}
			// Paging gives the same order as one page.
			if got := ckIDs(all); !slices.Equal(got, ckIDs(r.data())) {
				t.Errorf("limit %d: paged order %v differs from %v", limit, got, ckIDs(r.data()))
			}
		}
		// Cursors are stable under inserts: a new customer (newer) does not
		// shift the next page.
		first := b.ok(200, "GET", "/v1/customers?limit=3", b.op, nil)
		b.customer("late")
		second := b.ok(200, "GET", "/v1/customers?limit=3&after="+url.QueryEscape(first.str("next_cursor")), b.op, nil)
		if want := ckIDs(r.data())[3:6]; !slices.Equal(ckIDs(second.data()), want) {
			t.Errorf("page after insert = %v, want %v", ckIDs(second.data()), want)
		}
		for _, q := range []string{"limit=0", "limit=201", "limit=abc", "limit=-1"} {
			ckCheck(t, q, b.call("GET", "/v1/customers?"+q, b.op, nil), 422, "invalid_request", "limit")
		}
		for _, q := range []string{"after=!!!", "after=e30", "after=" + url.QueryEscape("bm90IGpzb24")} {
			ckCheck(t, q, b.call("GET", "/v1/customers?"+q, b.op, nil), 422, "invalid_request", "after")
		}
	})
}

func TestCustomerListEmpty(t *testing.T) {
	each(t, func(t *testing.T, b *bundle) {
		r := b.ok(200, "GET", "/v1/customers", b.op, nil)
		if strings.TrimSpace(string(r.Raw)) != `{"data":[],"has_more":false,"next_cursor":""}` {
			t.Errorf("empty list = %s", r.Raw)
		}
	})
}

func TestCustomerCreditsDecimal(t *testing.T) {
	each(t, func(t *testing.T, b *bundle) {
		id := b.customer("acme")
		path := "/v1/customers/" + id + "/credits"
		e1 := b.ok(201, "POST", path, b.op, map[string]any{"amount": "0.1"})
		if !strings.HasPrefix(e1.str("id"), "led_") {
			t.Errorf("ledger id = %q", e1.str("id"))
		}
		for k, v := range map[string]any{"customer_id": id, "amount": "0.1", "balance_after": "0.1", "currency": "EUR",
			"kind": "credit", "call_id": nil, "description": ""} {
			if ckJSON(e1.JSON[k]) != ckJSON(v) {
				t.Errorf("entry %s = %s, want %s", k, ckJSON(e1.JSON[k]), ckJSON(v))
			}
		}
		e2 := b.ok(201, "POST", path, b.op, map[string]any{"amount": "0.2", "description": "top-up", "kind": "credit"})
		if e2.str("balance_after") != "0.3" || e2.str("description") != "top-up" {
			t.Errorf("second entry: %s", e2.Raw)
		}
		if got := b.ok(200, "GET", "/v1/customers/"+id, b.op, nil).str("balance"); got != "0.3" {
			t.Errorf("balance = %q, want exactly 0.3", got)
		}
		// Adjustments may remove money, down below zero.
		e3 := b.ok(201, "POST", path, b.op, map[string]any{"amount": "-0.05", "kind": "adjustment", "description": "fix"})
		if e3.str("kind") != "adjustment" || e3.str("amount") != "-0.05" || e3.str("balance_after") != "0.25" {
			t.Errorf("adjustment: %s", e3.Raw)
		}
		e4 := b.ok(201, "POST", path, b.op, map[string]any{"amount": "-1.000001", "kind": "adjustment"})
		if e4.str("balance_after") != "-0.750001" {
			t.Errorf("balance_after = %q, want -0.750001", e4.str("balance_after"))
		}
		e5 := b.ok(201, "POST", path, b.op, map[string]any{"amount": "999999999999.999999"})
		if e5.str("balance_after") != "999999999999.249998" {
			t.Errorf("big credit balance_after = %q", e5.str("balance_after"))
		}
		if got := b.ok(200, "GET", "/v1/customers/"+id, b.op, nil).str("balance"); got != "999999999999.249998" {
			t.Errorf("balance = %q, want 999999999999.249998", got)
		}

		// The ledger lists every entry with its running balance, newest first.
		ledger := b.ok(200, "GET", "/v1/customers/"+id+"/ledger", b.op, nil).data()
		if len(ledger) != 5 {
			t.Fatalf("ledger has %d entries, want 5", len(ledger))
		}
		ckNewestFirst(t, "ledger", ledger)
		want := map[string]string{e1.str("id"): "0.1", e2.str("id"): "0.3", e3.str("id"): "0.25", e4.str("id"): "-0.750001",
			e5.str("id"): "999999999999.249998"}
		for _, e := range ledger {
			id, _ := e["id"].(string)
			if ba, _ := e["balance_after"].(string); ba != want[id] {
				t.Errorf("ledger %s balance_after = %q, want %q", id, ba, want[id])
			}
			for _, f := range []string{"id", "amount", "balance_after", "kind", "call_id", "description", "created_at"} {
				if _, ok := e[f]; !ok {
					t.Errorf("ledger entry lacks %s", f)
				}
			}
		}
		if all := ckListAll(t, b, "/v1/customers/"+id+"/ledger", b.op, 2); !ckSameSet(ckIDs(all), ckIDs(ledger)) {
			t.Errorf("paged ledger %v != %v", ckIDs(all), ckIDs(ledger))
		}
		// A ledger is in the customer's currency.
		usd := b.ok(201, "POST", "/v1/customers", b.op, map[string]any{"name": "yank", "currency": "USD"}).str("id")
		if e := b.ok(201, "POST", "/v1/customers/"+usd+"/credits", b.op, map[string]any{"amount": "5"}); e.str("currency") != "USD" {
			t.Errorf("USD customer's entry currency = %q", e.str("currency"))
		}
		// Another customer's ledger is its own.
		if n := len(b.ok(200, "GET", "/v1/customers/"+usd+"/ledger", b.op, nil).data()); n != 1 {
			t.Errorf("USD ledger has %d entries, want 1", n)
		}
	})
}

func TestCustomerCreditsValidation(t *testing.T) {
	each(t, func(t *testing.T, b *bundle) {
		id := b.customer("acme")
		path := "/v1/customers/" + id + "/credits"
		for _, tc := range []struct {
			name   string
			body   any
			status int
			code   string
			param  string
		}{
			{"no amount", map[string]any{"description": "x"}, 422, "invalid_request", "amount"},
			{"null amount", map[string]any{"amount": nil}, 422, "invalid_request", "amount"},
			{"zero credit", map[string]any{"amount": "0"}, 422, "invalid_request", "amount"},
			{"negative credit", map[string]any{"amount": "-1"}, 422, "invalid_request", "amount"},
			{"zero adjustment", map[string]any{"amount": "0.000", "kind": "adjustment"}, 422, "invalid_request", "amount"},
			{"seven places", map[string]any{"amount": "0.0000001"}, 422, "invalid_request", "amount"},
			{"too big", map[string]any{"amount": "1000000000001"}, 422, "invalid_request", "amount"},
			{"too small adjustment", map[string]any{"amount": "-1000000000001", "kind": "adjustment"}, 422, "invalid_request", "amount"},
			{"kind unknown", map[string]any{"amount": "1", "kind": "refund"}, 422, "invalid_request", "kind"},
			{"kind call_charge", map[string]any{"amount": "1", "kind": "call_charge"}, 422, "invalid_request", "kind"},
			{"description long", map[string]any{"amount": "1", "description": strings.Repeat("d", 501)}, 422, "invalid_request", "description"},
			{"unknown field", map[string]any{"amount": "1", "currency": "USD"}, 422, "invalid_request", "currency"},
			{"balance_after", map[string]any{"amount": "1", "balance_after": "1"}, 422, "invalid_request", "balance_after"},
			{"amount not decimal", map[string]any{"amount": "lots"}, 400, "invalid_json", ""},
			{"amount bool", map[string]any{"amount": true}, 400, "invalid_json", ""},
			{"not json", "{", 400, "invalid_json", ""},
		} {
			ckCheck(t, tc.name, b.call("POST", path, b.op, tc.body), tc.status, tc.code, tc.param)
		}
		if got := b.ok(200, "GET", "/v1/customers/"+id, b.op, nil).str("balance"); got != "0" {
			t.Errorf("balance = %q after only invalid credits", got)
		}
		if n := len(b.ok(200, "GET", "/v1/customers/"+id+"/ledger", b.op, nil).data()); n != 0 {
			t.Errorf("%d ledger entries after only invalid credits", n)
		}
		// The bounds themselves pass.
		b.ok(201, "POST", path, b.op, map[string]any{"amount": "0.000001"})
		b.ok(201, "POST", path, b.op, map[string]any{"amount": "1000000000000"})
		b.ok(201, "POST", path, b.op, map[string]any{"amount": "5", "description": strings.Repeat("d", 500)})
		b.want(b.call("POST", "/v1/customers/cust_nope/credits", b.op, map[string]any{"amount": "1"}), 404, "not_found")
		b.want(b.call("GET", "/v1/customers/cust_nope/ledger", b.op, nil), 404, "not_found")
	})
}

func TestCustomerCreditsConcurrent(t *testing.T) {
	each(t, func(t *testing.T, b *bundle) {
		id := b.customer("acme")
		const n = 20
		var wg sync.WaitGroup
		errs := make(chan string, n)
		for range n {
			wg.Go(func() {
				status, raw, err := ckDo(b, "POST", "/v1/customers/"+id+"/credits", b.op, map[string]any{"amount": "0.01"})
				if err != nil || status != 201 {
					errs <- fmt.Sprintf("credit: %d %v %s", status, err, raw)
				}
			})
		}
		wg.Wait()
		close(errs)
		for e := range errs {
			t.Error(e)
		}
		if got := b.ok(200, "GET", "/v1/customers/"+id, b.op, nil).str("balance"); got != "0.2" {
			t.Errorf("balance = %q after %d credits of 0.01, want 0.2", got, n)
		}
		ledger := b.ok(200, "GET", "/v1/customers/"+id+"/ledger?limit=200", b.op, nil).data()
		if len(ledger) != n {
			t.Fatalf("ledger has %d entries, want %d", len(ledger), n)
		}
		// Every entry saw the ones before it: the running balances are exactly
		// 0.01, 0.02, ..., 0.2, each once.
		var got, want []string
		for i, e := range ledger {
			s, _ := e["balance_after"].(string)
			got = append(got, s)
			want = append(want, strings.TrimRight(strings.TrimRight(fmt.Sprintf("%.2f", float64(i+1)/100), "0"), "."))
		}
		if !ckSameSet(got, want) {
			t.Errorf("balance_after values = %v, want %v in some order", got, want)
		}
	})
}

func TestCustomerIdempotency(t *testing.T) {
	each(t, func(t *testing.T, b *bundle) {
		body := map[string]any{"name": "acme", "currency": "USD"}
		first := b.ok(201, "POST", "/v1/customers", b.op, body, "Idempotency-Key: cust-1")
		if first.Header.Get("Idempotent-Replayed") != "" {
			t.Errorf("first answer carries Idempotent-Replayed: %q", first.Header.Get("Idempotent-Replayed"))
		}
		again := b.ok(201, "POST", "/v1/customers", b.op, body, "Idempotency-Key: cust-1")
		if again.Header.Get("Idempotent-Replayed") != "true" {
			t.Errorf("replay lacks Idempotent-Replayed: true")
		}
		if string(again.Raw) != string(first.Raw) {
			t.Errorf("replay differs:\n%s\n%s", first.Raw, again.Raw)
		}
		if !strings.HasPrefix(again.Header.Get("Content-Type"), "application/json") {
			t.Errorf("replay Content-Type = %q", again.Header.Get("Content-Type"))
		}
		list := b.ok(200, "GET", "/v1/customers", b.op, nil).data()
		if len(list) != 1 {
			t.Fatalf("%d customers after a replay, want 1", len(list))
		}
		body["name"] = "other"
		b.want(b.call("POST", "/v1/customers", b.op, body, "Idempotency-Key: cust-1"), 409, "idempotency_key_reused")
		// The same key on another path is another request too.
		b.want(b.call("POST", "/v1/customers/"+first.str("id")+"/credits", b.op, map[string]any{"amount": "1"},
			"Idempotency-Key: cust-1"), 409, "idempotency_key_reused")
		// A fresh key makes a fresh customer.
		if r := b.ok(201, "POST", "/v1/customers", b.op, body, "Idempotency-Key: cust-2"); r.str("id") == first.str("id") {
			t.Errorf("a new Idempotency-Key replayed the old customer")
		}
		// Credits replay too: the balance moves once.
		cpath := "/v1/customers/" + first.str("id") + "/credits"
		c1 := b.ok(201, "POST", cpath, b.op, map[string]any{"amount": "2.5"}, "Idempotency-Key: credit-1")
		c2 := b.ok(201, "POST", cpath, b.op, map[string]any{"amount": "2.5"}, "Idempotency-Key: credit-1")
		if string(c1.Raw) != string(c2.Raw) || c2.Header.Get("Idempotent-Replayed") != "true" {
			t.Errorf("credit replay differs:\n%s\n%s", c1.Raw, c2.Raw)
		}
		if got := b.ok(200, "GET", "/v1/customers/"+first.str("id"), b.op, nil).str("balance"); got != "2.5" {
			t.Errorf("balance = %q after a replayed credit, want 2.5", got)
		}
		ckCheck(t, "long key", b.call("POST", "/v1/customers", b.op, body, "Idempotency-Key: "+strings.Repeat("k", 256)),
			422, "invalid_request", "Idempotency-Key")
		b.ok(201, "POST", "/v1/customers", b.op, body, "Idempotency-Key: "+strings.Repeat("k", 255))
	})
}

// ckFailingStore makes CreateCustomer fail the way a request does when its
// client hangs up (the context is canceled mid-request), or panic.
type ckFailingStore struct {
	*store.DB
	cancel context.CancelFunc
	panics bool
}

func (s *ckFailingStore) CreateCustomer(ctx context.Context, c *voice.Customer) error {
	if s.panics {
		panic("store exploded")
	}
	s.cancel()
	return fmt.Errorf("insert customer: %w", ctx.Err())
}

// A request that did not complete (its client went away, or the handler
// panicked) must not pin its Idempotency-Key: the retry has to run.
func TestCustomerIdempotencyAfterFailure(t *testing.T) {
	each(t, func(t *testing.T, b *bundle) {
		for _, panics := range []bool{false, true} {
			ctx, cancel := context.WithCancel(context.Background())
			fs := &ckFailingStore{DB: b.store, cancel: cancel, panics: panics}
			srv := api.New(api.Config{Store: fs, Auth: auth.New(auth.Config{Store: b.store, OperatorKey: testOperatorKey})})
			key := fmt.Sprintf("gone-%v", panics)
			body := `{"name":"acme"}`
			req := httptest.NewRequestWithContext(ctx, "POST", "/v1/customers", strings.NewReader(body))
			req.Header.Set("Authorization", "Bearer "+testOperatorKey)
			req.Header.Set("Idempotency-Key", key)
			rec := httptest.NewRecorder()
			srv.ServeHTTP(rec, req)
			cancel()
			if rec.Code < 499 {
				t.Fatalf("panics=%v: failing request answered %d: %s", panics, rec.Code, rec.Body)
			}
			// The retry runs and creates the customer.
			r := b.call("POST", "/v1/customers", b.op, body, "Idempotency-Key: "+key)
			if r.Status != 201 || r.Header.Get("Idempotent-Replayed") != "" {
				t.Errorf("panics=%v: retry after a failed request: %d (replayed %q) %s", panics, r.Status,
					r.Header.Get("Idempotent-Replayed"), r.Raw)
			}
		}
	})
}

// Lengths are counted in characters, as the messages say, not UTF-8 bytes.
func TestCustomerLengthsInCharacters(t *testing.T) {
	each(t, func(t *testing.T, b *bundle) {
		r := b.ok(201, "POST", "/v1/customers", b.op, map[string]any{"name": strings.Repeat("é", 200)})
		if r.str("name") != strings.Repeat("é", 200) {
			t.Errorf("name = %q", r.str("name"))
		}
		ckCheck(t, "201 characters", b.call("POST", "/v1/customers", b.op, map[string]any{"name": strings.Repeat("é", 201)}),
			422, "invalid_request", "name")
		id := r.str("id")
		ckCheck(t, "PATCH 201 characters", b.call("PATCH", "/v1/customers/"+id, b.op, map[string]any{"name": strings.Repeat("株", 201)}),
			422, "invalid_request", "name")
		b.ok(200, "PATCH", "/v1/customers/"+id, b.op, map[string]any{"name": strings.Repeat("株", 200)})
		e := b.ok(201, "POST", "/v1/customers/"+id+"/credits", b.op, map[string]any{"amount": "1", "description": strings.Repeat("ü", 500)})
		if e.str("description") != strings.Repeat("ü", 500) {
			t.Errorf("description = %q", e.str("description"))
		}
		ckCheck(t, "description 501 characters", b.call("POST", "/v1/customers/"+id+"/credits", b.op,
			map[string]any{"amount": "1", "description": strings.Repeat("ü", 501)}), 422, "invalid_request", "description")
		// Key names too.
		b.ok(201, "POST", "/v1/customers/"+id+"/keys", b.op, map[string]any{"name": strings.Repeat("ß", 200)})
		ckCheck(t, "key name 201 characters", b.call("POST", "/v1/customers/"+id+"/keys", b.op,
			map[string]any{"name": strings.Repeat("ß", 201)}), 422, "invalid_request", "name")
	})
}

// ckClock is a settable clock.
type ckClock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *ckClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *ckClock) add(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}

// ckClockBundle serves b's database through a second API whose clock is clk.
func ckClockBundle(t *testing.T, b *bundle, clk *ckClock) *bundle {
	srv := api.New(api.Config{Store: b.store, Now: clk.Now,
		Auth: auth.New(auth.Config{Store: b.store, OperatorKey: testOperatorKey, Now: clk.Now})})
	ts := httptest.NewServer(srv)
	t.Cleanup(ts.Close)
	return &bundle{t: t, url: ts.URL, store: b.store, op: testOperatorKey}
}

func TestCustomerIdempotencyExpires(t *testing.T) {
	each(t, func(t *testing.T, b *bundle) {
		clk := &ckClock{now: time.Date(2026, 5, 29, 12, 0, 0, 0, time.UTC)}
		cb := ckClockBundle(t, b, clk)
		body := map[string]any{"name": "acme"}
		first := cb.ok(201, "POST", "/v1/customers", cb.op, body, "Idempotency-Key: day")
		if first.str("created_at") != "2026-05-29T12:00:00Z" {
			t.Errorf("created_at = %q, want the server clock", first.str("created_at"))
		}
		clk.add(24*time.Hour - time.Millisecond)
		if r := cb.ok(201, "POST", "/v1/customers", cb.op, body, "Idempotency-Key: day"); r.Header.Get("Idempotent-Replayed") != "true" ||
			string(r.Raw) != string(first.Raw) {
			t.Errorf("no replay just under 24 h: %s", r.Raw)
		}
		cb.want(cb.call("POST", "/v1/customers", cb.op, map[string]any{"name": "other"}, "Idempotency-Key: day"), 409, "idempotency_key_reused")
		clk.add(2 * time.Millisecond)
		r := cb.ok(201, "POST", "/v1/customers", cb.op, map[string]any{"name": "other"}, "Idempotency-Key: day")
		if r.Header.Get("Idempotent-Replayed") != "" || r.str("id") == first.str("id") || r.str("name") != "other" {
			t.Errorf("key still replayed after 24 h: %s", r.Raw)
		}
		if n := len(cb.ok(200, "GET", "/v1/customers", cb.op, nil).data()); n != 2 {
			t.Errorf("%d customers, want 2", n)
		}
	})
}

func TestCustomerIdempotencyConcurrent(t *testing.T) {
	each(t, func(t *testing.T, b *bundle) {
		const n = 10
		type answer struct {
			status   int
			replayed string
			raw      string
			err      error
		}
		answers := make(chan answer, n)
		var wg sync.WaitGroup
		for range n {
			wg.Go(func() {
				req, err := http.NewRequest("POST", b.url+"/v1/customers", strings.NewReader(`{"name":"acme"}`))
				if err != nil {
					answers <- answer{err: err}
					return
				}
				req.Header.Set("Authorization", "Bearer "+b.op)
				req.Header.Set("Idempotency-Key", "race")
				resp, err := http.DefaultClient.Do(req)
				if err != nil {
					answers <- answer{err: err}
					return
				}
				raw, err := io.ReadAll(resp.Body)
				resp.Body.Close()
				answers <- answer{resp.StatusCode, resp.Header.Get("Idempotent-Replayed"), string(raw), err}
			})
		}
		wg.Wait()
		close(answers)
		var bodies []string
		for a := range answers {
			switch {
			case a.err != nil:
				t.Errorf("request: %v", a.err)
			case a.status == 201:
				bodies = append(bodies, a.raw)
			case a.status == 409 && strings.Contains(a.raw, `"code":"conflict"`):
				// a duplicate that arrived while the first was running
			default:
				t.Errorf("answer %d %s", a.status, a.raw)
			}
		}
		if len(bodies) == 0 {
			t.Fatal("no request succeeded")
		}
		for _, body := range bodies[1:] {
			if body != bodies[0] {
				t.Errorf("two different 201 answers:\n%s\n%s", bodies[0], body)
			}
		}
		if got := len(b.ok(200, "GET", "/v1/customers", b.op, nil).data()); got != 1 {
			t.Errorf("%d customers from one Idempotency-Key, want 1", got)
		}
	})
}
