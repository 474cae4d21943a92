package billing

import (
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/minivoice/minivoice/internal/voice"
)

var t0 = time.Date(2026, 3, 4, 12, 0, 0, 0, time.UTC)

func TestCPSLimiterBucket(t *testing.T) {
	var l CPSLimiter
	type step struct {
		at    time.Duration // since t0
		ok    bool
		retry time.Duration
	}
	tests := []struct {
		name   string
		maxCPS int
		steps  []step
	}{
		{"burst of max_cps then one per 1/max_cps", 5, []step{
			{0, true, 0}, {0, true, 0}, {0, true, 0}, {0, true, 0}, {0, true, 0},
			{0, false, 200 * time.Millisecond},
			{150 * time.Millisecond, false, 50 * time.Millisecond},
			{200 * time.Millisecond, true, 0},
			{200 * time.Millisecond, false, 200 * time.Millisecond},
			{400 * time.Millisecond, true, 0},
		}},
		{"refill caps at the burst", 2, []step{
			{0, true, 0}, {0, true, 0}, {0, false, 500 * time.Millisecond},
			{time.Hour, true, 0}, {time.Hour, true, 0}, {time.Hour, false, 500 * time.Millisecond},
		}},
		{"one per second", 1, []step{
			{0, true, 0}, {999 * time.Millisecond, false, time.Millisecond}, {time.Second, true, 0},
		}},
		{"clock step back refills nothing", 1, []step{
			{10 * time.Second, true, 0}, {5 * time.Second, false, time.Second}, {11 * time.Second, true, 0},
		}},
		{"high rate", 10000, []step{
			{0, true, 0},
		}},
	}
	for i, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			id := fmt.Sprintf("cust_%d", i) // fresh bucket per case
			for j, s := range tc.steps {
				ok, retry := l.Allow(id, tc.maxCPS, t0.Add(s.at))
				if ok != s.ok || retry != s.retry {
					t.Fatalf("step %d at %v: Allow = %v, %v; want %v, %v", j, s.at, ok, retry, s.ok, s.retry)
				}
			}
		})
	}
}

func TestCPSLimiterPerCustomer(t *testing.T) {
	var l CPSLimiter
	for range 3 {
		if ok, _ := l.Allow("cust_a", 3, t0); !ok {
			t.Fatal("cust_a refused within its burst")
		}
	}
	if ok, _ := l.Allow("cust_a", 3, t0); ok {
		t.Fatal("cust_a admitted past its burst")
	}
	if ok, _ := l.Allow("cust_b", 3, t0); !ok {
		t.Fatal("cust_b refused because of cust_a")
	}
}

func TestCPSLimiterChangedLimit(t *testing.T) {
	var l CPSLimiter
	for range 10 {
		l.Allow("cust_a", 10, t0) // uses the whole burst of 10
	}
	if ok, _ := l.Allow("cust_a", 10, t0); ok {
		t.Fatal("admitted past burst")
	}
	// Lowered to 2 after a second idle: the bucket holds 2, not 10.
	n := 0
	for range 5 {
		if ok, _ := l.Allow("cust_a", 2, t0.Add(time.Second)); ok {
			n++
		}
	}
	if n != 2 {
		t.Errorf("after lowering max_cps to 2, %d calls admitted at once", n)
	}
}

func TestCPSLimiterNonPositive(t *testing.T) {
	var l CPSLimiter
	for _, m := range []int{0, -1} {
		if ok, retry := l.Allow("cust_a", m, t0); ok || retry != time.Second {
			t.Errorf("max_cps %d: Allow = %v, %v", m, ok, retry)
		}
	}
}

func TestCPSLimiterEvictsIdle(t *testing.T) {
	var l CPSLimiter
	for i := range 1000 {
		l.Allow(fmt.Sprintf("cust_%d", i), 5, t0)
	}
	if l.Len() != 1000 {
		t.Fatalf("Len = %d", l.Len())
	}
	// The next call after the sweep interval drops every idle (full) bucket.
	l.Allow("cust_new", 5, t0.Add(cpsSweepEvery))
	if l.Len() != 1 {
		t.Errorf("after sweep Len = %d, want 1", l.Len())
	}
	// A recently used bucket survives a sweep and keeps its state.
	busyAt := t0.Add(2*cpsSweepEvery - 100*time.Millisecond)
	for range 5 {
		l.Allow("cust_busy", 5, busyAt)
	}
	l.Allow("cust_other", 5, t0.Add(2*cpsSweepEvery)) // sweeps
	if l.Len() != 2 {
		t.Errorf("after second sweep Len = %d, want 2 (busy and other)", l.Len())
	}
	if ok, _ := l.Allow("cust_busy", 5, busyAt); ok {
		t.Error("a busy bucket was reset by the sweep")
	}
}

// TestCPSLimiterRate runs one customer at max_cps 50 for 10 s of fake time,
// trying every millisecond: the admitted count is the burst plus the refill.
func TestCPSLimiterRate(t *testing.T) {
	var l CPSLimiter
	n := 0
	for ms := range 10000 {
		if ok, _ := l.Allow("cust_a", 50, t0.Add(time.Duration(ms)*time.Millisecond)); ok {
			n++
		}
	}
	// 50 at once, then one per 20 ms for 9.999 s: 499 more.
	if n != 50+499 {
		t.Errorf("admitted %d, want %d", n, 50+499)
	}
}

func TestCPSLimiterConcurrent(t *testing.T) {
	var l CPSLimiter
	var admitted atomic.Int32
	var wg sync.WaitGroup
	for g := range 50 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range 100 {
				// Half the goroutines share a customer; time does not move, so
				// only that customer's burst of 7 may pass.
				id := "cust_shared"
				if g%2 == 1 {
					id = fmt.Sprintf("cust_%d_%d", g, i)
				}
				if ok, _ := l.Allow(id, 7, t0); ok && id == "cust_shared" {
					admitted.Add(1)
				}
			}
		}()
	}
	wg.Wait()
	if admitted.Load() != 7 {
		t.Errorf("shared customer admitted %d, want 7", admitted.Load())
	}
}

func TestCPSError(t *testing.T) {
	e := CPSError(5, 200*time.Millisecond)
	if e.Code != voice.ECodeCPSLimit || e.RetryAfter != 1 {
		t.Errorf("CPSError = %+v", e)
	}
	if e := CPSError(1, 1500*time.Millisecond); e.RetryAfter != 2 {
		t.Errorf("RetryAfter = %d, want 2", e.RetryAfter)
	}
}

// TestConcurrencyExact: 50 goroutines racing on max 5, exactly 5 succeed.
func TestConcurrencyExact(t *testing.T) {
	for range 20 {
		var c Concurrency
		var ok atomic.Int32
		var wg sync.WaitGroup
		start := make(chan struct{})
		releases := make(chan func(), 50)
		for range 50 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				<-start
				if rel, got := c.Acquire("cust_a", 5); got {
					ok.Add(1)
					releases <- rel
				}
			}()
		}
		close(start)
		wg.Wait()
		close(releases)
		if ok.Load() != 5 || c.Live("cust_a") != 5 {
			t.Fatalf("%d acquired, Live %d; want 5", ok.Load(), c.Live("cust_a"))
		}
		for rel := range releases {
			rel()
		}
		if c.Live("cust_a") != 0 || c.Customers() != 0 {
			t.Fatalf("after release Live %d, Customers %d", c.Live("cust_a"), c.Customers())
		}
	}
}

func TestConcurrencyReleaseIdempotent(t *testing.T) {
	var c Concurrency
	r1, ok1 := c.Acquire("cust_a", 2)
	r2, ok2 := c.Acquire("cust_a", 2)
	if !ok1 || !ok2 {
		t.Fatal("refused under the limit")
	}
	if _, ok := c.Acquire("cust_a", 2); ok {
		t.Fatal("admitted over the limit")
	}
	// Releasing one call many times, from several goroutines, frees one slot.
	var wg sync.WaitGroup
	for range 10 {
		wg.Add(1)
		go func() { defer wg.Done(); r1() }()
	}
	wg.Wait()
	if c.Live("cust_a") != 1 {
		t.Fatalf("Live = %d after releasing one call 10 times, want 1", c.Live("cust_a"))
	}
	r3, ok3 := c.Acquire("cust_a", 2)
	if !ok3 {
		t.Fatal("freed slot not reusable")
	}
	if _, ok := c.Acquire("cust_a", 2); ok {
		t.Fatal("double release freed two slots")
	}
	r2()
	r3()
	r3()
	if c.Live("cust_a") != 0 || c.Customers() != 0 {
		t.Errorf("Live %d, Customers %d", c.Live("cust_a"), c.Customers())
	}
}

func TestConcurrencyRefusal(t *testing.T) {
	var c Concurrency
	rel, ok := c.Acquire("cust_a", 0)
	if ok || rel == nil {
		t.Fatal("max 0 must refuse with a non-nil release")
	}
	rel() // a refusal's release is a no-op
	if c.Live("cust_a") != 0 {
		t.Error("refusal changed the count")
	}
	// Customers are independent.
	ra, _ := c.Acquire("cust_a", 1)
	if _, ok := c.Acquire("cust_b", 1); !ok {
		t.Error("cust_b refused because of cust_a")
	}
	ra()
	e := ConcurrencyError(1)
	if e.Code != voice.ECodeConcurrencyLimit || e.RetryAfter != ConcurrencyRetryAfter {
		t.Errorf("ConcurrencyError = %+v", e)
	}
}

// TestConcurrencyChurn acquires and releases from many goroutines on a few
// customers and checks the limit is never exceeded at any moment.
func TestConcurrencyChurn(t *testing.T) {
	var c Concurrency
	var live [3]atomic.Int32
	var wg sync.WaitGroup
	for g := range 32 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range 500 {
				k := (g + i) % 3
				rel, ok := c.Acquire(fmt.Sprintf("cust_%d", k), 4)
				if !ok {
					continue
				}
				if n := live[k].Add(1); n > 4 {
					t.Errorf("customer %d has %d calls up, max 4", k, n)
				}
				live[k].Add(-1)
				rel()
				rel()
			}
		}()
	}
	wg.Wait()
	if c.Customers() != 0 {
		t.Errorf("Customers = %d after every call ended", c.Customers())
	}
}
