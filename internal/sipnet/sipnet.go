// Package sipnet binds the sockets a SIP user agent listens on: UDP and TCP
// on one port, as SIP expects (RFC 3261 18: a port serves both transports).
// The platform's engine and the network simulator both use it.
package sipnet

import (
	"fmt"
	"net"
	"net/netip"
	"strconv"
)

// Listen binds UDP and TCP on addr's port. With port 0 it picks a port free
// for both, retrying when TCP finds the UDP port's twin taken.
func Listen(addr string) (net.PacketConn, net.Listener, netip.AddrPort, error) {
	host, portText, err := net.SplitHostPort(addr)
	if err != nil {
		return nil, nil, netip.AddrPort{}, fmt.Errorf("listen %q: %w", addr, err)
	}
	port, err := strconv.Atoi(portText)
	if err != nil || port < 0 || port > 65535 {
		return nil, nil, netip.AddrPort{}, fmt.Errorf("listen %q: bad port", addr)
	}
	var lastErr error
	for try := 0; try < 20; try++ {
		udp, err := net.ListenPacket("udp", net.JoinHostPort(host, strconv.Itoa(port)))
		if err != nil {
			return nil, nil, netip.AddrPort{}, fmt.Errorf("listen udp %s: %w", addr, err)
		}
		bound := udp.LocalAddr().(*net.UDPAddr)
		tcp, err := net.Listen("tcp", net.JoinHostPort(host, strconv.Itoa(bound.Port)))
		if err != nil {
			_ = udp.Close()
			lastErr = err
			if port != 0 {
				return nil, nil, netip.AddrPort{}, fmt.Errorf("listen tcp %s: %w", addr, err)
			}
			continue
		}
		ap := bound.AddrPort()
		return udp, tcp, netip.AddrPortFrom(ap.Addr().Unmap(), ap.Port()), nil
	}
	return nil, nil, netip.AddrPort{}, fmt.Errorf("listen %s: no port free for both UDP and TCP: %w", addr, lastErr)
}
