package api_test

import (
	"encoding/json"
	"io"
	"maps"
	"net"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/minivoice/minivoice/webhook"
)

// hookReceiver is a webhook receiver on loopback that answers status and
// keeps every request it got.
type hookReceiver struct {
	*httptest.Server
	mu   sync.Mutex
	got  []*http.Request
	body [][]byte
}

func newHookReceiver(t *testing.T, status int) *hookReceiver {
	t.Helper()
	h := &hookReceiver{}
	h.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		h.mu.Lock()
		h.got, h.body = append(h.got, r), append(h.body, b)
		h.mu.Unlock()
		if status == http.StatusFound {
			http.Redirect(w, r, "http://127.0.0.1:9/elsewhere", status)
			return
		}
		w.WriteHeader(status)
		_, _ = w.Write([]byte("receiver says hi"))
	}))
	t.Cleanup(h.Close)
	return h
}

// last returns the last request received and its body.
func (h *hookReceiver) last(t *testing.T) (*http.Request, []byte) {
	t.Helper()
	h.mu.Lock()
	defer h.mu.Unlock()
	if len(h.got) == 0 {
		t.Fatal("the receiver got no request")
	}
	return h.got[len(h.got)-1], h.body[len(h.body)-1]
}

// webhookApp creates an application of a new customer whose webhook_url is
// url, and returns its id and secret.
func (b *bundle) webhookApp(url string) (id, secret string) {
	b.t.Helper()
	r := b.ok(201, "POST", "/v1/applications", b.op, map[string]any{"customer_id": b.customer("acme"), "name": "hooks",
		"webhook_url": url})
	return r.str("id"), r.str("webhook_secret")
}

func TestWebhookTestDelivered(t *testing.T) {
	each(t, func(t *testing.T, b *bundle) {
		recv := newHookReceiver(t, http.StatusNoContent)
		id, secret := b.webhookApp(recv.URL + "/hooks")
		path := "/v1/applications/" + id + "/webhook-test"

		r := b.ok(200, "POST", path, b.op, nil)
		if got := slices.Sorted(maps.Keys(r.JSON)); !slices.Equal(got, []string{"delivered", "http_status", "latency_ms"}) {
			t.Errorf("answer fields %v: %s", got, r.Raw)
		}
		if r.JSON["delivered"] != true || r.JSON["http_status"] != float64(204) {
			t.Errorf("answer %s, want delivered with http_status 204", r.Raw)
		}
		if ms, ok := r.JSON["latency_ms"].(float64); !ok || ms < 0 || ms > 10000 {
			t.Errorf("latency_ms %v", r.JSON["latency_ms"])
		}

		// What the receiver got: a signed webhook.test, verifiable with the
		// public package and the application's secret.
		req, body := recv.last(t)
		if req.Method != http.MethodPost || req.URL.Path != "/hooks" {
			t.Errorf("request %s %s", req.Method, req.URL)
		}
		if err := webhook.Verify(secret, req.Header, body, time.Now(), 0); err != nil {
			t.Errorf("signature: %v (headers %v)", err, req.Header)
		}
		for k, want := range map[string]string{"Content-Type": "application/json", "User-Agent": "MiniVoice/test"} {
			if got := req.Header.Get(k); got != want {
				t.Errorf("%s = %q, want %q", k, got, want)
			}
		}
		var ev map[string]any
		if err := json.Unmarshal(body, &ev); err != nil {
			t.Fatalf("body %s: %v", body, err)
		}
		if got := slices.Sorted(maps.Keys(ev)); !slices.Equal(got, []string{"call", "created_at", "data", "event", "id", "variables"}) {
			t.Errorf("body fields %v: %s", got, body)
		}
		evID, _ := ev["id"].(string)
		if !strings.HasPrefix(evID, "evt_") || req.Header.Get("webhook-id") != evID {
			t.Errorf("id %q, webhook-id %q", evID, req.Header.Get("webhook-id"))
		}
		if ev["event"] != "webhook.test" || ev["call"] != nil {
			t.Errorf("body %s", body)
		}
		if v, ok := ev["variables"].(map[string]any); !ok || len(v) != 0 {
			t.Errorf("variables %v", ev["variables"])
		}
		if d, ok := ev["data"].(map[string]any); !ok || len(d) != 1 || d["application_id"] != id {
			t.Errorf("data %v", ev["data"])
		}
		if ts, err := time.Parse(time.RFC3339Nano, ev["created_at"].(string)); err != nil || time.Since(ts) > time.Minute {
			t.Errorf("created_at %v: %v", ev["created_at"], err)
		}

		// During a rotation both secrets sign.
		rot := b.ok(200, "POST", "/v1/applications/"+id+"/webhook-secret/rotate", b.op, nil)
		b.ok(200, "POST", path, b.op, map[string]any{})
		req, body = recv.last(t)
		if n := len(strings.Fields(req.Header.Get("webhook-signature"))); n != 2 {
			t.Errorf("%d signatures during a rotation, want 2", n)
		}
		for _, s := range []string{secret, rot.str("webhook_secret")} {
			if err := webhook.Verify(s, req.Header, body, time.Now(), 0); err != nil {
				t.Errorf("rotation, secret %s: %v", s[:10], err)
			}
		}
	})
}

func TestWebhookTestFailed(t *testing.T) {
	each(t, func(t *testing.T, b *bundle) {
		// A receiver that answers 500: the seed's body, plus request_id.
		id, _ := b.webhookApp(newHookReceiver(t, http.StatusInternalServerError).URL)
		r := b.want(b.call("POST", "/v1/applications/"+id+"/webhook-test", b.op, nil), 502, "webhook_test_failed")
		var got map[string]map[string]any
		if err := json.Unmarshal(r.Raw, &got); err != nil {
			t.Fatal(err)
		}
		if got["error"]["request_id"] != r.Header.Get("X-Request-Id") {
			t.Errorf("request_id %v, header %q", got["error"]["request_id"], r.Header.Get("X-Request-Id"))
		}
		delete(got["error"], "request_id")
		var seed map[string]map[string]any
		_ = json.Unmarshal([]byte(`{"error": {"code": "webhook_test_failed", "message": "test receiver returned non-2xx", "http_status": 500}}`), &seed)
		if !maps.Equal(got["error"], seed["error"]) {
			t.Errorf("body %s, want the seed's %v", r.Raw, seed)
		}

		// A redirect is not followed: it is a non-2xx answer.
		id, _ = b.webhookApp(newHookReceiver(t, http.StatusFound).URL)
		r = b.want(b.call("POST", "/v1/applications/"+id+"/webhook-test", b.op, nil), 502, "webhook_test_failed")
		if e := r.JSON["error"].(map[string]any); e["http_status"] != float64(302) || e["message"] != "test receiver returned non-2xx" {
			t.Errorf("redirect: %s", r.Raw)
		}

		// Nothing listening: unreachable, with no http_status.
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		closed := "http://" + ln.Addr().String() + "/hooks"
		ln.Close()
		id, _ = b.webhookApp(closed)
		r = b.want(b.call("POST", "/v1/applications/"+id+"/webhook-test", b.op, nil), 502, "webhook_test_failed")
		e := r.JSON["error"].(map[string]any)
		if msg, _ := e["message"].(string); !strings.HasPrefix(msg, "test receiver unreachable: ") || !strings.Contains(msg, "refused") {
			t.Errorf("unreachable message %q", msg)
		}
		if _, ok := e["http_status"]; ok || len(e) != 3 {
			t.Errorf("unreachable body %s, want code, message and request_id only", r.Raw)
		}
	})
}

func TestWebhookTestValidationAndAccess(t *testing.T) {
	each(t, func(t *testing.T, b *bundle) {
		recv := newHookReceiver(t, http.StatusOK)
		id, _ := b.webhookApp(recv.URL)
		path := "/v1/applications/" + id + "/webhook-test"

		// No webhook_url: 422 naming it.
		cust := b.customer("bare")
		bare := b.ok(201, "POST", "/v1/applications", b.op, map[string]any{"customer_id": cust, "name": "no hooks"}).str("id")
		ckCheck(t, "no webhook_url", b.call("POST", "/v1/applications/"+bare+"/webhook-test", b.op, nil), 422, "invalid_request", "webhook_url")
		// The body is an empty object or nothing.
		ckCheck(t, "unknown field", b.call("POST", path, b.op, map[string]any{"url": "http://example.com"}), 422, "invalid_request", "url")
		b.want(b.call("POST", path, b.op, "nope"), 400, "invalid_json")
		b.want(b.call("POST", "/v1/applications/app_nope/webhook-test", b.op, nil), 404, "not_found")

		// The application's customer and its own key may test it; another
		// tenant's key, or another application's, reads 404.
		owner := b.ok(200, "GET", "/v1/applications/"+id, b.op, nil).str("customer_id")
		b.ok(200, "POST", path, b.customerKey(owner), nil)
		b.ok(200, "POST", path, b.applicationKey(id), nil)
		b.want(b.call("POST", path, b.customerKey(cust), nil), 404, "not_found")
		b.want(b.call("POST", path, b.applicationKey(bare), nil), 404, "not_found")
		b.want(b.call("POST", path, "", nil), 401, "unauthorized")
	})
}
