package api_test

import (
	"net/http"
	"strings"
	"testing"

	"github.com/minivoice/minivoice/internal/api"
)

func TestAuthMissingOrUnknownKey(t *testing.T) {
	each(t, func(t *testing.T, b *bundle) {
		cust := b.customer("acme")
		ck := b.customerKey(cust)
		for _, path := range []string{"/v1/customers", "/v1/calls", "/v1/applications", "/metrics", "/v1/customers/" + cust} {
			r := b.call("GET", path, "", nil)
			if !ckCheck(t, "no key "+path, r, 401, "unauthorized", "") {
				continue
			}
			if e, _ := r.JSON["error"].(map[string]any); e["request_id"] != r.Header.Get("X-Request-Id") || !strings.HasPrefix(r.Header.Get("X-Request-Id"), "req_") {
				t.Errorf("error request_id %v, X-Request-Id %q", e["request_id"], r.Header.Get("X-Request-Id"))
			}
		}
		ckCheck(t, "POST no key", b.call("POST", "/v1/customers", "", map[string]any{"name": "x"}), 401, "unauthorized", "")
		for _, h := range []string{
			"Bearer",
			"Bearer ",
			"Basic dXNlcjpwYXNz",
			"Token " + b.op,
			b.op,
			ck,
			"Bearer mvk_cu_aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa",
			"Bearer mvk_ap_aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa",
			"Bearer mvk_op_aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa",
			"Bearer " + b.op + "x",
			"Bearer " + b.op[:len(b.op)-1],
			"Bearer " + ck + "x",
			"Bearer " + ck[:12],
			"Bearer " + strings.ToUpper(ck),
		} {
			ckCheck(t, "Authorization: "+h, b.call("GET", "/v1/customers", "", nil, "Authorization: "+h), 401, "unauthorized", "")
		}
		// Nothing was created without a key.
		if n := len(b.ok(200, "GET", "/v1/customers", b.op, nil).data()); n != 1 {
			t.Errorf("%d customers, want 1", n)
		}
		// The good keys work.
		b.ok(200, "GET", "/v1/customers", b.op, nil)
		b.ok(200, "GET", "/v1/customers", ck, nil)
		// Public routes need no key.
		b.ok(200, "GET", "/healthz", "", nil)
		b.ok(200, "GET", "/v1/openapi.json", "", nil)
		if r := b.call("GET", "/readyz", "", nil); r.Status == 401 || r.Status == 403 {
			t.Errorf("/readyz wants a key: %d", r.Status)
		}
	})
}

// ckRoutePath fills a route's {id} with one of the caller's own objects.
func ckRoutePath(path string, ids map[string]string) string {
	for prefix, id := range ids {
		if strings.HasPrefix(path, prefix+"/{id}") {
			return strings.Replace(path, "{id}", id, 1)
		}
	}
	return strings.Replace(path, "{id}", "x_1", 1)
}

func TestAuthRouteAccessLevels(t *testing.T) {
	each(t, func(t *testing.T, b *bundle) {
		cust := b.customer("acme")
		app := b.application(cust)
		ck := b.customerKey(cust)
		ak := b.applicationKey(app)
		call := b.placeCall(ck, app, "+15551230002")
		ids := map[string]string{"/v1/customers": cust, "/v1/applications": app, "/v1/calls": call}
		routes := api.New(api.Config{Store: b.store}).Routes()
		var operatorOnly, customerKeys int
		for _, rt := range routes {
			path := ckRoutePath(rt.Path, ids)
			name := rt.Method + " " + rt.Path
			switch rt.Access {
			case api.OperatorOnly:
				operatorOnly++
				ckCheck(t, "customer key "+name, b.call(rt.Method, path, ck, map[string]any{}), 403, "forbidden", "")
				ckCheck(t, "application key "+name, b.call(rt.Method, path, ak, map[string]any{}), 403, "forbidden", "")
			case api.CustomerKeys:
				customerKeys++
				ckCheck(t, "application key "+name, b.call(rt.Method, path, ak, map[string]any{}), 403, "forbidden", "")
			}
			// Reads by an allowed key are never refused for the key's kind.
			if rt.Method != http.MethodGet {
				continue
			}
			keys := map[string]string{"operator": b.op}
			if rt.Access == api.CustomerKeys || rt.Access == api.AnyKey {
				keys["customer"] = ck
			}
			if rt.Access == api.AnyKey {
				keys["application"] = ak
			}
			for kind, key := range keys {
				if r := b.call("GET", path, key, nil); r.Status == 401 || r.Status == 403 || r.Status >= 500 {
					t.Errorf("%s key GET %s: %d %s", kind, path, r.Status, r.Raw)
				}
			}
		}
		// The spec's operator-only routes are among them.
		for _, want := range []string{"POST /v1/customers", "PATCH /v1/customers/{id}", "POST /v1/customers/{id}/credits",
			"POST /v1/customers/{id}/keys", "POST /v1/trunks", "GET /v1/trunks", "POST /v1/rates", "POST /v1/numbers"} {
			found := false
			for _, rt := range routes {
				if rt.Method+" "+rt.Path == want {
					found = rt.Access == api.OperatorOnly
				}
			}
			if !found {
				t.Errorf("%s is not operator-only", want)
			}
		}
		if operatorOnly == 0 || customerKeys == 0 {
			t.Fatalf("route table has %d operator-only and %d customer routes", operatorOnly, customerKeys)
		}
		// Refused requests had no effect.
		if n := len(b.ok(200, "GET", "/v1/customers", b.op, nil).data()); n != 1 {
			t.Errorf("%d customers after refused creates", n)
		}
		if c := b.ok(200, "GET", "/v1/customers/"+cust, b.op, nil); c.str("balance") != "0" || c.str("name") != "acme" {
			t.Errorf("customer changed by refused requests: %s", c.Raw)
		}
		if n := len(b.ok(200, "GET", "/v1/customers/"+cust+"/keys", b.op, nil).data()); n != 2 {
			t.Errorf("%d keys after refused creates, want 2", n)
		}
		b.ok(200, "GET", "/v1/applications/"+app, ak, nil)
	})
}

func TestAuthSuspendedCustomer(t *testing.T) {
	each(t, func(t *testing.T, b *bundle) {
		cust := b.customer("acme")
		other := b.customer("other")
		app := b.application(cust)
		ck := b.customerKey(cust)
		ak := b.applicationKey(app)
		otherKey := b.customerKey(other)
		call := map[string]any{"to": "+15551230002", "from": "+15551230001", "application_id": app}

		b.ok(200, "PATCH", "/v1/customers/"+cust, b.op, map[string]any{"status": "suspended"})
		for _, req := range []struct{ method, path, key string }{
			{"GET", "/v1/customers/" + cust, ck},
			{"GET", "/v1/applications", ck},
			{"POST", "/v1/calls", ck},
			{"GET", "/v1/calls", ak},
			{"GET", "/v1/applications/" + app, ak},
			{"POST", "/v1/calls", ak},
		} {
			ckCheck(t, "suspended "+req.method+" "+req.path, b.call(req.method, req.path, req.key, call), 403, "customer_suspended", "")
		}
		// The operator still manages the customer, but places no calls for it.
		b.ok(200, "GET", "/v1/customers/"+cust, b.op, nil)
		b.ok(200, "GET", "/v1/applications/"+app, b.op, nil)
		ckCheck(t, "operator call for suspended", b.call("POST", "/v1/calls", b.op, call), 403, "customer_suspended", "")
		// Other customers are unaffected.
		b.ok(200, "GET", "/v1/customers/"+other, otherKey, nil)
		if n := len(b.ok(200, "GET", "/v1/calls", b.op, nil).data()); n != 0 {
			t.Errorf("%d calls placed while suspended", n)
		}

		// Reactivating restores access.
		b.ok(200, "PATCH", "/v1/customers/"+cust, b.op, map[string]any{"status": "active"})
		b.ok(200, "GET", "/v1/customers/"+cust, ck, nil)
		b.ok(200, "GET", "/v1/calls", ak, nil)
		b.placeCall(ck, app, "+15551230002")
		b.placeCall(ak, app, "+15551230003")
		b.placeCall(b.op, app, "+15551230004")
	})
}

func TestAuthInactiveApplication(t *testing.T) {
	each(t, func(t *testing.T, b *bundle) {
		cust := b.customer("acme")
		app := b.application(cust)
		sibling := b.application(cust)
		ck := b.customerKey(cust)
		ak := b.applicationKey(app)
		sk := b.applicationKey(sibling)
		call := map[string]any{"to": "+15551230002", "from": "+15551230001", "application_id": app}

		if r := b.ok(200, "PATCH", "/v1/applications/"+app, ck, map[string]any{"status": "inactive"}); r.str("status") != "inactive" {
			t.Fatalf("status = %q", r.str("status"))
		}
		for _, path := range []string{"/v1/applications/" + app, "/v1/applications", "/v1/calls"} {
			ckCheck(t, "inactive app key GET "+path, b.call("GET", path, ak, nil), 403, "application_inactive", "")
		}
		ckCheck(t, "inactive app key POST /v1/calls", b.call("POST", "/v1/calls", ak, call), 403, "application_inactive", "")
		ckCheck(t, "customer call for inactive app", b.call("POST", "/v1/calls", ck, call), 403, "application_inactive", "")
		ckCheck(t, "operator call for inactive app", b.call("POST", "/v1/calls", b.op, call), 403, "application_inactive", "")
		// The customer still sees it; the sibling works.
		if r := b.ok(200, "GET", "/v1/applications/"+app, ck, nil); r.str("status") != "inactive" {
			t.Errorf("GET status = %q", r.str("status"))
		}
		b.ok(200, "GET", "/v1/applications/"+sibling, sk, nil)
		b.placeCall(sk, sibling, "+15551230002")

		// Reactivation restores the key.
		b.ok(200, "PATCH", "/v1/applications/"+app, ck, map[string]any{"status": "active"})
		b.ok(200, "GET", "/v1/applications/"+app, ak, nil)
		b.placeCall(ak, app, "+15551230002")

		// An application key may switch its own application off, and then is locked out.
		b.ok(200, "PATCH", "/v1/applications/"+app, ak, map[string]any{"status": "inactive"})
		ckCheck(t, "self-deactivated", b.call("PATCH", "/v1/applications/"+app, ak, map[string]any{"status": "active"}), 403, "application_inactive", "")
		b.ok(200, "PATCH", "/v1/applications/"+app, b.op, map[string]any{"status": "active"})
		b.ok(200, "GET", "/v1/calls", ak, nil)
	})
}

func TestAuthApplicationKeyScope(t *testing.T) {
	each(t, func(t *testing.T, b *bundle) {
		cust := b.customer("acme")
		other := b.customer("other")
		app1 := b.application(cust)
		app2 := b.application(cust)
		ck := b.customerKey(cust)
		ak := b.applicationKey(app1)
		c1 := b.placeCall(ck, app1, "+15551230002")
		c2 := b.placeCall(ck, app2, "+15551230003")

		if ids := ckIDs(b.ok(200, "GET", "/v1/applications", ak, nil).data()); !ckSameSet(ids, []string{app1}) {
			t.Errorf("application key lists applications %v, want [%s]", ids, app1)
		}
		b.ok(200, "GET", "/v1/applications/"+app1, ak, nil)
		if r := b.ok(200, "PATCH", "/v1/applications/"+app1, ak, map[string]any{"name": "mine", "answer_url": "https://example.com/a"}); r.str("name") != "mine" {
			t.Errorf("PATCH by application key: %s", r.Raw)
		}
		ckCheck(t, "move app", b.call("PATCH", "/v1/applications/"+app1, ak, map[string]any{"customer_id": other}), 422, "invalid_request", "customer_id")
		for _, req := range []struct {
			method, path string
			body         any
		}{
			{"GET", "/v1/applications/" + app2, nil},
			{"PATCH", "/v1/applications/" + app2, map[string]any{"name": "theirs"}},
			{"GET", "/v1/calls/" + c2, nil},
			{"GET", "/v1/calls/" + c2 + "/events", nil},
			{"GET", "/v1/calls?application_id=" + app2, nil},
			{"GET", "/v1/calls?customer_id=" + other, nil},
			{"GET", "/v1/applications?customer_id=" + other, nil},
			{"POST", "/v1/calls", map[string]any{"to": "+15551230002", "from": "+15551230001", "application_id": app2}},
		} {
			ckCheck(t, "app key "+req.method+" "+req.path, b.call(req.method, req.path, ak, req.body), 404, "not_found", "")
		}
		if r := b.ok(200, "GET", "/v1/applications/"+app2, b.op, nil); r.str("name") != "app" {
			t.Errorf("sibling application changed: %s", r.Raw)
		}
		if ids := ckIDs(b.ok(200, "GET", "/v1/calls", ak, nil).data()); !ckSameSet(ids, []string{c1}) {
			t.Errorf("application key lists calls %v, want [%s]", ids, c1)
		}
		if ids := ckIDs(b.ok(200, "GET", "/v1/calls?application_id="+app1, ak, nil).data()); !ckSameSet(ids, []string{c1}) {
			t.Errorf("?application_id=own lists %v", ids)
		}
		if ids := ckIDs(b.ok(200, "GET", "/v1/calls?customer_id="+cust, ak, nil).data()); !ckSameSet(ids, []string{c1}) {
			t.Errorf("?customer_id=own lists %v", ids)
		}
		b.ok(200, "GET", "/v1/calls/"+c1, ak, nil)
		// Without application_id the call is the key's own application's.
		r := b.ok(201, "POST", "/v1/calls", ak, map[string]any{"to": "+15551230002", "from": "+15551230001"})
		if r.str("application_id") != app1 || r.str("customer_id") != cust {
			t.Errorf("call by application key: %s", r.Raw)
		}
		// The customer key sees every application's calls.
		if n := len(b.ok(200, "GET", "/v1/calls", ck, nil).data()); n != 3 {
			t.Errorf("customer key lists %d calls, want 3", n)
		}
	})
}

func TestAuthCrossTenantIsolation(t *testing.T) {
	each(t, func(t *testing.T, b *bundle) {
		type tenant struct {
			cust, app, ck, ak, ckID, akID, call, ledger string
		}
		mk := func(name string) tenant {
			var tn tenant
			tn.cust = b.customer(name)
			tn.app = b.application(tn.cust)
			k := b.ok(201, "POST", "/v1/customers/"+tn.cust+"/keys", b.op, map[string]any{})
			tn.ck, tn.ckID = k.str("key"), k.str("id")
			k = b.ok(201, "POST", "/v1/applications/"+tn.app+"/keys", b.op, map[string]any{})
			tn.ak, tn.akID = k.str("key"), k.str("id")
			tn.call = b.placeCall(tn.ck, tn.app, "+15551230002")
			tn.ledger = b.ok(201, "POST", "/v1/customers/"+tn.cust+"/credits", b.op, map[string]any{"amount": "1.5"}).str("id")
			return tn
		}
		A, B := mk("a"), mk("b")
		bApp := b.ok(200, "GET", "/v1/applications/"+B.app, b.op, nil)

		type req struct {
			method, path string
			body         any
			anyKey       bool // application keys may call the route
		}
		reqs := []req{
			{"GET", "/v1/customers/" + B.cust, nil, false},
			{"GET", "/v1/customers/" + B.cust + "/ledger", nil, false},
			{"GET", "/v1/customers/" + B.cust + "/keys", nil, false},
			{"DELETE", "/v1/keys/" + B.ckID, nil, false},
			{"DELETE", "/v1/keys/" + B.akID, nil, false},
			{"POST", "/v1/applications", map[string]any{"customer_id": B.cust, "name": "sneaky"}, false},
			{"DELETE", "/v1/applications/" + B.app, nil, false},
			{"POST", "/v1/applications/" + B.app + "/keys", map[string]any{}, false},
			{"GET", "/v1/applications/" + B.app + "/keys", nil, false},
			{"POST", "/v1/applications/" + B.app + "/webhook-secret/rotate", nil, false},
			{"GET", "/v1/applications/" + B.app, nil, true},
			{"PATCH", "/v1/applications/" + B.app, map[string]any{"name": "pwned"}, true},
			{"GET", "/v1/applications?customer_id=" + B.cust, nil, true},
			{"GET", "/v1/calls/" + B.call, nil, true},
			{"GET", "/v1/calls/" + B.call + "/events", nil, true},
			{"GET", "/v1/calls?application_id=" + B.app, nil, true},
			{"GET", "/v1/calls?customer_id=" + B.cust, nil, true},
			{"GET", "/v1/events?call_id=" + B.call, nil, true},
			{"GET", "/v1/usage?customer_id=" + B.cust, nil, false},
		}
		for _, key := range []struct{ name, secret string }{{"customer", A.ck}, {"application", A.ak}} {
			for _, rq := range reqs {
				if key.name == "application" && !rq.anyKey {
					continue // refused for the key's kind, whatever the id (see TestAuthRouteAccessLevels)
				}
				ckCheck(t, key.name+" key of A: "+rq.method+" "+rq.path, b.call(rq.method, rq.path, key.secret, rq.body), 404, "not_found", "")
			}
			// Placing a call on B's application looks exactly like naming no application at all.
			callB := map[string]any{"to": "+15551230002", "from": "+15551230001", "application_id": B.app}
			callNone := map[string]any{"to": "+15551230002", "from": "+15551230001", "application_id": "app_nope"}
			rb, rn := b.call("POST", "/v1/calls", key.secret, callB), b.call("POST", "/v1/calls", key.secret, callNone)
			if rb.Status < 400 || rb.Status != rn.Status || rb.errCode() != rn.errCode() || rb.errParam() != rn.errParam() {
				t.Errorf("%s key of A placing a call on B's app: %d %s, on no app: %d %s", key.name, rb.Status, rb.Raw, rn.Status, rn.Raw)
			}
		}

		// B is untouched.
		if got := b.ok(200, "GET", "/v1/applications/"+B.app, b.op, nil); string(got.Raw) != string(bApp.Raw) {
			t.Errorf("B's application changed:\n%s\n%s", bApp.Raw, got.Raw)
		}
		b.ok(200, "GET", "/v1/customers/"+B.cust, B.ck, nil)
		b.ok(200, "GET", "/v1/applications/"+B.app, B.ak, nil)
		if n := len(b.ok(200, "GET", "/v1/applications/"+B.app+"/keys", b.op, nil).data()); n != 1 {
			t.Errorf("B's application has %d keys, want 1", n)
		}
		if n := len(b.ok(200, "GET", "/v1/applications?customer_id="+B.cust, b.op, nil).data()); n != 1 {
			t.Errorf("B has %d applications, want 1", n)
		}
		if n := len(b.ok(200, "GET", "/v1/calls?customer_id="+B.cust, b.op, nil).data()); n != 1 {
			t.Errorf("B has %d calls, want 1", n)
		}

		// Lists show only A's own objects.
		lists := map[string][]string{
			"/v1/customers":                          {A.cust},
			"/v1/applications":                       {A.app},
			"/v1/calls":                              {A.call},
			"/v1/customers/" + A.cust + "/keys":      {A.ckID, A.akID},
			"/v1/customers/" + A.cust + "/ledger":    {A.ledger},
			"/v1/applications/" + A.app + "/keys":    {A.akID},
			"/v1/calls?customer_id=" + A.cust:        {A.call},
			"/v1/calls?application_id=" + A.app:      {A.call},
			"/v1/applications?customer_id=" + A.cust: {A.app},
		}
		for path, want := range lists {
			if got := ckIDs(b.ok(200, "GET", path, A.ck, nil).data()); !ckSameSet(got, want) {
				t.Errorf("customer key of A lists %s = %v, want %v", path, got, want)
			}
		}
		for _, path := range []string{"/v1/applications", "/v1/calls"} {
			if got := ckIDs(b.ok(200, "GET", path, A.ak, nil).data()); !ckSameSet(got, lists[path]) {
				t.Errorf("application key of A lists %s = %v, want %v", path, got, lists[path])
			}
		}
		// The operator sees both.
		if n := len(b.ok(200, "GET", "/v1/customers", b.op, nil).data()); n != 2 {
			t.Errorf("operator lists %d customers, want 2", n)
		}
	})
}
