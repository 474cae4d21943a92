package netguard

import (
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"syscall"
	"time"
)

// ErrNotAllowed is returned (wrapped) when a URL resolves to a refused address.
var ErrNotAllowed = errors.New("url_not_allowed")

// ClientConfig configures NewClient.
type ClientConfig struct {
	// Allow lists ranges that may be reached although private.
	Allow []netip.Prefix
	// ConnectTimeout bounds the TCP (and TLS) connect; default 3 s.
	ConnectTimeout time.Duration
	// Timeout bounds the whole request including the body; default 5 s.
	Timeout time.Duration
}

// NewClient returns an HTTP client for customer URLs. The address check runs in
// the dialer's Control hook, after resolution and for the exact address being
// connected to, so a DNS answer that changes between check and connect (DNS
// rebinding) cannot slip through. Redirects are not followed: a redirect to
// an internal address would otherwise bypass the check's intent, and
// webhooks.md says so.
func NewClient(cfg ClientConfig) *http.Client {
	if cfg.ConnectTimeout == 0 {
		cfg.ConnectTimeout = 3 * time.Second
	}
	if cfg.Timeout == 0 {
		cfg.Timeout = 5 * time.Second
	}
	dialer := &net.Dialer{
		Timeout: cfg.ConnectTimeout,
		Control: func(network, address string, _ syscall.RawConn) error {
			ap, err := netip.ParseAddrPort(address)
			if err != nil {
				return fmt.Errorf("%w: cannot parse %s", ErrNotAllowed, address)
			}
			if !Allowed(ap.Addr(), cfg.Allow) {
				return fmt.Errorf("%w: %s is a private or reserved address", ErrNotAllowed, ap.Addr())
			}
			return nil
		},
	}
	transport := &http.Transport{
		Proxy:                 nil, // never through a proxy: it would connect for us, unchecked
		DialContext:           dialer.DialContext,
		TLSHandshakeTimeout:   cfg.ConnectTimeout,
		ResponseHeaderTimeout: cfg.Timeout,
		MaxIdleConns:          100,
		MaxIdleConnsPerHost:   4,
		IdleConnTimeout:       90 * time.Second,
		ForceAttemptHTTP2:     true,
	}
	return &http.Client{
		Transport: transport,
		Timeout:   cfg.Timeout,
		CheckRedirect: func(*http.Request, []*http.Request) error {
			return http.ErrUseLastResponse
		},
	}
}

// IsNotAllowed reports whether err came from the guard refusing an address.
func IsNotAllowed(err error) bool { return errors.Is(err, ErrNotAllowed) }
