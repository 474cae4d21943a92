package sip

// SIP over TLS (RFC 3261 26.2, RFC 5630): the TLS listener, the TLS client
// used to dial trunks with transport tls, and the diago transports that give
// every call its Contact and media settings (docs/tls.md).

import (
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"time"

	"github.com/emiago/diago"
	"github.com/minivoice/minivoice/internal/certs"
	"github.com/minivoice/minivoice/internal/sipnet"
	"github.com/minivoice/minivoice/internal/voice"
)

// tlsListener is the SIP TLS listener: the TCP socket, TLS over it, and
// the stream bounds (idle and header timeouts, connection caps) over that.
type tlsListener struct {
	ln    *sipnet.StreamListener
	addr  netip.AddrPort
	conf  *tls.Config
	cert  *certs.Reloader
	state *listenerState
}

// listenTLS binds the SIP TLS listener when cfg asks for one. The stream
// bounds wrap the TLS connections, so they see SIP messages rather than
// ciphertext, and the header timeout covers the handshake, which runs on a
// connection's first read in its own goroutine: a slow or silent client
// never holds up accept.
func (e *Engine) listenTLS(cfg Config, stream sipnet.StreamConfig) error {
	if cfg.TLSListen == "" {
		return nil
	}
	if cfg.TLSCert == nil {
		return errors.New("sip tls: a certificate and key are needed (--sip-tls-cert, --sip-tls-key)")
	}
	raw, err := net.Listen("tcp", cfg.TLSListen)
	if err != nil {
		return fmt.Errorf("sip tls listen %s: %w", cfg.TLSListen, err)
	}
	ap := raw.Addr().(*net.TCPAddr).AddrPort()
	conf := cfg.TLSCert.ServerConfig()
	t := &tlsListener{ln: sipnet.NewStreamListener(tls.NewListener(raw, conf), stream), conf: conf, cert: cfg.TLSCert,
		addr: netip.AddrPortFrom(ap.Addr().Unmap(), ap.Port())}
	t.state = e.addListener("sip_tls", func() error {
		if err := t.ln.Err(); err != nil {
			return err
		}
		// No client accepts an expired certificate; a renewed one is
		// picked up by SIGHUP.
		if na := t.cert.NotAfter(); !na.IsZero() && e.now().After(na) {
			return fmt.Errorf("certificate expired at %s", na.UTC().Format(time.RFC3339))
		}
		return nil
	})
	e.tls = t
	return nil
}

// TLSAddr is the bound SIP TLS address; invalid without a TLS listener.
func (e *Engine) TLSAddr() netip.AddrPort {
	if e.tls == nil {
		return netip.AddrPort{}
	}
	return e.tls.addr
}

// serveTLS answers SIP over TLS until Close.
func (e *Engine) serveTLS() {
	if e.tls == nil {
		return
	}
	go func() {
		// The stream listener retries failed accepts itself; ServeTLS
		// returns (always with an error) once the listener is closed.
		err := e.server.ServeTLS(e.tls.ln)
		e.tls.state.stopped.Store(err)
		if !errors.Is(err, net.ErrClosed) {
			e.log.Error("sip tls stopped", slog.Any("error", err))
		}
	}()
}

func (e *Engine) closeTLS() {
	if e.tls != nil {
		e.tls.ln.Close()
	}
}

// clientTLSConfig is the TLS client configuration for trunks with
// transport tls: the carrier's certificate must chain to roots (the
// system's plus the operator's CA file) and name the trunk's host (sipgo
// sets ServerName to it per connection). There is no way to skip the check.
func clientTLSConfig(cfg Config) *tls.Config {
	return &tls.Config{RootCAs: cfg.TrunkRoots, MinVersion: certs.MinVersion}
}

// Diago transport IDs. Each network has two: one whose calls offer SRTP
// (SDES) and one whose calls offer plain RTP. The SRTP one comes first
// because diago gives an inbound INVITE the first transport of its network:
// with SDES enabled it answers SRTP when the caller offers it and plain RTP
// otherwise. Outbound calls pick one by ID from the trunk's srtp setting.
func transportID(network string, srtp bool) string {
	if srtp {
		return network + "+sdes"
	}
	return network
}

// diagoTransports are the diago transports for the UDP and TCP listeners on
// port and, with a TLS listener, for it.
func (e *Engine) diagoTransports(host, public string, port int) []diago.DiagoOption {
	var opts []diago.DiagoOption
	add := func(network string, port int, conf *tls.Config) {
		for _, srtp := range []bool{true, false} {
			t := diago.Transport{ID: transportID(network, srtp), Transport: network, BindHost: host, BindPort: port,
				ExternalHost: public, ExternalPort: port, TLSConf: conf, TLSURINoSIPS: public == host}
			if srtp {
				t.MediaSRTP = 1
			}
			if ip := net.ParseIP(public); ip != nil {
				t.MediaExternalIP = ip
			}
			opts = append(opts, diago.WithTransport(t))
		}
	}
	add("udp", port, nil)
	add("tcp", port, nil)
	if e.tls != nil {
		// The Contact of a TLS call must make in-dialog requests come back
		// over TLS. diago writes sip:...;transport=tls when the public
		// address is the bound one, which every peer understands (baresip
		// 1.0 cannot route to a sips: URI at all); when they differ it
		// leaves ;transport out, so then the Contact is a sips: URI
		// (RFC 5630), which means TLS by itself.
		add("tls", int(e.tls.addr.Port()), e.tls.conf)
	}
	return opts
}

// trunkTransport is the diago transport an outbound call through t uses,
// or why it cannot be dialled.
func (e *Engine) trunkTransport(t *voice.Trunk, srtp bool) (string, error) {
	if t.Transport == "tls" && e.tls == nil {
		// The Contact of a TLS call must name a port that answers TLS.
		return "", errors.New("uses transport tls, which needs this server's SIP TLS listener (--sip-tls)")
	}
	return transportID(t.Transport, srtp), nil
}
