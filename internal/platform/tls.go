package platform

import (
	"crypto/x509"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/minivoice/minivoice/internal/certs"
	"github.com/minivoice/minivoice/internal/config"
)

// tlsFiles are the certificates the platform serves and the CAs it trusts
// for trunks (docs/tls.md).
type tlsFiles struct {
	sip   *certs.Reloader // nil without --sip-tls
	http  *certs.Reloader // nil without --tls-cert
	roots *x509.CertPool  // system roots plus --sip-tls-ca
}

// loadTLS reads the configured certificates; any that does not load stops
// the start, naming the flag.
func loadTLS(c config.TLS) (*tlsFiles, error) {
	f := &tlsFiles{}
	var err error
	if c.SIPListen != "" {
		if f.sip, err = certs.Load(c.SIPCert, c.SIPKey); err != nil {
			return nil, fmt.Errorf("--sip-tls-cert/--sip-tls-key: %w", err)
		}
	}
	if c.HTTPCert != "" {
		if f.http, err = certs.Load(c.HTTPCert, c.HTTPKey); err != nil {
			return nil, fmt.Errorf("--tls-cert/--tls-key: %w", err)
		}
	}
	if f.roots, err = certs.RootPool(c.TrunkCA); err != nil {
		return nil, fmt.Errorf("--sip-tls-ca: %w", err)
	}
	return f, nil
}

// ReloadCertificates reads the SIP TLS and HTTPS certificate files again
// (minivoice serve calls it on SIGHUP). A pair that fails to load is
// logged and the certificate in use stays; the error joins every failure.
// Connections already open keep the certificate they were made with.
func (p *Platform) ReloadCertificates() error {
	var errs []error
	for _, r := range []struct {
		name string
		c    *certs.Reloader
	}{{"sip_tls", p.tls.sip}, {"https", p.tls.http}} {
		if r.c == nil {
			continue
		}
		if err := r.c.Reload(); err != nil {
			p.log.Error("certificate not reloaded; the previous one stays in use", slog.String("listener", r.name), slog.Any("error", err))
			errs = append(errs, fmt.Errorf("%s: %w", r.name, err))
			continue
		}
		p.log.Info("certificate reloaded", slog.String("listener", r.name), slog.String("not_after", r.c.NotAfter().UTC().Format(time.RFC3339)))
	}
	if p.tls.sip == nil && p.tls.http == nil {
		p.log.Info("no certificate to reload (neither --sip-tls nor --tls-cert is set)")
	}
	return errors.Join(errs...)
}
