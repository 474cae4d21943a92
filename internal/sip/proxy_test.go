package sip

import (
	"errors"
	"net/netip"
	"testing"

	sipmsg "github.com/emiago/sipgo/sip"
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
