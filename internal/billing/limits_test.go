package billing

import (
	"sync"
	"testing"
	"time"

	"github.com/minivoice/minivoice/internal/voice"
)

var t0 = time.Date(2026, 3, 4, 12, 0, 0, 0, time.UTC)

func TestCPSError(t *testing.T) {
	e := CPSError(5, 200*time.Millisecond)
	if e.Code != voice.ECodeCPSLimit || e.RetryAfter != 1 {
		t.Errorf("CPSError = %+v", e)
	}
	if e := CPSError(1, 1500*time.Millisecond); e.RetryAfter != 2 {
		t.Errorf("RetryAfter = %d, want 2", e.RetryAfter)
	}
}

func TestConcurrencyError(t *testing.T) {
	e := ConcurrencyError(1)
	if e.Code != voice.ECodeConcurrencyLimit || e.RetryAfter != ConcurrencyRetryAfter {
		t.Errorf("ConcurrencyError = %+v", e)
	}
}

// TestConcurrencyCount: holds from many goroutines add up, and releasing
// one call many times, from several goroutines, counts it off once.
func TestConcurrencyCount(t *testing.T) {
	var c Concurrency
	var wg sync.WaitGroup
	releases := make(chan func(), 50)
	for range 50 {
		wg.Go(func() { releases <- c.Hold("cust_a") })
	}
	wg.Wait()
	close(releases)
	if c.Live("cust_a") != 50 || c.Customers() != 1 {
		t.Fatalf("Live %d, Customers %d; want 50, 1", c.Live("cust_a"), c.Customers())
	}
	first := true
	for rel := range releases {
		if first {
			for range 10 {
				wg.Go(rel)
			}
			wg.Wait()
			if c.Live("cust_a") != 49 {
				t.Fatalf("Live = %d after releasing one call 10 times, want 49", c.Live("cust_a"))
			}
			first = false
			continue
		}
		rel()
	}
	if c.Live("cust_a") != 0 || c.Customers() != 0 {
		t.Errorf("after release Live %d, Customers %d", c.Live("cust_a"), c.Customers())
	}
	// Customers are independent.
	ra := c.Hold("cust_a")
	if c.Live("cust_b") != 0 {
		t.Error("cust_b counts cust_a's call")
	}
	ra()
}
