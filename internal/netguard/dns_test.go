package netguard_test

import (
	"context"
	"errors"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strings"
	"testing"

	"github.com/minivoice/minivoice/internal/netguard"
	"github.com/minivoice/minivoice/internal/netguard/dnstest"
	"github.com/minivoice/minivoice/internal/publicmsg"
)

func TestClientChecksResolvedAddresses(t *testing.T) {
	t.Parallel()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusNoContent)
	}))
	t.Cleanup(srv.Close)
	_, port, _ := net.SplitHostPort(srv.Listener.Addr().String())
	resolver := dnstest.Resolver(t, map[string][]netip.Addr{
		"victim.test":     {netip.MustParseAddr("127.0.0.1")},
		"victim6.test":    {netip.MustParseAddr("::1")},
		"mapped.test":     {netip.MustParseAddr("::ffff:127.0.0.1")},
		"loopback-x.test": {netip.MustParseAddr("127.0.0.1"), netip.MustParseAddr("::1")},
	})

	// The resolver really answers, so a refusal below is the guard's.
	addrs, err := resolver.LookupNetIP(context.Background(), "ip4", "victim.test")
	if err != nil || len(addrs) != 1 || addrs[0] != netip.MustParseAddr("127.0.0.1") {
		t.Fatalf("fake DNS: %v, %v", addrs, err)
	}

	strict := netguard.NewClient(netguard.ClientConfig{Resolver: resolver})
	loose := netguard.NewClient(netguard.ClientConfig{Resolver: resolver, Allow: []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8")}})
	get := func(c *http.Client, u string) (int, error) {
		resp, err := c.Get(u)
		if err != nil {
			return 0, err
		}
		resp.Body.Close()
		return resp.StatusCode, nil
	}

	// A name that resolves to loopback is refused, whatever the spelling of
	// the address it resolves to.
	for _, name := range []string{"victim.test", "victim6.test", "mapped.test", "loopback-x.test", "VICTIM.test"} {
		u := "http://" + name + ":" + port + "/"
		if _, err := get(strict, u); !errors.Is(err, netguard.ErrNotAllowed) {
			t.Errorf("GET %s: %v, want ErrNotAllowed", u, err)
		}
	}
	// Literal loopback addresses too.
	for _, host := range []string{"127.0.0.1", "[::1]", "[::ffff:127.0.0.1]", "[::ffff:7f00:1]"} {
		u := "http://" + host + ":" + port + "/"
		if _, err := get(strict, u); !errors.Is(err, netguard.ErrNotAllowed) {
			t.Errorf("GET %s: %v, want ErrNotAllowed", u, err)
		}
	}

	// With 127.0.0.0/8 allowed the same name reaches the local server; ::1
	// stays refused, and a name with both addresses falls back to the allowed one.
	for _, name := range []string{"victim.test", "mapped.test", "loopback-x.test"} {
		u := "http://" + name + ":" + port + "/"
		if code, err := get(loose, u); err != nil || code != http.StatusNoContent {
			t.Errorf("GET %s with 127.0.0.0/8 allowed: %d, %v; want 204", u, code, err)
		}
	}
	if _, err := get(loose, "http://victim6.test:"+port+"/"); !errors.Is(err, netguard.ErrNotAllowed) {
		t.Errorf("GET victim6.test with 127.0.0.0/8 allowed: %v, want ErrNotAllowed", err)
	}

	// Encoded IPv4 literals are refused before any lookup (the fake DNS would
	// answer NXDOMAIN, not the guard's error), even where loopback is allowed.
	for _, host := range []string{"2130706433", "0x7f.1", "0177.0.0.1", "127.1", "0x7f000001", "127.0.0.1."} {
		u := "http://" + host + ":" + port + "/"
		for _, c := range []*http.Client{strict, loose} {
			if _, err := get(c, u); !errors.Is(err, netguard.ErrNotAllowed) {
				t.Errorf("GET %s: %v, want ErrNotAllowed", u, err)
			}
		}
	}
	// An unknown name is a lookup failure, not a refusal.
	if _, err := get(loose, "http://nowhere.test:"+port+"/"); err == nil || errors.Is(err, netguard.ErrNotAllowed) {
		t.Errorf("GET nowhere.test: %v, want a DNS error", err)
	}
}

// TestClientErrorsNameNoInternalAddress: what customers are told of a
// refused or failed request (publicmsg.Text of the error) names neither the
// address a host name resolved to nor the resolver, while the error itself,
// which goes to the server log, keeps them.
func TestClientErrorsNameNoInternalAddress(t *testing.T) {
	t.Parallel()
	closed, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	_, deadPort, _ := net.SplitHostPort(closed.Addr().String())
	closed.Close() // nothing listens there now: connections are refused
	resolver := dnstest.Resolver(t, map[string][]netip.Addr{
		"internal.test": {netip.MustParseAddr("10.1.2.3")},
		"loop.test":     {netip.MustParseAddr("127.0.0.1")},
		"meta.test":     {netip.MustParseAddr("169.254.169.254")},
	})
	strict := netguard.NewClient(netguard.ClientConfig{Resolver: resolver})
	loose := netguard.NewClient(netguard.ClientConfig{Resolver: resolver, Allow: []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8")}})
	for _, tc := range []struct {
		client  *http.Client
		url     string
		want    string
		logHas  string
		refused bool
	}{
		{strict, "http://internal.test/x", netguard.RefusedText, "10.1.2.3", true},
		{strict, "http://loop.test:" + deadPort + "/", netguard.RefusedText, "127.0.0.1", true},
		{strict, "http://meta.test/latest/meta-data/", netguard.RefusedText, "169.254.169.254", true},
		{strict, "http://nowhere.test/", "the host name could not be resolved (no such host)", "nowhere.test", false},
		{loose, "http://loop.test:" + deadPort + "/", "the connection was refused", "127.0.0.1", false},
		{loose, "http://0x7f.1/", "the URL writes an IP address in a non-standard form (0x7f.1 is 127.0.0.1); use four decimal numbers", "0x7f.1", true},
	} {
		resp, err := tc.client.Get(tc.url)
		if err == nil {
			resp.Body.Close()
			t.Errorf("GET %s succeeded", tc.url)
			continue
		}
		if netguard.IsNotAllowed(err) != tc.refused {
			t.Errorf("GET %s: IsNotAllowed = %v for %v", tc.url, !tc.refused, err)
		}
		got := publicmsg.Text(err)
		if got != tc.want {
			t.Errorf("GET %s: customers see %q, want %q (error %v)", tc.url, got, tc.want, err)
		}
		if !strings.Contains(tc.url, "0x7f") && publicmsg.Scrub(got) != got {
			t.Errorf("GET %s: %q names an address or a path", tc.url, got)
		}
		if !strings.Contains(err.Error(), tc.logHas) {
			t.Errorf("GET %s: the logged error %q lost %q", tc.url, err, tc.logHas)
		}
	}
}
