package sip

import (
	"context"
	"errors"
	"net"
	"syscall"
	"time"

	sipmsg "github.com/emiago/sipgo/sip"
)

// dialAllowed marks the contexts the engine's own work runs under (every
// call derives from Engine.ctx). Only those may open a new SIP stream
// connection.
type dialAllowed struct{}

// errStreamDialRefused is what a refused connection attempt fails with.
var errStreamDialRefused = errors.New("a new SIP connection was not opened: only the engine's own requests open connections")

// guardedStreamTransports returns the TCP and TLS transports with a dialer
// that opens a connection only for the engine's own requests (an outbound
// INVITE to a trunk, a BYE to a caller's Contact), never for a response.
//
// Why: when a request's TCP or TLS connection has closed before its server
// transaction is created, sipgo sends the response to the host and port of
// the request's top Via, opening a new connection there (RFC 3261 18.2.2
// allows it). The Via is whatever the sender wrote, so anyone could make the
// platform connect to an address of their choosing, inside the operator's
// network too, by sending an INVITE and closing at once. RFC 3261 says a
// response on a reliable transport goes over the request's connection; with
// that connection gone, the response is not sent, which is what a peer that
// closed it can expect.
//
// sipgo creates those response connections under a context of its own,
// while the engine's requests carry a context derived from Engine.ctx; the
// dialer's ControlContext tells them apart just before connect(2).
func guardedStreamTransports() sipmsg.TransportsConfig {
	dialer := func(laddr net.Addr) net.Dialer {
		return net.Dialer{Timeout: time.Minute, LocalAddr: laddr,
			ControlContext: func(ctx context.Context, _, _ string, _ syscall.RawConn) error {
				if ctx.Value(dialAllowed{}) == nil {
					return errStreamDialRefused
				}
				return nil
			}}
	}
	return sipmsg.TransportsConfig{
		TCP: &sipmsg.TransportTCP{DialerCreate: dialer},
		TLS: &sipmsg.TransportTLS{TransportTCP: &sipmsg.TransportTCP{DialerCreate: dialer}},
	}
}
