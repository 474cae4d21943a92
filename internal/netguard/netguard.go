// Package netguard is the SSRF guard: it decides which addresses the platform
// may fetch URLs from. Customers give answer, action, fallback, webhook and
// play URLs; without the guard they could point them at the operator's
// internal network or a cloud metadata service.
package netguard

import (
	"fmt"
	"net/netip"
	"net/url"
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
	"::/128",         // unspecified
	"::1/128",        // loopback
	"fc00::/7",       // unique local
	"fe80::/10",      // link-local
	"ff00::/8",       // multicast
	"64:ff9b::/96",   // NAT64 can reach any IPv4 address, private ones included
)

func mustPrefixes(ss ...string) []netip.Prefix {
	out := make([]netip.Prefix, len(ss))
	for i, s := range ss {
		out[i] = netip.MustParsePrefix(s)
	}
	return out
}

// Allowed reports whether the platform may connect to addr: it is outside the
// blocked ranges or inside one the operator allowed.
func Allowed(addr netip.Addr, allow []netip.Prefix) bool {
	addr = addr.Unmap()
	for _, p := range allow {
		if p.Contains(addr) {
			return true
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
// credentials, and, when the host is a literal IP, an allowed one. Host names
// are checked again at every fetch, after resolution, by the dialer.
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
	host := strings.Trim(u.Hostname(), "[]")
	if i := strings.IndexByte(host, '%'); i >= 0 {
		return fmt.Errorf("must not carry an IPv6 zone")
	}
	if addr, err := netip.ParseAddr(host); err == nil && !Allowed(addr, allow) {
		return fmt.Errorf("points to a private or reserved address (%s)", addr)
	}
	if strings.EqualFold(host, "localhost") || strings.HasSuffix(strings.ToLower(host), ".localhost") {
		if !Allowed(netip.MustParseAddr("127.0.0.1"), allow) {
			return fmt.Errorf("points to localhost")
		}
	}
	return nil
}
