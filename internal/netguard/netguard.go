// Package netguard is the SSRF guard: it decides which addresses the platform
// may fetch URLs from. Customers give answer, action, fallback, webhook and
// play URLs; without the guard they could point them at the operator's
// internal network or a cloud metadata service.
package netguard

import (
	"fmt"
	"net/netip"
	"net/url"
	"strconv"
	"strings"
)

// blocked are the ranges no customer URL may reach unless the operator allows them.
var blocked = mustPrefixes(
	"0.0.0.0/8",      // "this" network, unspecified
	"10.0.0.0/8",     // private
	"100.64.0.0/10",  // CGNAT
	"127.0.0.0/8",    // loopback
	"169.254.0.0/16", // link-local, cloud metadata (169.254.169.254)
	"172.16.0.0/12",  // private
	"192.0.0.0/24",   // IETF protocol assignments
	"192.168.0.0/16", // private
	"198.18.0.0/15",  // benchmarking
	"224.0.0.0/4",    // multicast
	"240.0.0.0/4",    // reserved, broadcast
	"::/96",          // unspecified (::), loopback (::1), deprecated IPv4-compatible (::a.b.c.d)
	"fc00::/7",       // unique local
	"fe80::/10",      // link-local
	"fec0::/10",      // deprecated site-local
	"ff00::/8",       // multicast
	"64:ff9b:1::/48", // local-use NAT64 (RFC 8215): translates into the operator's own network
)

// embedsIPv4 are IPv6 ranges whose addresses reach an IPv4 address written
// inside them: the well-known NAT64 prefix (RFC 6052, the last 32 bits) and
// 6to4 (RFC 3056, bits 16 to 48). They are judged by that IPv4 address, so
// 64:ff9b::7f00:1 is loopback while a NAT64 route to a public host still works.
var embedsIPv4 = []struct {
	prefix netip.Prefix
	at     int // byte offset of the IPv4 address
}{
	{netip.MustParsePrefix("64:ff9b::/96"), 12},
	{netip.MustParsePrefix("2002::/16"), 2},
}

func mustPrefixes(ss ...string) []netip.Prefix {
	out := make([]netip.Prefix, len(ss))
	for i, s := range ss {
		out[i] = netip.MustParsePrefix(s)
	}
	return out
}

// Allowed reports whether the platform may connect to addr: it is outside the
// blocked ranges or inside one the operator allowed. IPv4-mapped addresses
// (::ffff:a.b.c.d) are judged as the IPv4 address, and so are NAT64 and 6to4
// ones; a zone (fe80::1%eth0) does not change the verdict.
func Allowed(addr netip.Addr, allow []netip.Prefix) bool {
	given := addr.WithZone("")
	addr = given.Unmap()
	for _, p := range allow {
		if p.Contains(addr) || p.Contains(given) {
			return true
		}
	}
	for _, e := range embedsIPv4 {
		if e.prefix.Contains(addr) {
			b := addr.As16()
			return Allowed(netip.AddrFrom4([4]byte(b[e.at:e.at+4])), allow)
		}
	}
	for _, p := range blocked {
		if p.Contains(addr) {
			return false
		}
	}
	return true
}

// ParseCIDRs parses a comma-separated list of CIDRs or single addresses.
func ParseCIDRs(s string) ([]netip.Prefix, error) {
	var out []netip.Prefix
	for _, part := range strings.Split(s, ",") {
		part = strings.TrimSpace(part)
		if part == "" {
			continue
		}
		p, err := ParsePrefix(part)
		if err != nil {
			return nil, err
		}
		out = append(out, p)
	}
	return out, nil
}

// ParsePrefix parses a CIDR, or a bare address as a single-address prefix.
func ParsePrefix(s string) (netip.Prefix, error) {
	if strings.Contains(s, "/") {
		p, err := netip.ParsePrefix(s)
		if err != nil {
			return netip.Prefix{}, fmt.Errorf("%q is not a CIDR: %w", s, err)
		}
		return p.Masked(), nil
	}
	a, err := netip.ParseAddr(s)
	if err != nil {
		return netip.Prefix{}, fmt.Errorf("%q is not an address or CIDR: %w", s, err)
	}
	return netip.PrefixFrom(a, a.BitLen()), nil
}

// CheckURL validates a URL given through the API: http or https, a host, no
// credentials, and, when the host is a literal IP (or localhost), an allowed
// one. IPv4 addresses must be written as four decimal numbers: the other
// spellings that resolvers and browsers accept (2130706433, 0x7f.1, 0177.0.0.1,
// 127.1) are refused whatever they decode to, since they exist to slip past
// checks like this one. Host names are checked again at every fetch, after
// resolution, by the dialer.
func CheckURL(raw string, allow []netip.Prefix) error {
	if len(raw) > 2048 {
		return fmt.Errorf("must be at most 2048 characters")
	}
	u, err := url.Parse(raw)
	if err != nil {
		return fmt.Errorf("is not a URL")
	}
	if u.Scheme != "http" && u.Scheme != "https" {
		return fmt.Errorf("must be an http or https URL")
	}
	if u.Hostname() == "" {
		return fmt.Errorf("must have a host")
	}
	if u.User != nil {
		return fmt.Errorf("must not carry credentials")
	}
	host := u.Hostname()
	if strings.IndexByte(host, '%') >= 0 {
		return fmt.Errorf("must not carry an IPv6 zone")
	}
	addr, isIP, err := literalAddr(host)
	if err != nil {
		return err
	}
	if isIP && !Allowed(addr, allow) {
		return fmt.Errorf("points to a private or reserved address (%s)", addr)
	}
	name := strings.ToLower(strings.TrimSuffix(host, "."))
	if name == "localhost" || strings.HasSuffix(name, ".localhost") {
		if !Allowed(netip.MustParseAddr("127.0.0.1"), allow) {
			return fmt.Errorf("points to localhost")
		}
	}
	return nil
}

// literalAddr tells a URL host that is an IP address (isIP) from a name. An
// IPv4 address in any spelling but plain dotted decimal (a trailing dot,
// octal, hex, fewer than four parts), or a host that ends in a number without
// being an address, is an error.
func literalAddr(host string) (addr netip.Addr, isIP bool, err error) {
	if a, err := netip.ParseAddr(host); err == nil {
		return a, true, nil
	}
	name := strings.TrimSuffix(host, ".")
	if a, err := netip.ParseAddr(name); err == nil {
		return a, true, fmt.Errorf("writes an IP address with a trailing dot (%s); use %s", host, a)
	}
	if !endsInNumber(name) {
		return netip.Addr{}, false, nil
	}
	a, ok := parseLegacyIPv4(name)
	if !ok {
		return netip.Addr{}, false, fmt.Errorf("has a host that ends in a number but is not an IP address")
	}
	return a, true, fmt.Errorf("writes an IP address in a non-standard form (%s is %s); use four decimal numbers", host, a)
}

// endsInNumber reports whether the last label of a host name is a decimal or
// 0x-hex number, which makes browsers and resolvers read the host as IPv4.
func endsInNumber(name string) bool {
	last := name[strings.LastIndexByte(name, '.')+1:]
	if hex, ok := strings.CutPrefix(strings.ToLower(last), "0x"); ok {
		return strings.Trim(hex, "0123456789abcdef") == ""
	}
	return last != "" && strings.Trim(last, "0123456789") == ""
}

// parseLegacyIPv4 parses inet_aton's IPv4 forms: one to four dot-separated
// numbers, each decimal, octal (leading 0) or hex (0x), the last filling the
// bytes left (127.1 is 127.0.0.1, 2130706433 is 127.0.0.1).
func parseLegacyIPv4(name string) (netip.Addr, bool) {
	parts := strings.Split(name, ".")
	if len(parts) > 4 {
		return netip.Addr{}, false
	}
	var v uint64
	for i, p := range parts {
		base := 10
		if rest, ok := strings.CutPrefix(strings.ToLower(p), "0x"); ok {
			base, p = 16, rest
			if p == "" {
				p = "0"
			}
		} else if len(p) > 1 && p[0] == '0' {
			base, p = 8, p[1:]
		}
		n, err := strconv.ParseUint(p, base, 32)
		if err != nil {
			return netip.Addr{}, false
		}
		if i < len(parts)-1 {
			if n > 255 {
				return netip.Addr{}, false
			}
			v |= n << (8 * (3 - i))
			continue
		}
		if n >= 1<<(8*(4-i)) {
			return netip.Addr{}, false
		}
		v |= n
	}
	return netip.AddrFrom4([4]byte{byte(v >> 24), byte(v >> 16), byte(v >> 8), byte(v)}), true
}
