package billing

import (
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/minivoice/minivoice/internal/voice"
)

// The max_concurrent_calls and max_cps limits are applied by the store, in
// the transaction that writes a call's reservation (Gate.Admit,
// voice.AdmissionLimits), so they hold across every process sharing the
// database; trunk limits likewise (Gate.AdmitTrunk). This file has their
// refusals and the node's own count of the calls it admitted.

// CPSError returns the 429 cps_limit error of a call refused because the
// customer's max_cps bucket is empty, with Retry-After rounded up to whole
// seconds (at least 1).
func CPSError(maxCPS int, retryAfter time.Duration) *voice.Error {
	return &voice.Error{Code: voice.ECodeCPSLimit, RetryAfter: ceilSeconds(retryAfter),
		Message: fmt.Sprintf("more than max_cps (%d) calls per second", maxCPS)}
}

// ConcurrencyRetryAfter is the Retry-After, in seconds, of 429
// concurrency_limit. When a slot frees up depends on calls ending, which
// nobody can predict; 5 s matches what the inbound SIP path already answers
// with its 503.
const ConcurrencyRetryAfter = 5

// ConcurrencyError returns the 429 concurrency_limit error of a call refused
// because the customer already has max calls up.
func ConcurrencyError(max int) *voice.Error {
	return &voice.Error{Code: voice.ECodeConcurrencyLimit, RetryAfter: ConcurrencyRetryAfter,
		Message: fmt.Sprintf("the customer already has max_concurrent_calls (%d) calls up", max)}
}

// Concurrency counts, per customer, the calls this process admitted that
// have not been released: this node's share of the customer's live calls,
// for metrics and tests (what a draining node still carries). It limits
// nothing; max_concurrent_calls is counted in the database, over every node.
// Entries are deleted when a customer's count drops to zero, so memory
// follows the live calls. The zero value is ready to use and is safe for
// concurrent use.
type Concurrency struct {
	mu   sync.Mutex
	live map[string]int
}

// Hold counts one more call of customerID. The release function counts it
// off when the call ends; calling it more than once releases once, so every
// path that ends a call may call it.
func (c *Concurrency) Hold(customerID string) (release func()) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.live == nil {
		c.live = map[string]int{}
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
	}
}

// Live returns how many calls of customerID this process holds.
func (c *Concurrency) Live(customerID string) int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.live[customerID]
}

// Customers returns how many customers have at least one call held: the
// size of the map, for tests and metrics.
func (c *Concurrency) Customers() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.live)
}
