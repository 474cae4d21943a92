package netguard_test

import (
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"testing"

	"github.com/minivoice/minivoice/internal/netguard"
)

func TestClientRefusesPrivateAddressesAfterResolution(t *testing.T) {
	t.Parallel()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/redirect" {
			http.Redirect(w, r, "/final", http.StatusFound)
			return
		}
		w.WriteHeader(http.StatusNoContent)
	}))
	t.Cleanup(srv.Close)

	// Without the exception, loopback is refused, by literal IP and by name.
	strict := netguard.NewClient(netguard.ClientConfig{})
	_, port, _ := net.SplitHostPort(srv.Listener.Addr().String())
	for _, u := range []string{srv.URL, "http://localhost:" + port} {
		_, err := strict.Get(u)
		if !netguard.IsNotAllowed(err) {
			t.Errorf("GET %s: %v, want url_not_allowed", u, err)
		}
	}

	// With 127.0.0.0/8 allowed (the demo and tests), it connects, and does not follow redirects.
	loose := netguard.NewClient(netguard.ClientConfig{Allow: []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8")}})
	resp, err := loose.Get(srv.URL + "/redirect")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusFound {
		t.Fatalf("status %d: the redirect was followed", resp.StatusCode)
	}
}
