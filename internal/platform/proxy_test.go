package platform

import (
	"net/http"
	"net/http/httptest"
	"net/netip"
	"testing"
)

// TestTrustProxies: X-Forwarded-For and X-Forwarded-Proto count only from a
// trusted proxy, the client is the rightmost untrusted hop, and without
// --trusted-proxies nothing changes.
func TestTrustProxies(t *testing.T) {
	type seen struct {
		remote string
		tls    bool
	}
	var got seen
	h := http.HandlerFunc(func(_ http.ResponseWriter, r *http.Request) { got = seen{r.RemoteAddr, r.TLS != nil} })
	trusted := []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8"), netip.MustParsePrefix("::1/128")}
	for _, tc := range []struct {
		name    string
		trusted []netip.Prefix
		remote  string
		xff     []string
		proto   string
		want    seen
	}{
		{"no trusted proxies", nil, "10.0.0.5:4000", []string{"198.51.100.7"}, "https", seen{"10.0.0.5:4000", false}},
		{"untrusted peer", trusted, "203.0.113.9:4000", []string{"198.51.100.7"}, "https", seen{"203.0.113.9:4000", false}},
		{"trusted proxy", trusted, "10.0.0.5:4000", []string{"198.51.100.7"}, "https", seen{"198.51.100.7:0", true}},
		{"proto http", trusted, "10.0.0.5:4000", []string{"198.51.100.7"}, "http", seen{"198.51.100.7:0", false}},
		{"spoofed left entries", trusted, "10.0.0.5:4000", []string{"1.2.3.4, 198.51.100.7"}, "", seen{"198.51.100.7:0", false}},
		{"chain of trusted proxies", trusted, "10.0.0.5:4000", []string{"198.51.100.7, 10.1.1.1", "10.2.2.2"}, "", seen{"198.51.100.7:0", false}},
		{"ipv6 client", trusted, "[::1]:4000", []string{"2001:db8::7"}, "HTTPS", seen{"[2001:db8::7]:0", true}},
		{"garbage hop", trusted, "10.0.0.5:4000", []string{"198.51.100.7, nonsense"}, "", seen{"10.0.0.5:4000", false}},
		{"only proxies", trusted, "10.0.0.5:4000", []string{"10.9.9.9"}, "", seen{"10.0.0.5:4000", false}},
		{"no header", trusted, "10.0.0.5:4000", nil, "", seen{"10.0.0.5:4000", false}},
	} {
		r := httptest.NewRequest("GET", "/", nil)
		r.RemoteAddr = tc.remote
		for _, v := range tc.xff {
			r.Header.Add("X-Forwarded-For", v)
		}
		if tc.proto != "" {
			r.Header.Set("X-Forwarded-Proto", tc.proto)
		}
		got = seen{}
		trustProxies(h, tc.trusted).ServeHTTP(httptest.NewRecorder(), r)
		if got != tc.want {
			t.Errorf("%s: handler saw %+v, want %+v", tc.name, got, tc.want)
		}
	}
}
