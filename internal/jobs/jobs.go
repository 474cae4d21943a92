// Package jobs runs MiniVoice's background jobs on River
// (github.com/riverqueue/river), in the platform's own database: the embedded
// SQLite through riversqlite, PostgreSQL through riverdatabasesql over the
// store's database/sql pool. Its jobs are webhook deliveries and the steps of the insights pipeline
// (transcription, then summary/score/topics) on their own queue.
//
// The store writes each event and, through the outbox hook it is given
// (store.DB.SetEventOutbox), the event's delivery job in one transaction, so a
// committed event always has its job and a rolled-back one never does.
// Workers pick jobs up within milliseconds: River's insert notifications
// wake them (PostgreSQL LISTEN/NOTIFY on a dedicated pgx connection; SQLite's
// notification table, polled every 50 ms), and a short fetch poll catches
// retries that come due. docs/webhooks.md describes the behaviour.
package jobs

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"net/netip"
	"sync"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/minivoice/minivoice/internal/delivery"
	"github.com/minivoice/minivoice/internal/insights"
	"github.com/minivoice/minivoice/internal/netguard"
	"github.com/minivoice/minivoice/internal/obs"
	"github.com/minivoice/minivoice/internal/store"
	"github.com/minivoice/minivoice/internal/voice"
	"github.com/riverqueue/river"
	"github.com/riverqueue/river/riverdriver"
	"github.com/riverqueue/river/riverdriver/riverdatabasesql"
	"github.com/riverqueue/river/riverdriver/riversqlite"
	"github.com/riverqueue/river/rivermigrate"
)

// QueueWebhooks is the River queue of webhook deliveries.
const QueueWebhooks = "webhooks"

// Defaults of Config.
const (
	DefaultPerHost      = 4
	DefaultWorkers      = 100
	DefaultPollInterval = 250 * time.Millisecond
)

// fetchCooldown is the least time between two fetches of a worker pool: the
// delay a notification may wait, traded against fetch queries (each one a
// write transaction on SQLite) under load.
const fetchCooldown = 20 * time.Millisecond

// DefaultRetrySchedule is webhooks.md's: the delays after the first attempt.
var DefaultRetrySchedule = []time.Duration{5 * time.Second, 5 * time.Minute, 30 * time.Minute, 2 * time.Hour,
	5 * time.Hour, 10 * time.Hour, 10 * time.Hour}

// Config configures a Queue.
type Config struct {
	Store *store.DB
	// DatabaseURL is the postgres:// URL the store was opened with: the queue
	// opens one more connection to it to LISTEN for new jobs. Empty on SQLite.
	DatabaseURL string
	// Client sends the webhooks; default an SSRF-guarded client
	// (netguard.NewClient) allowing AllowPrivateURLs.
	Client           *http.Client
	AllowPrivateURLs []netip.Prefix
	// UserAgent is sent with every webhook ("MiniVoice/VERSION").
	UserAgent string
	// RetrySchedule is the delays between attempts after the first; default
	// DefaultRetrySchedule. Each delay gets ±20 % jitter.
	RetrySchedule []time.Duration
	// Timeout bounds one attempt; default delivery.DefaultTimeout (15 s).
	Timeout time.Duration
	// PerHost bounds the requests in flight to one receiver host in this
	// process; default DefaultPerHost.
	PerHost int
	// Workers bounds the deliveries this process runs at once; default
	// DefaultWorkers.
	Workers int
	// PollInterval is how often workers look for jobs that came due without
	// a notification (retries); default DefaultPollInterval.
	PollInterval time.Duration
	Logger       *slog.Logger
	Metrics      *obs.Metrics
	// Now is the clock of attempts and schedules; default time.Now.
	Now func() time.Time
	// TestOnly turns off River's start-up jitter, for fast tests.
	TestOnly bool

	// Insights runs the steps of the insights pipeline; nil leaves the
	// pipeline off (completed recordings get no transcription).
	Insights *insights.Pipeline
	// InsightsWorkers bounds the pipeline steps this process runs at once;
	// default DefaultInsightsWorkers.
	InsightsWorkers int
}

// Queue owns the River client: it migrates River's tables, queues deliveries
// through the store's outbox, and runs the workers between Start and Stop.
type Queue struct {
	cfg      Config
	store    *store.DB
	client   *river.Client[*sql.Tx]
	driver   riverdriver.Driver[*sql.Tx]
	listen   *pgxpool.Pool
	sender   *delivery.Sender
	gate     *hostGate
	signals  signals
	log      *slog.Logger
	metrics  *obs.Metrics
	now      func() time.Time
	postgres bool

	jobTimeout time.Duration

	running  atomic.Bool
	stopOnce sync.Once
	cancel   context.CancelFunc
	loops    sync.WaitGroup
}

// New migrates River's tables into the store's database (the schema its
// search_path selects, on PostgreSQL), builds the client and installs the
// outbox on the store. Workers start with Start.
func New(ctx context.Context, cfg Config) (*Queue, error) {
	if cfg.Store == nil {
		return nil, errors.New("jobs: no store")
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if len(cfg.RetrySchedule) == 0 {
		cfg.RetrySchedule = DefaultRetrySchedule
	}
	if cfg.Timeout <= 0 {
		cfg.Timeout = delivery.DefaultTimeout
	}
	if cfg.PerHost <= 0 {
		cfg.PerHost = DefaultPerHost
	}
	if cfg.Workers <= 0 {
		cfg.Workers = DefaultWorkers
	}
	if cfg.PollInterval <= 0 {
		cfg.PollInterval = DefaultPollInterval
	}
	if cfg.InsightsWorkers <= 0 {
		cfg.InsightsWorkers = DefaultInsightsWorkers
	}
	if cfg.Client == nil {
		cfg.Client = netguard.NewClient(netguard.ClientConfig{Allow: cfg.AllowPrivateURLs, Timeout: cfg.Timeout})
		if t, ok := cfg.Client.Transport.(*http.Transport); ok {
			t.MaxIdleConnsPerHost = cfg.PerHost
		}
	}
	q := &Queue{cfg: cfg, store: cfg.Store, log: cfg.Logger, metrics: cfg.Metrics, now: cfg.Now,
		postgres: cfg.Store.Dialect().Name == "postgres",
		sender:   &delivery.Sender{Client: cfg.Client, UserAgent: cfg.UserAgent, Now: cfg.Now},
		gate:     newHostGate(cfg.PerHost, gateSlowAfter, gateMaxWait),
	}
	// A job's whole run: waiting its turn behind the call's earlier event,
	// for a slot of its host, the attempt, and the bookkeeping.
	q.jobTimeout = cfg.Timeout + orderWait + gateMaxWait + 10*time.Second

	db := cfg.Store.SQL()
	if q.postgres {
		if cfg.DatabaseURL == "" {
			q.driver = riverdatabasesql.New(db)
		} else {
			pc, err := pgxpool.ParseConfig(cfg.DatabaseURL)
			if err != nil {
				return nil, fmt.Errorf("jobs: listener pool: %w", err)
			}
			pc.MinConns, pc.MaxConns = 0, 2
			if q.listen, err = pgxpool.NewWithConfig(ctx, pc); err != nil {
				return nil, fmt.Errorf("jobs: listener pool: %w", err)
			}
			q.driver = riverdatabasesql.NewWithPgxListener(db, q.listen)
		}
	} else {
		q.driver = riversqlite.New(db)
	}
	if err := q.migrate(ctx); err != nil {
		q.closeListener()
		return nil, err
	}
	workers := river.NewWorkers()
	if err := river.AddWorkerSafely(workers, &deliverWorker{q: q}); err != nil {
		q.closeListener()
		return nil, fmt.Errorf("jobs: %w", err)
	}
	queues := map[string]river.QueueConfig{QueueWebhooks: {MaxWorkers: cfg.Workers}}
	if cfg.Insights != nil {
		if err := errors.Join(river.AddWorkerSafely(workers, &transcribeWorker{p: cfg.Insights}),
			river.AddWorkerSafely(workers, &analyzeWorker{p: cfg.Insights})); err != nil {
			q.closeListener()
			return nil, fmt.Errorf("jobs: %w", err)
		}
		queues[QueueInsights] = river.QueueConfig{MaxWorkers: cfg.InsightsWorkers}
	}
	client, err := river.NewClient(q.driver, &river.Config{
		Queues:            queues,
		Workers:           workers,
		FetchCooldown:     fetchCooldown,
		FetchPollInterval: cfg.PollInterval,
		JobTimeout:        q.jobTimeout,
		// A job still running this long after it started belongs to a
		// process that died mid-attempt (PostgreSQL; SQLite requeues them at
		// start): River's leader runs it again.
		RescueStuckJobsAfter:        q.jobTimeout + 15*time.Second,
		CompletedJobRetentionPeriod: time.Hour,
		MaxAttempts:                 maxJobAttempts,
		Logger:                      slog.New(minLevel{slog.LevelWarn, cfg.Logger.Handler()}),
		TestOnly:                    cfg.TestOnly,
	})
	if err != nil {
		q.closeListener()
		return nil, fmt.Errorf("jobs: river client: %w", err)
	}
	q.client = client
	cfg.Store.SetEventOutbox(q.EnqueueTx)
	if cfg.Insights != nil {
		cfg.Store.SetInsightsOutbox(q.EnqueueInsightsTx)
	}
	return q, nil
}

// maxJobAttempts is how often River reruns a delivery job that failed for a
// reason of its own (the database unreachable, a crash mid-attempt); the
// webhook's own retries are snoozes and do not count.
const maxJobAttempts = 10

// migrateLock is the PostgreSQL advisory lock key serializing River's
// migrations when several processes start at once ("mvriver").
const migrateLock = 0x6d7672697665

// migrate brings River's tables up to date.
func (q *Queue) migrate(ctx context.Context) error {
	m, err := rivermigrate.New(q.driver, &rivermigrate.Config{Logger: slog.New(minLevel{slog.LevelWarn, q.log.Handler()})})
	if err != nil {
		return fmt.Errorf("jobs: migrator: %w", err)
	}
	if q.postgres {
		conn, err := q.store.SQL().Conn(ctx)
		if err != nil {
			return fmt.Errorf("jobs: migrate: %w", err)
		}
		defer conn.Close()
		if _, err := conn.ExecContext(ctx, `SELECT pg_advisory_lock($1)`, int64(migrateLock)); err != nil {
			return fmt.Errorf("jobs: migrate lock: %w", err)
		}
		defer func() {
			_, _ = conn.ExecContext(context.WithoutCancel(ctx), `SELECT pg_advisory_unlock($1)`, int64(migrateLock))
		}()
	}
	if _, err := m.Migrate(ctx, rivermigrate.DirectionUp, nil); err != nil {
		return fmt.Errorf("jobs: migrate river: %w", err)
	}
	return nil
}

// EnqueueTx queues the delivery of events (pending ones, just inserted) in
// tx: it is the store's EventOutbox.
func (q *Queue) EnqueueTx(ctx context.Context, tx *sql.Tx, events []*voice.Event) error {
	if len(events) == 0 {
		return nil
	}
	params := make([]river.InsertManyParams, len(events))
	for i, e := range events {
		params[i] = river.InsertManyParams{Args: DeliverArgs{EventID: e.ID, Round: e.DeliveryRound},
			InsertOpts: &river.InsertOpts{Queue: QueueWebhooks}}
	}
	// The fast insert skips returning the rows (and unique-job handling,
	// which these jobs do not use): on SQLite it costs half as much.
	if _, err := q.client.InsertManyFastTx(ctx, tx, params); err != nil {
		return fmt.Errorf("jobs: insert delivery jobs: %w", err)
	}
	return nil
}

// Start starts the workers. They run until Stop, whatever happens to ctx
// (a SIGTERM drain keeps delivering the events of calls still ending).
func (q *Queue) Start(ctx context.Context) error {
	if !q.postgres {
		// SQLite is one process's: a job left running is one a killed
		// process was working, so it can run again now rather than after
		// River's stuck-job rescue.
		if _, err := q.store.SQL().ExecContext(ctx, `UPDATE river_job SET state = 'available' WHERE state = 'running' AND queue IN (?, ?)`,
			QueueWebhooks, QueueInsights); err != nil {
			return fmt.Errorf("jobs: requeue orphaned jobs: %w", err)
		}
	}
	runCtx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	if err := q.client.Start(runCtx); err != nil {
		cancel()
		return fmt.Errorf("jobs: start river: %w", err)
	}
	q.cancel = cancel
	q.running.Store(true)
	if q.metrics != nil {
		q.loops.Add(1)
		go func() {
			defer q.loops.Done()
			q.depthLoop(runCtx)
		}()
	}
	return nil
}

// Stop stops fetching jobs and lets deliveries in flight finish until shortly
// before ctx's deadline, then cancels them (they are retried by the next
// process). Jobs not yet started stay queued in the database.
func (q *Queue) Stop(ctx context.Context) error {
	var err error
	q.stopOnce.Do(func() {
		q.running.Store(false)
		if q.cancel == nil { // never started
			q.closeListener()
			return
		}
		soft := ctx
		if d, ok := ctx.Deadline(); ok {
			var cancel context.CancelFunc
			soft, cancel = context.WithDeadline(ctx, d.Add(-2*time.Second))
			defer cancel()
		}
		if serr := q.client.Stop(soft); serr != nil {
			hard, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
			defer cancel()
			if herr := q.client.StopAndCancel(hard); herr != nil {
				err = fmt.Errorf("jobs: stop: %w", herr)
			}
		}
		q.cancel()
		q.loops.Wait()
		q.closeListener()
	})
	return err
}

func (q *Queue) closeListener() {
	if q.listen != nil {
		q.listen.Close()
	}
}

// Ready reports whether the workers are running, for /readyz.
func (q *Queue) Ready(context.Context) error {
	if !q.running.Load() {
		return errors.New("job workers are not running")
	}
	select {
	case <-q.client.Stopped():
		return errors.New("job workers stopped")
	default:
	}
	return nil
}

// depthLoop publishes the number of jobs waiting in each queue every few
// seconds.
func (q *Queue) depthLoop(ctx context.Context) {
	t := time.NewTicker(5 * time.Second)
	defer t.Stop()
	for {
		for _, queue := range []string{QueueWebhooks, QueueInsights} {
			if n, err := q.depth(ctx, queue); err == nil {
				q.metrics.JobQueueDepth.WithLabelValues(queue).Set(float64(n))
			}
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// Depth is the number of webhook deliveries waiting: due now, or scheduled
// for a retry.
func (q *Queue) Depth(ctx context.Context) (int, error) { return q.depth(ctx, QueueWebhooks) }

// depth is the number of jobs of queue waiting: due now, or scheduled.
func (q *Queue) depth(ctx context.Context, queue string) (int, error) {
	query := `SELECT count(*) FROM river_job WHERE queue = ? AND state IN ('available', 'scheduled', 'retryable')`
	if q.postgres {
		query = `SELECT count(*) FROM river_job WHERE queue = $1 AND state IN ('available', 'scheduled', 'retryable')`
	}
	var n int
	if err := q.store.SQL().QueryRowContext(ctx, query, queue).Scan(&n); err != nil {
		return 0, fmt.Errorf("jobs: depth: %w", err)
	}
	return n, nil
}

// jitter spreads d by ±20 %.
func jitter(d time.Duration) time.Duration {
	return time.Duration(float64(d) * (0.8 + 0.4*rand.Float64()))
}

// minLevel drops records below a level: River's own logs are kept to
// warnings and errors.
type minLevel struct {
	min slog.Level
	h   slog.Handler
}

func (m minLevel) Enabled(ctx context.Context, l slog.Level) bool {
	return l >= m.min && m.h.Enabled(ctx, l)
}
func (m minLevel) Handle(ctx context.Context, r slog.Record) error { return m.h.Handle(ctx, r) }
func (m minLevel) WithAttrs(as []slog.Attr) slog.Handler           { return minLevel{m.min, m.h.WithAttrs(as)} }
func (m minLevel) WithGroup(name string) slog.Handler              { return minLevel{m.min, m.h.WithGroup(name)} }
