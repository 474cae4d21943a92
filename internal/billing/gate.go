package billing

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/minivoice/minivoice/internal/rating"
	"github.com/minivoice/minivoice/internal/voice"
	"github.com/shopspring/decimal"
)

// GateStore is what a Gate reads and writes: the customer as it is now, what
// it has been charged today, and its calls' reservations.
type GateStore interface {
	Customer(ctx context.Context, scope voice.Scope, id string) (*voice.Customer, error)
	ChargedSince(ctx context.Context, customerID string, since time.Time) (decimal.Decimal, error)
	ReservationStore
	TrunkChannelStore
}

// ReservationStore holds the money of calls that are up (store.DB implements
// it): Reserve checks and writes a call's reservation atomically per
// customer, across every process sharing the database, applying the
// customer's call limits at admission (voice.Reservation.Limits);
// ReleaseReservation deletes one.
type ReservationStore interface {
	Reserve(ctx context.Context, r voice.Reservation) (voice.ReservationResult, error)
	ReleaseReservation(ctx context.Context, callID string) error
}

// Gate admits new calls for the whole process: the API's POST /v1/calls, the
// engine's inbound INVITEs and dial's child calls all go through one Gate.
// The limits are applied in the database, so gates of several processes
// sharing it (nodes) enforce one customer's limits together.
type Gate struct {
	Store GateStore
	Book  *Book
	// Admitter runs the checks on the customer as read and counts this
	// process's calls; nil runs the checks without counting.
	Admitter *Admitter
	// Now is the clock; default time.Now.
	Now func() time.Time
}

// Ticket is an admitted call: the call id its reservation is held under, the
// rate it is priced at, and the release of its concurrency slot and
// reservation, which must be called when the call ends, however it ends, or
// when it will not be placed after all (it is idempotent). The write of the
// call's final state frees the reservation already; Release covers a call
// that never got that far.
type Ticket struct {
	CallID   string
	Rate     *voice.Rate
	Customer *voice.Customer
	Release  func()
}

// releaseTimeout bounds the database write of a Ticket's Release, which has
// no context of its own.
const releaseTimeout = 10 * time.Second

// Admit applies billing.md's checks to a new call of customerID to or from
// number (E.164, the callee outbound, the DID inbound), and reserves the
// call's first increment under callID, the id the call will be recorded
// with. A refusal is a *voice.Error carrying the API status, code and
// Retry-After; SIPResponse maps it for inbound calls.
//
// The checks of Admitter.Admit run first on the customer as read (cheap, no
// write); then the store reserves the first increment in one transaction
// serialised per customer across processes: balance + credit_limit - the
// customer's other open reservations must cover it (402
// insufficient_balance); with a daily_spend_limit, today's charges + open
// reservations + the first increment must stay within it (429
// daily_spend_limit); the customer's other open reservations, its calls
// that are up or being admitted on any node, must number fewer than
// max_concurrent_calls (429 concurrency_limit, Retry-After 5); and its
// max_cps bucket must hold a token (429 cps_limit, Retry-After until the
// next token). A refused call takes no token and holds no slot.
func (g *Gate) Admit(ctx context.Context, callID, customerID, direction, number string) (*Ticket, error) {
	cust, err := g.Store.Customer(ctx, voice.Scope{}, customerID)
	if err != nil {
		return nil, fmt.Errorf("admit: %w", err)
	}
	return g.AdmitCustomer(ctx, callID, cust, direction, number)
}

// AdmitCustomer is Admit for a customer the caller has just read (an
// inbound call's routing, the API's request), which saves reading it again.
// The money checks do not depend on that read: the store takes the balance
// inside the reservation's transaction.
func (g *Gate) AdmitCustomer(ctx context.Context, callID string, cust *voice.Customer, direction, number string) (*Ticket, error) {
	now := time.Now
	if g.Now != nil {
		now = g.Now
	}
	var err error
	digits := strings.TrimPrefix(number, "+")
	rate := g.Book.Lookup(cust.ID, direction, digits)
	var spent decimal.Decimal
	t := now()
	if cust.DailySpendLimit != nil {
		if spent, err = g.Store.ChargedSince(ctx, cust.ID, DayStart(t)); err != nil {
			return nil, fmt.Errorf("admit: %w", err)
		}
	}
	release, verr := g.Admitter.Admit(Request{Customer: cust, Rate: rate, Digits: digits, SpentToday: spent, Now: t})
	if verr != nil {
		return nil, verr
	}
	first := rating.FirstIncrementCost(rate)
	res, err := g.Store.Reserve(ctx, voice.Reservation{CustomerID: cust.ID, CallID: callID, Amount: first,
		DailySpendLimit: cust.DailySpendLimit, DayStart: DayStart(t), Now: t,
		Limits: &voice.AdmissionLimits{MaxConcurrentCalls: cust.MaxConcurrentCalls, MaxCPS: cust.MaxCPS}})
	if err != nil {
		release()
		return nil, fmt.Errorf("admit: %w", err)
	}
	if res.Refused != "" {
		release()
		return nil, reservationRefusal(res, cust, first, rate, t)
	}
	store := g.Store
	var once sync.Once
	return &Ticket{CallID: callID, Rate: rate, Customer: cust, Release: func() {
		once.Do(func() {
			release()
			ctx, cancel := context.WithTimeout(context.Background(), releaseTimeout)
			defer cancel()
			// An error leaves the row to the sweep: a reservation whose
			// call is final or was never recorded stops counting by itself.
			_ = store.ReleaseReservation(ctx, callID)
		})
	}}, nil
}

// reservationRefusal is the error of a reservation the store refused.
func reservationRefusal(res voice.ReservationResult, cust *voice.Customer, first decimal.Decimal, rate *voice.Rate, now time.Time) *voice.Error {
	switch res.Refused {
	case voice.ECodeConcurrencyLimit:
		return ConcurrencyError(cust.MaxConcurrentCalls)
	case voice.ECodeCPSLimit:
		return CPSError(cust.MaxCPS, res.RetryAfter)
	}
	if res.Refused == voice.ECodeDailySpendLimit {
		return &voice.Error{Code: voice.ECodeDailySpendLimit, RetryAfter: secondsUntil(now, DayStart(now).AddDate(0, 0, 1)),
			Message: fmt.Sprintf("today's spend (%s %s) plus the calls up now (%s) plus this call's first billing increment (%s) would pass the daily_spend_limit; it resets at 00:00 UTC",
				res.SpentToday, res.Currency, res.Reserved, first)}
	}
	return voice.Errorf(voice.ECodeInsufficientBalance,
		"balance plus credit limit (%s %s) less what the customer's calls that are up have reserved (%s) cannot pay the first billing increment of this call (%s %s)",
		res.Balance.Add(res.CreditLimit), res.Currency, res.Reserved, first, rate.Currency)
}
