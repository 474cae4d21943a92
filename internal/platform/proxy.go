package platform

import (
	"crypto/tls"
	"net"
	"net/http"
	"net/netip"
	"strings"
)

// trustProxies makes requests that come through a reverse proxy look as
// they did at the proxy, but only for proxies the operator named
// (--trusted-proxies): from such a peer, the client address is taken from
// X-Forwarded-For (the rightmost address that is not itself a trusted
// proxy) and X-Forwarded-Proto: https marks the request as received over
// TLS, so the console's cookies get Secure. From any other peer both
// headers are ignored: anyone can send them. Without trusted proxies the
// handler is returned unchanged.
func trustProxies(h http.Handler, trusted []netip.Prefix) http.Handler {
	if len(trusted) == 0 {
		return h
	}
	isTrusted := func(a netip.Addr) bool {
		for _, p := range trusted {
			if p.Contains(a.Unmap()) {
				return true
			}
		}
		return false
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		peer, err := netip.ParseAddrPort(r.RemoteAddr)
		if err != nil || !isTrusted(peer.Addr()) {
			h.ServeHTTP(w, r)
			return
		}
		r2 := r.Clone(r.Context())
		if client, ok := forwardedFor(r.Header.Values("X-Forwarded-For"), isTrusted); ok {
			r2.RemoteAddr = net.JoinHostPort(client.String(), "0")
		}
		if r2.TLS == nil && strings.EqualFold(strings.TrimSpace(r.Header.Get("X-Forwarded-Proto")), "https") {
			// Only whether the client's connection was TLS is known; the
			// handlers look at nothing else in it.
			r2.TLS = &tls.ConnectionState{HandshakeComplete: true}
		}
		h.ServeHTTP(w, r2)
	})
}

// forwardedFor is the client address in X-Forwarded-For: walking from the
// right (the entry the nearest proxy added), the first address that is not
// a trusted proxy. Entries further left were written by the client or by
// proxies nobody vouches for.
func forwardedFor(values []string, isTrusted func(netip.Addr) bool) (netip.Addr, bool) {
	var hops []string
	for _, v := range values {
		hops = append(hops, strings.Split(v, ",")...)
	}
	for i := len(hops) - 1; i >= 0; i-- {
		a, err := netip.ParseAddr(strings.TrimSpace(hops[i]))
		if err != nil {
			return netip.Addr{}, false // garbage: trust nothing further left
		}
		a = a.Unmap()
		if !isTrusted(a) {
			return a, true
		}
	}
	return netip.Addr{}, false
}
