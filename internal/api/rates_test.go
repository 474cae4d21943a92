package api_test

import (
	"fmt"
	"net/url"
	"sort"
	"strings"
	"testing"
	"time"
)

// rateCreate creates a rate from body (price_per_minute added when missing)
// and returns the answer.
func (b *bundle) rateCreate(body map[string]any) *response {
	b.t.Helper()
	if _, ok := body["price_per_minute"]; !ok {
		body["price_per_minute"] = "0.01"
	}
	return b.ok(201, "POST", "/v1/rates", b.op, body)
}

// rateIDs lists the rates at path (a GET /v1/rates query) as "prefix" -> id,
// failing on a duplicate prefix.
func (b *bundle) ratePrefixes(path, key string) map[string]map[string]any {
	b.t.Helper()
	out := map[string]map[string]any{}
	for _, r := range b.ok(200, "GET", path, key, nil).data() {
		p, _ := r["prefix"].(string)
		if _, dup := out[p]; dup {
			b.t.Fatalf("%s: prefix %q listed twice", path, p)
		}
		out[p] = r
	}
	return out
}

// sortedKeys returns m's keys in order.
func sortedKeys[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

func TestRateCreateDefaults(t *testing.T) {
	each(t, func(t *testing.T, b *bundle) {
		r := b.rateCreate(map[string]any{"price_per_minute": "0.0125"})
		want := map[string]any{"direction": "outbound", "prefix": "", "price_per_minute": "0.0125", "connection_fee": "0",
			"initial_increment": float64(60), "subsequent_increment": float64(60), "currency": "EUR", "status": "active",
			"description": "", "customer_id": nil}
		for k, v := range want {
			if got, ok := r.JSON[k]; !ok || got != v {
				t.Errorf("%s = %#v, want %#v", k, got, v)
			}
		}
		if !strings.HasPrefix(r.str("id"), "rate_") || r.str("created_at") == "" {
			t.Errorf("id/created_at: %s", r.Raw)
		}
		got := b.ok(200, "GET", "/v1/rates/"+r.str("id"), b.op, nil)
		if string(got.Raw) != string(r.Raw) {
			t.Errorf("GET differs from create:\n%s\n%s", r.Raw, got.Raw)
		}

		// "+" is stripped from the prefix; a customer's deck takes its currency.
		usd := b.ok(201, "POST", "/v1/customers", b.op, map[string]any{"name": "usd", "currency": "USD"}).str("id")
		r = b.rateCreate(map[string]any{"customer_id": usd, "prefix": "+44", "direction": "inbound", "connection_fee": "0.5",
			"initial_increment": 30, "subsequent_increment": 6, "status": "inactive", "description": "UK"})
		for k, v := range map[string]any{"customer_id": usd, "prefix": "44", "currency": "USD", "direction": "inbound",
			"connection_fee": "0.5", "initial_increment": float64(30), "subsequent_increment": float64(6),
			"status": "inactive", "description": "UK"} {
			if r.JSON[k] != v {
				t.Errorf("%s = %#v, want %#v", k, r.JSON[k], v)
			}
		}
		// An explicit currency wins; customer_id null is the default deck.
		r = b.rateCreate(map[string]any{"customer_id": nil, "currency": "GBP", "prefix": "+", "direction": "inbound"})
		if r.JSON["customer_id"] != nil || r.str("currency") != "GBP" || r.str("prefix") != "" {
			t.Errorf("explicit currency / null customer / bare +: %s", r.Raw)
		}
		// Bounds that are valid.
		b.rateCreate(map[string]any{"prefix": "123456789012345", "price_per_minute": "0", "initial_increment": 1, "subsequent_increment": 3600})
		b.rateCreate(map[string]any{"prefix": "9", "price_per_minute": "0.000001", "connection_fee": "999999999.999999", "initial_increment": 3600, "subsequent_increment": 1})
	})
}

func TestRateCreateValidation(t *testing.T) {
	each(t, func(t *testing.T, b *bundle) {
		cases := []struct {
			name   string
			body   map[string]any
			status int
			code   string
			param  string
		}{
			{"no price", map[string]any{"prefix": "44"}, 422, "invalid_request", "price_per_minute"},
			{"null price", map[string]any{"price_per_minute": nil}, 422, "invalid_request", "price_per_minute"},
			{"negative price", map[string]any{"price_per_minute": "-0.01"}, 422, "invalid_request", "price_per_minute"},
			{"7 decimals", map[string]any{"price_per_minute": "0.0000001"}, 422, "invalid_request", "price_per_minute"},
			{"huge price", map[string]any{"price_per_minute": "1000000000"}, 422, "invalid_request", "price_per_minute"},
			{"price not decimal", map[string]any{"price_per_minute": "abc"}, 400, "invalid_json", ""},
			{"price wrong type", map[string]any{"price_per_minute": true}, 400, "invalid_json", ""},
			{"negative fee", map[string]any{"price_per_minute": "0.01", "connection_fee": "-1"}, 422, "invalid_request", "connection_fee"},
			{"fee 7 decimals", map[string]any{"price_per_minute": "0.01", "connection_fee": "0.1234567"}, 422, "invalid_request", "connection_fee"},
			{"direction both", map[string]any{"price_per_minute": "0.01", "direction": "both"}, 422, "invalid_request", "direction"},
			{"direction empty", map[string]any{"price_per_minute": "0.01", "direction": ""}, 422, "invalid_request", "direction"},
			{"prefix letters", map[string]any{"price_per_minute": "0.01", "prefix": "44a"}, 422, "invalid_request", "prefix"},
			{"prefix space", map[string]any{"price_per_minute": "0.01", "prefix": "4 4"}, 422, "invalid_request", "prefix"},
			{"prefix 16 digits", map[string]any{"price_per_minute": "0.01", "prefix": "1234567890123456"}, 422, "invalid_request", "prefix"},
			{"prefix double plus", map[string]any{"price_per_minute": "0.01", "prefix": "++44"}, 422, "invalid_request", "prefix"},
			{"initial 0", map[string]any{"price_per_minute": "0.01", "initial_increment": 0}, 422, "invalid_request", "initial_increment"},
			{"initial 3601", map[string]any{"price_per_minute": "0.01", "initial_increment": 3601}, 422, "invalid_request", "initial_increment"},
			{"initial string", map[string]any{"price_per_minute": "0.01", "initial_increment": "60"}, 400, "invalid_json", ""},
			{"subsequent 0", map[string]any{"price_per_minute": "0.01", "subsequent_increment": 0}, 422, "invalid_request", "subsequent_increment"},
			{"subsequent -6", map[string]any{"price_per_minute": "0.01", "subsequent_increment": -6}, 422, "invalid_request", "subsequent_increment"},
			{"subsequent 3601", map[string]any{"price_per_minute": "0.01", "subsequent_increment": 3601}, 422, "invalid_request", "subsequent_increment"},
			{"currency lower", map[string]any{"price_per_minute": "0.01", "currency": "eur"}, 422, "invalid_request", "currency"},
			{"currency long", map[string]any{"price_per_minute": "0.01", "currency": "EURO"}, 422, "invalid_request", "currency"},
			{"currency empty", map[string]any{"price_per_minute": "0.01", "currency": ""}, 422, "invalid_request", "currency"},
			{"status", map[string]any{"price_per_minute": "0.01", "status": "disabled"}, 422, "invalid_request", "status"},
			{"description", map[string]any{"price_per_minute": "0.01", "description": strings.Repeat("d", 501)}, 422, "invalid_request", "description"},
			{"customer", map[string]any{"price_per_minute": "0.01", "customer_id": "cust_nope"}, 422, "invalid_request", "customer_id"},
			{"unknown field", map[string]any{"price_per_minute": "0.01", "prefx": "44"}, 422, "invalid_request", "prefx"},
		}
		for _, tc := range cases {
			r := b.call("POST", "/v1/rates", b.op, tc.body)
			if r.Status != tc.status || r.errCode() != tc.code {
				t.Errorf("%s: got %d %s, want %d %s\n%s", tc.name, r.Status, r.errCode(), tc.status, tc.code, r.Raw)
				continue
			}
			if tc.param != "" && r.errParam() != tc.param {
				t.Errorf("%s: param = %q, want %q", tc.name, r.errParam(), tc.param)
			}
		}
		b.want(b.call("POST", "/v1/rates", b.op, "{"), 400, "invalid_json")
		if n := len(b.ok(200, "GET", "/v1/rates", b.op, nil).data()); n != 0 {
			t.Errorf("%d rates after only invalid creates", n)
		}
		// Only the operator creates rates.
		cust := b.customer("acme")
		b.want(b.call("POST", "/v1/rates", b.customerKey(cust), map[string]any{"price_per_minute": "0.01"}), 403, "forbidden")
		b.want(b.call("POST", "/v1/rates", b.applicationKey(b.application(cust)), map[string]any{"price_per_minute": "0.01"}), 403, "forbidden")
		b.want(b.call("POST", "/v1/rates", "", map[string]any{"price_per_minute": "0.01"}), 401, "unauthorized")
	})
}

func TestRatePatchDelete(t *testing.T) {
	each(t, func(t *testing.T, b *bundle) {
		id := b.rateCreate(map[string]any{"prefix": "44", "price_per_minute": "0.02"}).str("id")
		path := "/v1/rates/" + id
		r := b.ok(200, "PATCH", path, b.op, map[string]any{"price_per_minute": "0.025", "status": "inactive",
			"description": "UK", "prefix": "+4420", "initial_increment": 6, "subsequent_increment": 6, "connection_fee": "0.001"})
		for k, v := range map[string]any{"price_per_minute": "0.025", "status": "inactive", "description": "UK", "prefix": "4420",
			"initial_increment": float64(6), "subsequent_increment": float64(6), "connection_fee": "0.001", "direction": "outbound"} {
			if r.JSON[k] != v {
				t.Errorf("%s = %#v, want %#v", k, r.JSON[k], v)
			}
		}
		if got := b.ok(200, "GET", path, b.op, nil); string(got.Raw) != string(r.Raw) {
			t.Errorf("GET after PATCH differs:\n%s\n%s", r.Raw, got.Raw)
		}
		// An empty PATCH changes nothing.
		if got := b.ok(200, "PATCH", path, b.op, map[string]any{}); string(got.Raw) != string(r.Raw) {
			t.Errorf("empty PATCH changed the rate:\n%s\n%s", r.Raw, got.Raw)
		}
		for _, tc := range []struct {
			body  map[string]any
			param string
		}{
			{map[string]any{"initial_increment": 0}, "initial_increment"},
			{map[string]any{"subsequent_increment": 3601}, "subsequent_increment"},
			{map[string]any{"price_per_minute": nil}, "price_per_minute"},
			{map[string]any{"price_per_minute": "-1"}, "price_per_minute"},
			{map[string]any{"prefix": "x"}, "prefix"},
			{map[string]any{"direction": "both"}, "direction"},
			{map[string]any{"status": "deleted"}, "status"},
			{map[string]any{"currency": "usd"}, "currency"},
			{map[string]any{"customer_id": b.customer("other")}, "customer_id"},
			{map[string]any{"customer_id": nil}, "customer_id"},
			{map[string]any{"nope": 1}, "nope"},
		} {
			got := b.want(b.call("PATCH", path, b.op, tc.body), 422, "invalid_request")
			if got.errParam() != tc.param {
				t.Errorf("PATCH %v: param %q, want %q", tc.body, got.errParam(), tc.param)
			}
		}
		if got := b.ok(200, "GET", path, b.op, nil); string(got.Raw) != string(r.Raw) {
			t.Errorf("rejected PATCHes changed the rate:\n%s\n%s", r.Raw, got.Raw)
		}
		cust := b.customer("acme")
		ck := b.customerKey(cust)
		b.want(b.call("PATCH", path, ck, map[string]any{"status": "active"}), 403, "forbidden")
		b.want(b.call("DELETE", path, ck, nil), 403, "forbidden")
		b.want(b.call("PATCH", "/v1/rates/rate_nope", b.op, map[string]any{"status": "active"}), 404, "not_found")
		b.want(b.call("DELETE", "/v1/rates/rate_nope", b.op, nil), 404, "not_found")
		b.ok(204, "DELETE", path, b.op, nil)
		b.want(b.call("GET", path, b.op, nil), 404, "not_found")
		b.want(b.call("DELETE", path, b.op, nil), 404, "not_found")
		b.want(b.call("PATCH", path, b.op, map[string]any{"status": "active"}), 404, "not_found")
	})
}

func TestRateListFiltersAndVisibility(t *testing.T) {
	each(t, func(t *testing.T, b *bundle) {
		a, c := b.customer("a"), b.customer("c")
		ids := map[string]string{}
		for _, x := range []struct {
			name string
			body map[string]any
		}{
			{"def44", map[string]any{"prefix": "44"}},
			{"def1in", map[string]any{"prefix": "1", "direction": "inbound"}},
			{"def33off", map[string]any{"prefix": "33", "status": "inactive"}},
			{"a44", map[string]any{"prefix": "44", "customer_id": a}},
			{"c49", map[string]any{"prefix": "49", "customer_id": c}},
		} {
			ids[x.name] = b.rateCreate(x.body).str("id")
		}
		names := func(path, key string) string {
			t.Helper()
			r := b.ok(200, "GET", path, key, nil)
			var out []string
			var last time.Time
			for i, it := range r.data() {
				for n, id := range ids {
					if it["id"] == id {
						out = append(out, n)
					}
				}
				ca, err := time.Parse(time.RFC3339Nano, it["created_at"].(string))
				if err != nil || (i > 0 && ca.After(last)) {
					t.Errorf("%s: not newest first (%v)", path, err)
				}
				last = ca
			}
			sort.Strings(out)
			return strings.Join(out, ",")
		}
		ak, ck := b.customerKey(a), b.customerKey(c)
		for _, tc := range []struct {
			path, key, want string
		}{
			{"/v1/rates", b.op, "a44,c49,def1in,def33off,def44"},
			{"/v1/rates?customer_id=default", b.op, "def1in,def33off,def44"},
			{"/v1/rates?customer_id=" + a, b.op, "a44"},
			{"/v1/rates?direction=inbound", b.op, "def1in"},
			{"/v1/rates?direction=outbound", b.op, "a44,c49,def33off,def44"},
			{"/v1/rates?prefix=44", b.op, "a44,def44"},
			{"/v1/rates?status=inactive", b.op, "def33off"},
			{"/v1/rates?status=active&customer_id=default&direction=outbound", b.op, "def44"},
			{"/v1/rates", ak, "a44,def1in,def33off,def44"},
			{"/v1/rates?customer_id=default", ak, "def1in,def33off,def44"},
			{"/v1/rates?customer_id=" + a, ak, "a44"},
			{"/v1/rates?prefix=44", ak, "a44,def44"},
			{"/v1/rates", ck, "c49,def1in,def33off,def44"},
		} {
			if got := names(tc.path, tc.key); got != tc.want {
				t.Errorf("GET %s = %s, want %s", tc.path, got, tc.want)
			}
		}
		// Another customer's deck is invisible; unknown decks are 404.
		b.want(b.call("GET", "/v1/rates?customer_id="+c, ak, nil), 404, "not_found")
		b.want(b.call("GET", "/v1/rates?customer_id=cust_nope", b.op, nil), 404, "not_found")
		b.ok(200, "GET", "/v1/rates/"+ids["def44"], ak, nil)
		b.ok(200, "GET", "/v1/rates/"+ids["a44"], ak, nil)
		b.want(b.call("GET", "/v1/rates/"+ids["c49"], ak, nil), 404, "not_found")
		b.want(b.call("GET", "/v1/rates/"+ids["a44"], ck, nil), 404, "not_found")
		// Application keys see no rates.
		appKey := b.applicationKey(b.application(a))
		b.want(b.call("GET", "/v1/rates", appKey, nil), 403, "forbidden")
		b.want(b.call("GET", "/v1/rates/"+ids["def44"], appKey, nil), 403, "forbidden")
		// Pagination over rates.
		p1 := b.ok(200, "GET", "/v1/rates?limit=3", b.op, nil)
		if len(p1.data()) != 3 || p1.JSON["has_more"] != true || p1.str("next_cursor") == "" {
			t.Fatalf("page 1: %s", p1.Raw)
		}
		p2 := b.ok(200, "GET", "/v1/rates?limit=3&after="+p1.str("next_cursor"), b.op, nil)
		if len(p2.data()) != 2 || p2.JSON["has_more"] != false || p2.str("next_cursor") != "" {
			t.Fatalf("page 2: %s", p2.Raw)
		}
	})
}

// importCSV posts a CSV deck.
func (b *bundle) importCSV(query, csv string) *response {
	b.t.Helper()
	return b.call("POST", "/v1/rates/import"+query, b.op, csv, "Content-Type: text/csv")
}

// importErrors returns error.errors of a failed import as "line:field" strings.
func importErrors(t *testing.T, r *response) []string {
	t.Helper()
	e, _ := r.JSON["error"].(map[string]any)
	list, ok := e["errors"].([]any)
	if !ok {
		t.Fatalf("no error.errors: %s", r.Raw)
	}
	var out []string
	for _, it := range list {
		m, _ := it.(map[string]any)
		line, _ := m["line"].(float64)
		field, _ := m["field"].(string)
		if msg, _ := m["message"].(string); msg == "" {
			t.Errorf("line error without message: %v", m)
		}
		out = append(out, fmt.Sprintf("%d:%s", int(line), field))
	}
	return out
}

func TestRateImport(t *testing.T) {
	each(t, func(t *testing.T, b *bundle) {
		a := b.ok(201, "POST", "/v1/customers", b.op, map[string]any{"name": "a", "currency": "USD"}).str("id")
		old1 := b.rateCreate(map[string]any{"prefix": "1"}).str("id")
		b.rateCreate(map[string]any{"prefix": "44"})
		inbound := b.rateCreate(map[string]any{"prefix": "1", "direction": "inbound"}).str("id")
		aOld := b.rateCreate(map[string]any{"prefix": "49", "customer_id": a}).str("id")

		// The default outbound deck, with a header: replaced whole.
		r := b.want(b.importCSV("", "prefix,price_per_minute,initial_increment,subsequent_increment,connection_fee,description\n"+
			"44,0.02,30,6,0.01,UK\n"+
			"+4420, 0.015,,,,London\n"+
			"1,0.005\n"+
			"\"33\",\"0.1\",\"1\",\"1\",\"0\",\"France, mobile\"\n"), 200, "")
		if r.JSON["imported"] != float64(4) || r.JSON["customer_id"] != nil || r.str("direction") != "outbound" || r.str("currency") != "EUR" {
			t.Errorf("import answer: %s", r.Raw)
		}
		deck := b.ratePrefixes("/v1/rates?customer_id=default&direction=outbound&limit=200", b.op)
		if got := strings.Join(sortedKeys(deck), ","); got != "1,33,44,4420" {
			t.Fatalf("default outbound deck = %s", got)
		}
		if deck["1"]["id"] == old1 {
			t.Errorf("old rate 1 survived the import")
		}
		for p, want := range map[string]map[string]any{
			"44":   {"price_per_minute": "0.02", "initial_increment": float64(30), "subsequent_increment": float64(6), "connection_fee": "0.01", "description": "UK"},
			"4420": {"price_per_minute": "0.015", "initial_increment": float64(60), "subsequent_increment": float64(60), "connection_fee": "0", "description": "London"},
			"1":    {"price_per_minute": "0.005", "description": "", "currency": "EUR", "status": "active", "customer_id": nil},
			"33":   {"price_per_minute": "0.1", "initial_increment": float64(1), "description": "France, mobile"},
		} {
			for k, v := range want {
				if deck[p][k] != v {
					t.Errorf("imported %s: %s = %#v, want %#v", p, k, deck[p][k], v)
				}
			}
		}
		// Other decks are untouched.
		if in := b.ratePrefixes("/v1/rates?customer_id=default&direction=inbound", b.op); len(in) != 1 || in["1"]["id"] != inbound {
			t.Errorf("default inbound deck changed: %v", in)
		}
		if ad := b.ratePrefixes("/v1/rates?customer_id="+a, b.op); len(ad) != 1 || ad["49"]["id"] != aOld {
			t.Errorf("customer deck changed: %v", ad)
		}

		// A customer's deck, no header, CRLF: takes the customer's currency.
		r = b.want(b.importCSV("?customer_id="+a, "49,0.1\r\n33,0.2,6,6\r\n"), 200, "")
		if r.JSON["imported"] != float64(2) || r.str("customer_id") != a || r.str("currency") != "USD" {
			t.Errorf("customer import answer: %s", r.Raw)
		}
		ad := b.ratePrefixes("/v1/rates?customer_id="+a, b.op)
		if got := strings.Join(sortedKeys(ad), ","); got != "33,49" || ad["49"]["id"] == aOld || ad["33"]["currency"] != "USD" {
			t.Errorf("customer deck after import: %v", ad)
		}
		if got := strings.Join(sortedKeys(b.ratePrefixes("/v1/rates?customer_id=default&direction=outbound", b.op)), ","); got != "1,33,44,4420" {
			t.Errorf("default deck changed by a customer import: %s", got)
		}

		// The inbound deck, with an explicit currency.
		r = b.want(b.importCSV("?direction=inbound&currency=GBP", "\"prefix\",\"price_per_minute\"\n44,0.003\n"), 200, "")
		in := b.ratePrefixes("/v1/rates?customer_id=default&direction=inbound", b.op)
		if len(in) != 1 || in["44"]["currency"] != "GBP" || in["44"]["direction"] != "inbound" {
			t.Errorf("inbound import: %s / %v", r.Raw, in)
		}

		// A UTF-8 byte order mark (Excel's "CSV UTF-8") does not hide the header.
		b.want(b.importCSV("?direction=inbound", "\ufeffprefix,price_per_minute\n44,0.004\n"), 200, "")
		if in := b.ratePrefixes("/v1/rates?customer_id=default&direction=inbound", b.op); len(in) != 1 || in["44"]["price_per_minute"] != "0.004" {
			t.Errorf("import with BOM: %v", in)
		}

		// Bad query parameters.
		b.want(b.importCSV("?direction=both", "44,0.1\n"), 422, "invalid_request")
		if r := b.importCSV("?customer_id=cust_nope", "44,0.1\n"); r.errParam() != "customer_id" || r.Status != 422 {
			t.Errorf("unknown customer: %d %s", r.Status, r.Raw)
		}
		if r := b.importCSV("?currency=eur", "44,0.1\n"); r.Status != 422 || r.errParam() != "body" {
			t.Errorf("bad currency: %d %s", r.Status, r.Raw)
		}
		// Only the operator imports.
		ck := b.customerKey(a)
		b.want(b.call("POST", "/v1/rates/import?customer_id="+a, ck, "44,0.1\n"), 403, "forbidden")
	})
}

func TestRateImportErrors(t *testing.T) {
	each(t, func(t *testing.T, b *bundle) {
		b.rateCreate(map[string]any{"prefix": "1"})
		b.rateCreate(map[string]any{"prefix": "44"})
		before := b.ok(200, "GET", "/v1/rates", b.op, nil).Raw
		cases := []struct {
			name string
			csv  string
			want []string // "line:field"
		}{
			{"every kind of bad line", "prefix,price_per_minute,initial_increment,subsequent_increment,connection_fee,description\n" +
				"44,0.02\n" + // 2 ok
				"33,abc\n" + // 3 bad decimal
				"34,0.01,0\n" + // 4 increment out of range
				"35,0.01,60,x\n" + // 5 not a whole number
				"36\n" + // 6 too few fields
				"37,0.01,60,60,0,d,extra\n" + // 7 too many fields
				"+44,0.03\n" + // 8 duplicate of line 2 once "+" is stripped
				"3a,0.01\n" + // 9 bad prefix
				"38,-1\n" + // 10 negative
				"39,0.01,60,60,0.1234567\n" + // 11 fee with 7 decimals
				"40,0.01,3601\n" + // 12 increment too big
				"41,0.01,60,60,zz\n" + // 13 fee not a decimal
				"42,0.01,60,0\n", // 14 subsequent 0
				[]string{"3:price_per_minute", "4:initial_increment", "5:subsequent_increment", "6:", "7:", "8:prefix", "9:prefix",
					"10:price_per_minute", "11:connection_fee", "12:initial_increment", "13:connection_fee", "14:subsequent_increment"}},
			{"blank lines keep line numbers", "\n44,0.01\n\n33,x\n", []string{"4:price_per_minute"}},
			{"bare quote", "44,0.02\n55,0.0\"1\n66,0.1\n", []string{"2:"}},
			{"bare quote on line 1", "4\"4,0.1\n55,0.1\n", []string{"1:"}},
			{"quote after data", "44,0.02\n\"55\"x,0.1\n", []string{"2:"}},
			{"header not first", "44,0.02\nprefix,price_per_minute\n", []string{"2:price_per_minute"}},
			{"empty price", "44,\n", []string{"1:price_per_minute"}},
			{"one good one bad", "44,0.5\n45,0.1.2\n", []string{"2:price_per_minute"}},
		}
		for _, tc := range cases {
			r := b.importCSV("", tc.csv)
			if r.Status != 422 || r.errCode() != "invalid_request" || r.errParam() != "body" {
				t.Errorf("%s: got %d %s\n%s", tc.name, r.Status, r.errParam(), r.Raw)
				continue
			}
			if got := strings.Join(importErrors(t, r), " "); got != strings.Join(tc.want, " ") {
				t.Errorf("%s: errors %s, want %s", tc.name, got, strings.Join(tc.want, " "))
			}
			e := r.JSON["error"].(map[string]any)
			if msg, _ := e["message"].(string); !strings.Contains(msg, "line ") || !strings.Contains(msg, "nothing was imported") {
				t.Errorf("%s: message %q", tc.name, msg)
			}
		}
		// An unterminated quote is reported with a line number too.
		r := b.want(b.importCSV("", "44,0.02\n\"33,0.01\n55,0.1\n"), 422, "invalid_request")
		if errs := importErrors(t, r); len(errs) != 1 || strings.HasPrefix(errs[0], "0:") {
			t.Errorf("unterminated quote: %v", errs)
		}
		// Nothing was imported by any of them.
		if after := b.ok(200, "GET", "/v1/rates", b.op, nil).Raw; string(after) != string(before) {
			t.Errorf("a failed import changed the rates:\n%s\n%s", before, after)
		}
		// Error lists are bounded.
		var sb strings.Builder
		for i := range 500 {
			fmt.Fprintf(&sb, "%d,bad\n", 100+i)
		}
		r = b.want(b.importCSV("", sb.String()), 422, "invalid_request")
		if n := len(importErrors(t, r)); n < 1 || n > 100 {
			t.Errorf("%d line errors for 500 bad lines", n)
		}
	})
}

// lookup asks which rate applies and returns the matching rate's prefix and
// price, or the error code.
func (b *bundle) lookup(key string, q url.Values) string {
	b.t.Helper()
	r := b.call("GET", "/v1/rates/lookup?"+q.Encode(), key, nil)
	if r.Status != 200 {
		if c := r.errCode(); c != "" {
			if p := r.errParam(); p != "" {
				return fmt.Sprintf("%d %s %s", r.Status, c, p)
			}
			return fmt.Sprintf("%d %s", r.Status, c)
		}
		b.t.Fatalf("lookup %s: %d %s", q.Encode(), r.Status, r.Raw)
	}
	deck := "default"
	if c, ok := r.JSON["customer_id"].(string); ok {
		deck = c
	}
	return fmt.Sprintf("%s %q %s", deck, r.str("prefix"), r.str("price_per_minute"))
}

func TestRateLookup(t *testing.T) {
	each(t, func(t *testing.T, b *bundle) {
		a, c := b.customer("a"), b.customer("c")
		for _, x := range []map[string]any{
			{"prefix": "1", "price_per_minute": "0.01"},
			{"prefix": "1555", "price_per_minute": "0.02"},
			{"prefix": "15551", "price_per_minute": "0.03"},
			{"prefix": "155512", "price_per_minute": "0.09", "status": "inactive"},
			{"prefix": "", "price_per_minute": "0.5"},
			{"prefix": "1", "price_per_minute": "0.001", "direction": "inbound"},
			{"prefix": "44", "price_per_minute": "0.1", "customer_id": a},
			{"prefix": "1", "price_per_minute": "0.2", "customer_id": a},
			{"prefix": "4420", "price_per_minute": "0.7", "customer_id": a, "status": "inactive"},
			{"prefix": "33", "price_per_minute": "0.3", "customer_id": c, "direction": "inbound"},
		} {
			b.rateCreate(x)
		}
		v := func(kv ...string) url.Values {
			q := url.Values{}
			for i := 0; i < len(kv); i += 2 {
				q.Set(kv[i], kv[i+1])
			}
			return q
		}
		ak, ck := b.customerKey(a), b.customerKey(c)
		for _, tc := range []struct {
			key  string
			q    url.Values
			want string
		}{
			// Longest prefix among overlapping ones; inactive ignored; "" matches everything.
			{b.op, v("to", "+15551234567"), `default "15551" 0.03`},
			{b.op, v("to", "+15551299999"), `default "15551" 0.03`},
			{b.op, v("to", "+15559999999"), `default "1555" 0.02`},
			{b.op, v("to", "+12125551234"), `default "1" 0.01`},
			{b.op, v("to", "+442071234567"), `default "" 0.5`},
			{b.op, v("to", "15551234567"), `default "15551" 0.03`},
			{b.op, v("to", "+15551234567", "direction", "outbound"), `default "15551" 0.03`},
			{b.op, v("to", "+15551234567", "direction", "inbound"), `default "1" 0.001`},
			{b.op, v("to", "+442071234567", "direction", "inbound"), "403 destination_not_allowed"},
			// The customer's deck first; the default deck only if it has no match at all.
			{b.op, v("to", "+15551234567", "customer_id", a), fmt.Sprintf(`%s "1" 0.2`, a)},
			{b.op, v("to", "+442071234567", "customer_id", a), fmt.Sprintf(`%s "44" 0.1`, a)},
			{b.op, v("to", "+33123456789", "customer_id", a), `default "" 0.5`},
			{b.op, v("to", "+15551234567", "customer_id", c), `default "15551" 0.03`},
			{b.op, v("to", "+33123456789", "customer_id", c, "direction", "inbound"), fmt.Sprintf(`%s "33" 0.3`, c)},
			{b.op, v("to", "+15551234567", "customer_id", c, "direction", "inbound"), `default "1" 0.001`},
			{b.op, v("to", "+15551234567", "customer_id", "cust_nope"), "404 not_found"},
			// Bad input.
			{b.op, v(), "422 invalid_request to"},
			{b.op, v("to", "abc"), "422 invalid_request to"},
			{b.op, v("to", "+0123456789"), "422 invalid_request to"},
			{b.op, v("to", "+1234567"), "422 invalid_request to"},
			{b.op, v("to", "+1234567890123456"), "422 invalid_request to"},
			{b.op, v("to", "+15551234567", "direction", "both"), "422 invalid_request direction"},
			// A customer key sees its own deck and the default deck only.
			{ak, v("to", "+15551234567"), fmt.Sprintf(`%s "1" 0.2`, a)},
			{ak, v("to", "+15551234567", "customer_id", a), fmt.Sprintf(`%s "1" 0.2`, a)},
			{ak, v("to", "+15551234567", "customer_id", c), "404 not_found"},
			{ak, v("to", "+15551234567", "customer_id", "cust_nope"), "404 not_found"},
			{ak, v("to", "+33123456789", "direction", "inbound"), "403 destination_not_allowed"},
			{ck, v("to", "+442071234567"), `default "" 0.5`},
			{ck, v("to", "+33123456789", "direction", "inbound"), fmt.Sprintf(`%s "33" 0.3`, c)},
		} {
			if got := b.lookup(tc.key, tc.q); got != tc.want {
				t.Errorf("lookup %s: %s, want %s", tc.q.Encode(), got, tc.want)
			}
		}
		// A "+" left unescaped in the query string arrives as a space and still works.
		r := b.ok(200, "GET", "/v1/rates/lookup?to=+15551234567", b.op, nil)
		if r.str("prefix") != "15551" {
			t.Errorf("unescaped +: %s", r.Raw)
		}
		b.want(b.call("GET", "/v1/rates/lookup?to=%2B15551234567", b.applicationKey(b.application(a)), nil), 403, "forbidden")
		b.want(b.call("GET", "/v1/rates/lookup?to=%2B15551234567", "", nil), 401, "unauthorized")

		// Deactivating and deleting rates changes the answer; without the catch-all nothing matches.
		all := b.ratePrefixes("/v1/rates?customer_id=default&direction=outbound", b.op)
		b.ok(200, "PATCH", "/v1/rates/"+all["15551"]["id"].(string), b.op, map[string]any{"status": "inactive"})
		if got := b.lookup(b.op, v("to", "+15551234567")); got != `default "1555" 0.02` {
			t.Errorf("after deactivating 15551: %s", got)
		}
		b.ok(204, "DELETE", "/v1/rates/"+all[""]["id"].(string), b.op, nil)
		if got := b.lookup(b.op, v("to", "+442071234567")); got != "403 destination_not_allowed" {
			t.Errorf("after deleting the catch-all: %s", got)
		}
	})
}

func TestRateOnePerPrefixAndNoEmptyImport(t *testing.T) {
	each(t, func(t *testing.T, b *bundle) {
		cust := b.customer("acme")
		first := b.rateCreate(map[string]any{"prefix": "44"})
		// The same prefix in the same deck and direction is a conflict ...
		b.want(b.call("POST", "/v1/rates", b.op, map[string]any{"prefix": "+44", "price_per_minute": "0.02"}), 409, "conflict")
		// ... also when a PATCH would make one.
		other := b.rateCreate(map[string]any{"prefix": "45"})
		b.want(b.call("PATCH", "/v1/rates/"+other.str("id"), b.op, map[string]any{"prefix": "44"}), 409, "conflict")
		// Other decks and directions may reuse it.
		b.rateCreate(map[string]any{"prefix": "44", "direction": "inbound"})
		b.rateCreate(map[string]any{"prefix": "44", "customer_id": cust})
		// An import with no rows would empty the deck: refused, and the deck stays.
		for _, body := range []string{"", "prefix,price_per_minute\n"} {
			r := b.want(b.call("POST", "/v1/rates/import", b.op, body, "Content-Type: text/csv"), 422, "invalid_request")
			if r.errParam() != "body" {
				t.Errorf("param = %q", r.errParam())
			}
		}
		b.ok(200, "GET", "/v1/rates/"+first.str("id"), b.op, nil)
		// Bad list filters are refused rather than matching nothing.
		for _, q := range []string{"direction=sideways", "status=maybe", "prefix=4x"} {
			b.want(b.call("GET", "/v1/rates?"+q, b.op, nil), 422, "invalid_request")
		}
		b.want(b.call("GET", "/v1/events?event=call.exploded", b.op, nil), 422, "invalid_request")
	})
}
