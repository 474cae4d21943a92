// Package delivery sends MiniVoice's webhooks: one signed POST per attempt,
// through the caller's HTTP client (the SSRF guard's in production), with
// the receiver's answer kept for the event's attempt log. Signing is the
// public package github.com/minivoice/minivoice/webhook, the same code
// customers' receivers verify with.
package delivery

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/minivoice/minivoice/webhook"
)

// MaxResponseLog is how much of a receiver's answer an attempt keeps
// (webhooks.md: the first 1 KiB).
const MaxResponseLog = 1024

// DefaultTimeout is how long a receiver has to answer a webhook with a 2xx.
const DefaultTimeout = 15 * time.Second

// Sender posts signed requests to receivers. Its Client must be the SSRF
// guard's (netguard.NewClient), so every connection goes to a checked address
// and redirects are not followed.
type Sender struct {
	Client    *http.Client
	UserAgent string
	// Now is the clock for webhook-timestamp; default time.Now.
	Now func() time.Time
}

// Delivery is one request to send.
type Delivery struct {
	URL string
	// ID is webhook-id: the event id, stable across retries.
	ID string
	// Secrets sign the request; during a rotation both are given and both
	// signatures are sent. None sends the request unsigned.
	Secrets []string
	Body    []byte
	// Timeout bounds the whole attempt; default DefaultTimeout.
	Timeout time.Duration
}

// Result is what one attempt came to.
type Result struct {
	// HTTPStatus is the receiver's status, 0 when it did not answer.
	HTTPStatus int
	Latency    time.Duration
	// Response is the start of the receiver's body (at most MaxResponseLog
	// bytes, valid UTF-8).
	Response string
	// RetryAfter is the receiver's Retry-After on a 429 or 503, else 0.
	RetryAfter time.Duration
	// Err says why the attempt failed to get any answer (refused, timeout,
	// TLS, SSRF guard); nil when the receiver answered, whatever its status.
	Err error
}

// OK reports whether the receiver accepted the delivery (any 2xx).
func (r Result) OK() bool { return r.Err == nil && r.HTTPStatus >= 200 && r.HTTPStatus < 300 }

// Send makes one attempt. It never returns before the attempt is over, and
// never takes longer than the delivery's timeout.
func (s *Sender) Send(ctx context.Context, d Delivery) Result {
	now := time.Now
	if s.Now != nil {
		now = s.Now
	}
	timeout := d.Timeout
	if timeout <= 0 {
		timeout = DefaultTimeout
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, d.URL, bytes.NewReader(d.Body))
	if err != nil {
		return Result{Err: fmt.Errorf("bad URL: %w", err)}
	}
	req.Header.Set("Content-Type", "application/json")
	if s.UserAgent != "" {
		req.Header.Set("User-Agent", s.UserAgent)
	}
	if len(d.Secrets) > 0 {
		if err := webhook.SignRequest(req.Header, d.ID, now(), d.Body, d.Secrets...); err != nil {
			return Result{Err: fmt.Errorf("sign: %w", err)}
		}
	}
	start := time.Now()
	resp, err := s.Client.Do(req)
	if err != nil {
		return Result{Latency: time.Since(start), Err: err}
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(io.LimitReader(resp.Body, MaxResponseLog))
	// Drain a little more so the connection can be reused, but never wait on
	// a receiver that streams forever.
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	res := Result{HTTPStatus: resp.StatusCode, Latency: time.Since(start), Response: strings.ToValidUTF8(string(b), string(utf8.RuneError))}
	if resp.StatusCode == http.StatusTooManyRequests || resp.StatusCode == http.StatusServiceUnavailable {
		res.RetryAfter = parseRetryAfter(resp.Header.Get("Retry-After"), now())
	}
	return res
}

// parseRetryAfter reads delay-seconds or an HTTP date; 0 when absent or bad.
func parseRetryAfter(v string, now time.Time) time.Duration {
	v = strings.TrimSpace(v)
	if v == "" {
		return 0
	}
	if n, err := strconv.Atoi(v); err == nil {
		if n < 0 {
			return 0
		}
		return time.Duration(n) * time.Second
	}
	if t, err := http.ParseTime(v); err == nil && t.After(now) {
		return t.Sub(now)
	}
	return 0
}
