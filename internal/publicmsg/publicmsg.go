// Package publicmsg turns errors into the text customers may see: the
// message of a call.error event, a call's error, a webhook delivery
// attempt's error, an API error. Go's errors name local files ("open
// /srv/minivoice/media/etc/passwd: ..."), the addresses a host name
// resolved to ("dial tcp 10.0.0.7:80: ...") and the resolver asked
// ("lookup x on 10.0.0.2:53: no such host"); shown to customers they map
// the operator's disk and internal network, and make the platform a DNS
// oracle. Text keeps what helps the customer (the kind of failure) and
// drops the rest; the full error still goes to the server log.
//
// Code that knows better says so: New gives an error its public text, Wrap
// adds public context (such as the URL the customer wrote) in front.
package publicmsg

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"io"
	"io/fs"
	"net"
	"net/netip"
	"os"
	"regexp"
	"strings"
	"syscall"
)

// Error is an error with a text written for customers. Error() is the
// whole story, for logs; Text(err) is only Public.
type Error struct {
	// Public is what customers see.
	Public string
	// Err is the cause, for the log and errors.Is/As.
	Err error
}

// New returns an error whose customer-visible text is public.
func New(public string, cause error) error { return &Error{Public: public, Err: cause} }

func (e *Error) Error() string {
	if e.Err == nil {
		return e.Public
	}
	return e.Public + ": " + e.Err.Error()
}

func (e *Error) Unwrap() error { return e.Err }

// contextError puts public context in front of an error's text.
type contextError struct {
	public string
	err    error
}

// Wrap returns err with public context (text safe to show, such as the URL
// the customer gave) in front; nil stays nil.
func Wrap(err error, public string) error {
	if err == nil {
		return nil
	}
	return &contextError{public: public, err: err}
}

func (e *contextError) Error() string { return e.public + ": " + e.err.Error() }
func (e *contextError) Unwrap() error { return e.err }

// Text returns what a customer may see of err: the public texts of Wrap and
// New along its chain, else a description of its kind (timeout, refused
// connection, unresolvable name, TLS failure, missing file), else its text
// with file paths and IP addresses taken out.
func Text(err error) string {
	if err == nil {
		return ""
	}
	var prefix []string
	for e := err; e != nil; e = errors.Unwrap(e) {
		switch v := e.(type) {
		case *contextError:
			prefix = append(prefix, v.public)
		case *Error:
			return strings.Join(append(prefix, v.Public), ": ")
		}
	}
	return strings.Join(append(prefix, describe(err)), ": ")
}

// describe names the kind of a failure that carries no public text.
func describe(err error) string {
	var dnsErr *net.DNSError
	if errors.As(err, &dnsErr) {
		switch {
		case dnsErr.IsNotFound:
			return "the host name could not be resolved (no such host)"
		case dnsErr.IsTimeout:
			return "the host name could not be resolved in time"
		}
		return "the host name could not be resolved"
	}
	var unknownCA x509.UnknownAuthorityError
	var badHost x509.HostnameError
	var invalid x509.CertificateInvalidError
	var verify *tls.CertificateVerificationError
	var header tls.RecordHeaderError
	var alert tls.AlertError
	var netErr net.Error
	switch {
	case errors.Is(err, context.DeadlineExceeded), errors.Is(err, os.ErrDeadlineExceeded):
		return "timeout: no answer in time"
	case errors.Is(err, context.Canceled):
		return "canceled"
	case errors.As(err, &unknownCA):
		return "the TLS certificate is not signed by a trusted authority"
	case errors.As(err, &badHost):
		return "the TLS certificate is not valid for the host name"
	case errors.As(err, &invalid), errors.As(err, &verify):
		return "the TLS certificate is not valid"
	case errors.As(err, &header):
		return "the server did not answer in TLS"
	case errors.As(err, &alert):
		return "the TLS handshake failed"
	case errors.Is(err, syscall.ECONNREFUSED):
		return "the connection was refused"
	case errors.Is(err, syscall.ECONNRESET), errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF):
		return "the connection was closed before the answer"
	case errors.Is(err, syscall.EHOSTUNREACH), errors.Is(err, syscall.ENETUNREACH):
		return "the host is unreachable"
	case errors.As(err, &netErr) && netErr.Timeout():
		return "timeout: no answer in time"
	}
	var opErr *net.OpError
	if errors.As(err, &opErr) {
		return "the connection failed"
	}
	var pathErr *fs.PathError
	if errors.As(err, &pathErr) {
		switch {
		case errors.Is(err, fs.ErrNotExist):
			return "the file does not exist"
		case errors.Is(err, fs.ErrPermission):
			return "the file could not be read (permission denied)"
		}
		return "the file could not be read"
	}
	return Scrub(err.Error())
}

// token is a run of characters that may be a path or an address.
var token = regexp.MustCompile(`[^\s"'(),;<>=]+`)

// Scrub takes absolute file paths and IP addresses (with or without a port)
// out of text, replacing them with "(path)" and "(address)". It is the last
// line of defence for errors nothing classified; URLs keep their host.
func Scrub(text string) string {
	return token.ReplaceAllStringFunc(text, func(t string) string {
		core := strings.TrimRight(t, ":.")
		tail := t[len(core):]
		switch {
		case strings.HasPrefix(core, "/") && len(core) > 1:
			return "(path)" + tail
		case isAddr(core):
			return "(address)" + tail
		}
		return t
	})
}

// isAddr reports whether s is an IP address, optionally bracketed and with a port.
func isAddr(s string) bool {
	if _, err := netip.ParseAddrPort(s); err == nil {
		return true
	}
	_, err := netip.ParseAddr(strings.TrimSuffix(strings.TrimPrefix(s, "["), "]"))
	return err == nil
}
