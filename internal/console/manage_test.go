package console_test

import (
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/minivoice/minivoice/internal/voice"
	"github.com/shopspring/decimal"
)

var newKeyRe = regexp.MustCompile(`<code id="new-key">([^<]+)</code>`)

func TestNumbersPage(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	custA, custB := h.customer("A"), h.customer("B")
	keyA, _ := h.customerKey(custA)
	appA, appB := h.application(custA), h.application(custB)
	numA := h.apiCall("POST", "/v1/numbers", testOperatorKey, map[string]any{"number": "+15550001111", "customer_id": custA}, 201)["id"].(string)
	numB := h.apiCall("POST", "/v1/numbers", testOperatorKey, map[string]any{"number": "+15550002222", "customer_id": custB}, 201)["id"].(string)

	b := h.browser()
	b.signIn(keyA)
	p := b.get("/numbers")
	if p.status != http.StatusOK || !strings.Contains(p.body, `data-number-id="`+numA+`"`) || strings.Contains(p.body, numB) || strings.Contains(p.body, appB) {
		t.Fatalf("numbers: %d\n%s", p.status, p.body)
	}
	csrf := p.csrf(t)
	if r := b.post("/numbers/"+numA, url.Values{"application_id": {appA}}); r.status != http.StatusForbidden {
		t.Fatalf("without csrf: %d", r.status)
	}
	if r := b.post("/numbers/"+numB, url.Values{"csrf": {csrf}, "application_id": {appA}}); r.status != http.StatusNotFound {
		t.Fatalf("other tenant's number: %d", r.status)
	}
	// Another customer's application: the API's message.
	r := b.post("/numbers/"+numA, url.Values{"csrf": {csrf}, "application_id": {appB}})
	if r.status != http.StatusBadRequest || !strings.Contains(r.body, "application_id: no such application of customer "+custA) {
		t.Fatalf("other tenant's application: %d\n%s", r.status, r.body)
	}
	r = b.post("/numbers/"+numA, url.Values{"csrf": {csrf}, "application_id": {appA}})
	if r.status != http.StatusSeeOther {
		t.Fatalf("point at app: %d %s", r.status, r.body)
	}
	if got := h.apiCall("GET", "/v1/numbers/"+numA, keyA, nil, 200); got["application_id"] != appA {
		t.Fatalf("after update: %v", got)
	}

	// An application key may not use the page, as the API's numbers routes.
	appKey := h.apiCall("POST", "/v1/applications/"+appA+"/keys", keyA, map[string]any{}, 201)["key"].(string)
	ab := h.browser()
	ab.signIn(appKey)
	for _, path := range []string{"/numbers", "/keys", "/usage"} {
		if p := ab.get(path); p.status != http.StatusNotFound {
			t.Errorf("application key GET %s: %d", path, p.status)
		}
	}
	if home := ab.get("/calls"); strings.Contains(home.body, `href="/numbers"`) || strings.Contains(home.body, `href="/keys"`) {
		t.Error("application key's nav links to pages it may not use")
	}
}

func TestKeysPage(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	custA, custB := h.customer("A"), h.customer("B")
	keyA, keyAID := h.customerKey(custA)
	_, keyBID := h.customerKey(custB)
	appA, appB := h.application(custA), h.application(custB)

	b := h.browser()
	b.signIn(keyA)
	p := b.get("/keys")
	if p.status != http.StatusOK || !strings.Contains(p.body, `data-key-id="`+keyAID+`"`) || strings.Contains(p.body, keyBID) {
		t.Fatalf("keys: %d\n%s", p.status, p.body)
	}
	csrf := p.csrf(t)
	if r := b.post("/keys", url.Values{"for": {appA}}); r.status != http.StatusForbidden {
		t.Fatalf("create without csrf: %d", r.status)
	}
	if r := b.post("/keys/"+keyAID+"/revoke", url.Values{"confirm": {"yes"}}); r.status != http.StatusForbidden {
		t.Fatalf("revoke without csrf: %d", r.status)
	}
	// Another customer's application or key reads as missing; customer keys
	// are the operator's to make, as in the API.
	if r := b.post("/keys", url.Values{"csrf": {csrf}, "for": {appB}}); r.status != http.StatusNotFound {
		t.Fatalf("key for another tenant's application: %d", r.status)
	}
	if r := b.post("/keys/"+keyBID+"/revoke", url.Values{"csrf": {csrf}, "confirm": {"yes"}}); r.status != http.StatusNotFound {
		t.Fatalf("revoke another tenant's key: %d", r.status)
	}
	if r := b.post("/keys", url.Values{"csrf": {csrf}, "for": {"customer"}}); r.status != http.StatusForbidden {
		t.Fatalf("customer key by a customer: %d", r.status)
	}
	// The API's validation message.
	r := b.post("/keys", url.Values{"csrf": {csrf}, "for": {appA}, "name": {strings.Repeat("x", 201)}})
	if r.status != http.StatusBadRequest || !strings.Contains(r.body, "name: must be at most 200 characters") {
		t.Fatalf("long name: %d\n%s", r.status, r.body)
	}

	r = b.post("/keys", url.Values{"csrf": {csrf}, "for": {appA}, "name": {"ci"}})
	m := newKeyRe.FindStringSubmatch(r.body)
	if r.status != http.StatusOK || m == nil || !strings.Contains(r.body, "will not be shown again") {
		t.Fatalf("create: %d\n%s", r.status, r.body)
	}
	secret := m[1]
	h.apiCall("GET", "/v1/applications/"+appA, secret, nil, 200) // it works, for its application
	if again := b.get("/keys"); strings.Contains(again.body, secret) || strings.Contains(again.body, `id="new-key"`) {
		t.Fatal("the secret is shown again")
	}
	if strings.Contains(h.log.String(), secret) {
		t.Fatal("the secret is in the log")
	}
	newID := h.apiCall("GET", "/v1/applications/"+appA+"/keys", keyA, nil, 200)["data"].([]any)[0].(map[string]any)["id"].(string)

	// Revoke: the first submit asks, the second revokes.
	r = b.post("/keys/"+newID+"/revoke", url.Values{"csrf": {csrf}})
	if r.status != http.StatusOK || !strings.Contains(r.body, `id="confirm-revoke"`) {
		t.Fatalf("revoke asks: %d\n%s", r.status, r.body)
	}
	h.apiCall("GET", "/v1/applications/"+appA, secret, nil, 200)
	r = b.post("/keys/"+newID+"/revoke", url.Values{"csrf": {csrf}, "confirm": {"yes"}})
	if r.status != http.StatusSeeOther {
		t.Fatalf("revoke: %d %s", r.status, r.body)
	}
	h.apiCall("GET", "/v1/applications/"+appA, secret, nil, 401)
	if p := b.get("/keys?revoked=" + newID); !strings.Contains(p.body, "revoked.") {
		t.Fatalf("after revoke:\n%s", p.body)
	}

	// The operator picks a customer and may make customer keys.
	ob := h.browser()
	ob.signIn(testOperatorKey)
	op := ob.get("/keys?customer=" + custB)
	if op.status != http.StatusOK || !strings.Contains(op.body, keyBID) || strings.Contains(op.body, keyAID) {
		t.Fatalf("operator keys: %d\n%s", op.status, op.body)
	}
	r = ob.post("/keys", url.Values{"csrf": {op.csrf(t)}, "customer": {custB}, "for": {"customer"}})
	if m := newKeyRe.FindStringSubmatch(r.body); r.status != http.StatusOK || m == nil || !strings.HasPrefix(m[1], "mvk_") {
		t.Fatalf("operator creates a customer key: %d\n%s", r.status, r.body)
	}
}

func TestUsagePage(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	custA, custB := h.customer("A"), h.customer("B")
	keyA, _ := h.customerKey(custA)
	appA, appB := h.application(custA), h.application(custB)
	day := time.Now().UTC().Truncate(24 * time.Hour).Add(-48 * time.Hour)
	ended := func(price string) func(c *voice.Call) {
		return func(c *voice.Call) {
			end := day.Add(2 * time.Hour)
			p := decimal.RequireFromString(price)
			c.EndedAt, c.BillableSeconds, c.Price, c.Duration = &end, 120, &p, 120
		}
	}
	h.addCall(custA, appA, day.Add(time.Hour), ended("1.25"))
	h.addCall(custB, appB, day.Add(time.Hour), ended("9.75"))

	b := h.browser()
	b.signIn(keyA)
	p := b.get("/usage")
	if p.status != http.StatusOK || !strings.Contains(p.body, `<svg id="spend-chart"`) || !strings.Contains(p.body, "<title id=\"spend-title\">") ||
		!strings.Contains(p.body, "<desc id=\"spend-desc\">") || !strings.Contains(p.body, `<table id="usage">`) {
		t.Fatalf("usage: %d\n%s", p.status, p.body)
	}
	if !strings.Contains(p.body, "1.25 USD") || strings.Contains(p.body, "9.75") || !strings.Contains(p.body, day.Format(time.DateOnly)) {
		t.Fatalf("usage rows:\n%s", p.body)
	}
	// The API's checks and message.
	bad := b.get("/usage?from=2026-01-10&to=2026-01-01")
	if bad.status != http.StatusBadRequest || !strings.Contains(bad.body, "to: must not be before from") {
		t.Fatalf("reversed range: %d\n%s", bad.status, bad.body)
	}
}
