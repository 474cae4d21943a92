// Package console is MiniVoice's web console: server-rendered pages over the
// same store, keys and tenant scopes as the API, served by `minivoice serve`
// on the API's port. One route table, one file per page, html/template
// pages and embedded assets; no inline scripts, nothing from the network.
package console

import (
	"bytes"
	"context"
	"embed"
	"errors"
	"html/template"
	"io/fs"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/minivoice/minivoice/internal/api"
	"github.com/minivoice/minivoice/internal/auth"
	"github.com/minivoice/minivoice/internal/textcheck"
	"github.com/minivoice/minivoice/internal/voice"
)

//go:embed templates/*.html
var templateFS embed.FS

//go:embed static
var staticFS embed.FS

// Store is what the console reads and writes: the API's store plus its
// sessions and the overview's statistics.
type Store interface {
	voice.Store
	voice.ConsoleSessionStore
	voice.CallStatsStore
	voice.ReviewDashboardStore
	// LiveCalls counts the calls in scope that have not ended.
	LiveCalls(ctx context.Context, scope voice.Scope) (int, error)
}

// Session lifetimes (console.md).
const (
	DefaultIdleTimeout = 12 * time.Hour
	DefaultMaxAge      = 7 * 24 * time.Hour
)

// Config configures a Console.
type Config struct {
	Store Store
	// Auth checks keys exactly as the API does.
	Auth *auth.Authenticator
	// Recordings holds the recording files; nil leaves the player out.
	Recordings api.RecordingFiles
	// API is the REST API the console's forms go through, so they apply
	// exactly its rules (validation, scopes, URL guard).
	API    *api.Server
	Logger *slog.Logger
	// Now is the clock; default time.Now.
	Now func() time.Time
	// IdleTimeout ends a session unused this long; default 12 h.
	IdleTimeout time.Duration
	// MaxAge ends a session this long after sign-in, used or not; default 7 days.
	MaxAge time.Duration
}

// Console is the web console's HTTP handler.
type Console struct {
	store   Store
	auth    *auth.Authenticator
	files   api.RecordingFiles
	api     *api.Server
	log     *slog.Logger
	now     func() time.Time
	idle    time.Duration
	maxAge  time.Duration
	mux     *http.ServeMux
	pages   map[string]*template.Template
	bufPool sync.Pool
	// stop ends the live streams on shutdown (Close).
	stop     chan struct{}
	stopOnce sync.Once
}

// handlerFunc is a page's handler; s is nil on the public routes.
type handlerFunc func(w http.ResponseWriter, r *http.Request, s *session) error

type route struct {
	method, path string
	// signedIn routes need a session (and, for POST, its CSRF token).
	signedIn bool
	h        handlerFunc
}

// routes is the whole console.
func (c *Console) routes() []route {
	const get, post = http.MethodGet, http.MethodPost
	return []route{
		{get, "/signin", false, c.signinPage},
		{post, "/signin", false, c.signin},
		{post, "/signout", true, c.signout},
		{get, "/{$}", true, c.overview},
		{get, "/live", true, c.liveCalls},
		{get, "/calls", true, c.callsPage},
		{get, "/calls/{id}", true, c.callPage},
		{get, "/calls/{id}/recording.wav", true, c.recording},
		{get, "/calls/{id}/waveform.svg", true, c.waveform},
		{post, "/calls/{id}/events/{event_id}/redeliver", true, c.redeliver},
		{get, "/customers", true, c.customersPage},
		{get, "/customers/{id}", true, c.customerPage},
		{post, "/customers/{id}/credits", true, c.addCredit},
		{post, "/customers/{id}/status", true, c.setCustomerStatus},
		{get, "/rates", true, c.ratesPage},
		{post, "/rates/import", true, c.importRates},
		{get, "/trunks", true, c.trunksPage},
		{get, "/sip-refusals", true, c.refusalsPage},
		{get, "/numbers", true, c.numbersPage},
		{post, "/numbers/{id}", true, c.updateNumber},
		{get, "/keys", true, c.keysPage},
		{post, "/keys", true, c.createKey},
		{post, "/keys/{id}/revoke", true, c.revokeKey},
		{get, "/usage", true, c.usagePage},
		{get, "/applications", true, c.applicationsPage},
		{get, "/applications/{id}", true, c.applicationPage},
		{post, "/applications/{id}", true, c.saveApplication},
		{post, "/applications/{id}/rotate-secret", true, c.rotateSecret},
		{post, "/applications/{id}/webhook-test", true, c.webhookTest},
		{post, "/calls/{id}/reviews", true, c.reviewCall},
		{get, "/review", true, c.reviewPage},
		{get, "/review.csv", true, c.reviewCSV},
	}
}

// New builds a Console.
func New(cfg Config) *Console {
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.IdleTimeout <= 0 {
		cfg.IdleTimeout = DefaultIdleTimeout
	}
	if cfg.MaxAge <= 0 {
		cfg.MaxAge = DefaultMaxAge
	}
	c := &Console{store: cfg.Store, auth: cfg.Auth, files: cfg.Recordings, api: cfg.API, log: cfg.Logger, now: cfg.Now,
		idle: cfg.IdleTimeout, maxAge: cfg.MaxAge, mux: http.NewServeMux(), pages: parsePages(),
		bufPool: sync.Pool{New: func() any { return new(bytes.Buffer) }}, stop: make(chan struct{})}
	for _, rt := range c.routes() {
		c.mux.Handle(rt.method+" "+rt.path, c.wrap(rt))
	}
	static, _ := fs.Sub(staticFS, "static")
	files := http.StripPrefix("/static/", http.FileServerFS(static))
	c.mux.Handle("GET /static/", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		// The assets change only with the binary; an hour keeps pages quick
		// without pinning an old stylesheet after an upgrade for long.
		w.Header().Set("Cache-Control", "public, max-age=3600")
		files.ServeHTTP(w, r)
	}))
	c.mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		c.fail(w, r, voice.Errorf(voice.ECodeNotFound, "no page %s", r.URL.Path))
	})
	return c
}

// Mount answers the API's paths (/v1, /healthz, /readyz, /metrics) with
// apiHandler and every other path with the console, so both share a port.
func Mount(apiHandler, console http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		p := r.URL.Path
		if p == "/v1" || strings.HasPrefix(p, "/v1/") || p == "/healthz" || p == "/readyz" || p == "/metrics" {
			apiHandler.ServeHTTP(w, r)
			return
		}
		console.ServeHTTP(w, r)
	})
}

// securityHeaders go on every console response: the pages load only their
// own stylesheet, script, images and media, post only to themselves, and
// cannot be framed.
var securityHeaders = map[string]string{
	"Content-Security-Policy": "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; " +
		"media-src 'self'; connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'",
	"X-Frame-Options":        "DENY",
	"X-Content-Type-Options": "nosniff",
	"Referrer-Policy":        "same-origin",
}

// ServeHTTP sets the security headers, serves the request and logs it. The
// log line has the path but never the query or the body, though neither
// should hold a key: sign-in posts it in the body.
func (c *Console) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	start := time.Now()
	h := w.Header()
	for k, v := range securityHeaders {
		h.Set(k, v)
	}
	sw := &statusWriter{ResponseWriter: w}
	c.mux.ServeHTTP(sw, r)
	c.log.LogAttrs(r.Context(), slog.LevelInfo, "console request", slog.String("method", r.Method),
		slog.String("path", r.URL.Path), slog.Int("status", sw.status), slog.Duration("elapsed", time.Since(start)))
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

// wrap resolves the session of signed-in routes, checks the CSRF token of
// every POST, and renders a handler's error.
func (c *Console) wrap(rt route) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var s *session
		if rt.signedIn {
			var err error
			s, err = c.session(w, r)
			if err != nil {
				c.fail(w, r, err)
				return
			}
			if s == nil {
				http.Redirect(w, r, "/signin", http.StatusSeeOther)
				return
			}
			r = r.WithContext(context.WithValue(r.Context(), sessionKey{}, s))
			if r.Method == http.MethodPost && !c.checkCSRF(r, s) {
				c.fail(w, r, errCSRF)
				return
			}
		}
		if err := checkText(r); err != nil {
			c.fail(w, r, err)
			return
		}
		if err := rt.h(w, r, s); err != nil {
			c.fail(w, r, err)
		}
	})
}

// checkText refuses a NUL or invalid UTF-8 in the path (404, as the API
// answers such an id), the query or a posted form's fields (400): the
// database cannot store them faithfully (PostgreSQL refuses them outright),
// so they would otherwise end as an internal error or altered text. Forms
// were read by checkCSRF already; the sign-in form is read by its handler,
// and its key only ever reaches a hash.
func checkText(r *http.Request) error {
	if textcheck.String(r.URL.Path) != "" {
		return voice.Errorf(voice.ECodeNotFound, "there is no such page")
	}
	for _, vals := range []url.Values{r.URL.Query(), r.PostForm} {
		for k, vs := range vals {
			if why := textcheck.String(k); why != "" {
				return voice.Errorf(voice.ECodeInvalidRequest, "a field name %s", why)
			}
			for _, v := range vs {
				if why := textcheck.String(v); why != "" {
					return voice.Errorf(voice.ECodeInvalidRequest, "%s: %s", k, why)
				}
			}
		}
	}
	return nil
}

// errCSRF answers a POST without its form's token.
var errCSRF = &voice.Error{Code: voice.ECodeForbidden, Message: "the form has expired or did not come from this console; reload the page and try again"}

// fail renders err as an error page: a *voice.Error with its status and
// message, anything else as a 500 whose details only the log has.
func (c *Console) fail(w http.ResponseWriter, r *http.Request, err error) {
	var ve *voice.Error
	if !errors.As(err, &ve) {
		c.log.ErrorContext(r.Context(), "console error", slog.String("path", r.URL.Path), slog.Any("error", err))
		ve = &voice.Error{Code: voice.ECodeInternal, Message: "something went wrong; the server log has the details"}
	}
	status := api.HTTPStatus(ve)
	if status == http.StatusUnprocessableEntity {
		status = http.StatusBadRequest
	}
	var s *session
	if v, ok := r.Context().Value(sessionKey{}).(*session); ok {
		s = v
	}
	c.render(w, r, status, "error", s, "Error", "", errorView{Status: status, Text: http.StatusText(status), Message: ve.Message})
}

type errorView struct {
	Status  int
	Text    string
	Message string
}
