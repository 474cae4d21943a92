package sip

import (
	"context"
	"crypto/tls"
	"sync/atomic"
	"testing"
	"time"

	"github.com/minivoice/minivoice/internal/certs"
	"github.com/minivoice/minivoice/internal/certs/certstest"
)

// TestTLSListenerReadiness: an engine with a TLS listener serves its
// certificate on it and reports sip_tls ready; once its clock passes the
// certificate's expiry, sip_tls and Ready say so; Close stops the listener.
// Without a certificate New refuses the TLS listener.
func TestTLSListenerReadiness(t *testing.T) {
	dir := t.TempDir()
	ca := certstest.NewCA(t, dir, "engine")
	leaf := ca.Issue(t, dir, "engine", time.Time{}, time.Time{}, "127.0.0.1")
	r, err := certs.Load(leaf.CertFile, leaf.KeyFile)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := New(Config{Listen: "127.0.0.1:0", TLSListen: "127.0.0.1:0"}); err == nil {
		t.Fatal("a TLS listener without a certificate was accepted")
	}
	var now atomic.Pointer[time.Time]
	start := time.Now()
	now.Store(&start)
	e, err := New(Config{Listen: "127.0.0.1:0", TLSListen: "127.0.0.1:0", TLSCert: r, Now: func() time.Time { return *now.Load() }})
	if err != nil {
		t.Fatal(err)
	}
	e.Serve()
	c, err := tls.Dial("tcp", e.TLSAddr().String(), &tls.Config{RootCAs: ca.Pool(), ServerName: "127.0.0.1"})
	if err != nil {
		t.Fatalf("TLS to the listener: %v", err)
	}
	if !c.ConnectionState().PeerCertificates[0].Equal(leaf.Cert) {
		t.Error("the listener serves another certificate")
	}
	c.Close()
	check := e.Listeners()["sip_tls"]
	if check == nil {
		t.Fatal("no sip_tls listener state")
	}
	if err := check(context.Background()); err != nil {
		t.Errorf("sip_tls: %v", err)
	}
	later := leaf.Cert.NotAfter.Add(time.Minute)
	now.Store(&later)
	if err := check(context.Background()); err == nil {
		t.Error("sip_tls ready with an expired certificate")
	}
	if err := e.Ready(context.Background()); err == nil {
		t.Error("engine ready with an expired TLS certificate")
	}
	if err := e.Close(); err != nil {
		t.Errorf("close: %v", err)
	}
	if _, err := tls.Dial("tcp", e.TLSAddr().String(), &tls.Config{RootCAs: ca.Pool(), ServerName: "127.0.0.1"}); err == nil {
		t.Error("the TLS listener still answers after Close")
	}
}
