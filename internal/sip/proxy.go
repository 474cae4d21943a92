package sip

import (
	"fmt"
	"net/netip"
	"strings"

	sipmsg "github.com/emiago/sipgo/sip"
)

// SourceHeader carries the address (ip:port, [ipv6]:port) a SIP proxy in
// front of the nodes received a request from. The shipped Kamailio
// configuration (deploy/kamailio) removes any the caller sent and sets it
// from the packet's source. A node believes it only from the proxies in
// Config.TrustedProxies: from anywhere else it is a caller's claim and
// ignored.
const SourceHeader = "X-MiniVoice-Source"

// callerSource is where a request really comes from, for trunk ACLs and
// the edge's screen.
func (e *Engine) callerSource(req *sipmsg.Request) (netip.AddrPort, error) {
	return callerSource(req, e.trustedProxies)
}

// sourceText is the caller's address as logs and the refusals log show it:
// behind a trusted proxy the caller's, not the proxy's.
func (e *Engine) sourceText(req *sipmsg.Request) string {
	if src, err := e.callerSource(req); err == nil {
		return src.String()
	}
	return req.Source()
}

// callerSource is the request's packet source, unless that is a trusted
// proxy: then the address the proxy wrote in SourceHeader. A trusted
// proxy's request without exactly one well-formed SourceHeader (its own
// health check, or a proxy set up without the header) keeps the proxy's
// address, which no trunk should list: the call is refused, never
// attributed to a caller by guess.
func callerSource(req *sipmsg.Request, trusted []netip.Prefix) (netip.AddrPort, error) {
	pkt, err := netip.ParseAddrPort(req.Source())
	if err != nil {
		return netip.AddrPort{}, fmt.Errorf("packet source %q: %w", req.Source(), err)
	}
	pkt = netip.AddrPortFrom(pkt.Addr().Unmap(), pkt.Port())
	if !trustedProxy(pkt.Addr(), trusted) {
		return pkt, nil
	}
	hs := req.GetHeaders(SourceHeader)
	if len(hs) != 1 {
		return pkt, nil
	}
	src, ok := parseSource(hs[0].Value())
	if !ok {
		return pkt, nil
	}
	return src, nil
}

// parseSource reads a SourceHeader value: ip:port, [ipv6]:port, or a bare
// address (port 0).
func parseSource(v string) (netip.AddrPort, bool) {
	v = strings.TrimSpace(v)
	if ap, err := netip.ParseAddrPort(v); err == nil {
		return netip.AddrPortFrom(ap.Addr().Unmap(), ap.Port()), true
	}
	if a, err := netip.ParseAddr(strings.TrimSuffix(strings.TrimPrefix(v, "["), "]")); err == nil && a.Zone() == "" {
		return netip.AddrPortFrom(a.Unmap(), 0), true
	}
	return netip.AddrPort{}, false
}

// trustedProxy reports whether addr is in one of the trusted prefixes.
func trustedProxy(addr netip.Addr, trusted []netip.Prefix) bool {
	for _, p := range trusted {
		if p.Contains(addr) {
			return true
		}
	}
	return false
}
