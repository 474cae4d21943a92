// Package certs holds the TLS certificates the platform serves (the SIP TLS
// listener, HTTPS for the API and console) and the extra certificate
// authorities it trusts when it dials trunks over TLS. A served certificate
// is read from its PEM files at start and again on Reload (SIGHUP), so an
// operator renews it without dropping calls; a bad new pair keeps the old one.
package certs

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"os"
	"sync/atomic"
	"time"
)

// MinVersion is the oldest TLS version the platform speaks, as server and
// as client: TLS 1.0 and 1.1 are deprecated (RFC 8996).
const MinVersion = tls.VersionTLS12

// Reloader serves a certificate and key read from two PEM files, swapped
// atomically by Reload; handshakes in progress keep the one they started with.
type Reloader struct {
	certFile, keyFile string
	cur               atomic.Pointer[tls.Certificate]
}

// Load reads certFile and keyFile (PEM; the certificate file may hold the
// chain after the leaf). It fails when either is unreadable, they do not
// match, or the certificate has expired.
func Load(certFile, keyFile string) (*Reloader, error) {
	if certFile == "" || keyFile == "" {
		return nil, errors.New("a certificate file and a key file are both needed")
	}
	r := &Reloader{certFile: certFile, keyFile: keyFile}
	if err := r.Reload(); err != nil {
		return nil, err
	}
	return r, nil
}

// Reload reads the files again. On any error the certificate in use stays
// and the error says why.
func (r *Reloader) Reload() error {
	c, err := tls.LoadX509KeyPair(r.certFile, r.keyFile)
	if err != nil {
		return fmt.Errorf("load certificate %s and key %s: %w", r.certFile, r.keyFile, err)
	}
	// LoadX509KeyPair parses the leaf (Go 1.23+); an expired certificate
	// would fail every handshake, so the old one is better kept.
	if c.Leaf != nil && time.Now().After(c.Leaf.NotAfter) {
		return fmt.Errorf("certificate %s expired on %s", r.certFile, c.Leaf.NotAfter.UTC().Format(time.RFC3339))
	}
	r.cur.Store(&c)
	return nil
}

// Current is the certificate served now.
func (r *Reloader) Current() *tls.Certificate { return r.cur.Load() }

// NotAfter is when the certificate served now expires.
func (r *Reloader) NotAfter() time.Time {
	if c := r.cur.Load(); c != nil && c.Leaf != nil {
		return c.Leaf.NotAfter
	}
	return time.Time{}
}

// GetCertificate is tls.Config.GetCertificate: the current certificate.
func (r *Reloader) GetCertificate(*tls.ClientHelloInfo) (*tls.Certificate, error) {
	return r.cur.Load(), nil
}

// ServerConfig is a server tls.Config serving the current certificate,
// TLS 1.2 and later. nextProtos are the ALPN protocols ("h2", "http/1.1" for
// HTTPS; none for SIP).
func (r *Reloader) ServerConfig(nextProtos ...string) *tls.Config {
	return &tls.Config{GetCertificate: r.GetCertificate, MinVersion: MinVersion, NextProtos: nextProtos}
}

// RootPool is the system's trusted roots plus the certificates in caFile
// (PEM, one or more; empty adds none). A carrier with a private CA, or with
// a self-signed certificate, is trusted by putting that CA or certificate in
// caFile; nothing skips verification.
func RootPool(caFile string) (*x509.CertPool, error) {
	pool, err := x509.SystemCertPool()
	if err != nil || pool == nil {
		// No system store (a minimal container): only caFile is trusted.
		pool = x509.NewCertPool()
	}
	if caFile == "" {
		return pool, nil
	}
	pem, err := os.ReadFile(caFile)
	if err != nil {
		return nil, fmt.Errorf("read CA file: %w", err)
	}
	if !pool.AppendCertsFromPEM(pem) {
		return nil, fmt.Errorf("CA file %s holds no PEM certificate", caFile)
	}
	return pool, nil
}
