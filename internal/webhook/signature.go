// Package webhook sends MiniVoice's signed requests: webhooks, and (through
// the signing helpers) the answer_url and action_url requests. The signing
// and verification themselves live in the public package
// github.com/minivoice/minivoice/webhook, which customers' receivers import;
// the names here forward to it so the platform has one implementation.
package webhook

import (
	"net/http"
	"time"

	pub "github.com/minivoice/minivoice/webhook"
)

// Header names (Standard Webhooks 1.0).
const (
	HeaderID        = pub.HeaderID
	HeaderTimestamp = pub.HeaderTimestamp
	HeaderSignature = pub.HeaderSignature
)

// DefaultTolerance is how far a timestamp may be from now; older requests are
// refused so a captured request cannot be replayed later.
const DefaultTolerance = pub.DefaultTolerance

// Verification errors; ErrBadTimestamp and ErrTimestampSkew are both the
// public package's ErrTimestamp.
var (
	ErrMissingHeaders   = pub.ErrMissingHeaders
	ErrBadTimestamp     = pub.ErrTimestamp
	ErrTimestampSkew    = pub.ErrTimestamp
	ErrNoValidSignature = pub.ErrSignature
)

// DecodeSecret returns the HMAC key of a "whsec_" secret: the base64 after the prefix.
func DecodeSecret(secret string) ([]byte, error) { return pub.DecodeSecret(secret) }

// Sign returns the "v1,..." signature of body for id and timestamp.
func Sign(secret, id string, ts time.Time, body []byte) (string, error) {
	return pub.Sign(secret, id, ts, body)
}

// SignRequest sets the three headers on h. secrets are the signing secrets in
// force: during a rotation both the new and the previous one, whose signatures
// are sent space-separated so a receiver with either secret accepts.
func SignRequest(h http.Header, id string, ts time.Time, body []byte, secrets ...string) error {
	return pub.SignRequest(h, id, ts, body, secrets...)
}

// Verify checks a received request's headers against body with secret. now
// and tolerance bound the timestamp; unlike the public package, a zero
// tolerance skips that check here (for verifying captured requests after the
// fact), as it always has.
func Verify(secret string, h http.Header, body []byte, now time.Time, tolerance time.Duration) error {
	if tolerance == 0 {
		tolerance = -1
	}
	return pub.Verify(secret, h, body, now, tolerance)
}
