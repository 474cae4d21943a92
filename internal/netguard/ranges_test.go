package netguard

import (
	"errors"
	"net/netip"
	"strings"
	"testing"
)

// rangeCase is an address and whether the guard lets the platform reach it
// with no exceptions and with 127.0.0.0/8 allowed (the demo and tests).
type rangeCase struct {
	addr        string
	ok          bool // with no exceptions
	okLoopback  bool // with 127.0.0.0/8 allowed
	description string
}

// rangeCases covers every range webhooks.md names (and the other reserved
// ones), at their edges, in every spelling an address can take.
var rangeCases = []rangeCase{
	{"93.184.216.34", true, true, "public IPv4"},
	{"8.8.8.8", true, true, "public IPv4"},
	{"2606:2800:220:1::1", true, true, "public IPv6"},
	{"127.0.0.1", false, true, "loopback"},
	{"127.255.255.254", false, true, "loopback, top"},
	{"10.0.0.0", false, false, "private 10/8"},
	{"10.255.255.255", false, false, "private 10/8, top"},
	{"172.16.0.1", false, false, "private 172.16/12"},
	{"172.31.255.255", false, false, "private 172.16/12, top"},
	{"172.15.255.255", true, true, "just below 172.16/12"},
	{"172.32.0.1", true, true, "just above 172.16/12"},
	{"192.168.0.1", false, false, "private 192.168/16"},
	{"192.168.255.255", false, false, "private 192.168/16, top"},
	{"169.254.169.254", false, false, "cloud metadata"},
	{"169.254.0.1", false, false, "link-local"},
	{"100.64.0.1", false, false, "CGNAT"},
	{"100.127.255.255", false, false, "CGNAT, top"},
	{"100.63.255.255", true, true, "just below CGNAT"},
	{"100.128.0.0", true, true, "just above CGNAT"},
	{"0.0.0.0", false, false, "unspecified"},
	{"0.1.2.3", false, false, "this network"},
	{"192.0.0.8", false, false, "IETF protocol assignments"},
	{"198.18.0.1", false, false, "benchmarking"},
	{"224.0.0.1", false, false, "multicast"},
	{"239.255.255.250", false, false, "multicast, SSDP"},
	{"240.0.0.1", false, false, "reserved"},
	{"255.255.255.255", false, false, "broadcast"},
	{"::", false, false, "IPv6 unspecified"},
	{"::1", false, false, "IPv6 loopback: 127.0.0.0/8 does not allow it"},
	{"::7f00:1", false, false, "IPv4-compatible (deprecated) loopback"},
	{"::ffff:127.0.0.1", false, true, "IPv4-mapped loopback"},
	{"::ffff:7f00:1", false, true, "IPv4-mapped loopback, hex"},
	{"::ffff:10.0.0.1", false, false, "IPv4-mapped private"},
	{"::ffff:169.254.169.254", false, false, "IPv4-mapped metadata"},
	{"::ffff:93.184.216.34", true, true, "IPv4-mapped public"},
	{"64:ff9b::7f00:1", false, true, "NAT64 of loopback"},
	{"64:ff9b::a00:1", false, false, "NAT64 of private"},
	{"64:ff9b::a9fe:a9fe", false, false, "NAT64 of metadata"},
	{"64:ff9b::5db8:d822", true, true, "NAT64 of a public address"},
	{"64:ff9b:1::a00:1", false, false, "local-use NAT64"},
	{"2002:7f00:1::1", false, true, "6to4 of loopback"},
	{"2002:a9fe:a9fe::1", false, false, "6to4 of metadata"},
	{"2002:5db8:d822::1", true, true, "6to4 of a public address"},
	{"fc00::1", false, false, "ULA"},
	{"fd12:3456:789a::1", false, false, "ULA"},
	{"fdff:ffff:ffff:ffff:ffff:ffff:ffff:ffff", false, false, "ULA, top"},
	{"fe80::1", false, false, "IPv6 link-local"},
	{"febf::1", false, false, "IPv6 link-local, top"},
	{"fec0::1", false, false, "IPv6 site-local (deprecated)"},
	{"ff02::1", false, false, "IPv6 multicast"},
}

var loopbackOnly = []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8")}

func TestAllowedRanges(t *testing.T) {
	t.Parallel()
	for _, tc := range rangeCases {
		a := netip.MustParseAddr(tc.addr)
		if got := Allowed(a, nil); got != tc.ok {
			t.Errorf("Allowed(%s) = %v, want %v (%s)", tc.addr, got, tc.ok, tc.description)
		}
		if got := Allowed(a, loopbackOnly); got != tc.okLoopback {
			t.Errorf("Allowed(%s, 127.0.0.0/8) = %v, want %v (%s)", tc.addr, got, tc.okLoopback, tc.description)
		}
		// The operator can allow any range, also one given as a single address.
		if !Allowed(a, []netip.Prefix{netip.PrefixFrom(a, a.BitLen())}) {
			t.Errorf("Allowed(%s, itself) = false", tc.addr)
		}
	}
	// A zone does not change the verdict.
	if Allowed(netip.MustParseAddr("fe80::1%eth0"), nil) {
		t.Error("fe80::1 with a zone allowed")
	}
}

// urlHost writes an address as a URL host.
func urlHost(addr string) string {
	if strings.Contains(addr, ":") {
		return "[" + addr + "]"
	}
	return addr
}

func TestCheckURLRanges(t *testing.T) {
	t.Parallel()
	for _, tc := range rangeCases {
		u := "http://" + urlHost(tc.addr) + ":8080/hook"
		if err := CheckURL(u, nil); (err == nil) != tc.ok {
			t.Errorf("CheckURL(%s) = %v, want ok=%v (%s)", u, err, tc.ok, tc.description)
		}
		if err := CheckURL(u, loopbackOnly); (err == nil) != tc.okLoopback {
			t.Errorf("CheckURL(%s, 127.0.0.0/8) = %v, want ok=%v (%s)", u, err, tc.okLoopback, tc.description)
		}
	}
}

func TestDialCheckRanges(t *testing.T) {
	t.Parallel()
	for _, tc := range rangeCases {
		for _, addr := range []string{tc.addr, tc.addr + "%eth0"} {
			if strings.Contains(addr, "%") && !strings.Contains(tc.addr, ":") {
				continue // zones are IPv6 only
			}
			hostport := urlHost(addr) + ":443"
			err := checkDial(hostport, nil)
			if (err == nil) != tc.ok || (err != nil && !errors.Is(err, ErrNotAllowed)) {
				t.Errorf("checkDial(%s) = %v, want ok=%v (%s)", hostport, err, tc.ok, tc.description)
			}
			err = checkDial(hostport, loopbackOnly)
			if (err == nil) != tc.okLoopback || (err != nil && !errors.Is(err, ErrNotAllowed)) {
				t.Errorf("checkDial(%s, 127.0.0.0/8) = %v, want ok=%v (%s)", hostport, err, tc.okLoopback, tc.description)
			}
		}
	}
	if err := checkDial("nonsense", nil); !errors.Is(err, ErrNotAllowed) {
		t.Errorf("checkDial(nonsense) = %v", err)
	}
}

// encodedHosts spell an IPv4 address in the forms inet_aton and browsers
// accept besides dotted decimal; want is the address they decode to.
var encodedHosts = []struct{ host, want string }{
	{"2130706433", "127.0.0.1"},
	{"0x7f000001", "127.0.0.1"},
	{"0X7F000001", "127.0.0.1"},
	{"017700000001", "127.0.0.1"},
	{"0x7f.1", "127.0.0.1"},
	{"0177.0.0.1", "127.0.0.1"},
	{"0177.1", "127.0.0.1"},
	{"127.1", "127.0.0.1"},
	{"127.0.1", "127.0.0.1"},
	{"127.0.0.01", "127.0.0.1"},
	{"0x7f.0x0.0x0.0x1", "127.0.0.1"},
	{"127.0.0.1.", "127.0.0.1"},
	{"2852039166", "169.254.169.254"},
	{"0xa9fea9fe", "169.254.169.254"},
	{"0251.0376.0251.0376", "169.254.169.254"},
	{"169.254.43518", "169.254.169.254"},
	{"10.1", "10.0.0.1"},
	{"0", "0.0.0.0"},
	{"0x5db8d822", "93.184.216.34"}, // public, but still not written plainly
}

func TestParseLegacyIPv4(t *testing.T) {
	t.Parallel()
	for _, tc := range encodedHosts {
		a, isIP, err := literalAddr(tc.host)
		if !isIP || err == nil || a.String() != tc.want {
			t.Errorf("literalAddr(%q) = %s, %v, %v; want %s and an error", tc.host, a, isIP, err, tc.want)
		}
	}
	for _, host := range []string{"127.0.0.1", "::1", "example.com", "1e100.net", "x7f.example", "0x.example.com"} {
		if _, _, err := literalAddr(host); err != nil {
			t.Errorf("literalAddr(%q): %v", host, err)
		}
	}
	// Ends in a number, is not an address: not a usable host either.
	for _, host := range []string{"1.2.3.4.5", "256.1.1.1", "1.2.3.256", "1.2.65536", "4294967296", "08.1.1.1", "0x1g.example.0x1", "example.123"} {
		if _, isIP, err := literalAddr(host); err == nil || isIP {
			t.Errorf("literalAddr(%q) accepted", host)
		}
	}
}

func TestCheckURLEncodedIPv4(t *testing.T) {
	t.Parallel()
	for _, tc := range encodedHosts {
		u := "http://" + tc.host + "/hook"
		for _, allow := range [][]netip.Prefix{nil, loopbackOnly, {netip.MustParsePrefix("0.0.0.0/0")}} {
			err := CheckURL(u, allow)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("CheckURL(%s, %v) = %v, want a refusal naming %s", u, allow, err, tc.want)
			}
		}
	}
	for _, u := range []string{"http://1.2.3.4.5/", "http://256.0.0.1/", "http://example.123/"} {
		if err := CheckURL(u, nil); err == nil {
			t.Errorf("CheckURL(%s) accepted", u)
		}
	}
	for _, u := range []string{"http://localhost./", "http://LOCALHOST/", "http://a.localhost./"} {
		if err := CheckURL(u, nil); err == nil {
			t.Errorf("CheckURL(%s) accepted", u)
		}
		if err := CheckURL(u, loopbackOnly); err != nil {
			t.Errorf("CheckURL(%s, 127.0.0.0/8) = %v", u, err)
		}
	}
}
