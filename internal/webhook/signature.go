// Package webhook signs and verifies requests the Standard Webhooks way
// (webhook-id, webhook-timestamp, webhook-signature: v1,BASE64(HMAC-SHA256)),
// for the webhooks, answer_url and action_url requests MiniVoice sends, and
// for receivers that want to check them.
package webhook

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// Header names (Standard Webhooks 1.0).
const (
	HeaderID        = "webhook-id"
	HeaderTimestamp = "webhook-timestamp"
	HeaderSignature = "webhook-signature"
)

// secretPrefix starts every MiniVoice webhook secret.
const secretPrefix = "whsec_"

// DecodeSecret returns the HMAC key of a "whsec_" secret: the base64 after the prefix.
func DecodeSecret(secret string) ([]byte, error) {
	raw := strings.TrimPrefix(secret, secretPrefix)
	key, err := base64.StdEncoding.DecodeString(raw)
	if err != nil {
		return nil, fmt.Errorf("webhook secret is not whsec_ + base64: %w", err)
	}
	if len(key) == 0 {
		return nil, errors.New("webhook secret is empty")
	}
	return key, nil
}

// Sign returns the "v1,..." signature of body for id and timestamp.
func Sign(secret, id string, ts time.Time, body []byte) (string, error) {
	key, err := DecodeSecret(secret)
	if err != nil {
		return "", err
	}
	return sign(key, id, ts.Unix(), body), nil
}

func sign(key []byte, id string, ts int64, body []byte) string {
	mac := hmac.New(sha256.New, key)
	mac.Write([]byte(id))
	mac.Write([]byte{'.'})
	mac.Write([]byte(strconv.FormatInt(ts, 10)))
	mac.Write([]byte{'.'})
	mac.Write(body)
	return "v1," + base64.StdEncoding.EncodeToString(mac.Sum(nil))
}

// SignRequest sets the three headers on h. secrets are the signing secrets in
// force: during a rotation both the new and the previous one, whose signatures
// are sent space-separated so a receiver with either secret accepts.
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
		return errors.New("no webhook secret to sign with")
	}
	h.Set(HeaderID, id)
	h.Set(HeaderTimestamp, strconv.FormatInt(ts.Unix(), 10))
	h.Set(HeaderSignature, strings.Join(sigs, " "))
	return nil
}

// Verification errors.
var (
	ErrMissingHeaders   = errors.New("webhook: missing webhook-id, webhook-timestamp or webhook-signature")
	ErrBadTimestamp     = errors.New("webhook: timestamp is not a Unix time")
	ErrTimestampSkew    = errors.New("webhook: timestamp is too old or too new")
	ErrNoValidSignature = errors.New("webhook: no matching signature")
)

// DefaultTolerance is how far a timestamp may be from now; older requests are
// refused so a captured request cannot be replayed later.
const DefaultTolerance = 5 * time.Minute

// Verify checks a received request's headers against body with secret. now
// and tolerance bound the timestamp; a zero tolerance skips that check (for
// verifying captured requests after the fact).
func Verify(secret string, h http.Header, body []byte, now time.Time, tolerance time.Duration) error {
	id, tsText, sigs := h.Get(HeaderID), h.Get(HeaderTimestamp), h.Get(HeaderSignature)
	if id == "" || tsText == "" || sigs == "" {
		return ErrMissingHeaders
	}
	ts, err := strconv.ParseInt(tsText, 10, 64)
	if err != nil {
		return ErrBadTimestamp
	}
	if tolerance > 0 {
		d := now.Sub(time.Unix(ts, 0))
		if d > tolerance || d < -tolerance {
			return ErrTimestampSkew
		}
	}
	key, err := DecodeSecret(secret)
	if err != nil {
		return err
	}
	want := sign(key, id, ts, body)
	for _, s := range strings.Fields(sigs) {
		if hmac.Equal([]byte(s), []byte(want)) {
			return nil
		}
	}
	return ErrNoValidSignature
}
