package delivery_test

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/minivoice/minivoice/internal/delivery"
	"github.com/minivoice/minivoice/internal/netguard"
	"github.com/minivoice/minivoice/webhook"
)

func TestSender(t *testing.T) {
	t.Parallel()
	const secret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
	cases := []struct {
		name       string
		handler    http.HandlerFunc
		ok         bool
		status     int
		retryAfter time.Duration
		response   string
	}{
		{"2xx", func(w http.ResponseWriter, r *http.Request) {
			b, _ := io.ReadAll(r.Body)
			if err := webhook.Verify(secret, r.Header, b, time.Now(), time.Minute); err != nil {
				http.Error(w, err.Error(), 400)
				return
			}
			w.WriteHeader(204)
		}, true, 204, 0, ""},
		{"500 with a long body", func(w http.ResponseWriter, r *http.Request) {
			w.WriteHeader(500)
			_, _ = w.Write([]byte(strings.Repeat("x", 5000)))
		}, false, 500, 0, strings.Repeat("x", delivery.MaxResponseLog)},
		{"503 Retry-After", func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Retry-After", "120")
			w.WriteHeader(503)
		}, false, 503, 2 * time.Minute, ""},
		{"redirect is a failure", func(w http.ResponseWriter, r *http.Request) {
			http.Redirect(w, r, "http://example.com/", http.StatusFound)
		}, false, 302, 0, ""},
	}
	client := netguard.NewClient(netguard.ClientConfig{Allow: []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8")}, Timeout: 5 * time.Second})
	s := &delivery.Sender{Client: client, UserAgent: "MiniVoice/test"}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			srv := httptest.NewServer(tc.handler)
			defer srv.Close()
			r := s.Send(context.Background(), delivery.Delivery{URL: srv.URL, ID: "evt_1", Secrets: []string{secret}, Body: []byte(`{"a":1}`)})
			if r.OK() != tc.ok || r.HTTPStatus != tc.status || r.RetryAfter != tc.retryAfter || (tc.response != "" && r.Response != tc.response) {
				t.Errorf("result %+v", r)
			}
		})
	}
	t.Run("timeout", func(t *testing.T) {
		t.Parallel()
		release := make(chan struct{})
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { <-release }))
		defer srv.Close()
		defer close(release)
		r := s.Send(context.Background(), delivery.Delivery{URL: srv.URL, ID: "evt_2", Body: []byte(`{}`), Timeout: 200 * time.Millisecond})
		if r.Err == nil || r.OK() {
			t.Errorf("result %+v, want a timeout error", r)
		}
	})
	t.Run("guard", func(t *testing.T) {
		t.Parallel()
		strict := &delivery.Sender{Client: netguard.NewClient(netguard.ClientConfig{})}
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {}))
		defer srv.Close()
		r := strict.Send(context.Background(), delivery.Delivery{URL: srv.URL, ID: "evt_3", Body: []byte(`{}`)})
		if !netguard.IsNotAllowed(r.Err) {
			t.Errorf("result %+v, want the SSRF guard's refusal", r)
		}
	})
}
