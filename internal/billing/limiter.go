package billing

import (
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/minivoice/minivoice/internal/voice"
)

// token is one call attempt in a bucket's fixed-point units. Counting in
// billionths of a token lets a bucket refill by exactly maxCPS units per
// nanosecond, in integers, with no float drift across millions of calls.
const token = int64(time.Second)

// cpsSweepEvery is how often, in the callers' clock, Allow drops idle
// buckets. A bucket untouched for a second is full again and so the same as
// no bucket; sweeping every 10 s bounds the map to the customers that placed
// a call in the last 11 s or so, at an amortised O(1) cost per call.
const cpsSweepEvery = 10 * time.Second

// CPSLimiter limits call attempts per second per customer with a token
// bucket: it refills at max_cps tokens per second up to a burst of max_cps,
// and each admitted call takes one token. A customer at max_cps 5 may place
// 5 calls at once, then one every 200 ms.
//
// The clock is whatever now the caller passes, so tests and the engine's
// own clock drive it; a now earlier than a bucket's last call (a clock step
// back) refills nothing rather than failing. Idle buckets are evicted, so the
// memory is bounded by the customers active in the last seconds, not by all
// customers ever seen. The zero value is ready to use and is safe for
// concurrent use. The limit is per process: with several servers, each
// admits up to max_cps.
type CPSLimiter struct {
	mu        sync.Mutex
	buckets   map[string]*bucket
	lastSweep time.Time
}

type bucket struct {
	tokens int64 // in units of 1/token
	last   time.Time
}

// Allow takes a token from customerID's bucket for a call attempt at now. If
// the bucket is empty it reports false and how long until the next token,
// which becomes the Retry-After of 429 cps_limit (see CPSError). A maxCPS of
// zero or less admits nothing (retry in 1 s): the API only stores 1..10000,
// and failing closed is the safe side of a toll-fraud limit. Changing a
// customer's maxCPS takes effect at its next call.
func (l *CPSLimiter) Allow(customerID string, maxCPS int, now time.Time) (ok bool, retryAfter time.Duration) {
	if maxCPS <= 0 {
		return false, time.Second
	}
	capacity := int64(maxCPS) * token
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.buckets == nil {
		l.buckets = map[string]*bucket{}
	}
	if now.Sub(l.lastSweep) >= cpsSweepEvery || now.Before(l.lastSweep) {
		l.sweep(now)
	}
	b := l.buckets[customerID]
	if b == nil {
		b = &bucket{tokens: capacity, last: now}
		l.buckets[customerID] = b
	} else if elapsed := now.Sub(b.last); elapsed > 0 {
		// One second refills any bucket completely; capping first keeps
		// elapsed*maxCPS far from overflowing after a long idle spell.
		b.tokens += int64(min(elapsed, time.Second)) * int64(maxCPS)
		b.last = now
	}
	b.tokens = min(b.tokens, capacity) // also applies a lowered max_cps
	if b.tokens >= token {
		b.tokens -= token
		return true, 0
	}
	// Time to refill the missing part of one token, rounded up to the ns.
	missing := token - b.tokens
	return false, time.Duration((missing + int64(maxCPS) - 1) / int64(maxCPS))
}

// sweep drops the buckets that have been idle for a second or more, which
// are full and so indistinguishable from absent ones. l.mu is held.
func (l *CPSLimiter) sweep(now time.Time) {
	for id, b := range l.buckets {
		if now.Sub(b.last) >= time.Second {
			delete(l.buckets, id)
		}
	}
	l.lastSweep = now
}

// Len is the number of buckets held, for tests and metrics.
func (l *CPSLimiter) Len() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.buckets)
}

// CPSError returns the 429 cps_limit error for a refusal by Allow, with
// Retry-After rounded up to whole seconds (at least 1).
func CPSError(maxCPS int, retryAfter time.Duration) *voice.Error {
	return &voice.Error{Code: voice.ECodeCPSLimit, RetryAfter: ceilSeconds(retryAfter),
		Message: fmt.Sprintf("more than max_cps (%d) calls per second", maxCPS)}
}

// ConcurrencyRetryAfter is the Retry-After, in seconds, of 429
// concurrency_limit. When a slot frees up depends on calls ending, which
// nobody can predict; 5 s matches what the inbound SIP path already answers
// with its 503.
const ConcurrencyRetryAfter = 5

// Concurrency counts each customer's live calls in this process and refuses
// one more than its max_concurrent_calls. It is exact under concurrency: with
// max 5 and 50 goroutines racing, exactly 5 acquire. Entries are deleted when
// a customer's count drops to zero, so memory follows the live calls.
//
// It is the single-process fast path (and the SIP 503 check); a deployment
// with several servers must also enforce the limit across them, in the
// database. The zero value is ready to use and is safe for concurrent use.
type Concurrency struct {
	mu   sync.Mutex
	live map[string]int
}

// Acquire takes one of customerID's max call slots. It reports false, and
// takes nothing, when the customer already has max calls up; a max of zero or
// less admits nothing (see CPSLimiter.Allow for why). The release function
// returns the slot when the call ends; it is never nil (a no-op after a
// refusal, so callers may always defer it) and calling it more than once
// releases once, so every path that ends a call may call it.
func (c *Concurrency) Acquire(customerID string, max int) (release func(), ok bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.live == nil {
		c.live = map[string]int{}
	}
	if c.live[customerID] >= max {
		return func() {}, false
	}
	c.live[customerID]++
	var done atomic.Bool
	return func() {
		if !done.CompareAndSwap(false, true) {
			return
		}
		c.mu.Lock()
		defer c.mu.Unlock()
		if n := c.live[customerID] - 1; n > 0 {
			c.live[customerID] = n
		} else {
			delete(c.live, customerID)
		}
	}, true
}

// Live returns how many calls customerID has up in this process.
func (c *Concurrency) Live(customerID string) int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.live[customerID]
}

// Customers returns how many customers have at least one call up: the size
// of the map, for tests and metrics.
func (c *Concurrency) Customers() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.live)
}

// ConcurrencyError returns the 429 concurrency_limit error for a refusal by
// Acquire.
func ConcurrencyError(max int) *voice.Error {
	return &voice.Error{Code: voice.ECodeConcurrencyLimit, RetryAfter: ConcurrencyRetryAfter,
		Message: fmt.Sprintf("the customer already has max_concurrent_calls (%d) calls up", max)}
}
