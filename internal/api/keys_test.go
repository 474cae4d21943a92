package api_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/minivoice/minivoice/internal/auth"
)

var ckSecretRe = regexp.MustCompile(`^mvk_(cu|ap)_[a-z2-7]{32}$`)

// ckCheckKeyObject checks the fields every key object has.
func ckCheckKeyObject(t *testing.T, what string, k map[string]any, kind, customerID string, appID any) {
	t.Helper()
	for f, v := range map[string]any{"kind": kind, "customer_id": customerID, "application_id": appID} {
		if ckJSON(k[f]) != ckJSON(v) {
			t.Errorf("%s: %s = %s, want %s", what, f, ckJSON(k[f]), ckJSON(v))
		}
	}
	for _, f := range []string{"id", "name", "prefix", "created_at", "last_used_at", "revoked_at"} {
		if _, ok := k[f]; !ok {
			t.Errorf("%s: lacks %s", what, f)
		}
	}
	if id, _ := k["id"].(string); !strings.HasPrefix(id, "key_") {
		t.Errorf("%s: id = %q, want key_...", what, id)
	}
}

func TestKeyCreateShownOnce(t *testing.T) {
	each(t, func(t *testing.T, b *bundle) {
		cust := b.customer("acme")
		app := b.application(cust)

		ck := b.ok(201, "POST", "/v1/customers/"+cust+"/keys", b.op, map[string]any{"name": "ci"})
		secret := ck.str("key")
		if !ckSecretRe.MatchString(secret) || !strings.HasPrefix(secret, "mvk_cu_") {
			t.Fatalf("customer key secret = %q, want mvk_cu_ + 32 base32 characters", secret)
		}
		ckCheckKeyObject(t, "customer key", ck.JSON, "customer", cust, nil)
		if ck.str("name") != "ci" || ck.str("prefix") != secret[:12] {
			t.Errorf("name %q prefix %q (secret %q)", ck.str("name"), ck.str("prefix"), secret)
		}
		if ck.JSON["last_used_at"] != nil || ck.JSON["revoked_at"] != nil {
			t.Errorf("a new key is used or revoked: %s", ck.Raw)
		}

		ak := b.ok(201, "POST", "/v1/applications/"+app+"/keys", b.op, map[string]any{})
		asecret := ak.str("key")
		if !ckSecretRe.MatchString(asecret) || !strings.HasPrefix(asecret, "mvk_ap_") {
			t.Fatalf("application key secret = %q, want mvk_ap_...", asecret)
		}
		ckCheckKeyObject(t, "application key", ak.JSON, "application", cust, app)
		if asecret == secret || ak.str("id") == ck.str("id") {
			t.Errorf("two keys share a secret or id")
		}

		// Lists show the prefix, never the secret.
		for _, path := range []string{"/v1/customers/" + cust + "/keys", "/v1/applications/" + app + "/keys"} {
			for _, key := range []string{b.op, secret} {
				r := b.ok(200, "GET", path, key, nil)
				if bytes.Contains(r.Raw, []byte(secret)) || bytes.Contains(r.Raw, []byte(asecret)) {
					t.Errorf("%s shows a secret: %s", path, r.Raw)
				}
				for _, k := range r.data() {
					if _, ok := k["key"]; ok {
						t.Errorf("%s: listed key has a key field: %v", path, k)
					}
					if p, _ := k["prefix"].(string); len(p) != 12 || !strings.HasPrefix(p, "mvk_") {
						t.Errorf("%s: prefix = %q", path, p)
					}
				}
			}
		}
		// The customer's list holds both keys; the application's only its own.
		if ids := ckIDs(b.ok(200, "GET", "/v1/customers/"+cust+"/keys", b.op, nil).data()); !ckSameSet(ids, []string{ck.str("id"), ak.str("id")}) {
			t.Errorf("customer keys = %v", ids)
		}
		if ids := ckIDs(b.ok(200, "GET", "/v1/applications/"+app+"/keys", b.op, nil).data()); !ckSameSet(ids, []string{ak.str("id")}) {
			t.Errorf("application keys = %v", ids)
		}
		other := b.application(cust)
		if n := len(b.ok(200, "GET", "/v1/applications/"+other+"/keys", b.op, nil).data()); n != 0 {
			t.Errorf("another application lists %d keys", n)
		}

		// Only the hash is stored: found by hash, and no column holds the secret.
		for _, s := range []string{secret, asecret} {
			k, err := b.store.KeyByHash(context.Background(), auth.Hash(s))
			if err != nil {
				t.Fatalf("KeyByHash: %v", err)
			}
			sum := sha256.Sum256([]byte(s))
			if !bytes.Equal(k.Hash, sum[:]) || k.Secret != "" {
				t.Errorf("stored key %s: hash %x, secret %q", k.ID, k.Hash, k.Secret)
			}
		}
		rows, err := b.store.SQL().QueryContext(context.Background(), `SELECT id, kind, name, customer_id, prefix, hash FROM api_keys`)
		if err != nil {
			t.Fatal(err)
		}
		defer rows.Close()
		n := 0
		for rows.Next() {
			var id, kind, name, custID, prefix string
			var hash []byte
			if err := rows.Scan(&id, &kind, &name, &custID, &prefix, &hash); err != nil {
				t.Fatal(err)
			}
			n++
			for _, col := range [][]byte{[]byte(id), []byte(kind), []byte(name), []byte(custID), []byte(prefix), hash} {
				for _, s := range []string{secret, asecret} {
					if bytes.Contains(col, []byte(s)) || bytes.Contains(col, []byte(s[12:])) {
						t.Errorf("api_keys row %s stores the secret", id)
					}
				}
			}
		}
		if err := rows.Err(); err != nil {
			t.Fatal(err)
		}
		if n != 2 {
			t.Errorf("%d api_keys rows, want 2", n)
		}
	})
}

func TestKeyCreateValidation(t *testing.T) {
	each(t, func(t *testing.T, b *bundle) {
		cust := b.customer("acme")
		app := b.application(cust)
		for _, path := range []string{"/v1/customers/" + cust + "/keys", "/v1/applications/" + app + "/keys"} {
			ckCheck(t, path+" long name", b.call("POST", path, b.op, map[string]any{"name": strings.Repeat("k", 201)}), 422, "invalid_request", "name")
			ckCheck(t, path+" unknown field", b.call("POST", path, b.op, map[string]any{"kind": "operator"}), 422, "invalid_request", "kind")
			ckCheck(t, path+" bad json", b.call("POST", path, b.op, "{"), 400, "invalid_json", "")
			b.ok(201, "POST", path, b.op, map[string]any{"name": strings.Repeat("k", 200)})
			b.ok(201, "POST", path, b.op, nil) // no body: a key without a name
		}
		b.want(b.call("POST", "/v1/customers/cust_nope/keys", b.op, map[string]any{}), 404, "not_found")
		b.want(b.call("POST", "/v1/applications/app_nope/keys", b.op, map[string]any{}), 404, "not_found")
		b.want(b.call("GET", "/v1/customers/cust_nope/keys", b.op, nil), 404, "not_found")
		b.want(b.call("GET", "/v1/applications/app_nope/keys", b.op, nil), 404, "not_found")
		b.want(b.call("DELETE", "/v1/keys/key_nope", b.op, nil), 404, "not_found")
	})
}

func TestKeyLastUsedAt(t *testing.T) {
	each(t, func(t *testing.T, b *bundle) {
		cust := b.customer("acme")
		app := b.application(cust)
		ck := b.ok(201, "POST", "/v1/customers/"+cust+"/keys", b.op, map[string]any{})
		ak := b.ok(201, "POST", "/v1/applications/"+app+"/keys", b.op, map[string]any{})
		b.customerKey(cust) // never used
		b.ok(200, "GET", "/v1/customers/"+cust, ck.str("key"), nil)
		b.ok(200, "GET", "/v1/applications/"+app, ak.str("key"), nil)
		for _, k := range b.ok(200, "GET", "/v1/customers/"+cust+"/keys", b.op, nil).data() {
			id, _ := k["id"].(string)
			used := id == ck.str("id") || id == ak.str("id")
			s, _ := k["last_used_at"].(string)
			if used {
				at, err := time.Parse(time.RFC3339Nano, s)
				created, _ := time.Parse(time.RFC3339Nano, k["created_at"].(string))
				if err != nil || at.Before(created) {
					t.Errorf("key %s: last_used_at = %v after use (created %s)", id, k["last_used_at"], created)
				}
			} else if k["last_used_at"] != nil {
				t.Errorf("unused key %s has last_used_at %v", id, k["last_used_at"])
			}
		}
		// The operator key is not stored, so using it touches nothing.
		b.ok(200, "GET", "/v1/customers", b.op, nil)
	})
}

func TestKeyRevoke(t *testing.T) {
	each(t, func(t *testing.T, b *bundle) {
		cust := b.customer("acme")
		app := b.application(cust)
		ck := b.ok(201, "POST", "/v1/customers/"+cust+"/keys", b.op, map[string]any{"name": "to revoke"})
		secret := ck.str("key")
		b.ok(200, "GET", "/v1/customers/"+cust, secret, nil)

		r := b.ok(200, "DELETE", "/v1/keys/"+ck.str("id"), b.op, nil)
		if r.str("id") != ck.str("id") || r.str("revoked_at") == "" {
			t.Errorf("revoke answer: %s", r.Raw)
		}
		if _, ok := r.JSON["key"]; ok || bytes.Contains(r.Raw, []byte(secret)) {
			t.Errorf("revoke answer shows the secret: %s", r.Raw)
		}
		b.want(b.call("GET", "/v1/customers/"+cust, secret, nil), 401, "unauthorized")
		b.want(b.call("GET", "/v1/calls", secret, nil), 401, "unauthorized")
		// Revoking twice keeps the first time.
		again := b.ok(200, "DELETE", "/v1/keys/"+ck.str("id"), b.op, nil)
		if again.str("revoked_at") != r.str("revoked_at") {
			t.Errorf("second revoke moved revoked_at: %s -> %s", r.str("revoked_at"), again.str("revoked_at"))
		}
		// The list shows it revoked.
		for _, k := range b.ok(200, "GET", "/v1/customers/"+cust+"/keys", b.op, nil).data() {
			if k["id"] == ck.str("id") && k["revoked_at"] != r.str("revoked_at") {
				t.Errorf("listed revoked_at = %v, want %s", k["revoked_at"], r.str("revoked_at"))
			}
		}

		// Application keys are revoked the same way.
		ak := b.ok(201, "POST", "/v1/applications/"+app+"/keys", b.op, map[string]any{})
		b.ok(200, "GET", "/v1/applications/"+app, ak.str("key"), nil)
		b.ok(200, "DELETE", "/v1/keys/"+ak.str("id"), b.op, nil)
		b.want(b.call("GET", "/v1/applications/"+app, ak.str("key"), nil), 401, "unauthorized")
	})
}

func TestKeyRevokeByCustomer(t *testing.T) {
	each(t, func(t *testing.T, b *bundle) {
		a := b.customer("a")
		bb := b.customer("b")
		appA := b.application(a)
		mine := b.customerKey(a)
		second := b.ok(201, "POST", "/v1/customers/"+a+"/keys", b.op, map[string]any{})
		theirs := b.ok(201, "POST", "/v1/customers/"+bb+"/keys", b.op, map[string]any{})

		// A customer key may create and revoke its own application's keys.
		ak := b.ok(201, "POST", "/v1/applications/"+appA+"/keys", mine, map[string]any{"name": "app"})
		ckCheckKeyObject(t, "app key made by customer", ak.JSON, "application", a, appA)
		b.ok(200, "GET", "/v1/calls", ak.str("key"), nil)
		b.ok(200, "DELETE", "/v1/keys/"+ak.str("id"), mine, nil)
		b.want(b.call("GET", "/v1/calls", ak.str("key"), nil), 401, "unauthorized")

		// It may revoke its customer's other keys.
		b.ok(200, "DELETE", "/v1/keys/"+second.str("id"), mine, nil)
		b.want(b.call("GET", "/v1/calls", second.str("key"), nil), 401, "unauthorized")

		// Not another customer's: 404, and that key keeps working.
		b.want(b.call("DELETE", "/v1/keys/"+theirs.str("id"), mine, nil), 404, "not_found")
		b.ok(200, "GET", "/v1/customers/"+bb, theirs.str("key"), nil)
		for _, k := range b.ok(200, "GET", "/v1/customers/"+bb+"/keys", b.op, nil).data() {
			if k["revoked_at"] != nil {
				t.Errorf("B's key %v revoked by A", k["id"])
			}
		}

		// Itself, last: then it no longer works.
		self := ""
		for _, k := range b.ok(200, "GET", "/v1/customers/"+a+"/keys", mine, nil).data() {
			if k["revoked_at"] == nil {
				self, _ = k["id"].(string)
			}
		}
		if self == "" {
			t.Fatal("no live key of A listed")
		}
		b.ok(200, "DELETE", "/v1/keys/"+self, mine, nil)
		b.want(b.call("GET", "/v1/customers/"+a, mine, nil), 401, "unauthorized")
	})
}

func TestKeyApplicationKeyLimits(t *testing.T) {
	each(t, func(t *testing.T, b *bundle) {
		cust := b.customer("acme")
		app := b.application(cust)
		ak := b.ok(201, "POST", "/v1/applications/"+app+"/keys", b.op, map[string]any{})
		key := ak.str("key")
		// An application key makes no keys, lists none and revokes none, not even its own.
		b.want(b.call("POST", "/v1/applications/"+app+"/keys", key, map[string]any{}), 403, "forbidden")
		b.want(b.call("POST", "/v1/customers/"+cust+"/keys", key, map[string]any{}), 403, "forbidden")
		b.want(b.call("GET", "/v1/applications/"+app+"/keys", key, nil), 403, "forbidden")
		b.want(b.call("GET", "/v1/customers/"+cust+"/keys", key, nil), 403, "forbidden")
		b.want(b.call("DELETE", "/v1/keys/"+ak.str("id"), key, nil), 403, "forbidden")
		// A customer key makes no customer keys.
		ck := b.customerKey(cust)
		b.want(b.call("POST", "/v1/customers/"+cust+"/keys", ck, map[string]any{}), 403, "forbidden")
		if n := len(b.ok(200, "GET", "/v1/customers/"+cust+"/keys", b.op, nil).data()); n != 2 {
			t.Errorf("%d keys, want 2: a refused request made one", n)
		}
	})
}
