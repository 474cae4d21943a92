package billing

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/minivoice/minivoice/internal/rating"
	"github.com/minivoice/minivoice/internal/voice"
	"github.com/shopspring/decimal"
)

// ExtendLead is how long before an increment begins a Meter asks for its
// money, at most: early enough that the database write is done before the
// boundary, late enough that money is not held long before it is needed.
// Increments shorter than twice this are extended half an increment ahead
// (never less than rating.CutoffLead).
const ExtendLead = 2 * time.Second

// ExtendSpan is the least billable time one extension reserves: with short
// increments a Meter asks for several at once (10 one-second increments),
// so a call writes once per ExtendSpan instead of once per increment, and
// the customer's reservations are summed that much less often (each
// extension reads all of them). When the customer cannot cover the span,
// the Meter asks for a single increment, so the call still runs to the end
// of the last increment it can pay for.
const ExtendSpan = 10 * time.Second

// Meter is the running reservation of an answered call (billing.md,
// Reservations): admission reserved the first increment; before each
// further increment begins, the reservation grows to the price through that
// increment's end, under the same rule as admission (balance + credit_limit
// - the customer's other open reservations must cover it). When it cannot,
// the call ends at the end of the increments it holds. Build one with
// Gate.Meter when the call is answered.
type Meter struct {
	store      ReservationStore
	customerID string
	callID     string
	rate       *voice.Rate
	answeredAt time.Time
	now        func() time.Time
	// reserved is the billable seconds the reservation covers: the
	// initial increment, then one subsequent increment more per extension.
	reserved atomic.Int64
	watch    watchState // Watch's
}

// Meter returns the running reservation of the answered call callID of
// customerID, priced at rate, answered at answeredAt by the clock now
// (nil: time.Now). Its reservation starts as admission left it: the first
// increment.
func (g *Gate) Meter(customerID, callID string, rate *voice.Rate, answeredAt time.Time, now func() time.Time) *Meter {
	if now == nil {
		now = time.Now
	}
	m := &Meter{store: g.Store, customerID: customerID, callID: callID, rate: rate, answeredAt: answeredAt, now: now}
	m.reserved.Store(int64(max(rate.InitialIncrement, 1)))
	return m
}

// ReservedSeconds is the billable seconds the call's reservation covers now.
// The engine never bills a metered call beyond them: the call is cut before
// their end when the next increment cannot be reserved, so only a hang-up
// that landed late could pass it, and that lateness is the platform's, not
// the customer's.
func (m *Meter) ReservedSeconds() int { return int(m.reserved.Load()) }

// Boundary is when the reserved increments end: answeredAt + ReservedSeconds.
func (m *Meter) Boundary() time.Time {
	return m.answeredAt.Add(time.Duration(m.reserved.Load()) * time.Second)
}

// Unlimited reports whether the call's price cannot grow with time (a
// price_per_minute of 0): the first increment's reservation is all it needs,
// and Run has nothing to do.
func (m *Meter) Unlimited() bool { return m.rate.PricePerMinute.Sign() <= 0 }

// Extend grows the reservation by the subsequent increments that make up
// ExtendSpan (at least one), or, when the customer's money does not cover
// them, by one: to the price of ReservedSeconds + k*S billable seconds. ok is
// false when not even one increment is covered (nothing changes then; the
// call must end at Boundary). The database writes happen here, so call it
// holding no lock other calls need.
func (m *Meter) Extend(ctx context.Context) (ok bool, err error) {
	s := int64(max(m.rate.SubsequentIncrement, 1))
	span := max(1, (int64(ExtendSpan/time.Second)+s-1)/s)
	for _, k := range []int64{span, 1} {
		next := m.reserved.Load() + k*s
		amount := rating.Price(m.rate, int(next), true)
		res, err := m.store.Reserve(ctx, voice.Reservation{CustomerID: m.customerID, CallID: m.callID, Amount: amount, Now: m.now()})
		if err != nil {
			return false, fmt.Errorf("extend the reservation of call %s: %w", m.callID, err)
		}
		if res.Refused == "" {
			m.reserved.Store(next)
			return true, nil
		}
		if span == 1 {
			break
		}
	}
	return false, nil
}

// Amount is what the reservation holds now: the price of ReservedSeconds.
func (m *Meter) Amount() decimal.Decimal {
	return rating.Price(m.rate, m.ReservedSeconds(), true)
}

// Run keeps the reservation ahead of the call until ctx ends (the call
// ended: Run returns false) or the next increment cannot be reserved: then
// it waits for rating.Cutoff of the reserved increments, so the one already
// paid for is used to its end, and returns true: the caller hangs up with
// insufficient_balance. err says why an extension failed when the database
// did (the call is cut then too: money that cannot be reserved is not
// spent). A price that cannot grow needs no extension: Run only waits.
// Run is Watch waited for.
func (m *Meter) Run(ctx context.Context) (cut bool, err error) {
	done := make(chan error, 1)
	m.Watch(ctx, func(err error) { done <- err })
	defer m.Stop()
	select {
	case <-ctx.Done():
		return false, nil
	case err := <-done:
		return true, err
	}
}

// Watch does what Run does on a timer instead of a goroutine, since every
// answered call has a Meter: each extension runs on the timer's goroutine
// when it falls due, and cut is called (once, on that goroutine) when the
// call must end, with the database error if one was the reason. Nothing is
// called after ctx ends; Stop stops the timer at once (the call ended),
// otherwise it stops at its next step. Watch once per Meter.
func (m *Meter) Watch(ctx context.Context, cut func(err error)) {
	if m.Unlimited() {
		return
	}
	m.watch = watchState{ctx: ctx, cut: cut,
		lead: max(rating.CutoffLead, min(ExtendLead, time.Duration(max(m.rate.SubsequentIncrement, 1))*time.Second/2))}
	m.arm(m.Boundary().Add(-m.watch.lead))
}

// watchState is a watched Meter's: its state lives in the Meter rather
// than in closures, so a call's watch is no allocation beyond its timer.
type watchState struct {
	ctx  context.Context
	cut  func(error)
	lead time.Duration

	mu      sync.Mutex  // guards the rest: steps run on the timer's goroutines
	timer   *time.Timer // nil until armed
	stopped bool        // Stop ran: arm no more
	ending  bool        // the last extension failed: the next step is the cut
	why     error       // its error
}

// Stop stops a watched Meter's timer: no step runs after it returns but
// one already under way (which calls nothing once ctx has ended).
func (m *Meter) Stop() {
	w := &m.watch
	w.mu.Lock()
	defer w.mu.Unlock()
	w.stopped = true
	if w.timer != nil {
		w.timer.Stop()
	}
}

// arm schedules the next step at at.
func (m *Meter) arm(at time.Time) {
	w := &m.watch
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.stopped || w.ctx.Err() != nil {
		return
	}
	if w.timer == nil {
		w.timer = time.AfterFunc(at.Sub(m.now()), m.step)
	} else {
		w.timer.Reset(at.Sub(m.now()))
	}
}

// step extends the reservation ahead of the boundary, or cuts the call
// when the last extension failed. Steps never overlap: each arms the next
// one as it ends.
func (m *Meter) step() {
	w := &m.watch
	if w.ctx.Err() != nil {
		return
	}
	w.mu.Lock()
	last, lastErr := w.ending, w.why
	w.mu.Unlock()
	if last {
		w.cut(lastErr)
		return
	}
	ok, err := m.Extend(w.ctx)
	if w.ctx.Err() != nil {
		return
	}
	if ok {
		m.arm(m.Boundary().Add(-w.lead))
		return
	}
	w.mu.Lock()
	w.ending, w.why = true, err
	w.mu.Unlock()
	m.arm(rating.Cutoff(m.answeredAt, time.Duration(m.reserved.Load())*time.Second))
}
