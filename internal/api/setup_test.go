package api_test

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strings"
	"testing"

	"github.com/minivoice/minivoice/internal/api"
	"github.com/minivoice/minivoice/internal/auth"
	"github.com/minivoice/minivoice/internal/store"
	"github.com/minivoice/minivoice/internal/store/storetest"
)

// testOperatorKey is the operator key of every test server.
const testOperatorKey = "mvk_op_testoperatorkey0000000000"

// bundle is one running API over a real database, reached through real HTTP
// on loopback, with helpers to call it.
type bundle struct {
	t     *testing.T
	url   string
	store *store.DB
	op    string // the operator key
}

// setup starts an API server on the given backend.
func setup(t *testing.T, backend string) *bundle {
	t.Helper()
	db := storetest.Open(t, backend, nil)
	srv := api.New(api.Config{
		Store:            db,
		Auth:             auth.New(auth.Config{Store: db, OperatorKey: testOperatorKey}),
		AllowPrivateURLs: []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8")},
		Version:          "test",
	})
	ts := httptest.NewServer(srv)
	t.Cleanup(ts.Close)
	return &bundle{t: t, url: ts.URL, store: db, op: testOperatorKey}
}

// each runs fn against a fresh server on every configured backend, in parallel.
func each(t *testing.T, fn func(t *testing.T, b *bundle)) {
	t.Helper()
	t.Parallel()
	storetest.Each(t, func(t *testing.T, backend string) { fn(t, setup(t, backend)) })
}

// response is an API answer.
type response struct {
	Status int
	Header http.Header
	Raw    []byte
	JSON   map[string]any
}

// errCode returns error.code of an error body, or "".
func (r *response) errCode() string {
	if e, ok := r.JSON["error"].(map[string]any); ok {
		s, _ := e["code"].(string)
		return s
	}
	return ""
}

// errParam returns error.param of an error body, or "".
func (r *response) errParam() string {
	if e, ok := r.JSON["error"].(map[string]any); ok {
		s, _ := e["param"].(string)
		return s
	}
	return ""
}

// str returns a top-level string field.
func (r *response) str(field string) string {
	s, _ := r.JSON[field].(string)
	return s
}

// data returns the items of a list answer.
func (r *response) data() []map[string]any {
	items, _ := r.JSON["data"].([]any)
	out := make([]map[string]any, len(items))
	for i, it := range items {
		out[i], _ = it.(map[string]any)
	}
	return out
}

// call sends a request. body may be nil, a string/[]byte (sent as is) or a
// value (sent as JSON). headers are "Name: value" pairs.
func (b *bundle) call(method, path, key string, body any, headers ...string) *response {
	b.t.Helper()
	var rd io.Reader
	switch v := body.(type) {
	case nil:
	case string:
		rd = strings.NewReader(v)
	case []byte:
		rd = bytes.NewReader(v)
	default:
		j, err := json.Marshal(v)
		if err != nil {
			b.t.Fatalf("marshal body: %v", err)
		}
		rd = bytes.NewReader(j)
	}
	req, err := http.NewRequest(method, b.url+path, rd)
	if err != nil {
		b.t.Fatalf("new request: %v", err)
	}
	if key != "" {
		req.Header.Set("Authorization", "Bearer "+key)
	}
	req.Header.Set("Content-Type", "application/json")
	for _, h := range headers {
		k, v, _ := strings.Cut(h, ":")
		req.Header.Set(strings.TrimSpace(k), strings.TrimSpace(v))
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		b.t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	if err != nil {
		b.t.Fatalf("read body: %v", err)
	}
	r := &response{Status: resp.StatusCode, Header: resp.Header, Raw: raw}
	if len(raw) > 0 && strings.HasPrefix(resp.Header.Get("Content-Type"), "application/json") {
		if err := json.Unmarshal(raw, &r.JSON); err != nil {
			b.t.Fatalf("%s %s: answer is not a JSON object: %v\n%s", method, path, err, raw)
		}
		if resp.StatusCode >= 300 {
			checkErrorShape(b.t, r)
		}
	}
	return r
}

// checkErrorShape asserts the seed's error shape: {"error": {"code", "message", "request_id", ...}}.
func checkErrorShape(t *testing.T, r *response) {
	t.Helper()
	if len(r.JSON) != 1 {
		t.Fatalf("error body has top-level fields besides error: %s", r.Raw)
	}
	e, ok := r.JSON["error"].(map[string]any)
	if !ok {
		t.Fatalf("error body has no error object: %s", r.Raw)
	}
	for _, f := range []string{"code", "message", "request_id"} {
		if s, _ := e[f].(string); s == "" {
			t.Fatalf("error.%s missing: %s", f, r.Raw)
		}
	}
}

// want asserts the status (and, for errors, the code) of r.
func (b *bundle) want(r *response, status int, code string) *response {
	b.t.Helper()
	if r.Status != status || (code != "" && r.errCode() != code) {
		b.t.Fatalf("got %d %s, want %d %s\n%s", r.Status, r.errCode(), status, code, r.Raw)
	}
	return r
}

// ok sends a request that must answer status.
func (b *bundle) ok(status int, method, path, key string, body any, headers ...string) *response {
	b.t.Helper()
	return b.want(b.call(method, path, key, body, headers...), status, "")
}

// testCallerID is the from of the calls tests place (placeCall). Every
// customer made by customer has it verified, so calls pass the caller-ID
// rule; the rule itself is tested in callerid_test.go.
const testCallerID = "+15551230001"

// customer creates a customer (with testCallerID verified) and returns its id.
func (b *bundle) customer(name string) string {
	b.t.Helper()
	return b.ok(201, "POST", "/v1/customers", b.op, map[string]any{"name": name,
		"verified_caller_ids": []string{testCallerID}}).str("id")
}

// customerKey creates a customer key and returns its secret.
func (b *bundle) customerKey(customerID string) string {
	b.t.Helper()
	return b.ok(201, "POST", "/v1/customers/"+customerID+"/keys", b.op, map[string]any{}).str("key")
}

// application creates an application of the customer and returns its id.
func (b *bundle) application(customerID string) string {
	b.t.Helper()
	return b.ok(201, "POST", "/v1/applications", b.op, map[string]any{"customer_id": customerID, "name": "app",
		"answer_url": "http://127.0.0.1:9/answer", "webhook_url": "http://127.0.0.1:9/hook"}).str("id")
}

// applicationKey creates an application key and returns its secret.
func (b *bundle) applicationKey(appID string) string {
	b.t.Helper()
	return b.ok(201, "POST", "/v1/applications/"+appID+"/keys", b.op, map[string]any{}).str("key")
}

// placeCall creates a queued call and returns its id.
func (b *bundle) placeCall(key, appID, to string) string {
	b.t.Helper()
	return b.ok(201, "POST", "/v1/calls", key, map[string]any{"to": to, "from": testCallerID, "application_id": appID}).str("id")
}
