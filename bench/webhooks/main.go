// Command webhooks measures webhook delivery: the sustained deliveries per
// second to a local receiver, and the delay from the commit of an event to
// its arrival at the receiver, on SQLite or PostgreSQL.
//
// It runs the store and the job queue in process (as `minivoice serve` does),
// with a receiver on loopback answering 204, and writes call events the way
// the call engine does: each call's four events (initiated, ringing, answered,
// completed) in order, one transaction per state change, many calls at once.
// The delay is measured from the moment the transaction that wrote the event
// returned (committed) to the moment the receiver read the request.
//
//	go run ./bench/webhooks -backend sqlite -rate 600 -duration 20s
//	go run ./bench/webhooks -backend postgres -database 'postgres://postgres@127.0.0.1:5432/test?sslmode=disable' -rate 600
//	go run ./bench/webhooks -backend sqlite -rate 0        # as fast as it goes
//	go run ./bench/webhooks -smoke                         # a few seconds: does delivery work at all
//
// -smoke (or SMOKE=1 in the environment) writes 50 events a second for 3 s
// with 2 writers, waits at most a minute for their delivery, and fails
// (exit 1) unless every event arrived.
package main

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"net/url"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	_ "github.com/jackc/pgx/v5/stdlib"
	"github.com/minivoice/minivoice/bench/internal/cpuprofile"
	"github.com/minivoice/minivoice/internal/jobs"
	"github.com/minivoice/minivoice/internal/store"
	"github.com/minivoice/minivoice/internal/store/postgres"
	"github.com/minivoice/minivoice/internal/store/sqlite"
	"github.com/minivoice/minivoice/internal/voice"
	"github.com/shopspring/decimal"
)

func main() {
	backend := flag.String("backend", "sqlite", "sqlite or postgres")
	database := flag.String("database", os.Getenv("MINIVOICE_TEST_DATABASE_URL"), "PostgreSQL URL (a schema of its own is made in it and dropped)")
	rate := flag.Int("rate", 600, "events written per second (0: as fast as the writers go)")
	duration := flag.Duration("duration", 20*time.Second, "how long events are written")
	writers := flag.Int("writers", 16, "goroutines writing events")
	flag.IntVar(&callsPerWriter, "calls", 50, "calls each writer keeps open, advancing them in turn")
	perHost := flag.Int("per-host", jobs.DefaultPerHost, "requests in flight to the receiver (--webhook-max-per-host)")
	cpuProfile := flag.String("cpuprofile", "", "write a CPU profile of the measured run to this file")
	smoke := flag.Bool("smoke", os.Getenv("SMOKE") == "1", "quick check: 50 events/s for 3 s, 2 writers x 5 calls; fail unless all are delivered within a minute (default true when SMOKE=1)")
	flag.Parse()
	drain := 5 * time.Minute
	if *smoke {
		*rate, *duration, *writers, callsPerWriter, drain = 50, 3*time.Second, 2, 5, time.Minute
	}
	stopProfile, err := cpuprofile.Start(*cpuProfile)
	if err != nil {
		fmt.Fprintln(os.Stderr, "webhooks bench:", err)
		os.Exit(1)
	}
	defer stopProfile()
	if err := run(*backend, *database, *rate, *duration, *writers, *perHost, drain); err != nil {
		stopProfile()
		fmt.Fprintln(os.Stderr, "webhooks bench:", err)
		os.Exit(1)
	}
	if *smoke {
		fmt.Println("webhooks smoke: ok")
	}
}

func run(backend, database string, rate int, duration time.Duration, writers, perHost int, drain time.Duration) error {
	ctx := context.Background()
	db, dbURL, cleanup, err := open(ctx, backend, database)
	if err != nil {
		return err
	}
	defer cleanup()

	var (
		mu       sync.Mutex
		received = map[string]time.Time{}
		dups     atomic.Int64
	)
	rc := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		at := time.Now()
		id := r.Header.Get("webhook-id")
		mu.Lock()
		if _, seen := received[id]; seen {
			dups.Add(1)
		} else {
			received[id] = at
		}
		mu.Unlock()
		w.WriteHeader(http.StatusNoContent)
	}))
	defer rc.Close()

	q, err := jobs.New(ctx, jobs.Config{Store: db, DatabaseURL: dbURL, UserAgent: "MiniVoice/bench", PerHost: perHost,
		AllowPrivateURLs: []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8")}})
	if err != nil {
		return err
	}
	if err := q.Start(ctx); err != nil {
		return err
	}
	defer func() { _ = q.Stop(context.Background()) }()

	now := time.Now().UTC()
	cust := &voice.Customer{ID: voice.NewID(voice.PrefixCustomer, now), Name: "bench", Status: voice.CustomerActive,
		Currency: "EUR", Balance: decimal.Zero, MaxConcurrentCalls: 1000, MaxCPS: 1000, BlockedPrefixes: []string{},
		CreatedAt: now, UpdatedAt: now}
	if err := db.CreateCustomer(ctx, cust); err != nil {
		return err
	}
	app := &voice.Application{ID: voice.NewID(voice.PrefixApplication, now), CustomerID: cust.ID, Name: "bench",
		Status: voice.ApplicationActive, AnswerMethod: "POST", WebhookURL: rc.URL + "/hooks", WebhookStatus: voice.WebhookActive,
		WebhookEvents: []string{"*"}, Topics: []voice.TopicDef{}, WebhookSecret: "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw",
		CreatedAt: now, UpdatedAt: now}
	if err := db.CreateApplication(ctx, app); err != nil {
		return err
	}

	// Calls are written the way the engine writes them: one transaction per
	// state change, each with its event. Every writer keeps open calls
	// of its own and advances them in turn, so a call's events are spread
	// out in time as on a real system (where a call's initiated, ringing,
	// answered and completed come seconds apart), rather than back to back.
	committed := sync.Map{} // event id -> commit time
	var written atomic.Int64
	names := []voice.EventType{voice.EventCallInitiated, voice.EventCallRinging, voice.EventCallAnswered, voice.EventCallCompleted}
	type openCall struct {
		c    *voice.Call
		step int
	}
	newCall := func() *openCall {
		return &openCall{c: &voice.Call{ID: voice.NewID(voice.PrefixCall, time.Now()), CustomerID: cust.ID, ApplicationID: app.ID,
			Status: voice.CallQueued, Direction: voice.DirectionOutbound, From: "+15551230001", To: "+15551230002",
			RecordingChannels: "dual", Variables: map[string]string{}, RecordingIDs: []string{}, Currency: "EUR"}}
	}
	advance := func(oc *openCall) error {
		c := oc.c
		t := time.Now().UTC()
		id := c.ID
		ev := &voice.Event{ID: voice.NewID(voice.PrefixEvent, t), Event: names[oc.step], CreatedAt: t, CallID: &id,
			ApplicationID: app.ID, CustomerID: cust.ID, Data: []byte(`{}`), DeliveryStatus: voice.DeliveryPending}
		c.UpdatedAt = t
		var err error
		switch oc.step {
		case 0:
			c.CreatedAt = t
			err = db.CreateCallWithEvents(ctx, c, ev)
		case 1:
			c.Status, c.RingingAt = voice.CallRinging, &t
			err = db.UpdateCallWithEvents(ctx, c, ev)
		case 2:
			c.Status, c.AnsweredAt = voice.CallInProgress, &t
			err = db.UpdateCallWithEvents(ctx, c, ev)
		case 3:
			c.Status, c.EndedAt, c.Duration = voice.CallCompleted, &t, 1
			err = db.UpdateCallWithEvents(ctx, c, ev)
		}
		if err != nil {
			return err
		}
		committed.Store(ev.ID, time.Now())
		written.Add(1)
		oc.step++
		return nil
	}
	// Warm up: one call, delivered, before measuring.
	warm := newCall()
	for warm.step < len(names) {
		if err := advance(warm); err != nil {
			return err
		}
	}
	if err := waitAll(&mu, received, int(written.Load()), 30*time.Second); err != nil {
		return fmt.Errorf("warm-up: %w", err)
	}
	mu.Lock()
	clear(received)
	mu.Unlock()
	committed.Clear()
	written.Store(0)

	if rate > 0 {
		pacer = &schedule{start: time.Now(), every: time.Second / time.Duration(rate)}
	}
	load1 := loadavg()
	cpu1 := cpuTime()
	start := time.Now()
	stopAt := start.Add(duration)
	var wg sync.WaitGroup
	errs := make(chan error, writers)
	for range writers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			open := make([]*openCall, callsPerWriter)
			for i := 0; time.Now().Before(stopAt); i = (i + 1) % callsPerWriter {
				if open[i] == nil || open[i].step == len(names) {
					open[i] = newCall()
				}
				if err := pace(ctx); err != nil {
					errs <- err
					return
				}
				if err := advance(open[i]); err != nil {
					errs <- err
					return
				}
			}
		}()
	}
	wg.Wait()
	writeEnd := time.Now()
	select {
	case err := <-errs:
		return err
	default:
	}
	total := int(written.Load())
	// Deliveries that arrived during the writing window: the sustained rate.
	mu.Lock()
	inWindow := len(received)
	mu.Unlock()
	if err := waitAll(&mu, received, total, drain); err != nil {
		return err
	}
	drained := time.Now()
	load2 := loadavg()
	cpu := cpuTime() - cpu1

	var delays []time.Duration
	var last time.Time
	mu.Lock()
	for id, at := range received {
		c, ok := committed.Load(id)
		if !ok {
			continue
		}
		delays = append(delays, at.Sub(c.(time.Time)))
		if at.After(last) {
			last = at
		}
	}
	mu.Unlock()
	if len(delays) == 0 {
		return fmt.Errorf("nothing measured: %d events written, none delivered", total)
	}
	slices.Sort(delays)
	pct := func(p float64) time.Duration { return delays[min(len(delays)-1, int(p*float64(len(delays))))] }
	writeSecs := writeEnd.Sub(start).Seconds()
	fmt.Printf("backend %s, %d CPUs, %s, receiver on loopback, per-host %d, %d writers x %d open calls\n", backend, runtime.NumCPU(),
		runtime.Version(), perHost, writers, callsPerWriter)
	fmt.Printf("load average before %.2f %.2f %.2f, after %.2f %.2f %.2f\n", load1[0], load1[1], load1[2], load2[0], load2[1], load2[2])
	fmt.Printf("events written: %d in %.1f s = %.0f/s (asked %d/s)\n", total, writeSecs, float64(total)/writeSecs, rate)
	fmt.Printf("delivered while writing: %d = %.0f/s; all %d delivered %.2f s after the last write (%.0f/s overall)\n",
		inWindow, float64(inWindow)/writeSecs, len(delays), drained.Sub(writeEnd).Seconds(), float64(len(delays))/last.Sub(start).Seconds())
	fmt.Printf("commit -> delivery delay: p50 %.1f ms, p90 %.1f ms, p99 %.1f ms, max %.1f ms; duplicates %d\n",
		ms(pct(0.5)), ms(pct(0.9)), ms(pct(0.99)), ms(delays[len(delays)-1]), dups.Load())
	fmt.Printf("CPU of this process (writers, workers, receiver; not PostgreSQL's): %.1f s = %.2f ms per event, %.0f%% of one CPU\n",
		cpu.Seconds(), ms(cpu)/float64(len(delays)), 100*cpu.Seconds()/drained.Sub(start).Seconds())
	return nil
}

// cpuTime is the user plus system CPU time of this process so far.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// pacer spaces the writes when a rate is set: write n is due at start +
// n*every, so writers that fall behind catch up rather than drop writes.
var pacer *schedule

type schedule struct {
	start time.Time
	every time.Duration
	n     atomic.Int64
}

// callsPerWriter is -calls.
var callsPerWriter int

func pace(ctx context.Context) error {
	if pacer == nil {
		return nil
	}
	due := pacer.start.Add(time.Duration(pacer.n.Add(1)) * pacer.every)
	if d := time.Until(due); d > 0 {
		t := time.NewTimer(d)
		defer t.Stop()
		select {
		case <-t.C:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	return nil
}

func ms(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }

func waitAll(mu *sync.Mutex, received map[string]time.Time, n int, timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	for {
		mu.Lock()
		got := len(received)
		mu.Unlock()
		if got >= n {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("%d of %d webhooks delivered after %v", got, n, timeout)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func loadavg() [3]float64 {
	var l [3]float64
	b, err := os.ReadFile("/proc/loadavg")
	if err == nil {
		_, _ = fmt.Sscanf(string(b), "%f %f %f", &l[0], &l[1], &l[2])
	}
	return l
}

// open makes a fresh store: SQLite in a temporary directory, or PostgreSQL in
// a schema of its own.
func open(ctx context.Context, backend, database string) (*store.DB, string, func(), error) {
	switch backend {
	case "sqlite":
		dir, err := os.MkdirTemp("", "mv-webhooks-bench-")
		if err != nil {
			return nil, "", nil, err
		}
		db, err := sqlite.Open(ctx, sqlite.Config{Path: filepath.Join(dir, "bench.db")})
		if err != nil {
			os.RemoveAll(dir)
			return nil, "", nil, err
		}
		return db, "", func() { db.Close(); os.RemoveAll(dir) }, nil
	case "postgres":
		if database == "" {
			return nil, "", nil, errors.New("-database (or MINIVOICE_TEST_DATABASE_URL) is required for postgres")
		}
		var b [4]byte
		_, _ = rand.Read(b[:])
		schema := "bench_webhooks_" + hex.EncodeToString(b[:])
		admin, err := sql.Open("pgx", database)
		if err != nil {
			return nil, "", nil, err
		}
		if _, err := admin.ExecContext(ctx, "CREATE SCHEMA "+schema); err != nil {
			admin.Close()
			return nil, "", nil, err
		}
		drop := func() { _, _ = admin.Exec("DROP SCHEMA " + schema + " CASCADE"); admin.Close() }
		u, err := url.Parse(database)
		if err != nil {
			drop()
			return nil, "", nil, err
		}
		qv := u.Query()
		qv.Set("search_path", schema)
		u.RawQuery = qv.Encode()
		db, err := postgres.Open(ctx, postgres.Config{URL: u.String()})
		if err != nil {
			drop()
			return nil, "", nil, err
		}
		return db, u.String(), func() { db.Close(); drop() }, nil
	}
	return nil, "", nil, fmt.Errorf("unknown backend %q", backend)
}
