package api_test

import (
	"fmt"
	"reflect"
	"strings"
	"testing"
)

// trunkBody is a minimal valid outbound trunk plus edits.
func trunkBody(kv ...any) map[string]any {
	m := map[string]any{"name": "carrier", "host": "sip.example.com"}
	for i := 0; i < len(kv); i += 2 {
		m[kv[i].(string)] = kv[i+1]
	}
	return m
}

// noPassword fails if a trunk answer leaks its password.
func noPassword(t *testing.T, r *response, secret string) {
	t.Helper()
	if strings.Contains(string(r.Raw), `"password"`) || (secret != "" && strings.Contains(string(r.Raw), secret)) {
		t.Errorf("trunk answer shows the password: %s", r.Raw)
	}
}

func TestTrunkCreateDefaults(t *testing.T) {
	each(t, func(t *testing.T, b *bundle) {
		r := b.ok(201, "POST", "/v1/trunks", b.op, trunkBody())
		want := map[string]any{"name": "carrier", "host": "sip.example.com", "direction": "outbound", "port": float64(5060),
			"transport": "udp", "username": "", "from_domain": "", "strip_plus": false, "tech_prefix": "",
			"allowed_cidrs": []any{}, "max_channels": float64(100), "max_cps": float64(10), "priority": float64(10),
			"setup_timeout": float64(8), "customer_id": nil, "status": "active", "has_password": false}
		for k, v := range want {
			if got, ok := r.JSON[k]; !ok || !reflect.DeepEqual(got, v) {
				t.Errorf("%s = %#v, want %#v", k, got, v)
			}
		}
		if !strings.HasPrefix(r.str("id"), "trunk_") || r.str("created_at") == "" {
			t.Errorf("id/created_at: %s", r.Raw)
		}
		noPassword(t, r, "")
		got := b.ok(200, "GET", "/v1/trunks/"+r.str("id"), b.op, nil)
		if string(got.Raw) != string(r.Raw) {
			t.Errorf("GET differs from create:\n%s\n%s", r.Raw, got.Raw)
		}

		// Every field given.
		cust := b.customer("acme")
		full := map[string]any{"name": "full", "direction": "both", "host": "192.0.2.10", "port": 5061, "transport": "TLS",
			"username": "user", "password": "s3cr3t-pw", "from_domain": "voice.example.com", "strip_plus": true,
			"tech_prefix": "*#99", "allowed_cidrs": []string{"10.1.2.3/8", " 192.0.2.1 ", "2001:db8::1", "2001:db8:1::/48"},
			"max_channels": 30, "max_cps": 3, "priority": 0, "setup_timeout": 120, "customer_id": cust, "status": "disabled"}
		r = b.ok(201, "POST", "/v1/trunks", b.op, full)
		for k, v := range map[string]any{"transport": "tls", "port": float64(5061), "direction": "both", "strip_plus": true,
			"tech_prefix": "*#99", "customer_id": cust, "status": "disabled", "has_password": true, "username": "user",
			"priority": float64(0), "setup_timeout": float64(120), "max_channels": float64(30), "max_cps": float64(3),
			"allowed_cidrs": []any{"10.0.0.0/8", "192.0.2.1/32", "2001:db8::1/128", "2001:db8:1::/48"}} {
			if got := r.JSON[k]; !reflect.DeepEqual(got, v) {
				t.Errorf("%s = %#v, want %#v", k, got, v)
			}
		}
		noPassword(t, r, "s3cr3t-pw")
		id := r.str("id")
		noPassword(t, b.ok(200, "GET", "/v1/trunks/"+id, b.op, nil), "s3cr3t-pw")
		noPassword(t, b.ok(200, "GET", "/v1/trunks", b.op, nil), "s3cr3t-pw")
		p := b.ok(200, "PATCH", "/v1/trunks/"+id, b.op, map[string]any{"name": "renamed"})
		noPassword(t, p, "s3cr3t-pw")
		if p.JSON["has_password"] != true {
			t.Errorf("PATCH of the name dropped the password: %s", p.Raw)
		}
		// The password is replaced and cleared by PATCH, never read.
		p = b.ok(200, "PATCH", "/v1/trunks/"+id, b.op, map[string]any{"password": "other-pw"})
		noPassword(t, p, "other-pw")
		p = b.ok(200, "PATCH", "/v1/trunks/"+id, b.op, map[string]any{"password": ""})
		if p.JSON["has_password"] != false {
			t.Errorf("clearing the password: %s", p.Raw)
		}
		// An inbound trunk needs no host.
		r = b.ok(201, "POST", "/v1/trunks", b.op, map[string]any{"name": "in", "direction": "inbound", "allowed_cidrs": []string{"198.51.100.0/24"}})
		if r.str("host") != "" || r.str("direction") != "inbound" {
			t.Errorf("inbound trunk: %s", r.Raw)
		}
		// IPv6 literal hosts, with and without brackets.
		b.ok(201, "POST", "/v1/trunks", b.op, trunkBody("host", "2001:db8::5"))
		b.ok(201, "POST", "/v1/trunks", b.op, trunkBody("host", "[2001:db8::5]"))
	})
}

func TestTrunkOperatorOnly(t *testing.T) {
	each(t, func(t *testing.T, b *bundle) {
		id := b.ok(201, "POST", "/v1/trunks", b.op, trunkBody()).str("id")
		cust := b.customer("acme")
		for _, key := range []string{b.customerKey(cust), b.applicationKey(b.application(cust))} {
			b.want(b.call("POST", "/v1/trunks", key, trunkBody()), 403, "forbidden")
			b.want(b.call("GET", "/v1/trunks", key, nil), 403, "forbidden")
			b.want(b.call("GET", "/v1/trunks/"+id, key, nil), 403, "forbidden")
			b.want(b.call("PATCH", "/v1/trunks/"+id, key, map[string]any{"name": "x"}), 403, "forbidden")
			b.want(b.call("DELETE", "/v1/trunks/"+id, key, nil), 403, "forbidden")
		}
		b.want(b.call("GET", "/v1/trunks", "", nil), 401, "unauthorized")
		b.want(b.call("GET", "/v1/trunks", "mvk_op_wrong", nil), 401, "unauthorized")
		if got := b.ok(200, "GET", "/v1/trunks/"+id, b.op, nil); got.str("name") != "carrier" {
			t.Errorf("trunk changed by refused calls: %s", got.Raw)
		}
	})
}

func TestTrunkValidation(t *testing.T) {
	each(t, func(t *testing.T, b *bundle) {
		cases := []struct {
			name   string
			body   map[string]any
			status int
			param  string
		}{
			{"no name", map[string]any{"host": "sip.example.com"}, 422, "name"},
			{"empty name", trunkBody("name", ""), 422, "name"},
			{"long name", trunkBody("name", strings.Repeat("n", 201)), 422, "name"},
			{"direction", trunkBody("direction", "sideways"), 422, "direction"},
			{"no host outbound", map[string]any{"name": "x"}, 422, "host"},
			{"no host both", map[string]any{"name": "x", "direction": "both"}, 422, "host"},
			{"host spaces", trunkBody("host", "bad host"), 422, "host"},
			{"host scheme", trunkBody("host", "sip:carrier.example.com"), 422, "host"},
			{"host leading dash", trunkBody("host", "-carrier.example.com"), 422, "host"},
			{"host with port", trunkBody("host", "carrier.example.com:5060"), 422, "host"},
			{"port 0", trunkBody("port", 0), 422, "port"},
			{"port 65536", trunkBody("port", 65536), 422, "port"},
			{"port string", trunkBody("port", "5060"), 400, ""},
			{"transport", trunkBody("transport", "sctp"), 422, "transport"},
			{"from_domain", trunkBody("from_domain", "bad domain"), 422, "from_domain"},
			{"tech_prefix letters", trunkBody("tech_prefix", "12a"), 422, "tech_prefix"},
			{"tech_prefix long", trunkBody("tech_prefix", strings.Repeat("1", 17)), 422, "tech_prefix"},
			{"cidr mask", trunkBody("allowed_cidrs", []string{"10.0.0.0/33"}), 422, "allowed_cidrs"},
			{"cidr word", trunkBody("allowed_cidrs", []string{"office"}), 422, "allowed_cidrs"},
			{"cidr one bad", trunkBody("allowed_cidrs", []string{"10.0.0.0/8", "300.1.1.1"}), 422, "allowed_cidrs"},
			{"cidr not a list", trunkBody("allowed_cidrs", "10.0.0.0/8"), 400, ""},
			{"setup_timeout 0", trunkBody("setup_timeout", 0), 422, "setup_timeout"},
			{"setup_timeout 121", trunkBody("setup_timeout", 121), 422, "setup_timeout"},
			{"max_channels", trunkBody("max_channels", 0), 422, "max_channels"},
			{"max_cps", trunkBody("max_cps", 0), 422, "max_cps"},
			{"priority low", trunkBody("priority", -1), 422, "priority"},
			{"priority high", trunkBody("priority", 1001), 422, "priority"},
			{"customer", trunkBody("customer_id", "cust_nope"), 422, "customer_id"},
			{"status", trunkBody("status", "paused"), 422, "status"},
			{"password without username", trunkBody("password", "pw"), 422, "username"},
			{"long username", trunkBody("username", strings.Repeat("u", 129)), 422, "username"},
			{"unknown field", trunkBody("hostname", "x"), 422, "hostname"},
		}
		for _, tc := range cases {
			r := b.call("POST", "/v1/trunks", b.op, tc.body)
			code := "invalid_request"
			if tc.status == 400 {
				code = "invalid_json"
			}
			if r.Status != tc.status || r.errCode() != code || r.errParam() != tc.param && tc.param != "" {
				t.Errorf("%s: got %d %s %s, want %d %s\n%s", tc.name, r.Status, r.errCode(), r.errParam(), tc.status, tc.param, r.Raw)
			}
		}
		if n := len(b.ok(200, "GET", "/v1/trunks", b.op, nil).data()); n != 0 {
			t.Errorf("%d trunks after only invalid creates", n)
		}
	})
}

func TestTrunkPatchDeleteList(t *testing.T) {
	each(t, func(t *testing.T, b *bundle) {
		cust := b.customer("acme")
		id := b.ok(201, "POST", "/v1/trunks", b.op, trunkBody("customer_id", cust, "allowed_cidrs", []string{"192.0.2.1"})).str("id")
		path := "/v1/trunks/" + id
		r := b.ok(200, "PATCH", path, b.op, map[string]any{"port": 5080, "transport": "tcp", "allowed_cidrs": []string{"203.0.113.7/24"},
			"customer_id": nil, "priority": 5, "setup_timeout": 3, "strip_plus": true, "tech_prefix": "0011", "status": "disabled"})
		for k, v := range map[string]any{"port": float64(5080), "transport": "tcp", "allowed_cidrs": []any{"203.0.113.0/24"},
			"customer_id": nil, "priority": float64(5), "setup_timeout": float64(3), "strip_plus": true, "tech_prefix": "0011",
			"status": "disabled", "name": "carrier", "host": "sip.example.com"} {
			if got := r.JSON[k]; !reflect.DeepEqual(got, v) {
				t.Errorf("%s = %#v, want %#v", k, got, v)
			}
		}
		if got := b.ok(200, "GET", path, b.op, nil); string(got.Raw) != string(r.Raw) {
			t.Errorf("GET after PATCH differs:\n%s\n%s", r.Raw, got.Raw)
		}
		// allowed_cidrs null empties the list; customer_id can be set again.
		r = b.ok(200, "PATCH", path, b.op, map[string]any{"allowed_cidrs": nil, "customer_id": cust})
		if !reflect.DeepEqual(r.JSON["allowed_cidrs"], []any{}) || r.str("customer_id") != cust {
			t.Errorf("PATCH allowed_cidrs null: %s", r.Raw)
		}
		before := r.Raw
		for _, tc := range []struct {
			body  map[string]any
			param string
		}{
			{map[string]any{"port": 0}, "port"},
			{map[string]any{"transport": "ws"}, "transport"},
			{map[string]any{"allowed_cidrs": []string{"nope"}}, "allowed_cidrs"},
			{map[string]any{"setup_timeout": 0}, "setup_timeout"},
			{map[string]any{"customer_id": "cust_nope"}, "customer_id"},
			{map[string]any{"host": ""}, "host"},
			{map[string]any{"name": ""}, "name"},
			{map[string]any{"password": "pw"}, "username"},
			{map[string]any{"tech_prefix": "abc"}, "tech_prefix"},
			{map[string]any{"id": "trunk_other"}, "id"},
		} {
			got := b.want(b.call("PATCH", path, b.op, tc.body), 422, "invalid_request")
			if got.errParam() != tc.param {
				t.Errorf("PATCH %v: param %q, want %q", tc.body, got.errParam(), tc.param)
			}
		}
		if got := b.ok(200, "GET", path, b.op, nil); string(got.Raw) != string(before) {
			t.Errorf("rejected PATCHes changed the trunk:\n%s\n%s", before, got.Raw)
		}
		b.want(b.call("PATCH", "/v1/trunks/trunk_nope", b.op, map[string]any{"name": "x"}), 404, "not_found")
		b.want(b.call("GET", "/v1/trunks/trunk_nope", b.op, nil), 404, "not_found")

		// List: newest first, paginated.
		var ids []string
		for i := range 4 {
			ids = append(ids, b.ok(201, "POST", "/v1/trunks", b.op, trunkBody("name", fmt.Sprintf("t%d", i))).str("id"))
		}
		seen := map[string]bool{}
		after := ""
		for pages := 0; ; pages++ {
			if pages > 5 {
				t.Fatal("too many pages")
			}
			p := b.ok(200, "GET", "/v1/trunks?limit=2"+after, b.op, nil)
			for _, it := range p.data() {
				seen[it["id"].(string)] = true
				if _, ok := it["password"]; ok {
					t.Errorf("listed trunk has a password field")
				}
			}
			if p.JSON["has_more"] != true {
				break
			}
			after = "&after=" + p.str("next_cursor")
		}
		if len(seen) != 5 || !seen[id] {
			t.Errorf("listed %d trunks, want 5", len(seen))
		}
		for _, x := range ids {
			if !seen[x] {
				t.Errorf("trunk %s not listed", x)
			}
		}
		b.ok(204, "DELETE", path, b.op, nil)
		b.want(b.call("GET", path, b.op, nil), 404, "not_found")
		b.want(b.call("DELETE", path, b.op, nil), 404, "not_found")
		b.want(b.call("PATCH", path, b.op, map[string]any{"name": "x"}), 404, "not_found")
		if n := len(b.ok(200, "GET", "/v1/trunks", b.op, nil).data()); n != 4 {
			t.Errorf("%d trunks after a delete, want 4", n)
		}
	})
}

// TestTrunkSRTP: srtp defaults to off, takes off|optional|required in any
// case, keeps its value across a PATCH of another field, and refuses
// anything else with 422 naming the field.
func TestTrunkSRTP(t *testing.T) {
	each(t, func(t *testing.T, b *bundle) {
		r := b.ok(201, "POST", "/v1/trunks", b.op, trunkBody())
		if r.str("srtp") != "off" {
			t.Errorf("default srtp = %q, want off", r.str("srtp"))
		}
		id := b.ok(201, "POST", "/v1/trunks", b.op, trunkBody("transport", "tls", "port", 5061, "srtp", "Required")).str("id")
		if got := b.ok(200, "GET", "/v1/trunks/"+id, b.op, nil).str("srtp"); got != "required" {
			t.Errorf("srtp = %q, want required", got)
		}
		if got := b.ok(200, "PATCH", "/v1/trunks/"+id, b.op, map[string]any{"name": "renamed"}).str("srtp"); got != "required" {
			t.Errorf("srtp after a PATCH of the name = %q, want required", got)
		}
		if got := b.ok(200, "PATCH", "/v1/trunks/"+id, b.op, map[string]any{"srtp": "optional"}).str("srtp"); got != "optional" {
			t.Errorf("srtp after PATCH = %q, want optional", got)
		}
		for _, bad := range []any{"mandatory", "dtls", "", "yes"} {
			b.want(b.call("POST", "/v1/trunks", b.op, trunkBody("srtp", bad)), 422, "invalid_request")
			if r := b.call("PATCH", "/v1/trunks/"+id, b.op, map[string]any{"srtp": bad}); r.Status != 422 || r.errParam() != "srtp" {
				t.Errorf("PATCH srtp %q: %d %s", bad, r.Status, r.Raw)
			}
		}
		b.want(b.call("POST", "/v1/trunks", b.op, trunkBody("srtp", true)), 400, "invalid_json")
		if got := b.ok(200, "GET", "/v1/trunks/"+id, b.op, nil).str("srtp"); got != "optional" {
			t.Errorf("refused PATCHes changed srtp to %q", got)
		}
	})
}
