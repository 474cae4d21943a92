package config_test

import (
	"io"
	"strings"
	"testing"
	"time"

	"github.com/minivoice/minivoice/internal/config"
)

// TestParseServeSIPEdge: the SIP edge flags and their MINIVOICE_* variables,
// their defaults (a minute at most for an idle or half-sent connection), and
// the values refused.
func TestParseServeSIPEdge(t *testing.T) {
	c, err := config.ParseServe(nil, noEnv, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	want := config.SIPEdge{IdleTimeout: time.Minute, HeaderTimeout: 20 * time.Second, MaxConnsPerSource: 100}
	if c.Edge != want {
		t.Errorf("defaults %+v, want %+v", c.Edge, want)
	}
	c, err = config.ParseServe([]string{"--sip-drop-unknown", "--sip-idle-timeout", "30s", "--sip-max-conns", "500"},
		env(map[string]string{"MINIVOICE_SIP_HEADER_TIMEOUT": "5s", "MINIVOICE_SIP_MAX_CONNS_PER_SOURCE": "8",
			"MINIVOICE_SIP_IDLE_TIMEOUT": "1h"}), io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	want = config.SIPEdge{DropUnknown: true, IdleTimeout: 30 * time.Second, HeaderTimeout: 5 * time.Second, MaxConnsPerSource: 8, MaxConns: 500}
	if c.Edge != want {
		t.Errorf("got %+v, want %+v", c.Edge, want)
	}
	c, err = config.ParseServe(nil, env(map[string]string{"MINIVOICE_SIP_DROP_UNKNOWN": "true"}), io.Discard)
	if err != nil || !c.Edge.DropUnknown {
		t.Fatalf("MINIVOICE_SIP_DROP_UNKNOWN=true: %+v %v", c, err)
	}
	for _, args := range [][]string{
		{"--sip-idle-timeout", "0s"},
		{"--sip-header-timeout", "-1s"},
		{"--sip-max-conns-per-source", "0"},
		{"--sip-max-conns", "-1"},
		{"--sip-idle-timeout", "soon"},
	} {
		_, err := config.ParseServe(args, noEnv, io.Discard)
		if err == nil || !strings.Contains(err.Error(), strings.TrimPrefix(args[0], "-")) {
			t.Errorf("%v: %v", args, err)
		}
	}
}

// TestParseServeSIPTrustedProxies: --sip-trusted-proxies and its variable
// take CIDRs or bare addresses; none by default; garbage is refused naming
// the flag.
func TestParseServeSIPTrustedProxies(t *testing.T) {
	c, err := config.ParseServe(nil, noEnv, io.Discard)
	if err != nil || len(c.SIPTrustedProxies) != 0 {
		t.Fatalf("default: %v %v, want none", c.SIPTrustedProxies, err)
	}
	c, err = config.ParseServe([]string{"--sip-trusted-proxies", "10.0.0.0/24, 192.0.2.7"}, noEnv, io.Discard)
	if err != nil || len(c.SIPTrustedProxies) != 2 || c.SIPTrustedProxies[0].String() != "10.0.0.0/24" ||
		c.SIPTrustedProxies[1].String() != "192.0.2.7/32" {
		t.Fatalf("flag: %v %v", c.SIPTrustedProxies, err)
	}
	c, err = config.ParseServe(nil, env(map[string]string{"MINIVOICE_SIP_TRUSTED_PROXIES": "2001:db8::/64"}), io.Discard)
	if err != nil || len(c.SIPTrustedProxies) != 1 || c.SIPTrustedProxies[0].String() != "2001:db8::/64" {
		t.Fatalf("variable: %v %v", c.SIPTrustedProxies, err)
	}
	if _, err := config.ParseServe([]string{"--sip-trusted-proxies", "kamailio.local"}, noEnv, io.Discard); err == nil ||
		!strings.Contains(err.Error(), "--sip-trusted-proxies") {
		t.Errorf("a host name: %v, want an error naming --sip-trusted-proxies", err)
	}
}
