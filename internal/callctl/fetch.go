package callctl

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/netip"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/minivoice/minivoice/internal/netguard"
	"github.com/minivoice/minivoice/internal/publicmsg"
	"github.com/minivoice/minivoice/internal/voice"
	"github.com/minivoice/minivoice/webhook"
)

// Error codes of a failed fetch. They are the codes of the call.error event
// (webhooks.md), so a FetchError can be reported to the customer as is.
const (
	// CodeURLNotAllowed: the SSRF guard refused the address, or the URL is not
	// an http(s) URL. Retrying the same URL cannot help.
	CodeURLNotAllowed = "url_not_allowed"
	// CodeUnreachable: no answer (connect failure, refused, TLS, timeout).
	CodeUnreachable = "answer_url_unreachable"
	// CodeHTTPError: the server answered with a status other than 2xx,
	// redirects included since they are never followed.
	CodeHTTPError = "answer_url_http_error"
	// CodeInvalidActions: a 2xx whose body is not a valid action list.
	CodeInvalidActions = "invalid_actions"
)

// Fetch limits.
const (
	// MaxResponseBytes bounds the answer body read: an action list is at most
	// MaxActions actions, far below this, and a larger body is a mistake or an
	// attack that must not cost memory.
	MaxResponseBytes = 1 << 20
	// DefaultConnectTimeout and DefaultTimeout are webhooks.md's bounds on one
	// attempt; with one retry and one fallback, a fetch waits at most three
	// times DefaultTimeout, the longest silence a caller can hear.
	DefaultConnectTimeout = 3 * time.Second
	DefaultTimeout        = 5 * time.Second
	// DefaultUserAgent is sent when FetcherConfig.UserAgent is empty; the
	// server sets "MiniVoice/" + its version.
	DefaultUserAgent = "MiniVoice/dev"
)

// FetcherConfig configures NewFetcher. The zero value is usable and refuses
// every private address, as production must.
type FetcherConfig struct {
	// Client sends the requests. The default is netguard.NewClient with a 3 s
	// connect and 5 s total timeout, so customer URLs cannot reach internal
	// addresses. A client given here should be SSRF-guarded as well; its
	// redirects are disabled regardless, and an attempt is cut at its Timeout
	// (5 s when it has none).
	Client *http.Client
	// Allow lists the private ranges the default client may reach (the
	// operator's --allow-private-urls; tests and the demo allow 127.0.0.0/8).
	// It is ignored when Client is set.
	Allow []netip.Prefix
	// UserAgent identifies the platform to the application; default DefaultUserAgent.
	UserAgent string
	// Now is the clock for request ids, signature timestamps and the expiry
	// of a rotated secret; default time.Now.
	Now func() time.Time
	// Logger receives one line per failed attempt, since the caller only sees
	// the last failure; default discards.
	Logger *slog.Logger
}

// Fetcher requests action lists from the URLs an application controls its
// calls with: answer_url, action_url, redirect url and fallback_url. It is
// safe for concurrent use; one Fetcher serves every call.
type Fetcher struct {
	client    *http.Client
	timeout   time.Duration
	userAgent string
	now       func() time.Time
	log       *slog.Logger
}

// NewFetcher returns a Fetcher with cfg's defaults filled in.
func NewFetcher(cfg FetcherConfig) *Fetcher {
	client := cfg.Client
	if client == nil {
		client = netguard.NewClient(netguard.ClientConfig{
			Allow: cfg.Allow, ConnectTimeout: DefaultConnectTimeout, Timeout: DefaultTimeout})
	}
	// A copy, so disabling redirects does not change the caller's client:
	// following one would let a public URL bounce the request elsewhere.
	c := *client
	c.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	f := &Fetcher{client: &c, timeout: c.Timeout, userAgent: cfg.UserAgent, now: cfg.Now, log: cfg.Logger}
	if f.timeout <= 0 {
		f.timeout = DefaultTimeout
	}
	if f.userAgent == "" {
		f.userAgent = DefaultUserAgent
	}
	if f.now == nil {
		f.now = time.Now
	}
	if f.log == nil {
		f.log = slog.New(slog.DiscardHandler)
	}
	return f
}

// FetchRequest is one request for actions.
type FetchRequest struct {
	// URL is the answer_url, action_url or redirect url.
	URL string
	// Method is POST (the default) or GET, the application's answer_method.
	Method string
	// FallbackURL is tried once, with the primary failure's error_code and
	// error_url, after URL failed twice; empty means no fallback.
	FallbackURL string
	// App supplies the signing secrets; nil or secretless sends the request unsigned.
	App *voice.Application
	// Call is sent as the call object GET /v1/calls/{id} returns.
	Call *voice.Call
	// Variables are the call's variables; nil means Call.Variables.
	Variables map[string]string
	// Result is the gather, record or dial result for an action_url; nil
	// leaves "result" out (answer_url and redirect).
	Result any
}

// FetchResult is a successful fetch.
type FetchResult struct {
	// Actions is the parsed list; empty means hang up.
	Actions []Action
	// URL is the URL that answered: the request's URL or its fallback.
	URL string
	// Attempts counts the requests made, this one included (1 to 3).
	Attempts int
	// Latency is the time from the start of Fetch to the parsed answer, all
	// attempts included: the silence the caller heard.
	Latency time.Duration
}

// FetchError is a fetch that failed on every attempt. Its fields describe the
// last attempt, the one the call.error event reports ({code, message, url,
// http_status}); First keeps the first attempt's failure, since when the
// fallback fails too, why the answer_url failed is what the customer needs.
type FetchError struct {
	Code    string
	Message string
	// URL is the URL of the last attempt.
	URL string
	// HTTPStatus is the status of the last attempt, 0 when none was received.
	HTTPStatus int
	// Path names the invalid field (ParseError.Path) for invalid_actions.
	Path string
	// Attempts counts the requests tried, refused ones included.
	Attempts int
	// First is the first attempt's failure when there was more than one attempt.
	First *FetchError
	// Err is the underlying cause (transport error, *ParseError), for errors.Is/As.
	Err error
}

func (e *FetchError) Error() string {
	s := "callctl: " + e.Code + ": " + e.Message
	if e.Attempts > 1 {
		s += " (after " + strconv.Itoa(e.Attempts) + " attempts)"
	}
	return s
}

func (e *FetchError) Unwrap() error { return e.Err }

// fetchBody is the POST body. Field order follows webhooks.md: call,
// variables, then result and the fallback's fields when present.
type fetchBody struct {
	Call      *voice.Call       `json:"call"`
	Variables map[string]string `json:"variables"`
	Result    any               `json:"result,omitempty"`
	ErrorCode string            `json:"error_code,omitempty"`
	ErrorURL  string            `json:"error_url,omitempty"`
}

// Fetch requests req.URL and returns its parsed actions. A failed attempt is
// retried once; then FallbackURL, if any, is tried once. An SSRF refusal is
// not retried (the address will not change) but still falls back. Each
// attempt is bounded by the client's timeout, so Fetch returns within about
// three of them.
//
// With Method GET there is no body; the same content travels as query
// parameters, added to those the URL already has (which they override on a
// clash):
//
//	call_id, from, to, direction, status, customer_id, application_id
//	parent_call_id      only for a child leg
//	variables[NAME]     one per variable
//	result[KEY]         one per field of an object result: strings as they
//	                    are, null as "", other values as JSON text; a result
//	                    that is not an object is sent whole as result=JSON
//	error_code, error_url   on the fallback request
//
// and the signature covers the empty body.
//
// The error is a *FetchError when every attempt failed. When ctx ends (the
// call hung up) Fetch stops at once, without retry or fallback, and returns
// an error wrapping ctx.Err(). Any other error is a bad request (unknown
// Method, a Result that does not marshal, a malformed secret) and nothing
// was sent.
func (f *Fetcher) Fetch(ctx context.Context, req FetchRequest) (*FetchResult, error) {
	start := time.Now()
	method := strings.ToUpper(req.Method)
	switch method {
	case "":
		method = http.MethodPost
	case http.MethodPost, http.MethodGet:
	default:
		return nil, fmt.Errorf("callctl: fetch method %q: must be GET or POST", req.Method)
	}
	vars := req.Variables
	if vars == nil && req.Call != nil {
		vars = req.Call.Variables
	}
	if vars == nil {
		vars = map[string]string{} // {} rather than null: receivers index into it
	}
	body := fetchBody{Call: req.Call, Variables: vars, Result: req.Result}
	secrets := f.secrets(req.App)

	attempts := 0
	var first, last *FetchError
	// try makes up to tries attempts at target; nil, nil means they all
	// failed, recorded in first and last.
	try := func(target string, b fetchBody, tries int) (*FetchResult, error) {
		for range tries {
			if err := ctx.Err(); err != nil {
				return nil, fmt.Errorf("callctl: fetching %s: %w", redact(target), err)
			}
			attempts++
			acts, ferr, err := f.attempt(ctx, method, target, b, secrets)
			if err != nil {
				return nil, err
			}
			if ferr == nil {
				return &FetchResult{Actions: acts, URL: target, Attempts: attempts, Latency: time.Since(start)}, nil
			}
			f.log.LogAttrs(ctx, slog.LevelWarn, "call-control fetch failed",
				slog.String("call_id", callID(req.Call)), slog.String("url", redact(target)),
				slog.Int("attempt", attempts), slog.String("code", ferr.Code),
				slog.Int("http_status", ferr.HTTPStatus), slog.String("error", ferr.Message), slog.String("cause", logCause(ferr.Err)))
			if first == nil {
				first = ferr
			}
			last = ferr
			if ferr.Code == CodeURLNotAllowed {
				break
			}
		}
		return nil, nil
	}

	if res, err := try(req.URL, body, 2); res != nil || err != nil {
		return res, err
	}
	if req.FallbackURL != "" {
		fb := body
		fb.ErrorCode, fb.ErrorURL = last.Code, last.URL
		if res, err := try(req.FallbackURL, fb, 1); res != nil || err != nil {
			return res, err
		}
	}
	last.Attempts = attempts
	if last != first {
		last.First = first
	}
	return nil, last
}

// secrets returns the secrets in force: the current one, and the previous
// one until its expiry, so receivers that have not switched yet still verify.
func (f *Fetcher) secrets(app *voice.Application) []string {
	if app == nil {
		return nil
	}
	return app.SigningSecrets(f.now())
}

// attempt makes one request. It returns the actions, or the attempt's
// failure, or err when the whole fetch must stop (ctx ended, bad request).
func (f *Fetcher) attempt(ctx context.Context, method, target string, b fetchBody, secrets []string) ([]Action, *FetchError, error) {
	u, err := url.Parse(target)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, &FetchError{Code: CodeURLNotAllowed, URL: target,
			Message: "the URL must be an absolute http or https URL", Err: err}, nil
	}

	var payload []byte
	if method == http.MethodGet {
		q := u.Query()
		if err := flatten(q, b); err != nil {
			return nil, nil, err
		}
		u.RawQuery = q.Encode()
	} else if payload, err = json.Marshal(b); err != nil {
		return nil, nil, fmt.Errorf("callctl: encoding the request to %s: %w", target, err)
	}

	actx, cancel := context.WithTimeout(ctx, f.timeout)
	defer cancel()
	hreq, err := http.NewRequestWithContext(actx, method, u.String(), bytes.NewReader(payload))
	if err != nil {
		return nil, &FetchError{Code: CodeURLNotAllowed, URL: target, Message: publicmsg.Text(err), Err: err}, nil
	}
	if method == http.MethodPost {
		hreq.Header.Set("content-type", "application/json")
	}
	hreq.Header.Set("accept", "application/json")
	hreq.Header.Set("user-agent", f.userAgent)
	if len(secrets) > 0 {
		now := f.now()
		if err := webhook.SignRequest(hreq.Header, voice.NewID(voice.PrefixRequest, now), now, payload, secrets...); err != nil {
			return nil, nil, fmt.Errorf("callctl: signing the request to %s: %w", target, err)
		}
	}

	resp, err := f.client.Do(hreq)
	if err != nil {
		if cerr := ctx.Err(); cerr != nil {
			return nil, nil, fmt.Errorf("callctl: fetching %s: %w", redact(target), cerr)
		}
		return nil, transportError(target, err), nil
	}
	defer resp.Body.Close()
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		// Drain a little so the connection can be reused for the retry.
		_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
		msg := fmt.Sprintf("the URL answered HTTP %d", resp.StatusCode)
		if resp.StatusCode >= 300 && resp.StatusCode < 400 {
			msg += " (redirects are not followed; location: " + resp.Header.Get("location") + ")"
		}
		return nil, &FetchError{Code: CodeHTTPError, URL: target, HTTPStatus: resp.StatusCode, Message: msg}, nil
	}
	raw, err := io.ReadAll(io.LimitReader(resp.Body, MaxResponseBytes+1))
	if err != nil {
		if cerr := ctx.Err(); cerr != nil {
			return nil, nil, fmt.Errorf("callctl: fetching %s: %w", redact(target), cerr)
		}
		fe := transportError(target, err)
		fe.HTTPStatus = resp.StatusCode
		return nil, fe, nil
	}
	if len(raw) > MaxResponseBytes {
		return nil, &FetchError{Code: CodeInvalidActions, URL: target, HTTPStatus: resp.StatusCode,
			Message: fmt.Sprintf("the response is larger than %d bytes", MaxResponseBytes)}, nil
	}
	acts, err := Parse(raw)
	if err != nil {
		// The message may quote the answer (a field name, a value): clipped,
		// it cannot make every event of the call large.
		fe := &FetchError{Code: CodeInvalidActions, URL: target, HTTPStatus: resp.StatusCode, Message: clip(err.Error()), Err: err}
		var pe *ParseError
		if errors.As(err, &pe) {
			fe.Path = clip(pe.Path)
		}
		return nil, fe, nil
	}
	return acts, nil, nil
}

// transportError classifies a failure to get a response. Its Message reaches
// the customer (call.error), so it is publicmsg's text: the kind of failure,
// never the address the host resolved to or the resolver's; Err keeps those
// for the log.
func transportError(target string, err error) *FetchError {
	cause := err
	var uerr *url.Error
	if errors.As(err, &uerr) {
		cause = uerr.Err // the URL is reported on its own; do not repeat it
	}
	if netguard.IsNotAllowed(err) {
		return &FetchError{Code: CodeURLNotAllowed, URL: target, Message: publicmsg.Text(cause), Err: err}
	}
	return &FetchError{Code: CodeUnreachable, URL: target, Message: "cannot reach the URL: " + publicmsg.Text(cause), Err: err}
}

// logCause is the full cause of a failed attempt for the server log, without
// the URL Go's client puts in front (its query may hold the customer's tokens).
func logCause(err error) string {
	if err == nil {
		return ""
	}
	var uerr *url.Error
	if errors.As(err, &uerr) {
		err = uerr.Err
	}
	return err.Error()
}

// flatten adds b's fields to q for a GET request (the layout is in Fetch's
// doc comment).
func flatten(q url.Values, b fetchBody) error {
	if c := b.Call; c != nil {
		q.Set("call_id", c.ID)
		q.Set("from", c.From)
		q.Set("to", c.To)
		q.Set("direction", c.Direction)
		q.Set("status", c.Status)
		q.Set("customer_id", c.CustomerID)
		q.Set("application_id", c.ApplicationID)
		if c.ParentCallID != nil {
			q.Set("parent_call_id", *c.ParentCallID)
		}
	}
	for k, v := range b.Variables {
		q.Set("variables["+k+"]", v)
	}
	if b.Result != nil {
		raw, err := json.Marshal(b.Result)
		if err != nil {
			return fmt.Errorf("callctl: encoding the result: %w", err)
		}
		var fields map[string]json.RawMessage
		if json.Unmarshal(raw, &fields) != nil || fields == nil {
			q.Set("result", string(raw))
		}
		for k, v := range fields {
			var s string
			switch {
			case string(v) == "null":
			case json.Unmarshal(v, &s) == nil:
			default:
				s = string(v)
			}
			q.Set("result["+k+"]", s)
		}
	}
	if b.ErrorCode != "" {
		q.Set("error_code", b.ErrorCode)
		q.Set("error_url", b.ErrorURL)
	}
	return nil
}

func callID(c *voice.Call) string {
	if c == nil {
		return ""
	}
	return c.ID
}

// redact drops a URL's query and credentials from logs: customers put tokens there.
func redact(target string) string {
	u, err := url.Parse(target)
	if err != nil {
		return "(unparsable URL)"
	}
	u.User, u.RawQuery, u.Fragment = nil, "", ""
	return u.String()
}
