package console_test

import (
	"bytes"
	"context"
	"fmt"
	"mime/multipart"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/minivoice/minivoice/internal/voice"
)

// operatorPages are the operator's GET pages.
var operatorPages = []string{"/customers", "/rates", "/trunks", "/sip-refusals"}

func TestOperatorPagesAreNotThereForOthers(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	cust := h.customer("A")
	key, _ := h.customerKey(cust)
	app := h.application(cust)
	appKey := h.apiCall("POST", "/v1/applications/"+app+"/keys", key, map[string]any{}, 201)["key"].(string)
	for _, k := range []string{key, appKey} {
		b := h.browser()
		b.signIn(k)
		home := b.get("/calls")
		csrf := home.csrf(t)
		for _, path := range append(operatorPages, "/customers/"+cust) {
			if p := b.get(path); p.status != http.StatusNotFound {
				t.Errorf("GET %s: %d", path, p.status)
			}
			if strings.Contains(home.body, `href="`+path+`"`) {
				t.Errorf("nav links %s", path)
			}
		}
		for _, path := range []string{"/customers/" + cust + "/credits", "/customers/" + cust + "/status", "/rates/import"} {
			if p := b.post(path, url.Values{"csrf": {csrf}, "amount": {"10"}, "status": {"suspended"}, "csv": {"1,0.1"}}); p.status != http.StatusNotFound {
				t.Errorf("POST %s: %d", path, p.status)
			}
		}
	}
	if got := h.apiCall("GET", "/v1/customers/"+cust, testOperatorKey, nil, 200); got["status"] != "active" || got["balance"] != "0" {
		t.Fatalf("customer changed: %v", got)
	}
}

func TestOperatorCustomerPages(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	cust := h.customer("Acme")
	b := h.browser()
	b.signIn(testOperatorKey)
	list := b.get("/customers")
	if list.status != http.StatusOK || !strings.Contains(list.body, `data-customer-id="`+cust+`"`) {
		t.Fatalf("customers: %d\n%s", list.status, list.body)
	}
	pg := b.get("/customers/" + cust)
	if pg.status != http.StatusOK || !strings.Contains(pg.body, `id="balance"`) || !strings.Contains(pg.body, `id="suspend"`) {
		t.Fatalf("customer: %d\n%s", pg.status, pg.body)
	}
	csrf := pg.csrf(t)
	if p := b.post("/customers/"+cust+"/credits", url.Values{"amount": {"5"}}); p.status != http.StatusForbidden {
		t.Fatalf("credit without csrf: %d", p.status)
	}
	// The API's message for a non-positive credit.
	p := b.post("/customers/"+cust+"/credits", url.Values{"csrf": {csrf}, "amount": {"-5"}, "kind": {"credit"}})
	if p.status != http.StatusBadRequest || !strings.Contains(p.body, "amount: must be positive for a credit") {
		t.Fatalf("negative credit: %d\n%s", p.status, p.body)
	}
	p = b.post("/customers/"+cust+"/credits", url.Values{"csrf": {csrf}, "amount": {"12.50"}, "kind": {"credit"}, "description": {"top-up"}})
	if p.status != http.StatusSeeOther {
		t.Fatalf("credit: %d %s", p.status, p.body)
	}
	if pg := b.get("/customers/" + cust + "?done=credit"); !strings.Contains(pg.body, `<dd id="balance">12.5 EUR</dd>`) || !strings.Contains(pg.body, "top-up") {
		t.Fatalf("after credit:\n%s", pg.body)
	}
	if p := b.post("/customers/"+cust+"/status", url.Values{"csrf": {csrf}, "status": {"suspended"}}); p.status != http.StatusSeeOther {
		t.Fatalf("suspend: %d %s", p.status, p.body)
	}
	if got := h.apiCall("GET", "/v1/customers/"+cust, testOperatorKey, nil, 200); got["status"] != "suspended" {
		t.Fatalf("after suspend: %v", got)
	}
	if p := b.post("/customers/"+cust+"/status", url.Values{"csrf": {csrf}, "status": {"gone"}}); p.status != http.StatusBadRequest ||
		!strings.Contains(p.body, "status: must be active or suspended") {
		t.Fatalf("bad status: %d", p.status)
	}
	if p := b.post("/customers/"+cust+"/status", url.Values{"csrf": {csrf}, "status": {"active"}}); p.status != http.StatusSeeOther {
		t.Fatalf("activate: %d", p.status)
	}
	if p := b.get("/customers/cust_nope"); p.status != http.StatusNotFound {
		t.Fatalf("missing customer: %d", p.status)
	}
}

func TestOperatorRatesTrunksRefusals(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	b := h.browser()
	b.signIn(testOperatorKey)
	pg := b.get("/rates")
	if pg.status != http.StatusOK || !strings.Contains(pg.body, `id="rate-import"`) {
		t.Fatalf("rates: %d\n%s", pg.status, pg.body)
	}
	csrf := pg.csrf(t)
	if p := b.post("/rates/import", url.Values{"csv": {"1,0.01"}}); p.status != http.StatusForbidden {
		t.Fatalf("import without csrf: %d", p.status)
	}
	// A bad deck: nothing imported, the API's message and bad lines.
	p := b.post("/rates/import", url.Values{"csrf": {csrf}, "csv": {"prefix,price_per_minute\n1,abc\n44,0.02\n"}})
	if p.status != http.StatusBadRequest || !strings.Contains(p.body, `id="import-error"`) ||
		!strings.Contains(p.body, "line 2: price_per_minute: &#34;abc&#34; is not a decimal number (1 bad lines; nothing was imported)") {
		t.Fatalf("bad import: %d\n%s", p.status, p.body)
	}
	// The textarea.
	p = b.post("/rates/import", url.Values{"csrf": {csrf}, "csv": {"prefix,price_per_minute\n1,0.01\n44,0.02\n"}})
	if p.status != http.StatusOK || !strings.Contains(p.body, "Imported 2 outbound rates in EUR into the default deck") {
		t.Fatalf("import: %d\n%s", p.status, p.body)
	}
	// A file, multipart.
	var body bytes.Buffer
	mw := multipart.NewWriter(&body)
	_ = mw.WriteField("csrf", csrf)
	_ = mw.WriteField("direction", "outbound")
	fw, _ := mw.CreateFormFile("file", "deck.csv")
	fmt.Fprint(fw, "1,0.01\n44,0.02\n49,0.03\n")
	_ = mw.Close()
	req, _ := http.NewRequest("POST", h.url+"/rates/import", &body)
	req.Header.Set("Content-Type", mw.FormDataContentType())
	if p := b.do(req); p.status != http.StatusOK || !strings.Contains(p.body, "Imported 3 outbound rates") {
		t.Fatalf("file import: %d\n%s", p.status, p.body)
	}
	list := b.get("/rates?prefix=49")
	if list.status != http.StatusOK || strings.Count(list.body, "data-rate-id=") != 1 {
		t.Fatalf("filtered rates: %d\n%s", list.status, list.body)
	}
	if bad := b.get("/rates?prefix=x1"); bad.status != http.StatusBadRequest || !strings.Contains(bad.body, "prefix: must be 0 to 15 digits") {
		t.Fatalf("bad filter: %d", bad.status)
	}
	look := b.get("/rates?lookup_to=%2B4420712345")
	if !strings.Contains(look.body, "priced at <strong>0.02 EUR</strong> a minute by prefix <strong>44</strong>") {
		t.Fatalf("lookup:\n%s", look.body)
	}
	if look := b.get("/rates?lookup_to=abc"); !strings.Contains(look.body, "to: must be an E.164 number") {
		t.Fatalf("bad lookup:\n%s", look.body)
	}

	trunk := h.apiCall("POST", "/v1/trunks", testOperatorKey, map[string]any{"name": "carrier", "host": "sip.example.com"}, 201)["id"].(string)
	if p := b.get("/trunks"); p.status != http.StatusOK || !strings.Contains(p.body, `data-trunk-id="`+trunk+`"`) {
		t.Fatalf("trunks: %d\n%s", p.status, p.body)
	}

	// 60 refusals: two pages of 50.
	base := time.Now().UTC().Add(-time.Hour).Truncate(time.Millisecond)
	for i := range 60 {
		at := base.Add(time.Duration(i) * time.Second)
		r := &voice.SIPRefusal{ID: voice.NewID(voice.PrefixSIPRefusal, at), CreatedAt: at, Source: fmt.Sprintf("192.0.2.%d:5060", i%2+1),
			Transport: "udp", From: "+15550000000", To: "+15551112222", SIPCode: 404, Reason: "Not Found", Why: "no such number"}
		if err := h.store.AddSIPRefusal(context.Background(), r, 1000); err != nil {
			t.Fatal(err)
		}
	}
	first := b.get("/sip-refusals")
	if first.status != http.StatusOK || strings.Count(first.body, "data-refusal-id=") != 50 || !strings.Contains(first.body, `id="older"`) {
		t.Fatalf("refusals: %d %d", first.status, strings.Count(first.body, "data-refusal-id="))
	}
	older := b.get(strings.ReplaceAll(olderHref(t, first.body), "&amp;", "&"))
	if older.status != http.StatusOK || strings.Count(older.body, "data-refusal-id=") != 10 || strings.Contains(older.body, `id="older"`) {
		t.Fatalf("older refusals: %d %d", older.status, strings.Count(older.body, "data-refusal-id="))
	}
	if p := b.get("/sip-refusals?source=192.0.2.1"); strings.Count(p.body, "data-refusal-id=") != 30 {
		t.Fatalf("by source: %d", strings.Count(p.body, "data-refusal-id="))
	}
	if p := b.get("/sip-refusals?source=nope"); p.status != http.StatusBadRequest || !strings.Contains(p.body, "source: must be an IP address or IP:port") {
		t.Fatalf("bad source: %d", p.status)
	}
}

func olderHref(t *testing.T, body string) string {
	t.Helper()
	i := strings.Index(body, `id="older" href="`)
	if i < 0 {
		t.Fatal("no older link")
	}
	rest := body[i+len(`id="older" href="`):]
	return rest[:strings.Index(rest, `"`)]
}
