package sip

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"strings"
	"testing"
	"time"

	sipmsg "github.com/emiago/sipgo/sip"
	"github.com/minivoice/minivoice/internal/store/storetest"
	"github.com/minivoice/minivoice/internal/voice"
)

func requestFrom(method sipmsg.RequestMethod, src string, sourceHeaders ...string) *sipmsg.Request {
	req := sipmsg.NewRequest(method, sipmsg.Uri{User: "15550100", Host: "127.0.0.1", Port: 5060})
	req.SetSource(src)
	for _, v := range sourceHeaders {
		req.AppendHeader(sipmsg.NewHeader(SourceHeader, v))
	}
	return req
}

// The header names the caller only when the packet came from a trusted
// proxy; from anyone else (the caller forging it) it is ignored, and a
// trusted proxy's request without exactly one well-formed header keeps the
// proxy's own address, which no trunk lists.
func TestCallerSource(t *testing.T) {
	t.Parallel()
	trusted := []netip.Prefix{netip.MustParsePrefix("10.0.0.0/24"), netip.MustParsePrefix("2001:db8::5/128")}
	for _, tc := range []struct {
		name    string
		src     string
		headers []string
		want    string
	}{
		{"proxy with the caller's address", "10.0.0.2:5060", []string{"198.51.100.7:5062"}, "198.51.100.7:5062"},
		{"proxy, header with spaces", "10.0.0.2:5060", []string{"  198.51.100.7:5062 "}, "198.51.100.7:5062"},
		{"proxy over IPv6, caller over IPv6", "[2001:db8::5]:5060", []string{"[2001:db8::99]:5070"}, "[2001:db8::99]:5070"},
		{"proxy, IPv4-mapped caller", "10.0.0.2:5060", []string{"[::ffff:198.51.100.7]:5062"}, "198.51.100.7:5062"},
		{"proxy, bare address", "10.0.0.2:5060", []string{"198.51.100.7"}, "198.51.100.7:0"},
		{"proxy, bare IPv6 in brackets", "10.0.0.2:5060", []string{"[2001:db8::99]"}, "[2001:db8::99]:0"},
		{"proxy without the header (its own request)", "10.0.0.2:5060", nil, "10.0.0.2:5060"},
		{"proxy, two headers (one forged, not removed)", "10.0.0.2:5060", []string{"203.0.113.1:5060", "198.51.100.7:5062"}, "10.0.0.2:5060"},
		{"proxy, garbage header", "10.0.0.2:5060", []string{"carrier.example.com:5060"}, "10.0.0.2:5060"},
		{"proxy, zoned address", "10.0.0.2:5060", []string{"fe80::1%eth0"}, "10.0.0.2:5060"},
		{"caller forging the header", "203.0.113.9:5060", []string{"198.51.100.7:5062"}, "203.0.113.9:5060"},
		{"untrusted neighbour of the proxy", "10.0.1.2:5060", []string{"198.51.100.7:5062"}, "10.0.1.2:5060"},
		{"IPv4-mapped packet source from the proxy", "[::ffff:10.0.0.2]:5060", []string{"198.51.100.7:5062"}, "198.51.100.7:5062"},
	} {
		got, err := callerSource(requestFrom(sipmsg.INVITE, tc.src, tc.headers...), trusted)
		if err != nil || got.String() != tc.want {
			t.Errorf("%s: %v %v, want %s", tc.name, got, err, tc.want)
		}
	}
	// No trusted proxies (the default): the header never counts.
	got, err := callerSource(requestFrom(sipmsg.INVITE, "10.0.0.2:5060", "198.51.100.7:5062"), nil)
	if err != nil || got.String() != "10.0.0.2:5060" {
		t.Errorf("no trusted proxies: %v %v, want the packet's source", got, err)
	}
	if _, err := callerSource(requestFrom(sipmsg.INVITE, "not an address"), trusted); err == nil {
		t.Error("an unparseable packet source: no error")
	}
}

// A node that takes calls answers OPTIONS 200 with what it accepts; one
// that drains (or has a listener down) answers 503 with Retry-After, which
// takes it out of the proxy's rotation.
func TestOptionsResponse(t *testing.T) {
	t.Parallel()
	req := requestFrom(sipmsg.OPTIONS, "10.0.0.2:5060")
	req.AppendHeader(sipmsg.NewHeader("Via", "SIP/2.0/UDP 10.0.0.2:5060;branch=z9hG4bK-ping"))
	res := optionsResponse(req, nil, []string{"INVITE", "ACK", "BYE", "OPTIONS"})
	if res.StatusCode != 200 {
		t.Fatalf("ready: %d, want 200", res.StatusCode)
	}
	if h := res.GetHeader("Allow"); h == nil || h.Value() != "INVITE, ACK, BYE, OPTIONS" {
		t.Errorf("ready: Allow %v", h)
	}
	if res.GetHeader("Retry-After") != nil {
		t.Error("ready: Retry-After set")
	}
	res = optionsResponse(req, errors.New("draining"), []string{"INVITE"})
	if res.StatusCode != 503 || res.Reason != "Service Unavailable" {
		t.Fatalf("draining: %d %s, want 503", res.StatusCode, res.Reason)
	}
	if h := res.GetHeader("Retry-After"); h == nil || h.Value() != drainRetryAfter {
		t.Errorf("draining: Retry-After %v", h)
	}
	if h := res.GetHeader("Via"); h == nil || h.Value() != "SIP/2.0/UDP 10.0.0.2:5060;branch=z9hG4bK-ping" {
		t.Errorf("draining: Via %v, want the request's", h)
	}
}

// proxyEngine runs an engine on loopback whose only inbound trunk allows
// the caller 127.0.0.2 and which trusts the proxy 127.0.0.3.
func proxyEngine(t *testing.T) (*Engine, net.Addr) {
	t.Helper()
	db := storetest.Open(t, "sqlite", nil)
	now := time.Now().UTC().Truncate(time.Millisecond)
	trunk := &voice.Trunk{ID: voice.NewID(voice.PrefixTrunk, now), Name: "callers", Direction: voice.DirectionInbound,
		Host: "127.0.0.2", Port: 5060, Transport: "udp", SRTP: "off", AllowedCIDRs: []string{"127.0.0.2/32"},
		Status: voice.TrunkActive, CreatedAt: now, UpdatedAt: now}
	if err := db.CreateTrunk(context.Background(), trunk); err != nil {
		t.Fatalf("create trunk: %v", err)
	}
	e, err := New(Config{Listen: "127.0.0.1:0", Store: db, TrustedProxies: []netip.Prefix{netip.MustParsePrefix("127.0.0.3/32")}})
	if err != nil {
		t.Fatalf("engine: %v", err)
	}
	e.Serve()
	t.Cleanup(func() {
		if err := e.Close(); err != nil {
			t.Errorf("close engine: %v", err)
		}
	})
	return e, net.UDPAddrFromAddrPort(e.Addr())
}

// udpFrom opens a UDP socket on ip (any port) for the test's requests.
func udpFrom(t *testing.T, ip string) net.PacketConn {
	t.Helper()
	c, err := net.ListenPacket("udp4", net.JoinHostPort(ip, "0"))
	if err != nil {
		t.Fatalf("listen on %s: %v", ip, err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// proxyRequest is a request as a proxy or caller at conn sends it, with
// extra header lines.
func proxyRequest(method string, conn net.PacketConn, engine net.Addr, callID string, extra ...string) []byte {
	local := conn.LocalAddr().(*net.UDPAddr)
	var b strings.Builder
	fmt.Fprintf(&b, "%s sip:+15550001111@%s SIP/2.0\r\nVia: SIP/2.0/UDP %s;branch=z9hG4bK-%s;rport\r\n", method, engine, local, callID)
	fmt.Fprintf(&b, "Max-Forwards: 70\r\nFrom: <sip:caller@127.0.0.2>;tag=c1\r\nTo: <sip:+15550001111@%s>\r\n", engine)
	fmt.Fprintf(&b, "Call-ID: %s\r\nCSeq: 1 %s\r\nContact: <sip:caller@%s>\r\n", callID, method, local)
	for _, h := range extra {
		b.WriteString(h + "\r\n")
	}
	b.WriteString("Content-Length: 0\r\n\r\n")
	return []byte(b.String())
}

// exchange sends msg from conn and reads the final answer, acknowledging
// it when it ends an INVITE transaction.
func exchange(t *testing.T, conn net.PacketConn, engine net.Addr, msg []byte) answer {
	t.Helper()
	send := func(m []byte) error { _, err := conn.WriteTo(m, engine); return err }
	if err := send(msg); err != nil {
		t.Fatalf("send: %v", err)
	}
	res := readAnswer(t, conn, rawCallID(msg))
	ackFinal(t, send, msg, res)
	return res
}

// Behind a trusted proxy, an INVITE is judged by the caller's address the
// proxy names: the trunk that lists the caller claims it (then the DID,
// unknown here, is refused 404), while the same INVITE without the header,
// or with the header from an address that is not a trusted proxy, is the
// edge's stranger (403).
func TestTrustedProxySourceOverSIP(t *testing.T) {
	t.Parallel()
	_, addr := proxyEngine(t)
	proxy, stranger := udpFrom(t, "127.0.0.3"), udpFrom(t, "127.0.0.4")
	for _, tc := range []struct {
		name string
		conn net.PacketConn
		hdr  []string
		want int
	}{
		{"proxy naming the caller", proxy, []string{SourceHeader + ": 127.0.0.2:5062"}, 404},
		{"proxy without the header", proxy, nil, 403},
		{"proxy naming a caller no trunk lists", proxy, []string{SourceHeader + ": 127.0.0.9:5060"}, 403},
		{"stranger claiming the caller's address", stranger, []string{SourceHeader + ": 127.0.0.2:5062"}, 403},
	} {
		callID := "proxy-" + strings.ReplaceAll(tc.name, " ", "-")
		if res := exchange(t, tc.conn, addr, proxyRequest("INVITE", tc.conn, addr, callID, tc.hdr...)); res.code != tc.want {
			t.Errorf("%s: %d %s, want %d", tc.name, res.code, res.reason, tc.want)
		}
	}
}

// OPTIONS, the proxy's health check, is answered 200 even from an address
// no trunk lists, and 503 with Retry-After once the engine drains.
func TestOptionsHealthCheckOverSIP(t *testing.T) {
	t.Parallel()
	e, addr := proxyEngine(t)
	proxy := udpFrom(t, "127.0.0.3")
	if res := exchange(t, proxy, addr, proxyRequest("OPTIONS", proxy, addr, "ping-1")); res.code != 200 || !res.has("Allow: INVITE") {
		t.Fatalf("ready: %d %s %q, want 200 with Allow", res.code, res.reason, res.raw)
	}
	e.Drain(context.Background()) // no live calls: returns at once, draining
	res := exchange(t, proxy, addr, proxyRequest("OPTIONS", proxy, addr, "ping-2"))
	if res.code != 503 || !res.has("Retry-After: "+drainRetryAfter) {
		t.Fatalf("draining: %d %s %q, want 503 with Retry-After", res.code, res.reason, res.raw)
	}
}
