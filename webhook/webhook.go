// Package webhook verifies the signed requests MiniVoice sends to your
// servers: webhooks (call.completed, recording.completed, ...), and the
// answer_url and action_url requests that fetch call-control actions.
//
// Every such request carries three headers, the Standard Webhooks 1.0 way:
//
//	webhook-id:        the event id (stable across retries), or a fresh req_ id
//	webhook-timestamp: Unix seconds when this attempt was sent
//	webhook-signature: v1,BASE64(HMAC-SHA256(key, "{id}.{timestamp}.{body}"))
//
// where key is the base64 part of your application's webhook_secret
// ("whsec_..."). While a secret is being rotated, MiniVoice signs with both
// the new and the previous secret and sends both signatures, space separated;
// a receiver that knows either secret accepts the request.
//
// A receiver should, before trusting a request's body:
//   - read the raw body and verify it as received: re-encoding parsed JSON
//     changes the bytes and breaks the signature;
//   - refuse requests whose timestamp is far from now (DefaultTolerance), so a
//     captured request cannot be replayed later;
//   - de-duplicate on webhook-id, since delivery is at least once.
//
// VerifyRequest does the first two in one call:
//
//	body, err := webhook.VerifyRequest(r, os.Getenv("MINIVOICE_WEBHOOK_SECRET"), 0)
//	if err != nil {
//		http.Error(w, "invalid signature", http.StatusUnauthorized)
//		return
//	}
//
// The package has no dependencies beyond the standard library, so it can be
// imported by any Go service.
package webhook

import (
	"bytes"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// Header names of a signed request (Standard Webhooks 1.0).
const (
	HeaderID        = "webhook-id"
	HeaderTimestamp = "webhook-timestamp"
	HeaderSignature = "webhook-signature"
)

// SecretPrefix starts every MiniVoice webhook secret.
const SecretPrefix = "whsec_"

// DefaultTolerance is how far a request's timestamp may be from now when a
// zero tolerance is given: older (or newer) requests are refused, so a
// captured request cannot be replayed later.
const DefaultTolerance = 5 * time.Minute

// MaxBodyBytes is the largest body VerifyRequest reads. MiniVoice's requests
// are far smaller; the bound keeps a hostile sender from costing memory.
const MaxBodyBytes = 10 << 20

// Errors of Verify and VerifyRequest. They may be wrapped with details:
// compare with errors.Is.
var (
	// ErrMissingHeaders: webhook-id, webhook-timestamp or webhook-signature is absent.
	ErrMissingHeaders = errors.New("webhook: missing webhook-id, webhook-timestamp or webhook-signature header")
	// ErrTimestamp: webhook-timestamp is not Unix seconds, or is outside the tolerance.
	ErrTimestamp = errors.New("webhook: timestamp is invalid or outside the tolerance")
	// ErrSignature: no v1 signature in webhook-signature matches the body.
	ErrSignature = errors.New("webhook: no matching signature")
	// ErrSecret: the secret is not "whsec_" followed by base64.
	ErrSecret = errors.New("webhook: secret is not whsec_ followed by base64")
	// ErrBodyTooLarge: the body is over MaxBodyBytes.
	ErrBodyTooLarge = errors.New("webhook: body is too large")
)

// DecodeSecret returns the HMAC key of a secret: the base64 after "whsec_".
// A secret without the prefix is accepted too.
func DecodeSecret(secret string) ([]byte, error) {
	key, err := base64.StdEncoding.DecodeString(strings.TrimPrefix(secret, SecretPrefix))
	if err != nil || len(key) == 0 {
		return nil, ErrSecret
	}
	return key, nil
}

// mac is the raw HMAC-SHA256 of "{id}.{ts}.{body}".
func mac(key []byte, id string, ts int64, body []byte) []byte {
	m := hmac.New(sha256.New, key)
	m.Write([]byte(id))
	m.Write([]byte{'.'})
	m.Write([]byte(strconv.FormatInt(ts, 10)))
	m.Write([]byte{'.'})
	m.Write(body)
	return m.Sum(nil)
}

// Sign returns the "v1,..." signature of body for id and ts with secret. It
// is what MiniVoice sends; receivers can use it to sign requests in their
// own tests.
func Sign(secret, id string, ts time.Time, body []byte) (string, error) {
	key, err := DecodeSecret(secret)
	if err != nil {
		return "", err
	}
	return "v1," + base64.StdEncoding.EncodeToString(mac(key, id, ts.Unix(), body)), nil
}

// SignRequest sets the three webhook headers on h for body. With several
// secrets (a rotation: the new one and the previous one) every signature is
// sent, space separated, so a receiver with either secret accepts. Empty
// secrets are skipped; at least one must remain.
func SignRequest(h http.Header, id string, ts time.Time, body []byte, secrets ...string) error {
	var sigs []string
	for _, s := range secrets {
		if s == "" {
			continue
		}
		sig, err := Sign(s, id, ts, body)
		if err != nil {
			return err
		}
		sigs = append(sigs, sig)
	}
	if len(sigs) == 0 {
		return errors.New("webhook: no secret to sign with")
	}
	h.Set(HeaderID, id)
	h.Set(HeaderTimestamp, strconv.FormatInt(ts.Unix(), 10))
	h.Set(HeaderSignature, strings.Join(sigs, " "))
	return nil
}

// Verify checks a request's webhook headers h against its raw body with
// secret. The timestamp must be within tolerance of now: a zero tolerance
// means DefaultTolerance, and a negative one skips the check (only for
// checking a captured request after the fact). webhook-signature may hold
// several space-separated signatures; any v1 one that matches passes, and
// other versions are ignored. Signatures are compared in constant time.
func Verify(secret string, h http.Header, body []byte, now time.Time, tolerance time.Duration) error {
	id, tsText, sigs := h.Get(HeaderID), h.Get(HeaderTimestamp), h.Get(HeaderSignature)
	if id == "" || tsText == "" || sigs == "" {
		return ErrMissingHeaders
	}
	ts, err := strconv.ParseInt(tsText, 10, 64)
	if err != nil {
		return fmt.Errorf("%w: %q is not Unix seconds", ErrTimestamp, tsText)
	}
	if tolerance == 0 {
		tolerance = DefaultTolerance
	}
	if tolerance > 0 {
		if d := now.Sub(time.Unix(ts, 0)); d > tolerance || d < -tolerance {
			return fmt.Errorf("%w: %s off, more than %s", ErrTimestamp, d.Round(time.Second), tolerance)
		}
	}
	key, err := DecodeSecret(secret)
	if err != nil {
		return err
	}
	want := mac(key, id, ts, body)
	for _, s := range strings.Fields(sigs) {
		version, value, ok := strings.Cut(s, ",")
		if !ok || version != "v1" {
			continue
		}
		got, err := base64.StdEncoding.DecodeString(value)
		if err == nil && hmac.Equal(got, want) {
			return nil
		}
	}
	return ErrSignature
}

// VerifyRequest reads r's body (at most MaxBodyBytes) and verifies it with
// secret against the current time; tolerance is as for Verify (0 means
// DefaultTolerance). It returns the body, and also puts it back in r.Body so
// later handlers can read it again. On any error the body must not be
// trusted.
func VerifyRequest(r *http.Request, secret string, tolerance time.Duration) ([]byte, error) {
	body, err := io.ReadAll(io.LimitReader(r.Body, MaxBodyBytes+1))
	if err != nil {
		return nil, fmt.Errorf("webhook: reading the body: %w", err)
	}
	r.Body = io.NopCloser(bytes.NewReader(body))
	if len(body) > MaxBodyBytes {
		return nil, ErrBodyTooLarge
	}
	if err := Verify(secret, r.Header, body, time.Now(), tolerance); err != nil {
		return nil, err
	}
	return body, nil
}
