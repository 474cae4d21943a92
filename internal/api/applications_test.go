package api_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/base64"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/minivoice/minivoice/internal/api"
	"github.com/minivoice/minivoice/internal/voice"
)

// ckWebhookSecret returns whsec_ + base64 of n random bytes.
func ckWebhookSecret(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return "whsec_" + base64.StdEncoding.EncodeToString(b)
}

// ckSecretBytes returns how many bytes a whsec_ secret holds, or -1.
func ckSecretBytes(s string) int {
	raw, ok := strings.CutPrefix(s, "whsec_")
	if !ok {
		return -1
	}
	b, err := base64.StdEncoding.DecodeString(raw)
	if err != nil {
		return -1
	}
	return len(b)
}

func ckNoSecret(t *testing.T, what string, r *response, secrets ...string) {
	t.Helper()
	for _, f := range []string{"webhook_secret", "previous_webhook_secret", "previous_secret_expires_at"} {
		if _, ok := r.JSON[f]; ok {
			t.Errorf("%s shows %s: %s", what, f, r.Raw)
		}
	}
	for _, s := range secrets {
		if bytes.Contains(r.Raw, []byte(strings.TrimPrefix(s, "whsec_"))) {
			t.Errorf("%s contains a webhook secret: %s", what, r.Raw)
		}
	}
}

func TestApplicationCreateDefaults(t *testing.T) {
	each(t, func(t *testing.T, b *bundle) {
		cust := b.customer("acme")
		r := b.ok(201, "POST", "/v1/applications", b.op, map[string]any{"customer_id": cust, "name": " IVR "})
		id := r.str("id")
		if !strings.HasPrefix(id, "app_") {
			t.Errorf("id = %q", id)
		}
		for k, v := range map[string]any{"customer_id": cust, "name": "IVR", "status": "active", "answer_url": "",
			"answer_method": "POST", "fallback_url": "", "webhook_url": "", "webhook_status": "active",
			"webhook_events": []string{"*"}, "record_by_default": false, "insights": true, "topics": []string{}} {
			if ckJSON(r.JSON[k]) != ckJSON(v) {
				t.Errorf("%s = %s, want %s", k, ckJSON(r.JSON[k]), ckJSON(v))
			}
		}
		secret := r.str("webhook_secret")
		if n := ckSecretBytes(secret); n != 32 {
			t.Errorf("webhook_secret %q holds %d bytes, want whsec_ + base64 of 32", secret, n)
		}
		if r.str("created_at") == "" || r.str("updated_at") != r.str("created_at") {
			t.Errorf("times: %s", r.Raw)
		}
		for _, f := range []string{"previous_webhook_secret", "previous_secret_expires_at"} {
			if _, ok := r.JSON[f]; ok {
				t.Errorf("create shows %s", f)
			}
		}

		// Never again: not on GET, list or PATCH, to any key.
		ck := b.customerKey(cust)
		ak := b.applicationKey(id)
		for _, key := range []string{b.op, ck, ak} {
			ckNoSecret(t, "GET", b.ok(200, "GET", "/v1/applications/"+id, key, nil), secret)
			ckNoSecret(t, "list", b.ok(200, "GET", "/v1/applications", key, nil), secret)
		}
		got := b.ok(200, "GET", "/v1/applications/"+id, b.op, nil)
		ckNoSecret(t, "PATCH", b.ok(200, "PATCH", "/v1/applications/"+id, b.op, map[string]any{"name": "IVR 2"}), secret)
		// GET is the create answer without the secret.
		delete(r.JSON, "webhook_secret")
		if ckJSON(got.JSON) != ckJSON(r.JSON) {
			t.Errorf("GET differs from create:\n%s\n%s", ckJSON(r.JSON), got.Raw)
		}
		// Every application gets its own secret.
		r2 := b.ok(201, "POST", "/v1/applications", b.op, map[string]any{"customer_id": cust, "name": "two"})
		if r2.str("webhook_secret") == secret {
			t.Errorf("two applications share a webhook secret")
		}
		// The stored secret is the one shown.
		a, err := b.store.Application(context.Background(), voice.Scope{}, id)
		if err != nil || a.WebhookSecret != secret {
			t.Errorf("stored secret %q, shown %q (%v)", a.WebhookSecret, secret, err)
		}
	})
}

func TestApplicationCreateAllFields(t *testing.T) {
	each(t, func(t *testing.T, b *bundle) {
		cust := b.customer("acme")
		secret := ckWebhookSecret(24)
		in := map[string]any{"customer_id": cust, "name": "Support", "status": "inactive",
			"answer_url": "https://example.com/answer?x=1", "answer_method": "GET", "fallback_url": "https://example.com/fallback",
			"webhook_url": "http://127.0.0.1:8080/hook", "webhook_secret": secret, "webhook_status": "disabled",
			"webhook_events": []string{"call.completed", "recording.completed"}, "record_by_default": true, "insights": false,
			"topics": []any{"billing", map[string]any{"name": "churn risk", "keywords": []string{"cancel", "switch provider"}}},
			"score_criteria": []map[string]any{{"name": "offer", "speaker": "agent", "any_of": []string{"discount"},
				"required": []string{"thank you"}, "forbidden": []string{"stupid"}}},
			"vocabulary": []string{"Acme Dental", "Dr. Okafor", "Northwind"}}
		r := b.ok(201, "POST", "/v1/applications", b.op, in)
		// A bare topic string is shorthand for a topic with its name as keyword.
		in["topics"] = []map[string]any{{"name": "billing", "keywords": []string{"billing"}},
			{"name": "churn risk", "keywords": []string{"cancel", "switch provider"}}}
		for k, v := range in {
			if ckJSON(r.JSON[k]) != ckJSON(v) {
				t.Errorf("%s = %s, want %s", k, ckJSON(r.JSON[k]), ckJSON(v))
			}
		}
		// The longest secret, every event type, lower-case method, localhost.
		all := append([]string{}, api.WebhookEvents...)
		r = b.ok(201, "POST", "/v1/applications", b.op, map[string]any{"customer_id": cust, "name": "x",
			"webhook_secret": ckWebhookSecret(64), "webhook_events": all, "answer_method": "get",
			"answer_url": "http://localhost:9/answer", "webhook_url": " https://hooks.example.com/x "})
		if r.str("answer_method") != "GET" || r.str("webhook_url") != "https://hooks.example.com/x" {
			t.Errorf("normalization: %s", r.Raw)
		}
		if ckJSON(r.JSON["webhook_events"]) != ckJSON(all) {
			t.Errorf("webhook_events = %s", ckJSON(r.JSON["webhook_events"]))
		}
		// A customer key creates for its own customer, customer_id optional.
		ck := b.customerKey(cust)
		for _, body := range []map[string]any{{"name": "mine"}, {"name": "mine", "customer_id": cust}} {
			if r := b.ok(201, "POST", "/v1/applications", ck, body); r.str("customer_id") != cust {
				t.Errorf("customer key made an application of %q", r.str("customer_id"))
			}
		}
	})
}

func TestApplicationCreateValidation(t *testing.T) {
	each(t, func(t *testing.T, b *bundle) {
		cust := b.customer("acme")
		many := make([]string, 101)
		for i := range many {
			many[i] = fmt.Sprint("t", i)
		}
		type tc struct {
			name   string
			edit   func(m map[string]any)
			status int
			code   string
			param  string
		}
		cases := []tc{
			{"no customer", func(m map[string]any) { delete(m, "customer_id") }, 422, "invalid_request", "customer_id"},
			{"empty customer", func(m map[string]any) { m["customer_id"] = "" }, 422, "invalid_request", "customer_id"},
			{"unknown customer", func(m map[string]any) { m["customer_id"] = "cust_nope" }, 422, "invalid_request", "customer_id"},
			{"no name", func(m map[string]any) { delete(m, "name") }, 422, "invalid_request", "name"},
			{"blank name", func(m map[string]any) { m["name"] = "  " }, 422, "invalid_request", "name"},
			{"long name", func(m map[string]any) { m["name"] = strings.Repeat("a", 201) }, 422, "invalid_request", "name"},
			{"status", func(m map[string]any) { m["status"] = "paused" }, 422, "invalid_request", "status"},
			{"answer_method PUT", func(m map[string]any) { m["answer_method"] = "PUT" }, 422, "invalid_request", "answer_method"},
			{"answer_method empty", func(m map[string]any) { m["answer_method"] = "" }, 422, "invalid_request", "answer_method"},
			{"webhook_status", func(m map[string]any) { m["webhook_status"] = "off" }, 422, "invalid_request", "webhook_status"},
			{"events empty", func(m map[string]any) { m["webhook_events"] = []string{} }, 422, "invalid_request", "webhook_events"},
			{"events null", func(m map[string]any) { m["webhook_events"] = nil }, 422, "invalid_request", "webhook_events"},
			{"events unknown", func(m map[string]any) { m["webhook_events"] = []string{"call.completed", "call.exploded"} }, 422, "invalid_request", "webhook_events"},
			{"events pattern", func(m map[string]any) { m["webhook_events"] = []string{"call.*"} }, 422, "invalid_request", "webhook_events"},
			{"events not a list", func(m map[string]any) { m["webhook_events"] = "*" }, 400, "invalid_json", ""},
			{"topic empty", func(m map[string]any) { m["topics"] = []string{""} }, 422, "invalid_request", "topics[0].name"},
			{"topic blank", func(m map[string]any) { m["topics"] = []string{"ok", "  "} }, 422, "invalid_request", "topics[1].name"},
			{"topic long", func(m map[string]any) { m["topics"] = []string{strings.Repeat("t", 101)} }, 422, "invalid_request", "topics[0].name"},
			{"topic keyword empty", func(m map[string]any) {
				m["topics"] = []any{map[string]any{"name": "x", "keywords": []string{"ok", ""}}}
			}, 422, "invalid_request", "topics[0].keywords[1]"},
			{"topic unknown field", func(m map[string]any) { m["topics"] = []any{map[string]any{"name": "x", "words": []string{"a"}}} }, 422, "invalid_request", "words"},
			{"criterion without phrases", func(m map[string]any) { m["score_criteria"] = []any{map[string]any{"name": "x"}} }, 422, "invalid_request", "score_criteria[0]"},
			{"criterion speaker", func(m map[string]any) {
				m["score_criteria"] = []any{map[string]any{"name": "x", "speaker": "robot", "any_of": []string{"a"}}}
			}, 422, "invalid_request", "score_criteria[0].speaker"},
			{"topics many", func(m map[string]any) { m["topics"] = many }, 422, "invalid_request", "topics"},
			{"vocabulary empty entry", func(m map[string]any) { m["vocabulary"] = []string{"ok", " "} }, 422, "invalid_request", "vocabulary[1]"},
			{"vocabulary long", func(m map[string]any) { m["vocabulary"] = []string{strings.Repeat("v", 101)} }, 422, "invalid_request", "vocabulary[0]"},
			{"vocabulary no word", func(m map[string]any) { m["vocabulary"] = []string{"123 456"} }, 422, "invalid_request", "vocabulary[0]"},
			{"vocabulary many", func(m map[string]any) { m["vocabulary"] = make([]string, 201) }, 422, "invalid_request", "vocabulary"},
			{"vocabulary not a list", func(m map[string]any) { m["vocabulary"] = "Acme" }, 400, "invalid_json", ""},
			{"secret 23 bytes", func(m map[string]any) { m["webhook_secret"] = ckWebhookSecret(23) }, 422, "invalid_request", "webhook_secret"},
			{"secret 65 bytes", func(m map[string]any) { m["webhook_secret"] = ckWebhookSecret(65) }, 422, "invalid_request", "webhook_secret"},
			{"secret no prefix", func(m map[string]any) { m["webhook_secret"] = strings.TrimPrefix(ckWebhookSecret(32), "whsec_") }, 422, "invalid_request", "webhook_secret"},
			{"secret not base64", func(m map[string]any) { m["webhook_secret"] = "whsec_" + strings.Repeat("!", 44) }, 422, "invalid_request", "webhook_secret"},
			{"secret empty", func(m map[string]any) { m["webhook_secret"] = "" }, 422, "invalid_request", "webhook_secret"},
			{"secret prefix only", func(m map[string]any) { m["webhook_secret"] = "whsec_" }, 422, "invalid_request", "webhook_secret"},
			{"unknown field", func(m map[string]any) { m["answerurl"] = "https://example.com/" }, 422, "invalid_request", "answerurl"},
			{"id read-only", func(m map[string]any) { m["id"] = "app_mine" }, 422, "invalid_request", "id"},
			{"insights string", func(m map[string]any) { m["insights"] = "yes" }, 400, "invalid_json", ""},
		}
		for _, param := range []string{"answer_url", "fallback_url", "webhook_url"} {
			for _, u := range []string{
				"ftp://example.com/x",
				"example.com/hook",
				"//example.com/hook",
				"http://",
				"http:///path",
				"https://user:pw@example.com/",
				"http://10.0.0.1/x",
				"http://192.168.1.10/x",
				"http://172.16.0.1/",
				"http://100.64.0.1/",
				"http://169.254.169.254/latest/meta-data/",
				"http://0.0.0.0/",
				"http://[::1]/x",
				"http://[::1]:8080/x",
				"http://[fd00::1]/",
				"http://[fe80::1%25eth0]/",
				"http://[::ffff:10.0.0.1]/",
				"http://[64:ff9b::a00:1]/",
				"https://example.com/" + strings.Repeat("p", 2040),
				"javascript:alert(1)",
				"http://exa mple.com/",
			} {
				cases = append(cases, tc{param + " " + u, func(m map[string]any) { m[param] = u }, 422, "invalid_request", param})
			}
		}
		for _, c := range cases {
			m := map[string]any{"customer_id": cust, "name": "app"}
			c.edit(m)
			ckCheck(t, c.name, b.call("POST", "/v1/applications", b.op, m), c.status, c.code, c.param)
		}
		if n := len(b.ok(200, "GET", "/v1/applications", b.op, nil).data()); n != 0 {
			t.Errorf("%d applications after only invalid requests", n)
		}
		// Allowed: public hosts, the test server's allowed 127.0.0.0/8, empty (none).
		for _, u := range []string{"https://example.com/a?b=c#d", "http://127.0.0.1:9/x", "http://127.8.9.10/", "http://localhost/",
			"https://8.8.8.8/", "HTTPS://EXAMPLE.COM/"} {
			for _, param := range []string{"answer_url", "fallback_url", "webhook_url"} {
				r := b.call("POST", "/v1/applications", b.op, map[string]any{"customer_id": cust, "name": "ok", param: u})
				ckCheck(t, "allowed "+param+" "+u, r, 201, "", "")
			}
		}
		b.ok(201, "POST", "/v1/applications", b.op, map[string]any{"customer_id": cust, "name": "none", "answer_url": "",
			"fallback_url": "", "webhook_url": ""})
	})
}

func TestApplicationPatch(t *testing.T) {
	each(t, func(t *testing.T, b *bundle) {
		cust := b.customer("acme")
		other := b.customer("other")
		r := b.ok(201, "POST", "/v1/applications", b.op, map[string]any{"customer_id": cust, "name": "app",
			"answer_url": "https://example.com/a", "fallback_url": "https://example.com/f", "webhook_url": "https://example.com/w",
			"topics": []string{"x"}})
		id := r.str("id")
		secret := r.str("webhook_secret")
		path := "/v1/applications/" + id

		p := b.ok(200, "PATCH", path, b.op, map[string]any{"name": "renamed", "answer_url": "https://example.org/a2",
			"answer_method": "get", "fallback_url": "", "webhook_events": []string{"call.answered"}, "record_by_default": true,
			"insights": false, "topics": []string{}})
		for k, v := range map[string]any{"name": "renamed", "answer_url": "https://example.org/a2", "answer_method": "GET",
			"fallback_url": "", "webhook_url": "https://example.com/w", "webhook_events": []string{"call.answered"},
			"record_by_default": true, "insights": false, "topics": []string{}, "status": "active", "customer_id": cust,
			"created_at": r.str("created_at")} {
			if ckJSON(p.JSON[k]) != ckJSON(v) {
				t.Errorf("after PATCH %s = %s, want %s", k, ckJSON(p.JSON[k]), ckJSON(v))
			}
		}
		if got := b.ok(200, "GET", path, b.op, nil); string(got.Raw) != string(p.Raw) {
			t.Errorf("GET after PATCH differs:\n%s\n%s", p.Raw, got.Raw)
		}
		if ckJSON(p.JSON["vocabulary"]) != `[]` {
			t.Errorf("vocabulary by default = %s, want []", ckJSON(p.JSON["vocabulary"]))
		}
		// Entries trimmed, inner spaces collapsed, a repeat (any case) kept once.
		v := b.ok(200, "PATCH", path, b.op, map[string]any{"vocabulary": []string{" Acme   Dental ", "acme dental", "Northwind"}})
		if ckJSON(v.JSON["vocabulary"]) != `["Acme Dental","Northwind"]` || v.str("name") != "renamed" {
			t.Errorf("PATCH vocabulary: %s", v.Raw)
		}
		p = b.ok(200, "PATCH", path, b.op, map[string]any{"customer_id": cust}) // the same owner is no change
		if p.str("customer_id") != cust || p.str("name") != "renamed" {
			t.Errorf("PATCH with the same customer_id: %s", p.Raw)
		}

		for _, c := range []struct {
			name  string
			body  map[string]any
			param string
		}{
			{"webhook_secret", map[string]any{"webhook_secret": ckWebhookSecret(32)}, "webhook_secret"},
			{"customer_id", map[string]any{"customer_id": other}, "customer_id"},
			{"name", map[string]any{"name": ""}, "name"},
			{"status", map[string]any{"status": "deleted"}, "status"},
			{"answer_url", map[string]any{"answer_url": "http://10.1.2.3/"}, "answer_url"},
			{"fallback_url", map[string]any{"fallback_url": "http://169.254.169.254/"}, "fallback_url"},
			{"webhook_url", map[string]any{"webhook_url": "http://[::1]/"}, "webhook_url"},
			{"answer_method", map[string]any{"answer_method": "DELETE"}, "answer_method"},
			{"webhook_status", map[string]any{"webhook_status": "broken"}, "webhook_status"},
			{"webhook_events", map[string]any{"webhook_events": []string{}}, "webhook_events"},
			{"topics", map[string]any{"topics": []string{""}}, "topics[0].name"},
			{"unknown", map[string]any{"secret": "x"}, "secret"},
			{"partial", map[string]any{"name": "half", "webhook_url": "ftp://x/"}, "webhook_url"},
		} {
			ckCheck(t, "PATCH "+c.name, b.call("PATCH", path, b.op, c.body), 422, "invalid_request", c.param)
		}
		if got := b.ok(200, "GET", path, b.op, nil); string(got.Raw) != string(p.Raw) {
			t.Errorf("invalid PATCHes changed the application:\n%s\n%s", p.Raw, got.Raw)
		}
		if a, _ := b.store.Application(context.Background(), voice.Scope{}, id); a == nil || a.WebhookSecret != secret || a.CustomerID != cust {
			t.Errorf("invalid PATCHes changed the secret or owner")
		}
		b.want(b.call("PATCH", "/v1/applications/app_nope", b.op, map[string]any{"name": "x"}), 404, "not_found")
		ckCheck(t, "PATCH bad json", b.call("PATCH", path, b.op, "{"), 400, "invalid_json", "")
	})
}

func TestApplicationWebhookStatus(t *testing.T) {
	each(t, func(t *testing.T, b *bundle) {
		cust := b.customer("acme")
		id := b.application(cust)
		ck := b.customerKey(cust)
		// A 410 Gone disables the webhook (the dispatcher does it in the store).
		ctx := context.Background()
		a, err := b.store.Application(ctx, voice.Scope{}, id)
		if err != nil {
			t.Fatal(err)
		}
		a.WebhookStatus = voice.WebhookDisabled
		if err := b.store.UpdateApplication(ctx, a); err != nil {
			t.Fatal(err)
		}
		if got := b.ok(200, "GET", "/v1/applications/"+id, ck, nil).str("webhook_status"); got != "disabled" {
			t.Fatalf("webhook_status = %q, want disabled", got)
		}
		// The customer turns it back on by PATCH.
		if got := b.ok(200, "PATCH", "/v1/applications/"+id, ck, map[string]any{"webhook_status": "active"}).str("webhook_status"); got != "active" {
			t.Errorf("webhook_status = %q after PATCH, want active", got)
		}
		if a, _ := b.store.Application(ctx, voice.Scope{}, id); a.WebhookStatus != voice.WebhookActive {
			t.Errorf("stored webhook_status = %q", a.WebhookStatus)
		}
		// And may turn it off itself.
		b.ok(200, "PATCH", "/v1/applications/"+id, ck, map[string]any{"webhook_status": "disabled"})
		b.ok(200, "PATCH", "/v1/applications/"+id, b.applicationKey(id), map[string]any{"webhook_status": "active"})
	})
}

func TestApplicationRotateWebhookSecret(t *testing.T) {
	each(t, func(t *testing.T, b *bundle) {
		cust := b.customer("acme")
		ck := b.customerKey(cust)
		created := b.ok(201, "POST", "/v1/applications", ck, map[string]any{"name": "app"})
		id, s0 := created.str("id"), created.str("webhook_secret")
		path := "/v1/applications/" + id + "/webhook-secret/rotate"
		ctx := context.Background()

		r := b.ok(200, "POST", path, ck, nil)
		s1 := r.str("webhook_secret")
		if ckSecretBytes(s1) != 32 || s1 == s0 {
			t.Fatalf("rotated secret %q (old %q)", s1, s0)
		}
		if bytes.Contains(r.Raw, []byte(strings.TrimPrefix(s0, "whsec_"))) {
			t.Errorf("rotate answer shows the old secret: %s", r.Raw)
		}
		exp, err := time.Parse(time.RFC3339Nano, r.str("previous_secret_expires_at"))
		if err != nil {
			t.Fatalf("previous_secret_expires_at %q: %v", r.str("previous_secret_expires_at"), err)
		}
		upd, _ := time.Parse(time.RFC3339Nano, r.str("updated_at"))
		if d := exp.Sub(upd); d != 24*time.Hour {
			t.Errorf("previous secret expires %s after the rotation, want 24h", d)
		}
		if r.str("id") != id || r.str("name") != "app" {
			t.Errorf("rotate answer is not the application: %s", r.Raw)
		}
		a, err := b.store.Application(ctx, voice.Scope{}, id)
		if err != nil {
			t.Fatal(err)
		}
		if a.WebhookSecret != s1 || a.PreviousWebhookSecret != s0 || a.PreviousSecretExpiresAt == nil || !a.PreviousSecretExpiresAt.Equal(exp) {
			t.Errorf("stored: secret %q previous %q expires %v; want %q %q %s", a.WebhookSecret, a.PreviousWebhookSecret,
				a.PreviousSecretExpiresAt, s1, s0, exp)
		}
		ckNoSecret(t, "GET after rotate", b.ok(200, "GET", "/v1/applications/"+id, ck, nil), s0, s1)

		// A given secret is used; the previous one is the last generated.
		given := ckWebhookSecret(48)
		r = b.ok(200, "POST", path, b.op, map[string]any{"webhook_secret": given})
		if r.str("webhook_secret") != given {
			t.Errorf("rotate with a given secret answered %q", r.str("webhook_secret"))
		}
		if a, _ := b.store.Application(ctx, voice.Scope{}, id); a.WebhookSecret != given || a.PreviousWebhookSecret != s1 {
			t.Errorf("stored after second rotation: %q / %q", a.WebhookSecret, a.PreviousWebhookSecret)
		}
		// Invalid given secrets change nothing.
		for _, bad := range []string{ckWebhookSecret(16), "whsec_???", "secret"} {
			ckCheck(t, "rotate "+bad, b.call("POST", path, ck, map[string]any{"webhook_secret": bad}), 422, "invalid_request", "webhook_secret")
		}
		ckCheck(t, "rotate unknown field", b.call("POST", path, ck, map[string]any{"secret": "x"}), 422, "invalid_request", "secret")
		if a, _ := b.store.Application(ctx, voice.Scope{}, id); a.WebhookSecret != given || a.PreviousWebhookSecret != s1 {
			t.Errorf("invalid rotations changed the secrets")
		}
		b.want(b.call("POST", "/v1/applications/app_nope/webhook-secret/rotate", b.op, nil), 404, "not_found")
		// An application key may not rotate.
		b.want(b.call("POST", path, b.applicationKey(id), nil), 403, "forbidden")
	})
}

func TestApplicationDelete(t *testing.T) {
	each(t, func(t *testing.T, b *bundle) {
		cust := b.customer("acme")
		ck := b.customerKey(cust)
		id := b.application(cust)
		keep := b.application(cust)
		ak := b.applicationKey(id)
		keepKey := b.applicationKey(keep)
		num := b.ok(201, "POST", "/v1/numbers", b.op, map[string]any{"number": "+15551239999", "customer_id": cust, "application_id": id}).str("id")
		num2 := b.ok(201, "POST", "/v1/numbers", b.op, map[string]any{"number": "+15551239998", "customer_id": cust, "application_id": keep}).str("id")
		call := b.placeCall(ak, id, "+15551230002")

		// An application key may not delete, not even its own application.
		b.want(b.call("DELETE", "/v1/applications/"+id, ak, nil), 403, "forbidden")

		r := b.ok(204, "DELETE", "/v1/applications/"+id, ck, nil)
		if len(r.Raw) != 0 {
			t.Errorf("204 with a body: %s", r.Raw)
		}
		b.want(b.call("GET", "/v1/applications/"+id, b.op, nil), 404, "not_found")
		b.want(b.call("PATCH", "/v1/applications/"+id, b.op, map[string]any{"name": "x"}), 404, "not_found")
		b.want(b.call("DELETE", "/v1/applications/"+id, ck, nil), 404, "not_found")
		b.want(b.call("POST", "/v1/applications/"+id+"/keys", b.op, map[string]any{}), 404, "not_found")
		b.want(b.call("POST", "/v1/applications/"+id+"/webhook-secret/rotate", b.op, nil), 404, "not_found")
		if ids := ckIDs(b.ok(200, "GET", "/v1/applications", ck, nil).data()); !ckSameSet(ids, []string{keep}) {
			t.Errorf("applications after delete = %v, want [%s]", ids, keep)
		}
		// Its keys are revoked.
		b.want(b.call("GET", "/v1/calls", ak, nil), 401, "unauthorized")
		for _, k := range b.ok(200, "GET", "/v1/customers/"+cust+"/keys", b.op, nil).data() {
			revoked := k["revoked_at"] != nil
			if appID, _ := k["application_id"].(string); (appID == id) != revoked {
				t.Errorf("key %v of application %v: revoked=%v", k["id"], k["application_id"], revoked)
			}
		}
		// Its numbers point nowhere; others are untouched.
		if n := b.ok(200, "GET", "/v1/numbers/"+num, b.op, nil); n.JSON["application_id"] != nil {
			t.Errorf("number still points to the deleted application: %s", n.Raw)
		}
		if n := b.ok(200, "GET", "/v1/numbers/"+num2, b.op, nil); n.str("application_id") != keep {
			t.Errorf("another number was unpointed: %s", n.Raw)
		}
		// Calls are history and stay.
		if c := b.ok(200, "GET", "/v1/calls/"+call, ck, nil); c.str("application_id") != id {
			t.Errorf("call after delete: %s", c.Raw)
		}
		// No new calls for it.
		ckCheck(t, "call to deleted app", b.call("POST", "/v1/calls", ck, map[string]any{"to": "+15551230002", "from": "+15551230001",
			"application_id": id}), 404, "not_found", "")
		// The customer and the other application's key still work.
		b.ok(200, "GET", "/v1/customers/"+cust, ck, nil)
		b.ok(200, "GET", "/v1/applications/"+keep, keepKey, nil)
		// The operator may delete too.
		b.ok(204, "DELETE", "/v1/applications/"+keep, b.op, nil)
		b.want(b.call("GET", "/v1/applications/"+keep, keepKey, nil), 401, "unauthorized")
	})
}

func TestApplicationListAndFilter(t *testing.T) {
	each(t, func(t *testing.T, b *bundle) {
		a := b.customer("a")
		c := b.customer("c")
		var appsA, appsC []string
		for range 4 {
			appsA = append(appsA, b.application(a))
		}
		for range 2 {
			appsC = append(appsC, b.application(c))
		}
		all := ckListAll(t, b, "/v1/applications", b.op, 2)
		if !ckSameSet(ckIDs(all), append(append([]string{}, appsA...), appsC...)) {
			t.Errorf("operator list = %v", ckIDs(all))
		}
		ckNewestFirst(t, "applications", all)
		if got := ckIDs(ckListAll(t, b, "/v1/applications?customer_id="+a, b.op, 3)); !ckSameSet(got, appsA) {
			t.Errorf("?customer_id=a = %v, want %v", got, appsA)
		}
		if got := ckIDs(b.ok(200, "GET", "/v1/applications?customer_id="+c, b.op, nil).data()); !ckSameSet(got, appsC) {
			t.Errorf("?customer_id=c = %v, want %v", got, appsC)
		}
		b.want(b.call("GET", "/v1/applications?customer_id=cust_nope", b.op, nil), 404, "not_found")
		ckCheck(t, "limit", b.call("GET", "/v1/applications?limit=0", b.op, nil), 422, "invalid_request", "limit")
		// A customer key sees its own, with or without naming itself.
		ka := b.customerKey(a)
		if got := ckIDs(ckListAll(t, b, "/v1/applications", ka, 1)); !ckSameSet(got, appsA) {
			t.Errorf("customer a lists %v", got)
		}
		if got := ckIDs(b.ok(200, "GET", "/v1/applications?customer_id="+a, ka, nil).data()); !ckSameSet(got, appsA) {
			t.Errorf("customer a lists %v with its filter", got)
		}
	})
}

func TestApplicationIdempotency(t *testing.T) {
	each(t, func(t *testing.T, b *bundle) {
		cust := b.customer("acme")
		ck := b.customerKey(cust)
		body := map[string]any{"name": "app", "answer_url": "https://example.com/a"}
		first := b.ok(201, "POST", "/v1/applications", ck, body, "Idempotency-Key: app-1")
		again := b.ok(201, "POST", "/v1/applications", ck, body, "Idempotency-Key: app-1")
		if again.Header.Get("Idempotent-Replayed") != "true" || string(again.Raw) != string(first.Raw) {
			t.Errorf("replay differs or is unmarked (%q):\n%s\n%s", again.Header.Get("Idempotent-Replayed"), first.Raw, again.Raw)
		}
		if n := len(b.ok(200, "GET", "/v1/applications", ck, nil).data()); n != 1 {
			t.Errorf("%d applications after a replay, want 1", n)
		}
		body["name"] = "app 2"
		b.want(b.call("POST", "/v1/applications", ck, body, "Idempotency-Key: app-1"), 409, "idempotency_key_reused")
		// Keys belong to their caller: the operator's app-1 is another request.
		opBody := map[string]any{"customer_id": cust, "name": "app"}
		op1 := b.ok(201, "POST", "/v1/applications", b.op, opBody, "Idempotency-Key: app-1")
		if op1.Header.Get("Idempotent-Replayed") != "" || op1.str("id") == first.str("id") {
			t.Errorf("operator's key app-1 replayed the customer's answer")
		}
		// And so is another customer key's of the same customer.
		ck2 := b.customerKey(cust)
		if r := b.ok(201, "POST", "/v1/applications", ck2, map[string]any{"name": "app 2", "answer_url": "https://example.com/a"},
			"Idempotency-Key: app-1"); r.Header.Get("Idempotent-Replayed") != "" {
			t.Errorf("another key's Idempotency-Key replayed")
		}
		if n := len(b.ok(200, "GET", "/v1/applications", ck, nil).data()); n != 3 {
			t.Errorf("%d applications, want 3", n)
		}
	})
}

// Lengths are counted in characters, as the messages say, not UTF-8 bytes.
func TestApplicationLengthsInCharacters(t *testing.T) {
	each(t, func(t *testing.T, b *bundle) {
		cust := b.customer("acme")
		r := b.ok(201, "POST", "/v1/applications", b.op, map[string]any{"customer_id": cust, "name": strings.Repeat("é", 200),
			"topics": []string{strings.Repeat("ö", 100), "Kündigung"}})
		o := strings.Repeat("ö", 100)
		if r.str("name") != strings.Repeat("é", 200) || ckJSON(r.JSON["topics"]) != ckJSON([]map[string]any{{"name": o, "keywords": []string{o}},
			{"name": "Kündigung", "keywords": []string{"Kündigung"}}}) {
			t.Errorf("application: %s", r.Raw)
		}
		ckCheck(t, "name 201 characters", b.call("POST", "/v1/applications", b.op, map[string]any{"customer_id": cust,
			"name": strings.Repeat("é", 201)}), 422, "invalid_request", "name")
		ckCheck(t, "topic 101 characters", b.call("PATCH", "/v1/applications/"+r.str("id"), b.op, map[string]any{
			"topics": []string{strings.Repeat("ö", 101)}}), 422, "invalid_request", "topics[0].name")
		b.ok(201, "POST", "/v1/applications/"+r.str("id")+"/keys", b.op, map[string]any{"name": strings.Repeat("ß", 200)})
	})
}
