package e2e

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"io"
	"net"
	"os"
	"testing"
	"time"

	"github.com/minivoice/minivoice/internal/config"
)

// TestSIPTLSConnectionBounds: the SIP TLS listener is bounded like SIP over
// TCP. With a 2 s header timeout and 3 connections per source: a
// connection that never starts the handshake, one that stops halfway
// through it, and one that completes it but never sends a SIP message are
// all closed by the header timeout (the handshake counts as the first
// message's time); a fourth connection from the same address is closed at
// once; the listener stays ready throughout.
func TestSIPTLSConnectionBounds(t *testing.T) {
	if testing.Short() {
		t.Skip("waits for timeouts of a few seconds; skipped under -short")
	}
	t.Parallel()
	pki := newTLSPKI(t)
	l := startTLSPlatformEdge(t, "sqlite", config.TLS{SIPCert: pki.platform.CertFile, SIPKey: pki.platform.KeyFile},
		config.SIPEdge{HeaderTimeout: 2 * time.Second, IdleTimeout: 3 * time.Second, MaxConnsPerSource: 3})
	addr := l.p.SIP.TLSAddr().String()
	caPEM, err := os.ReadFile(pki.ca.File)
	if err != nil {
		t.Fatal(err)
	}
	roots := x509.NewCertPool()
	roots.AppendCertsFromPEM(caPEM)

	// closedAfter reads c until the server closes it, failing when it is
	// still open limit after opened, and says how long it was open.
	closedAfter := func(name string, c net.Conn, opened time.Time, limit time.Duration) time.Duration {
		t.Helper()
		_ = c.SetReadDeadline(opened.Add(limit))
		_, err := io.Copy(io.Discard, c)
		var ne net.Error
		if errors.As(err, &ne) && ne.Timeout() {
			t.Errorf("%s: still open after %v", name, limit)
		}
		return time.Since(opened)
	}
	opened := time.Now()
	silent, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer silent.Close()
	half, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer half.Close()
	// The first bytes of a TLS 1.2 ClientHello record, then nothing.
	if _, err := half.Write([]byte{0x16, 0x03, 0x01, 0x01, 0x00, 0x01, 0x00, 0x00, 0xfc, 0x03, 0x03}); err != nil {
		t.Fatal(err)
	}
	idle, err := tls.Dial("tcp", addr, &tls.Config{RootCAs: roots, ServerName: "127.0.0.1"})
	if err != nil {
		t.Fatalf("a proper TLS client: %v", err)
	}
	defer idle.Close()
	// The fourth connection from 127.0.0.1 is over the cap.
	extraOpened := time.Now()
	extra, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer extra.Close()
	if d := closedAfter("over the cap", extra, extraOpened, 5*time.Second); d > time.Second {
		t.Errorf("the connection over the per-source cap stayed %v", d)
	}
	for _, c := range []struct {
		name string
		conn net.Conn
	}{{"no handshake", silent}, {"half a handshake", half}, {"handshake, then no SIP", idle}} {
		d := closedAfter(c.name, c.conn, opened, 15*time.Second)
		t.Logf("%s: closed by the server %v after it was opened", c.name, d.Round(10*time.Millisecond))
	}
	if c := l.do("GET", "/readyz", nil, 200)["checks"].(map[string]any); c["sip_tls"] != "ok" {
		t.Errorf("readyz: %v", c)
	}
}
