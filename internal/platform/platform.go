// Package platform assembles a running MiniVoice from its parts: storage, the
// API, and (as they land) the SIP engine and job workers. `minivoice serve`,
// `minivoice demo` and end-to-end tests all start it the same way.
package platform

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/minivoice/minivoice/internal/api"
	"github.com/minivoice/minivoice/internal/auth"
	"github.com/minivoice/minivoice/internal/billing"
	"github.com/minivoice/minivoice/internal/callctl"
	"github.com/minivoice/minivoice/internal/cluster"
	"github.com/minivoice/minivoice/internal/config"
	"github.com/minivoice/minivoice/internal/console"
	"github.com/minivoice/minivoice/internal/insights"
	"github.com/minivoice/minivoice/internal/insights/asr"
	"github.com/minivoice/minivoice/internal/jobs"
	"github.com/minivoice/minivoice/internal/obs"
	"github.com/minivoice/minivoice/internal/recording"
	"github.com/minivoice/minivoice/internal/secretbox"
	"github.com/minivoice/minivoice/internal/sip"
	"github.com/minivoice/minivoice/internal/store"
	"github.com/minivoice/minivoice/internal/store/postgres"
	"github.com/minivoice/minivoice/internal/store/sqlite"
	"github.com/minivoice/minivoice/internal/tts"
	"github.com/minivoice/minivoice/internal/voice"
	"github.com/prometheus/client_golang/prometheus"
)

// Config configures a Platform.
type Config struct {
	Serve *config.Serve
	// AdminKey is the operator key; empty reads or creates DATA/admin.key.
	AdminKey string
	// SecretKey is MINIVOICE_SECRET_KEY: the keys that encrypt the secrets
	// in the database (base64, comma-separated, oldest first); empty reads
	// or creates DATA/secret.key.
	SecretKey string
	Logger    *slog.Logger
	// Version is reported by /healthz.
	Version string
	// Now is the clock; default time.Now.
	Now func() time.Time
	// MediaTimeout overrides the SIP engine's 30 s without RTP (tests shorten it).
	MediaTimeout time.Duration
	// Refusals bounds what refused INVITEs write (zero: the engine's
	// defaults); tests shrink the refusals log to check its bound.
	Refusals sip.RefusalConfig
	// Edge is the SIP edge's base configuration (tests shorten its
	// timeouts and set its refusal rates); the --sip-* edge settings of
	// Serve that are set override it.
	Edge sip.EdgeConfig
	// OnAdminKeyCreated is told the operator key the first time it is generated,
	// so the caller can print it once.
	OnAdminKeyCreated func(key, path string)
}

// Platform is a running MiniVoice.
type Platform struct {
	Store *store.DB
	SIP   *sip.Engine
	// Jobs runs the background jobs: webhook delivery and the insights
	// pipeline.
	Jobs     *jobs.Queue
	API      *api.Server
	Metrics  *obs.Metrics
	AdminKey string
	// HTTPAddr is the API's bound address (useful when --http asked for port 0).
	HTTPAddr string
	// HTTPS is set when the API and console serve HTTPS (--tls-cert).
	HTTPS bool
	// Node is this process as a cluster node (PostgreSQL); nil on SQLite.
	Node *cluster.Node

	log      *slog.Logger
	http     *http.Server
	httpDone chan error
	tls      *tlsFiles
	// services are the parts started so far, stopped in reverse by Shutdown.
	services services
}

// Service is one part of the running platform. Start brings it up (later
// services may rely on it); Stop takes it down, after every service started
// after it has stopped. River's services have the same shape.
type Service interface {
	Start(ctx context.Context) error
	Stop(ctx context.Context) error
}

// service is a Service made of two functions; either may be nil.
type service struct {
	name        string
	start, stop func(ctx context.Context) error
}

func (s service) Start(ctx context.Context) error {
	if s.start == nil {
		return nil
	}
	if err := s.start(ctx); err != nil {
		return fmt.Errorf("start %s: %w", s.name, err)
	}
	return nil
}

func (s service) Stop(ctx context.Context) error {
	if s.stop == nil {
		return nil
	}
	if err := s.stop(ctx); err != nil {
		return fmt.Errorf("stop %s: %w", s.name, err)
	}
	return nil
}

// services starts Services in order and stops the started ones in reverse.
type services struct {
	started []Service
}

// start starts svc; if it fails, everything started before stops (in
// reverse) and the start's error is returned with the stops'.
func (ss *services) start(ctx context.Context, svc Service) error {
	if err := svc.Start(ctx); err != nil {
		return errors.Join(err, ss.stop(context.WithoutCancel(ctx)))
	}
	ss.started = append(ss.started, svc)
	return nil
}

// stop stops every started service, last started first, and joins their
// errors.
func (ss *services) stop(ctx context.Context) error {
	var errs []error
	for i := len(ss.started) - 1; i >= 0; i-- {
		errs = append(errs, ss.started[i].Stop(ctx))
	}
	ss.started = nil
	return errors.Join(errs...)
}

// Start opens storage, binds the listeners and starts serving: a list of
// services started in order (storage, recordings, jobs, the SIP engine, the
// cluster node or single-node recovery, the HTTP listener, the job workers,
// SIP, HTTP). If one fails, those started stop in reverse. Stop it with
// Shutdown.
func Start(ctx context.Context, cfg Config) (*Platform, error) {
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	sc := cfg.Serve
	if err := secureDataDir(sc.Data, cfg.Logger); err != nil {
		return nil, err
	}
	key, err := operatorKey(cfg)
	if err != nil {
		return nil, err
	}
	secrets, err := LoadSecretKeys(cfg.SecretKey, sc.Data, cfg.Logger)
	if err != nil {
		return nil, err
	}
	tf, err := loadTLS(sc.TLS)
	if err != nil {
		return nil, err
	}
	p := &Platform{AdminKey: key, log: cfg.Logger, httpDone: make(chan error, 1), tls: tf, HTTPS: tf.http != nil,
		Metrics: obs.NewMetrics()}
	// The node id goes into every call row this process creates, so it is
	// chosen before the store opens.
	nodeID := ""
	if sc.Database != "" {
		nodeID = sc.NodeID
		if nodeID == "" {
			nodeID = cluster.NewID()
		}
	}
	var (
		db       *store.DB
		blobs    *recording.Dir
		engines  *insights.Engines
		queue    *jobs.Queue
		engine   *sip.Engine
		gate     *billing.Gate
		srv      *api.Server
		ln       net.Listener
		calls    api.CallController
		closeSIP = sync.OnceValue(func() error { return engine.Close() })
	)
	steps := []Service{
		service{name: "store", start: func(ctx context.Context) error {
			var err error
			if db, err = openStore(ctx, sc.Database, sc.Data, cfg.Now, secrets, nodeID); err != nil {
				return err
			}
			registerWriterMetrics(p.Metrics, db)
			return sealSecrets(ctx, db, secrets, cfg.Logger)
		}, stop: func(context.Context) error { return db.Close() }},
		service{name: "recordings", start: func(context.Context) error {
			var err error
			blobs, err = recording.NewDir(filepath.Join(sc.Data, "recordings"))
			return err
		}, stop: func(context.Context) error { return blobs.Close() }},
		// The job queue installs itself as the store's event outbox before
		// anything writes an event (start-up recovery does), so every event
		// to deliver gets its job in the same transaction. Its workers start
		// later, with the listeners.
		service{name: "jobs", start: func(ctx context.Context) error {
			var err error
			if engines, err = insights.NewEngines(sc.Insights); err != nil {
				return err
			}
			pipeline := insights.New(insights.Config{Store: db, Blobs: blobs, ASR: engines.ASR, Analyzer: engines.Analyzer,
				Logger: cfg.Logger, Now: cfg.Now})
			queue, err = jobs.New(ctx, jobs.Config{Store: db, DatabaseURL: sc.Database, AllowPrivateURLs: sc.AllowPrivateURLs,
				UserAgent: "MiniVoice/" + cfg.Version, RetrySchedule: sc.WebhookRetrySchedule, Timeout: sc.WebhookTimeout,
				PerHost: sc.WebhookMaxPerHost, Logger: cfg.Logger, Metrics: p.Metrics, Now: cfg.Now,
				Insights: pipeline, InsightsWorkers: sc.Insights.Workers})
			if err != nil {
				return err
			}
			reportEngines(ctx, engines, cfg.Logger)
			return nil
		}, stop: func(ctx context.Context) error { return queue.Stop(ctx) }},
		service{name: "sip engine", start: func(ctx context.Context) error {
			var err error
			engine, gate, err = newEngine(ctx, cfg, db, blobs, tf, p.Metrics)
			return err
		}, stop: func(context.Context) error { return closeSIP() }},
		// Calls a previous process left unfinished: on SQLite this process
		// is the only one, so they are all closed now; on PostgreSQL the
		// node closes those of lost nodes (its own predecessor included).
		service{name: "recovery", start: func(ctx context.Context) error {
			if sc.Database != "" {
				return nil
			}
			return recoverSingleNode(ctx, cfg, db, engine, blobs)
		}},
		service{name: "cluster node", start: func(ctx context.Context) error {
			calls = cluster.NewController(engine, nil)
			if sc.Database == "" {
				return nil
			}
			node, err := cluster.New(cluster.Config{Store: db, DatabaseURL: sc.Database, ID: nodeID, Lease: sc.NodeLease,
				Now: cfg.Now, Logger: cfg.Logger, Recordings: blobs, Local: engine,
				Draining:     func() bool { return !engine.Accepting() },
				RatesChanged: gate.Book.Reload,
				Close: func(ctx context.Context, calls []*voice.Call, lastSeen time.Time) (int, error) {
					return engine.CloseAbandoned(ctx, calls, voice.CauseNodeLost, lastSeen)
				}})
			if err != nil {
				return err
			}
			if err := node.Start(ctx); err != nil {
				return err
			}
			p.Node, calls = node, cluster.NewController(engine, node)
			return nil
		}, stop: func(ctx context.Context) error {
			if p.Node == nil {
				return nil
			}
			return p.Node.Stop(ctx)
		}},
		service{name: "http listener", start: func(context.Context) error {
			var err error
			if ln, err = net.Listen("tcp", sc.HTTP); err != nil {
				return fmt.Errorf("listen %s: %w", sc.HTTP, err)
			}
			p.HTTPAddr = ln.Addr().String()
			return nil
		}, stop: func(context.Context) error {
			// Closed by the HTTP server once it serves; before that, here.
			if p.http == nil {
				return ln.Close()
			}
			return nil
		}},
		service{name: "job workers", start: func(ctx context.Context) error { return queue.Start(ctx) }},
		// Stopping SIP hangs up the calls still up (system_shutdown) and
		// writes them, before the node gives its lease up.
		service{name: "sip", start: func(context.Context) error { engine.Serve(); return nil },
			stop: func(context.Context) error { return closeSIP() }},
		service{name: "http", start: func(context.Context) error {
			authn := auth.New(auth.Config{Store: db, OperatorKey: key, Now: cfg.Now, Throttle: auth.NewThrottle()})
			srv = api.New(api.Config{Store: db, Auth: authn, Logger: cfg.Logger, Metrics: p.Metrics, Now: cfg.Now,
				AllowPrivateURLs: sc.AllowPrivateURLs, Version: cfg.Version, Calls: calls, Streams: engine, Recordings: blobs, Billing: gate,
				Ready: readiness(engine, queue), Engines: engines.Status, RefusalsDropped: engine.RefusalsDropped})
			p.serveHTTP(cfg, db, authn, srv, blobs, ln)
			return nil
		}, stop: func(ctx context.Context) error { return p.http.Shutdown(ctx) }},
	}
	for _, svc := range steps {
		if err := p.services.start(ctx, svc); err != nil {
			return nil, err
		}
	}
	p.Store, p.SIP, p.Jobs, p.API = db, engine, queue, srv
	cfg.Logger.Info("minivoice started", slog.String("http", p.HTTPAddr), slog.String("sip", engine.Addr().String()),
		slog.String("database", dbName(sc.Database)), slog.String("data", sc.Data), slog.String("node", nodeID))
	return p, nil
}

// reportEngines logs, once, the insights engines that are not available,
// without holding up the start for a slow server.
func reportEngines(ctx context.Context, engines *insights.Engines, log *slog.Logger) {
	sctx, cancel := context.WithTimeout(ctx, 3*time.Second)
	statuses := engines.Status(sctx)
	cancel()
	for _, st := range statuses {
		switch {
		case st.Available:
		case st.Kind == "llm" && st.Name == "none":
			// No LLM configured is the normal case: the offline analyser
			// does the work. Not a warning.
			log.Info("engine not configured", slog.String("kind", st.Kind), slog.String("detail", st.Detail))
		default:
			log.Warn("engine unavailable", slog.String("kind", st.Kind), slog.String("name", st.Name), slog.String("detail", st.Detail))
		}
	}
}

// newEngine builds the SIP engine (bound, not yet serving).
func newEngine(ctx context.Context, cfg Config, db *store.DB, blobs *recording.Dir, tf *tlsFiles, metrics *obs.Metrics) (*sip.Engine, *billing.Gate, error) {
	sc := cfg.Serve
	// Without flite the platform still runs; `say` then fails the call with
	// call.error, and the log says why once, here.
	var speaker sip.Speaker
	if t, err := tts.New(tts.Config{CacheDir: filepath.Join(sc.Data, "media", "tts")}); err != nil {
		cfg.Logger.Warn("text to speech unavailable: say actions will fail (install Debian's flite)", slog.Any("error", err))
	} else {
		speaker = t
	}
	book, err := billing.NewBook(ctx, db)
	if err != nil {
		return nil, nil, err
	}
	gate := &billing.Gate{Store: db, Book: book, Admitter: billing.NewAdmitter(), Now: cfg.Now}
	fetcher := callctl.NewFetcher(callctl.FetcherConfig{Allow: sc.AllowPrivateURLs, UserAgent: "MiniVoice/" + cfg.Version,
		Now: cfg.Now, Logger: cfg.Logger})
	engine, err := sip.New(sip.Config{Listen: sc.SIP, PublicIP: sc.PublicIP, RTPPortMin: sc.RTPPortMin, RTPPortMax: sc.RTPPortMax,
		Store: db, Fetcher: fetcher, Speaker: speaker, MediaDir: filepath.Join(sc.Data, "media"),
		AllowPrivateURLs: sc.AllowPrivateURLs, Logger: cfg.Logger, Metrics: metrics, Now: cfg.Now, MediaTimeout: cfg.MediaTimeout,
		Recordings: blobs, Gate: gate, Refusals: cfg.Refusals, Edge: edgeConfig(cfg.Edge, sc.Edge), TrustedProxies: sc.SIPTrustedProxies,
		TLSListen: sc.TLS.SIPListen, TLSCert: tf.sip, TrunkRoots: tf.roots, MaxCallSetups: sc.MaxCallSetups,
		// Speech gathers: at normal priority, within their own budget of
		// decoders (call-control.md, gather).
		Recognizer: asr.NewCommands(asr.CommandConfig{ModelDir: sc.Insights.PocketsphinxModel, MaxDecoders: sc.Insights.SpeechDecoders})})
	if err == nil {
		engine.SetMaxStreamsPerCustomer(sc.MaxStreamsPerCustomer)
	}
	return engine, gate, err
}

// recoverSingleNode closes the calls and recordings a previous process left
// unfinished: only where this process is the only one using the database
// (SQLite), since other processes' live calls look unfinished too.
func recoverSingleNode(ctx context.Context, cfg Config, db *store.DB, engine *sip.Engine, blobs *recording.Dir) error {
	n, err := engine.Recover(ctx)
	if err != nil {
		return err
	}
	if n > 0 {
		cfg.Logger.Warn("closed calls left unfinished by a previous process", slog.Int("calls", n))
	}
	done, failed, err := recording.Recover(ctx, db, blobs, cfg.Now())
	if err != nil {
		return fmt.Errorf("recover recordings: %w", err)
	}
	if done+failed > 0 {
		cfg.Logger.Warn("closed recordings left in progress by a previous process", slog.Int("completed", done),
			slog.Int("failed", failed))
	}
	return nil
}

// serveHTTP starts serving the API and console on ln.
func (p *Platform) serveHTTP(cfg Config, db *store.DB, authn *auth.Authenticator, srv *api.Server, blobs *recording.Dir, ln net.Listener) {
	tf := p.tls
	con := console.New(console.Config{Store: db, Auth: authn, Recordings: blobs, Logger: cfg.Logger, Now: cfg.Now, API: srv})
	p.http = &http.Server{Handler: trustProxies(console.Mount(srv, con), cfg.Serve.TLS.TrustedProxies), ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout: time.Minute, IdleTimeout: 2 * time.Minute, ErrorLog: slog.NewLogLogger(cfg.Logger.Handler(), slog.LevelWarn)}
	// Shutdown waits for open connections; the console's live streams end
	// when it begins instead of holding it up.
	p.http.RegisterOnShutdown(con.Close)
	if tf.http != nil {
		// ServeTLS with no files takes the certificate from TLSConfig
		// (reloaded on SIGHUP) and sets up HTTP/2 as ListenAndServeTLS does.
		p.http.TLSConfig = tf.http.ServerConfig()
	}
	go func() {
		var err error
		if tf.http != nil {
			err = p.http.ServeTLS(ln, "", "")
		} else {
			err = p.http.Serve(ln)
		}
		if errors.Is(err, http.ErrServerClosed) {
			err = nil
		}
		p.httpDone <- err
	}()
}
func dbName(url string) string {
	if url == "" {
		return "sqlite"
	}
	return "postgres"
}

// OpenStore opens PostgreSQL when url is set, else SQLite under dataDir,
// with secrets encrypting the secret columns.
func OpenStore(ctx context.Context, url, dataDir string, now func() time.Time, secrets *secretbox.Keyring) (*store.DB, error) {
	return openStore(ctx, url, dataDir, now, secrets, "")
}

// openStore is OpenStore for a serve process: on PostgreSQL the calls it
// creates are held by node nodeID.
func openStore(ctx context.Context, url, dataDir string, now func() time.Time, secrets *secretbox.Keyring, nodeID string) (*store.DB, error) {
	if url != "" {
		return postgres.Open(ctx, postgres.Config{URL: url, Now: now, Secrets: secrets, NodeID: nodeID})
	}
	return sqlite.Open(ctx, sqlite.Config{Path: filepath.Join(dataDir, "minivoice.db"), Now: now, Secrets: secrets})
}

// Done yields the HTTP server's error if it stops by itself.
func (p *Platform) Done() <-chan error { return p.httpDone }

// Drain refuses new calls (SIP 503) and lets live ones finish until ctx ends,
// then hangs the rest up with system_shutdown. The API keeps serving meanwhile,
// so calls can still be hung up and inspected.
func (p *Platform) Drain(ctx context.Context) { p.SIP.Drain(ctx) }

// Shutdown stops accepting requests, waits for those in flight until ctx ends,
// stops the SIP engine, then the job workers (deliveries in flight finish
// while ctx allows; queued ones wait in the database for the next start),
// and closes storage.
func (p *Platform) Shutdown(ctx context.Context) error { return p.services.stop(ctx) }

// operatorKey returns the configured key, or reads DATA/admin.key, or makes it.
func operatorKey(cfg Config) (string, error) {
	if cfg.AdminKey != "" {
		if len(cfg.AdminKey) < 16 {
			return "", fmt.Errorf("MINIVOICE_ADMIN_KEY must be at least 16 characters")
		}
		return cfg.AdminKey, nil
	}
	path := filepath.Join(cfg.Serve.Data, "admin.key")
	b, err := os.ReadFile(path)
	if err == nil {
		key := strings.TrimSpace(string(b))
		if key == "" {
			return "", fmt.Errorf("%s is empty", path)
		}
		return key, nil
	}
	if !errors.Is(err, os.ErrNotExist) {
		return "", fmt.Errorf("read admin key: %w", err)
	}
	key := auth.NewSecret(voice.KeyOperator)
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return "", fmt.Errorf("create admin key: %w", err)
	}
	if _, err := f.WriteString(key + "\n"); err != nil {
		f.Close()
		return "", fmt.Errorf("write admin key: %w", err)
	}
	if err := f.Close(); err != nil {
		return "", fmt.Errorf("write admin key: %w", err)
	}
	if cfg.OnAdminKeyCreated != nil {
		cfg.OnAdminKeyCreated(key, path)
	}
	return key, nil
}

// edgeConfig is base with the serve settings that are set laid over it.
func edgeConfig(base sip.EdgeConfig, sc config.SIPEdge) sip.EdgeConfig {
	base.DropUnknown = base.DropUnknown || sc.DropUnknown
	over := func(dst *time.Duration, v time.Duration) {
		if v > 0 {
			*dst = v
		}
	}
	over(&base.Stream.IdleTimeout, sc.IdleTimeout)
	over(&base.Stream.HeaderTimeout, sc.HeaderTimeout)
	if sc.MaxConnsPerSource > 0 {
		base.Stream.MaxConnsPerSource = sc.MaxConnsPerSource
	}
	if sc.MaxConns > 0 {
		base.Stream.MaxConns = sc.MaxConns
	}
	return base
}

// readiness is /readyz's checks besides the database: the SIP engine as a
// whole, each SIP listener (sip_udp, sip_tcp, sip_tls) on its own, so that
// one that stopped taking connections shows by name, and the job queue.
func readiness(engine *sip.Engine, queue *jobs.Queue) map[string]api.Readiness {
	checks := map[string]api.Readiness{"sip": engine.Ready, "jobs": queue.Ready}
	for name, check := range engine.Listeners() {
		checks[name] = check
	}
	return checks
}

// registerWriterMetrics exports how SQLite's single writer is doing: the
// transactions the calls' writes ran in and the writes, so writes per
// transaction (near 1: the writer has room; rising: calls' writes queue for
// it and share commits). Nothing on PostgreSQL, which has no such queue. A
// second platform on the same registry (tests) keeps the first one's.
func registerWriterMetrics(m *obs.Metrics, db *store.DB) {
	if m == nil || m.Registry == nil || db.Dialect().Name != "sqlite" {
		return
	}
	_ = m.Registry.Register(prometheus.NewCounterFunc(prometheus.CounterOpts{Name: "minivoice_sqlite_write_transactions_total",
		Help: "Transactions the calls' writes ran in on SQLite (several writes share one when they queue for the writer)."},
		func() float64 { n, _ := db.GroupStats(); return float64(n) }))
	_ = m.Registry.Register(prometheus.NewCounterFunc(prometheus.CounterOpts{Name: "minivoice_sqlite_writes_total",
		Help: "Writes of calls (admissions, records, answers, ends, webhook attempts) on SQLite."},
		func() float64 { _, n := db.GroupStats(); return float64(n) }))
}
