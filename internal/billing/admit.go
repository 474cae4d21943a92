package billing

import (
	"time"

	"github.com/minivoice/minivoice/internal/voice"
	"github.com/shopspring/decimal"
)

// Request is one call asking to start.
type Request struct {
	// Customer is the customer the call is billed to, as just read from the
	// store (its balance and limits are what the checks use).
	Customer *voice.Customer
	// Rate is the rate that prices the call (rating.Index.Lookup or the
	// store's MatchRate), nil if none matches.
	Rate *voice.Rate
	// Digits is the rated number without "+": the callee of an outbound call,
	// the DID of an inbound one.
	Digits string
	// SpentToday is the customer's spend in the current UTC day; see
	// CheckDailySpend. Ignored when the customer has no daily_spend_limit, so
	// the caller may skip the query then.
	SpentToday decimal.Decimal
	// Now is the caller's clock.
	Now time.Time
}

// Admitter runs the admission checks that need only the customer as read,
// and counts the calls this process admitted (Calls). Build it with
// NewAdmitter and share one per process. The limits that count calls
// (max_concurrent_calls, max_cps) are not here: the store applies them in
// the reservation's transaction (Gate.Admit), so they hold across every
// process on the database.
type Admitter struct {
	// Calls counts this process's admitted calls until they are released:
	// a metric (the node's share of each customer's calls), not a limit.
	Calls *Concurrency
}

// NewAdmitter returns an Admitter with a fresh counter.
func NewAdmitter() *Admitter { return &Admitter{Calls: &Concurrency{}} }

// Admit runs the checks of req that the customer as read decides, from the
// most permanent refusal to the most transient, so the client is told the
// reason that retrying will not fix:
//
//  1. customer suspended: 403 customer_suspended;
//  2. CheckDestination: 403 destination_not_allowed;
//  3. CheckBalance: 402 insufficient_balance;
//  4. CheckDailySpend: 429 daily_spend_limit, Retry-After to 00:00 UTC.
//
// Checks 3 and 4 are cheap early refusals, with no write; Gate.Admit then
// repeats them with the customer's open reservations and applies 5
// (concurrency_limit) and 6 (cps_limit) in the store's transaction. On
// success Admit counts the call in a.Calls and returns the release of that
// count, idempotent, which the caller must call when the call ends; on
// refusal it returns a no-op release and the error to answer with.
func (a *Admitter) Admit(req Request) (release func(), err *voice.Error) {
	noop := func() {}
	c := req.Customer
	if c.Status != voice.CustomerActive {
		return noop, voice.Errorf(voice.ECodeCustomerSuspended, "the customer is suspended")
	}
	if e := CheckDestination(c, req.Rate, req.Digits); e != nil {
		return noop, e
	}
	if e := CheckBalance(c, req.Rate); e != nil {
		return noop, e
	}
	if e := CheckDailySpend(c, req.SpentToday, req.Rate, req.Now); e != nil {
		return noop, e
	}
	if a == nil || a.Calls == nil {
		return noop, nil
	}
	return a.Calls.Hold(c.ID), nil
}

// SIPResponse maps an admission refusal to the final response an inbound
// INVITE gets (billing.md: "inbound: SIP 403"): the refusals that retrying
// will not fix soon are 403 Forbidden; the transient ones, concurrency_limit
// and cps_limit, are 503 Service Unavailable, with e.RetryAfter as the SIP
// Retry-After header, as the inbound path already answers at
// max_concurrent_calls, so the carrier may retry or route elsewhere.
// daily_spend_limit is 403 although it carries a Retry-After: the wait is
// hours, and a carrier should not keep retrying the call. internal_error is
// 500 Server Internal Error.
func SIPResponse(e *voice.Error) (status int, reason string) {
	switch e.Code {
	case voice.ECodeConcurrencyLimit, voice.ECodeCPSLimit:
		return 503, "Service Unavailable"
	case voice.ECodeInternal:
		return 500, "Server Internal Error"
	}
	return 403, "Forbidden"
}
