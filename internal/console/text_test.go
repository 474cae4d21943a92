package console_test

import (
	"net/http"
	"net/url"
	"strings"
	"testing"
)

// NUL and invalid UTF-8 never reach the store from the console: a path id
// with them is a missing page, a query or form field with them is refused
// with the field's name, and nothing changes.
func TestConsoleRefusesNULAndInvalidUTF8(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	cust := h.customer("A")
	key, _ := h.customerKey(cust)
	app := h.application(cust)
	num := h.apiCall("POST", "/v1/numbers", testOperatorKey, map[string]any{"number": "+15550003333", "customer_id": cust}, 201)["id"].(string)

	b := h.browser()
	b.signIn(key)
	for _, path := range []string{"/calls/call_%00", "/calls/call_%FF", "/numbers/" + num + "%00"} {
		if p := b.get(path); p.status != http.StatusNotFound {
			t.Errorf("GET %s: %d, want 404", path, p.status)
		}
	}
	if p := b.get("/calls?status=%00"); p.status != http.StatusBadRequest || !strings.Contains(p.body, "status: must not contain a NUL character") {
		t.Errorf("NUL in a query: %d\n%s", p.status, p.body)
	}
	csrf := b.get("/numbers").csrf(t)
	for _, bad := range []string{"app\x00", "app\xff"} {
		r := b.post("/numbers/"+num, url.Values{"csrf": {csrf}, "application_id": {bad}})
		if r.status != http.StatusBadRequest || !strings.Contains(r.body, "application_id: must") {
			t.Errorf("application_id %q: %d\n%s", bad, r.status, r.body)
		}
	}
	// The form still works with good text.
	if r := b.post("/numbers/"+num, url.Values{"csrf": {csrf}, "application_id": {app}}); r.status != http.StatusSeeOther {
		t.Fatalf("good form: %d %s", r.status, r.body)
	}
}
