package console_test

import (
	"net/http"
	"net/http/httptest"
	"net/url"
	"regexp"
	"strings"
	"testing"
)

var newSecretRe = regexp.MustCompile(`<code id="new-secret">(whsec_[^<]+)</code>`)

func TestApplicationPages(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	custA, custB := h.customer("A"), h.customer("B")
	keyA, _ := h.customerKey(custA)
	appA, appB := h.application(custA), h.application(custB)

	b := h.browser()
	b.signIn(keyA)
	list := b.get("/applications")
	if list.status != http.StatusOK || !strings.Contains(list.body, `data-application-id="`+appA+`"`) || strings.Contains(list.body, appB) {
		t.Fatalf("list: %d\n%s", list.status, list.body)
	}
	if !strings.Contains(list.body, `href="/applications"`) {
		t.Error("no nav link to applications")
	}
	// Another customer's application reads as missing, for GET and POST.
	if p := b.get("/applications/" + appB); p.status != http.StatusNotFound {
		t.Fatalf("other tenant's application: %d", p.status)
	}
	pg := b.get("/applications/" + appA)
	if pg.status != http.StatusOK || !strings.Contains(pg.body, `<form id="application"`) || !strings.Contains(pg.body, `id="rotate-secret"`) {
		t.Fatalf("application page: %d\n%s", pg.status, pg.body)
	}
	csrf := pg.csrf(t)
	form := url.Values{"csrf": {csrf}, "name": {"renamed"}, "answer_url": {"http://127.0.0.1:9/answer"}, "webhook_url": {"http://127.0.0.1:9/hook"},
		"status": {"active"}}
	if p := b.post("/applications/"+appB, form); p.status != http.StatusNotFound {
		t.Fatalf("save other tenant's application: %d", p.status)
	}
	// CSRF is required on every POST.
	noCSRF := url.Values{"name": {"x"}, "status": {"active"}}
	for _, path := range []string{"/applications/" + appA, "/applications/" + appA + "/rotate-secret", "/applications/" + appA + "/webhook-test"} {
		if p := b.post(path, noCSRF); p.status != http.StatusForbidden {
			t.Errorf("POST %s without csrf: %d", path, p.status)
		}
	}

	// Saves, insights off (checkbox absent).
	p := b.post("/applications/"+appA, form)
	if p.status != http.StatusSeeOther || p.header.Get("Location") != "/applications/"+appA+"?saved=1" {
		t.Fatalf("save: %d %s %s", p.status, p.header.Get("Location"), p.body)
	}
	got := h.apiCall("GET", "/v1/applications/"+appA, keyA, nil, 200)
	if got["name"] != "renamed" || got["insights"] != false {
		t.Fatalf("after save: %v", got)
	}

	// Validation: the API's own messages, next to the fields.
	bad := url.Values{"csrf": {csrf}, "name": {""}, "answer_url": {"http://127.0.0.1:9/a"}, "webhook_url": {""}, "status": {"active"}}
	p = b.post("/applications/"+appA, bad)
	if p.status != http.StatusBadRequest || !strings.Contains(p.body, `id="a-name-error"`) || !strings.Contains(p.body, "name: is required") {
		t.Fatalf("empty name: %d\n%s", p.status, p.body)
	}
	bad.Set("name", "ok")
	bad.Set("webhook_url", "ftp://example.com/x")
	p = b.post("/applications/"+appA, bad)
	if p.status != http.StatusBadRequest || !strings.Contains(p.body, `id="a-webhook-error"`) || !strings.Contains(p.body, `value="ftp://example.com/x"`) {
		t.Fatalf("bad webhook_url: %d\n%s", p.status, p.body)
	}
	apiErr := h.apiCall("PATCH", "/v1/applications/"+appA, keyA, map[string]any{"webhook_url": "ftp://example.com/x"}, 422)
	msg := apiErr["error"].(map[string]any)["message"].(string)
	if !strings.Contains(p.body, msg) {
		t.Errorf("the console's message is not the API's %q:\n%s", msg, p.body)
	}
}

func TestApplicationRotateAndWebhookTest(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	cust := h.customer("A")
	key, _ := h.customerKey(cust)
	app := h.application(cust)
	b := h.browser()
	b.signIn(key)
	csrf := b.get("/applications/" + app).csrf(t)

	p := b.post("/applications/"+app+"/rotate-secret", url.Values{"csrf": {csrf}})
	m := newSecretRe.FindStringSubmatch(p.body)
	if p.status != http.StatusOK || m == nil || !strings.Contains(p.body, "24 hours") {
		t.Fatalf("rotate: %d\n%s", p.status, p.body)
	}
	// Shown once: not on the next view of the page, nor in the log.
	if again := b.get("/applications/" + app); strings.Contains(again.body, m[1]) || strings.Contains(again.body, `id="new-secret"`) {
		t.Fatal("the secret is shown again")
	}
	if strings.Contains(h.log.String(), m[1]) {
		t.Fatal("the secret is in the log")
	}

	// A receiver answering 500: the API's webhook_test_failed with its status.
	fail := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(http.StatusInternalServerError) }))
	t.Cleanup(fail.Close)
	ok := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(http.StatusNoContent) }))
	t.Cleanup(ok.Close)
	h.apiCall("PATCH", "/v1/applications/"+app, key, map[string]any{"webhook_url": fail.URL + "/hook"}, 200)
	p = b.post("/applications/"+app+"/webhook-test", url.Values{"csrf": {csrf}})
	if p.status != http.StatusOK || !strings.Contains(p.body, `id="webhook-test-result"`) || !strings.Contains(p.body, "webhook_test_failed") ||
		!strings.Contains(p.body, "<strong>500</strong>") {
		t.Fatalf("failing receiver: %d\n%s", p.status, p.body)
	}
	h.apiCall("PATCH", "/v1/applications/"+app, key, map[string]any{"webhook_url": ok.URL + "/hook"}, 200)
	p = b.post("/applications/"+app+"/webhook-test", url.Values{"csrf": {csrf}})
	if p.status != http.StatusOK || !strings.Contains(p.body, "Test webhook delivered: HTTP <strong>204</strong>") {
		t.Fatalf("working receiver: %d\n%s", p.status, p.body)
	}
}

func TestApplicationKeyPages(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	cust := h.customer("A")
	app, other := h.application(cust), h.application(cust)
	appKey := h.apiCall("POST", "/v1/applications/"+app+"/keys", testOperatorKey, map[string]any{}, 201)["key"].(string)
	b := h.browser()
	b.signIn(appKey)
	list := b.get("/applications")
	if !strings.Contains(list.body, app) || strings.Contains(list.body, other) {
		t.Fatalf("application key list:\n%s", list.body)
	}
	if p := b.get("/applications/" + other); p.status != http.StatusNotFound {
		t.Fatalf("sibling application: %d", p.status)
	}
	pg := b.get("/applications/" + app)
	if pg.status != http.StatusOK || strings.Contains(pg.body, `id="rotate-secret"`) {
		t.Fatalf("application key page: %d", pg.status)
	}
	// As in the API, an application key may not rotate.
	if p := b.post("/applications/"+app+"/rotate-secret", url.Values{"csrf": {pg.csrf(t)}}); p.status != http.StatusForbidden {
		t.Fatalf("rotate with an application key: %d", p.status)
	}
}
