package certs_test

import (
	"crypto/tls"
	"crypto/x509"
	"net"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/minivoice/minivoice/internal/certs"
	"github.com/minivoice/minivoice/internal/certs/certstest"
)

// serves reports which certificate a TLS client sees from cfg, over an
// in-memory pipe.
func serves(t *testing.T, cfg *tls.Config, roots *x509.CertPool) *x509.Certificate {
	t.Helper()
	a, b := net.Pipe()
	defer a.Close()
	defer b.Close()
	srv := tls.Server(a, cfg)
	errc := make(chan error, 1)
	go func() { errc <- srv.Handshake() }()
	cli := tls.Client(b, &tls.Config{RootCAs: roots, ServerName: "127.0.0.1"})
	if err := cli.Handshake(); err != nil {
		t.Fatalf("handshake: %v", err)
	}
	if err := <-errc; err != nil {
		t.Fatalf("server handshake: %v", err)
	}
	return cli.ConnectionState().PeerCertificates[0]
}

// TestReloadSwapsAndKeepsOnError: Reload serves a renewed pair to new
// handshakes; a missing file, a key of another certificate, garbage and an
// expired certificate are refused with the old certificate kept.
func TestReloadSwapsAndKeepsOnError(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	ca := certstest.NewCA(t, dir, "test")
	first := ca.Issue(t, dir, "first", time.Time{}, time.Time{}, "127.0.0.1")
	certFile, keyFile := filepath.Join(dir, "sip.pem"), filepath.Join(dir, "sip-key.pem")
	cp := func(l *certstest.Leaf) {
		for src, dst := range map[string]string{l.CertFile: certFile, l.KeyFile: keyFile} {
			b, err := os.ReadFile(src)
			if err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(dst, b, 0o600); err != nil {
				t.Fatal(err)
			}
		}
	}
	cp(first)
	r, err := certs.Load(certFile, keyFile)
	if err != nil {
		t.Fatal(err)
	}
	cfg := r.ServerConfig()
	if cfg.MinVersion != tls.VersionTLS12 {
		t.Errorf("MinVersion %x", cfg.MinVersion)
	}
	if got := serves(t, cfg, ca.Pool()); !got.Equal(first.Cert) {
		t.Fatal("not serving the loaded certificate")
	}
	second := ca.Issue(t, dir, "second", time.Time{}, time.Time{}, "127.0.0.1")
	cp(second)
	if err := r.Reload(); err != nil {
		t.Fatal(err)
	}
	if got := serves(t, cfg, ca.Pool()); !got.Equal(second.Cert) {
		t.Fatal("Reload did not swap the certificate")
	}
	if !r.NotAfter().Equal(second.Cert.NotAfter) {
		t.Errorf("NotAfter %v, want %v", r.NotAfter(), second.Cert.NotAfter)
	}

	third := ca.Issue(t, dir, "third", time.Time{}, time.Time{}, "127.0.0.1")
	expired := ca.Issue(t, dir, "expired", time.Now().Add(-48*time.Hour), time.Now().Add(-time.Hour), "127.0.0.1")
	bad := []struct {
		name string
		prep func()
	}{
		{"missing key", func() { os.Remove(keyFile) }},
		{"mismatched key", func() { cp(third); b, _ := os.ReadFile(second.KeyFile); os.WriteFile(keyFile, b, 0o600) }},
		{"garbage", func() { os.WriteFile(certFile, []byte("not a certificate"), 0o600) }},
		{"expired", func() { cp(expired) }},
	}
	for _, tc := range bad {
		tc.prep()
		if err := r.Reload(); err == nil {
			t.Errorf("%s: Reload accepted it", tc.name)
		}
		if got := serves(t, cfg, ca.Pool()); !got.Equal(second.Cert) {
			t.Errorf("%s: a failed Reload changed the certificate served", tc.name)
		}
	}
	if _, err := certs.Load(certFile, ""); err == nil {
		t.Error("Load without a key file accepted")
	}
	if _, err := certs.Load(filepath.Join(dir, "nope.pem"), keyFile); err == nil {
		t.Error("Load of a missing file accepted")
	}
}

// TestRootPool: the CA file's certificates are trusted on top of the
// system's; a file without a certificate is refused.
func TestRootPool(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	ca := certstest.NewCA(t, dir, "carrier")
	leaf := ca.Issue(t, dir, "carrier", time.Time{}, time.Time{}, "127.0.0.1")
	pool, err := certs.RootPool(ca.File)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := leaf.Cert.Verify(x509.VerifyOptions{Roots: pool}); err != nil {
		t.Errorf("the CA file's CA is not trusted: %v", err)
	}
	sys, err := certs.RootPool("")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := leaf.Cert.Verify(x509.VerifyOptions{Roots: sys}); err == nil {
		t.Error("a private CA is trusted without the CA file")
	}
	junk := filepath.Join(dir, "junk.pem")
	os.WriteFile(junk, []byte("junk"), 0o600)
	if _, err := certs.RootPool(junk); err == nil {
		t.Error("a CA file without certificates accepted")
	}
	if _, err := certs.RootPool(filepath.Join(dir, "missing.pem")); err == nil {
		t.Error("a missing CA file accepted")
	}
}
