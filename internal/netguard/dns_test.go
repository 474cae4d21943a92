package netguard_test

import (
	"context"
	"encoding/binary"
	"errors"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strings"
	"testing"

	"github.com/minivoice/minivoice/internal/netguard"
	"github.com/minivoice/minivoice/internal/publicmsg"
)

// fakeDNS runs a tiny DNS server on loopback UDP that speaks the real
// protocol: A and AAAA questions for the names in its table get those
// addresses, every other name NXDOMAIN. It returns a resolver that asks only
// it, so the client's lookups are the test's to decide.
func fakeDNS(t *testing.T, names map[string][]netip.Addr) *net.Resolver {
	t.Helper()
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = pc.Close() })
	go func() {
		buf := make([]byte, 1500)
		for {
			n, from, err := pc.ReadFrom(buf)
			if err != nil {
				return
			}
			if resp := dnsAnswer(buf[:n], names); resp != nil {
				_, _ = pc.WriteTo(resp, from)
			}
		}
	}()
	server := pc.LocalAddr().String()
	return &net.Resolver{PreferGo: true, Dial: func(ctx context.Context, _, _ string) (net.Conn, error) {
		var d net.Dialer
		return d.DialContext(ctx, "udp", server)
	}}
}

// DNS record types and header bits (RFC 1035, RFC 3596).
const (
	dnsTypeA    = 1
	dnsTypeAAAA = 28
	dnsClassIN  = 1
	dnsResponse = 1 << 15
	dnsAA       = 1 << 10
	dnsRD       = 1 << 8
	dnsRA       = 1 << 7
	dnsNXDomain = 3
)

// dnsAnswer answers one query message, or returns nil for a malformed one.
func dnsAnswer(q []byte, names map[string][]netip.Addr) []byte {
	if len(q) < 12 || binary.BigEndian.Uint16(q[4:]) != 1 {
		return nil
	}
	off := 12
	var labels []string
	for {
		if off >= len(q) {
			return nil
		}
		l := int(q[off])
		off++
		if l == 0 {
			break
		}
		if l&0xc0 != 0 || off+l > len(q) {
			return nil
		}
		labels = append(labels, string(q[off:off+l]))
		off += l
	}
	if off+4 > len(q) {
		return nil
	}
	qtype := binary.BigEndian.Uint16(q[off:])
	question := q[12 : off+4]
	addrs, known := names[strings.ToLower(strings.Join(labels, "."))]
	var rdata [][]byte
	for _, a := range addrs {
		if (qtype == dnsTypeA && a.Is4()) || (qtype == dnsTypeAAAA && a.Is6()) {
			rdata = append(rdata, a.AsSlice())
		}
	}
	flags := uint16(dnsResponse|dnsAA|dnsRA) | binary.BigEndian.Uint16(q[2:])&dnsRD
	if !known {
		flags |= dnsNXDomain
	}
	m := binary.BigEndian.AppendUint16(nil, binary.BigEndian.Uint16(q)) // the query's id
	m = binary.BigEndian.AppendUint16(m, flags)
	m = binary.BigEndian.AppendUint16(m, 1)                  // questions
	m = binary.BigEndian.AppendUint16(m, uint16(len(rdata))) // answers
	m = binary.BigEndian.AppendUint32(m, 0)                  // authority and additional records
	m = append(m, question...)
	for _, d := range rdata {
		m = append(m, 0xc0, 12) // the name: a pointer to the question's
		m = binary.BigEndian.AppendUint16(m, qtype)
		m = binary.BigEndian.AppendUint16(m, dnsClassIN)
		m = binary.BigEndian.AppendUint32(m, 60) // TTL
		m = binary.BigEndian.AppendUint16(m, uint16(len(d)))
		m = append(m, d...)
	}
	return m
}

func TestClientChecksResolvedAddresses(t *testing.T) {
	t.Parallel()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusNoContent)
	}))
	t.Cleanup(srv.Close)
	_, port, _ := net.SplitHostPort(srv.Listener.Addr().String())
	resolver := fakeDNS(t, map[string][]netip.Addr{
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
	resolver := fakeDNS(t, map[string][]netip.Addr{
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
