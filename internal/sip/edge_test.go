package sip

import (
	"context"
	"errors"
	"net/netip"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/minivoice/minivoice/internal/voice"
)

// The per-source bucket bounds one address, the total bounds all of them,
// and a full map of sources forgets those whose bucket has refilled.
func TestEdgeAllow(t *testing.T) {
	t.Parallel()
	g := newEdge(EdgeConfig{RefusalRate: 1, RefusalBurst: 3, RefusalRateTotal: 1, RefusalBurstTotal: 5, MaxSources: 2}, nil)
	now := time.Date(2026, 12, 6, 12, 0, 0, 0, time.UTC)
	a, b, c := netip.MustParseAddr("192.0.2.1"), netip.MustParseAddr("192.0.2.2"), netip.MustParseAddr("192.0.2.3")
	count := func(src netip.Addr, n int, at time.Time) int {
		ok := 0
		for range n {
			if g.allow(src, at) {
				ok++
			}
		}
		return ok
	}
	if got := count(a, 10, now); got != 3 {
		t.Fatalf("source a: %d allowed at once, want its burst of 3", got)
	}
	if got := count(b, 10, now); got != 2 {
		t.Fatalf("source b: %d allowed, want the 2 left of the total's burst of 5", got)
	}
	// A third source while the map holds two whose buckets are spent: no
	// room, so only the total bounds it (and the total is spent).
	if got := count(c, 1, now); got != 0 {
		t.Fatalf("source c: %d allowed with the total spent", got)
	}
	// Ten seconds on, a's and b's buckets have refilled: the sweep forgets
	// them and c gets a bucket of its own.
	later := now.Add(10 * time.Second)
	if got := count(c, 10, later); got != 3 {
		t.Fatalf("source c later: %d allowed, want its burst of 3", got)
	}
	g.mu.Lock()
	n := len(g.bySrc)
	g.mu.Unlock()
	if n > 2 {
		t.Fatalf("%d sources remembered, above MaxSources 2", n)
	}
}

// INVITEs that arrive while a trunk read runs share the next read, which
// starts after they arrived: no INVITE is judged on trunks read before it.
func TestTrunkReaderSharesFreshReads(t *testing.T) {
	t.Parallel()
	var reads atomic.Int32
	release := make(chan struct{})
	started := make(chan struct{}, 30)
	load := func(ctx context.Context) ([]*voice.Trunk, error) {
		n := reads.Add(1)
		started <- struct{}{}
		<-release
		return []*voice.Trunk{{Name: "read-" + string(rune('0'+n))}}, nil
	}
	r := &trunkReader{load: load}
	ctx := context.Background()
	first := make(chan string)
	go func() {
		trunks, _ := r.get(ctx)
		first <- trunks[0].Name
	}()
	<-started // read 1 is running
	var wg sync.WaitGroup
	names := make([]string, 20)
	for i := range names {
		wg.Add(1)
		go func() {
			defer wg.Done()
			trunks, err := r.get(ctx)
			if err != nil {
				t.Error(err)
				return
			}
			names[i] = trunks[0].Name
		}()
	}
	// Wait until all twenty wait on the read pending behind read 1, then
	// let the reads end.
	for {
		r.mu.Lock()
		joined := r.joined
		r.mu.Unlock()
		if joined == len(names) {
			break
		}
		time.Sleep(time.Millisecond)
	}
	close(release)
	if got := <-first; got != "read-1" {
		t.Fatalf("first INVITE got %s", got)
	}
	wg.Wait()
	for i, n := range names {
		if n != "read-2" {
			t.Fatalf("INVITE %d judged on %s, want read-2 (the first read to begin after it arrived)", i, n)
		}
	}
	if n := reads.Load(); n != 2 {
		t.Fatalf("%d reads for 21 INVITEs, want 2", n)
	}
	// A read's error reaches its waiters; the reader recovers.
	r2 := &trunkReader{load: func(context.Context) ([]*voice.Trunk, error) { return nil, errors.New("database is down") }}
	if _, err := r2.get(ctx); err == nil || !strings.Contains(err.Error(), "down") {
		t.Fatalf("error %v", err)
	}
	cctx, cancel := context.WithCancel(ctx)
	cancel()
	blocked := &trunkReader{load: func(ctx context.Context) ([]*voice.Trunk, error) { <-ctx.Done(); return nil, ctx.Err() }}
	if _, err := blocked.get(cctx); !errors.Is(err, context.Canceled) {
		t.Fatalf("canceled get: %v", err)
	}
}

// Ready and Listeners name a listener that is down.
func TestReadyNamesFailingListener(t *testing.T) {
	t.Parallel()
	e := &Engine{}
	var failing atomic.Bool
	e.addListener("sip_udp", nil)
	tcp := e.addListener("sip_tcp", func() error {
		if failing.Load() {
			return errors.New("accept failing, retrying: accept4: too many open files")
		}
		return nil
	})
	if err := e.Ready(context.Background()); err != nil {
		t.Fatalf("ready: %v", err)
	}
	failing.Store(true)
	err := e.Ready(context.Background())
	if err == nil || !strings.Contains(err.Error(), "sip_tcp: accept failing") {
		t.Fatalf("ready while accepts fail: %v", err)
	}
	checks := e.Listeners()
	if checks["sip_udp"](context.Background()) != nil || checks["sip_tcp"](context.Background()) == nil {
		t.Fatalf("listener checks disagree")
	}
	failing.Store(false)
	tcp.stopped.Store(errors.New("listener closed"))
	if err := checks["sip_tcp"](context.Background()); err == nil || !strings.Contains(err.Error(), "stopped: listener closed") {
		t.Fatalf("stopped listener: %v", err)
	}
	e.draining.Store(true)
	if err := e.Ready(context.Background()); err == nil || err.Error() != "draining" {
		t.Fatalf("draining: %v", err)
	}
}
