// Package api is MiniVoice's REST API v1 over plain net/http: one file per
// resource, a route table that the OpenAPI document is checked against, and
// middleware for request ids, auth, logging, metrics and idempotency.
package api

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/json"
	"github.com/minivoice/minivoice/internal/billing"
	"github.com/minivoice/minivoice/internal/insights"
	"log/slog"
	"net/http"
	"net/netip"
	"runtime/debug"
	"strconv"
	"strings"
	"time"

	"github.com/minivoice/minivoice/internal/auth"
	"github.com/minivoice/minivoice/internal/callctl"
	"github.com/minivoice/minivoice/internal/delivery"
	"github.com/minivoice/minivoice/internal/obs"
	"github.com/minivoice/minivoice/internal/textcheck"
	"github.com/minivoice/minivoice/internal/voice"
)

// Readiness reports whether a dependency other than the database is up (the
// SIP listener, the job workers); nil means ready.
type Readiness func(ctx context.Context) error

// CallController places and steers live calls: the telephony engine. Without
// one, calls stay queued (API-only deployments and tests).
type CallController interface {
	// Accepting is false while the engine drains for shutdown.
	Accepting() bool
	// PlaceCall places a call admitted with t (nil: unpriced) and releases
	// the ticket when the call ends.
	PlaceCall(c *voice.Call, t *billing.Ticket)
	HasTrunk(ctx context.Context, customerID string) (bool, error)
	// Hangup hangs c up wherever it is live (another cluster node holds
	// some calls); false: it is live nowhere.
	Hangup(ctx context.Context, c *voice.Call) (bool, error)
	// ReplaceActions runs actions (raw: the client's JSON of them) on c
	// wherever it is in progress; false: it is in progress nowhere.
	ReplaceActions(ctx context.Context, c *voice.Call, actions []callctl.Action, raw json.RawMessage) (bool, error)
}

// Config configures a Server.
type Config struct {
	// Calls is the telephony engine; nil leaves calls queued.
	Calls CallController
	// Streams starts and stops live media streams on this process's calls;
	// nil answers those requests with 409.
	Streams StreamController
	Store   voice.Store
	Auth    *auth.Authenticator
	Logger  *slog.Logger
	Metrics *obs.Metrics
	// Now is the clock; default time.Now.
	Now func() time.Time
	// AllowPrivateURLs are ranges that URLs given through the API may point to
	// although they are private (the SSRF guard's exceptions).
	AllowPrivateURLs []netip.Prefix
	// Ready lists named readiness checks for /readyz besides the database.
	Ready map[string]Readiness
	// Version is reported in /healthz.
	Version string
	// Recordings holds the recording files (a *recording.Dir); nil answers
	// recording media and delete requests with 503 not_ready.
	Recordings RecordingFiles
	// Billing admits new calls and keeps the rate index; nil leaves calls
	// unpriced and unlimited (API-only tests).
	Billing *billing.Gate
	// Engines reports the TTS/ASR/LLM engines in /readyz; nil leaves them
	// out.
	Engines func(context.Context) []insights.EngineStatus
	// RefusalsDropped is how many refused INVITEs the SIP engine left out
	// of the refusals log (GET /v1/sip/refusals reports it); nil reports 0.
	RefusalsDropped func() int64
}

// Server is the HTTP API.
type Server struct {
	store   voice.Store
	auth    *auth.Authenticator
	log     *slog.Logger
	metrics *obs.Metrics
	now     func() time.Time
	allow   []netip.Prefix
	ready   map[string]Readiness
	version string
	mux     *http.ServeMux
	calls   CallController
	streams StreamController
	files   RecordingFiles
	hooks   *delivery.Sender // sends webhook tests
	gate    *billing.Gate
	engines func(context.Context) []insights.EngineStatus

	refusalsDropped func() int64
}

// New builds a Server and its routes.
func New(cfg Config) *Server {
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.Metrics == nil {
		cfg.Metrics = obs.NewMetrics()
	}
	s := &Server{store: cfg.Store, auth: cfg.Auth, log: cfg.Logger, metrics: cfg.Metrics, now: cfg.Now,
		allow: cfg.AllowPrivateURLs, ready: cfg.Ready, version: cfg.Version, mux: http.NewServeMux(), calls: cfg.Calls, streams: cfg.Streams,
		files: cfg.Recordings, gate: cfg.Billing, engines: cfg.Engines, refusalsDropped: cfg.RefusalsDropped}
	s.hooks = newWebhookTestSender(cfg)
	for _, rt := range s.Routes() {
		s.mux.Handle(rt.Method+" "+rt.Path, s.wrap(rt))
	}
	s.mux.HandleFunc("/", s.noRoute)
	return s
}

// noRoute answers requests no route matched: 405 with Allow when the path
// exists under other methods, else 404, both in the API's error shape.
func (s *Server) noRoute(w http.ResponseWriter, r *http.Request) {
	var allow []string
	for _, m := range []string{http.MethodGet, http.MethodPost, http.MethodPatch, http.MethodDelete, http.MethodPut} {
		probe := r.Clone(r.Context())
		probe.Method = m
		if _, pattern := s.mux.Handler(probe); pattern != "/" && pattern != "" {
			allow = append(allow, m)
		}
	}
	if len(allow) > 0 {
		w.Header().Set("Allow", strings.Join(allow, ", "))
		s.writeError(w, r, voice.Errorf(voice.ECodeMethodNotAllowed, "%s is not allowed on %s; use %s", r.Method, r.URL.Path, strings.Join(allow, ", ")))
		return
	}
	s.writeError(w, r, voice.Errorf(voice.ECodeNotFound, "no route %s %s", r.Method, r.URL.Path))
}

// clock returns the clock's time at the millisecond precision the store keeps.
func (s *Server) clock() time.Time { return s.now().UTC().Truncate(time.Millisecond) }

// ServeHTTP adds the request id, recovers panics, logs and measures.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	start := time.Now()
	id := voice.NewID(voice.PrefixRequest, start)
	ctx := context.WithValue(r.Context(), requestIDKey{}, id)
	r = r.WithContext(ctx)
	w.Header().Set("X-Request-Id", id)
	sw := &statusWriter{ResponseWriter: w}
	defer func() {
		if v := recover(); v != nil {
			s.log.ErrorContext(ctx, "panic", slog.String("request_id", id), slog.Any("panic", v), slog.String("stack", string(debug.Stack())))
			if sw.status == 0 {
				s.writeError(sw, r, voice.Errorf(voice.ECodeInternal, "internal error; quote the request_id when reporting it"))
			}
		}
		route := r.Pattern
		if route == "" {
			route = "unmatched"
		}
		elapsed := time.Since(start)
		s.metrics.APILatency.WithLabelValues(route).Observe(elapsed.Seconds())
		s.metrics.APIRequests.WithLabelValues(route, strconv.Itoa(sw.status)).Inc()
		s.log.LogAttrs(ctx, slog.LevelInfo, "request", slog.String("request_id", id), slog.String("method", r.Method),
			slog.String("path", r.URL.Path), slog.Int("status", sw.status), slog.Duration("elapsed", elapsed))
	}()
	s.mux.ServeHTTP(sw, r)
}

type requestIDKey struct{}

func requestID(ctx context.Context) string {
	id, _ := ctx.Value(requestIDKey{}).(string)
	return id
}

type statusWriter struct {
	http.ResponseWriter
	status int
}

func (w *statusWriter) WriteHeader(code int) {
	if w.status == 0 {
		w.status = code
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *statusWriter) Write(b []byte) (int, error) {
	if w.status == 0 {
		w.status = http.StatusOK
	}
	return w.ResponseWriter.Write(b)
}

func (w *statusWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

// Access says which key kinds may call a route at all; handlers narrow further.
type Access int

// Access levels.
const (
	// Public routes need no key.
	Public Access = iota
	// OperatorOnly routes refuse customer and application keys with 403.
	OperatorOnly
	// CustomerKeys routes take the operator and customer keys.
	CustomerKeys
	// AnyKey routes take every kind of key.
	AnyKey
)

// handlerFunc is a route's handler: it writes a success itself or returns an error.
type handlerFunc func(w http.ResponseWriter, r *http.Request, p *auth.Principal) error

// Route is one entry of the API.
type Route struct {
	Method  string
	Path    string
	Access  Access
	Summary string
	handler handlerFunc
}

func (s *Server) wrap(rt Route) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var p *auth.Principal
		if rt.Access != Public {
			var err error
			p, err = s.auth.AuthenticateRequest(r.Context(), r.Header.Get("Authorization"), r.RemoteAddr)
			if err != nil {
				s.writeError(w, r, err)
				return
			}
			if !allowed(rt.Access, p) {
				s.writeError(w, r, voice.Errorf(voice.ECodeForbidden, "%s key may not %s %s", article(p.Kind), rt.Method, rt.Path))
				return
			}
		}
		if err := checkRequestText(r); err != nil {
			s.writeError(w, r, err)
			return
		}
		if rt.Method == http.MethodPost && r.Header.Get("Idempotency-Key") != "" {
			s.idempotent(w, r, p, rt.handler)
			return
		}
		if err := rt.handler(w, r, p); err != nil {
			s.writeError(w, r, err)
		}
	})
}

// Allows reports whether a route of access a takes p's key: what the web
// console checks before doing what such a route does.
func (a Access) Allows(p *auth.Principal) bool { return allowed(a, p) }

func allowed(a Access, p *auth.Principal) bool {
	switch a {
	case OperatorOnly:
		return p.IsOperator()
	case CustomerKeys:
		return p.Kind != voice.KeyApplication
	}
	return true
}

// idempotencyTTL is how long a POST's response is kept for replay.
const idempotencyTTL = 24 * time.Hour

// idempotent runs a POST at most once per (caller, Idempotency-Key): the key is
// reserved before the handler runs, so a concurrent duplicate cannot slip in
// and place a second call.
func (s *Server) idempotent(w http.ResponseWriter, r *http.Request, p *auth.Principal, h handlerFunc) {
	key := r.Header.Get("Idempotency-Key")
	if len(key) > 255 {
		s.writeError(w, r, voice.Invalid("Idempotency-Key", "must be 1 to 255 characters"))
		return
	}
	if why := textcheck.String(key); why != "" { // HTTP allows any byte above 0x7f in a header
		s.writeError(w, r, voice.Invalid("Idempotency-Key", "%s", why))
		return
	}
	body, err := readBody(r)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	sum := sha256.Sum256(append([]byte(r.Method+" "+r.URL.RequestURI()+"\n"), body...))
	now := s.clock()
	rec := &voice.IdempotencyRecord{Owner: p.Owner(), Key: key, RequestHash: sum[:], CreatedAt: now}
	existing, reserved, err := s.store.ReserveIdempotencyKey(r.Context(), rec, now.Add(-idempotencyTTL))
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	if !reserved {
		switch {
		case !bytes.Equal(existing.RequestHash, sum[:]):
			s.writeError(w, r, voice.Errorf(voice.ECodeIdempotencyKeyReused, "Idempotency-Key %q was used with a different request", key))
		case existing.Status == 0:
			s.writeError(w, r, voice.Errorf(voice.ECodeConflict, "a request with Idempotency-Key %q is still being processed", key))
		default:
			w.Header().Set("Content-Type", "application/json")
			w.Header().Set("Idempotent-Replayed", "true")
			w.WriteHeader(existing.Status)
			_, _ = w.Write(existing.Body)
		}
		return
	}
	r.Body = http.NoBody
	r = r.WithContext(context.WithValue(r.Context(), bodyKey{}, body))
	rw := &recorder{header: w.Header()}
	// Keep the client's answer even if it hung up: the effect happened.
	ctx := context.WithoutCancel(r.Context())
	done := false
	defer func() {
		if !done { // the handler panicked: free the key so a retry can run
			if err := s.store.ReleaseIdempotencyKey(ctx, rec.Owner, key); err != nil {
				s.log.ErrorContext(ctx, "release idempotency key", slog.Any("error", err))
			}
		}
	}()
	if err := h(rw, r, p); err != nil {
		s.writeError(rw, r, err)
	}
	done = true
	// A server error, or a request canceled because its client went away
	// (499), did not complete: a retry with the same key must run, not replay it.
	// A 429 is a limit that passes (concurrency, CPS, daily spend, with
	// Retry-After): the client is told to retry, so the retry must be able to
	// succeed with the same key, as Stripe does for rate-limited requests.
	if rw.status >= 500 || rw.status == 499 || rw.status == http.StatusTooManyRequests {
		if err := s.store.ReleaseIdempotencyKey(ctx, rec.Owner, key); err != nil {
			s.log.ErrorContext(ctx, "release idempotency key", slog.Any("error", err))
		}
	} else if err := s.store.CompleteIdempotencyKey(ctx, rec.Owner, key, rw.status, rw.body.Bytes()); err != nil {
		s.log.ErrorContext(ctx, "store idempotent response", slog.Any("error", err))
	}
	w.WriteHeader(rw.status)
	_, _ = w.Write(rw.body.Bytes())
}

type bodyKey struct{}

// body returns the request body, read once (idempotency may have read it already).
func body(r *http.Request) ([]byte, error) {
	if b, ok := r.Context().Value(bodyKey{}).([]byte); ok {
		return b, nil
	}
	return readBody(r)
}

// decode reads and strictly decodes the body into v.
func decode(r *http.Request, v any) error {
	b, err := body(r)
	if err != nil {
		return err
	}
	return decodeJSON(b, v)
}

// recorder buffers a response so it can be stored before it is sent.
type recorder struct {
	header http.Header
	status int
	body   bytes.Buffer
}

func (r *recorder) Header() http.Header { return r.header }
func (r *recorder) WriteHeader(code int) {
	if r.status == 0 {
		r.status = code
	}
}
func (r *recorder) Write(b []byte) (int, error) {
	if r.status == 0 {
		r.status = http.StatusOK
	}
	return r.body.Write(b)
}

// article is kind with its indefinite article: "an application", "a customer".
func article(kind string) string {
	if kind != "" && strings.ContainsRune("aeiou", rune(kind[0])) {
		return "an " + kind
	}
	return "a " + kind
}
