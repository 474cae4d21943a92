package console_test

import (
	"net/http"
	"regexp"
	"strings"
	"testing"
)

// TestTrunksPageShowsWhatApplies: an outbound trunk shows its carrier's
// host:port, an inbound one the sources it accepts (no meaningless
// ":5060"), and a customer's trunk links to the customer by name.
func TestTrunksPageShowsWhatApplies(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	cust := h.customer("Acme Telecom")
	out := h.apiCall("POST", "/v1/trunks", testOperatorKey, map[string]any{"name": "carrier", "host": "sip.example.com", "port": 5070}, 201)["id"].(string)
	in := h.apiCall("POST", "/v1/trunks", testOperatorKey, map[string]any{"name": "pbx", "direction": "inbound",
		"allowed_cidrs": []string{"198.51.100.0/24", "203.0.113.7"}, "customer_id": cust}, 201)["id"].(string)
	both := h.apiCall("POST", "/v1/trunks", testOperatorKey, map[string]any{"name": "peer", "direction": "both",
		"host": "peer.example.net", "allowed_cidrs": []string{"192.0.2.0/28"}}, 201)["id"].(string)
	b := h.browser()
	b.signIn(testOperatorKey)
	p := b.get("/trunks")
	if p.status != http.StatusOK {
		t.Fatalf("trunks: %d\n%s", p.status, p.body)
	}
	row := func(id string) string {
		m := regexp.MustCompile(`(?s)<tr data-trunk-id="` + id + `">.*?</tr>`).FindString(p.body)
		if m == "" {
			t.Fatalf("no row for %s:\n%s", id, p.body)
		}
		return m
	}
	if r := row(out); !strings.Contains(r, "<code>sip.example.com:5070</code>") || strings.Contains(r, "from ") ||
		!strings.Contains(r, "shared") {
		t.Errorf("outbound trunk row:\n%s", r)
	}
	if r := row(in); strings.Contains(r, ":5060") || !strings.Contains(r, "from <code>198.51.100.0/24</code>, <code>203.0.113.7/32</code>") ||
		!strings.Contains(r, `<a href="/customers/`+cust+`">Acme Telecom</a>`) {
		t.Errorf("inbound trunk row:\n%s", r)
	}
	if r := row(both); !strings.Contains(r, "<code>peer.example.net:5060</code>") || !strings.Contains(r, "from <code>192.0.2.0/28</code>") {
		t.Errorf("two-way trunk row:\n%s", r)
	}
}

// TestKeysPreselectsTheOnlyCustomer: with one customer the operator sees
// its keys at once; with two, they choose.
func TestKeysPreselectsTheOnlyCustomer(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	cust := h.customer("Only")
	b := h.browser()
	b.signIn(testOperatorKey)
	p := b.get("/keys")
	if p.status != http.StatusOK || !strings.Contains(p.body, `<option value="`+cust+`" selected>`) || !strings.Contains(p.body, `<table id="keys">`) {
		t.Fatalf("one customer: %d\n%s", p.status, p.body)
	}
	h.customer("Second")
	p = b.get("/keys")
	if p.status != http.StatusOK || strings.Contains(p.body, " selected>") || strings.Contains(p.body, `<table id="keys">`) {
		t.Fatalf("two customers: %d\n%s", p.status, p.body)
	}
}

// TestSignInSaysWhereTheOperatorKeyIs: a first-time operator is told where
// serve put the key.
func TestSignInSaysWhereTheOperatorKeyIs(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	p := h.browser().get("/signin")
	for _, want := range []string{"<code>DATA/admin.key</code>", "<code>./minivoice-data/admin.key</code>", "<code>minivoice demo --keep</code>"} {
		if !strings.Contains(p.body, want) {
			t.Errorf("sign-in page lacks %q:\n%s", want, p.body)
		}
	}
}
