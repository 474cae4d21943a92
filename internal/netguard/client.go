package netguard

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"syscall"
	"time"

	"github.com/minivoice/minivoice/internal/publicmsg"
)

// ErrNotAllowed is returned (wrapped) when a URL resolves to a refused address.
var ErrNotAllowed = errors.New("url_not_allowed")

// RefusedText is what customers are told when the guard refuses the address
// a URL resolved to (publicmsg.Text of the error): not the address.
const RefusedText = "the URL resolves to a private or reserved address"

// ClientConfig configures NewClient.
type ClientConfig struct {
	// Allow lists ranges that may be reached although private.
	Allow []netip.Prefix
	// ConnectTimeout bounds the TCP (and TLS) connect; default 3 s.
	ConnectTimeout time.Duration
	// Timeout bounds the whole request including the body; default 5 s.
	Timeout time.Duration
	// Resolver looks host names up; nil is the system's (net.DefaultResolver).
	// Whatever it answers, the address connected to is checked.
	Resolver *net.Resolver
}

// NewClient returns an HTTP client for customer URLs. A host name is resolved
// once per connection attempt, and the address check runs in the dialer's
// Control hook, for the exact address being connected to, so a DNS answer
// that changes between check and connect (DNS rebinding) cannot slip through.
// Hosts that spell an IPv4 address in a non-standard form (0x7f.1, 2130706433)
// are refused before any lookup, as CheckURL refuses them. Redirects are not
// followed: a redirect to an internal address would otherwise bypass the
// check's intent, and webhooks.md says so.
func NewClient(cfg ClientConfig) *http.Client {
	if cfg.ConnectTimeout == 0 {
		cfg.ConnectTimeout = 3 * time.Second
	}
	if cfg.Timeout == 0 {
		cfg.Timeout = 5 * time.Second
	}
	dialer := &net.Dialer{
		Timeout:  cfg.ConnectTimeout,
		Resolver: cfg.Resolver,
		Control: func(_, address string, _ syscall.RawConn) error {
			return checkDial(address, cfg.Allow)
		},
	}
	dial := func(ctx context.Context, network, address string) (net.Conn, error) {
		if host, _, err := net.SplitHostPort(address); err == nil {
			if _, _, err := literalAddr(host); err != nil {
				// The host is the customer's own spelling: naming it is safe.
				return nil, publicmsg.New("the URL "+err.Error(), fmt.Errorf("%w: %s %v", ErrNotAllowed, host, err))
			}
		}
		return dialer.DialContext(ctx, network, address)
	}
	transport := &http.Transport{
		Proxy:                 nil, // never through a proxy: it would connect for us, unchecked
		DialContext:           dial,
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

// checkDial is the dial-time check of the resolved address about to be
// connected to ("ip:port", as the dialer's Control hook gets it).
func checkDial(address string, allow []netip.Prefix) error {
	ap, err := netip.ParseAddrPort(address)
	if err != nil {
		return publicmsg.New(RefusedText, fmt.Errorf("%w: cannot parse %s", ErrNotAllowed, address))
	}
	if !Allowed(ap.Addr(), allow) {
		// The address is the resolver's answer, not what the customer wrote:
		// naming it would map the operator's network, so only the log sees it.
		return publicmsg.New(RefusedText, fmt.Errorf("%w: %s is a private or reserved address", ErrNotAllowed, ap.Addr()))
	}
	return nil
}

// IsNotAllowed reports whether err came from the guard refusing an address.
func IsNotAllowed(err error) bool { return errors.Is(err, ErrNotAllowed) }
