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

// Admitter runs every admission check of billing.md in one call and holds
// the in-process limiters. Build it with NewAdmitter (or set both fields) and
// share one per process: the limiters only work if every call goes through
// the same ones.
type Admitter struct {
	// CPS is the per-customer calls-per-second limiter.
	CPS *CPSLimiter
	// Calls counts each customer's live calls; the integration may also read
	// it (Live) for the inbound path's own checks and for metrics.
	Calls *Concurrency
}

// NewAdmitter returns an Admitter with fresh limiters.
func NewAdmitter() *Admitter { return &Admitter{CPS: &CPSLimiter{}, Calls: &Concurrency{}} }

// Admit decides whether req's call may start. On success it returns the
// release function of the call's concurrency slot, which the caller must call
// when the call ends (any way it ends, including a failed setup); it is
// idempotent. On refusal it returns a no-op release and the error to answer
// with.
//
// The order is from the most permanent refusal to the most transient, so the
// client is told the reason that retrying will not fix, and so a refused call
// consumes no CPS token:
//
//  1. customer suspended: 403 customer_suspended;
//  2. CheckDestination: 403 destination_not_allowed;
//  3. CheckBalance: 402 insufficient_balance;
//  4. CheckDailySpend: 429 daily_spend_limit, Retry-After to 00:00 UTC;
//  5. Concurrency.Acquire: 429 concurrency_limit, Retry-After 5;
//  6. CPSLimiter.Allow: 429 cps_limit, Retry-After until the next token
//     (the concurrency slot taken in 5 is given back).
//
// Concurrency goes before CPS because a slot can be handed back but a token
// cannot: a call refused for concurrency does not eat into the CPS budget.
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
	release, ok := a.Calls.Acquire(c.ID, c.MaxConcurrentCalls)
	if !ok {
		return noop, ConcurrencyError(c.MaxConcurrentCalls)
	}
	if ok, wait := a.CPS.Allow(c.ID, c.MaxCPS, req.Now); !ok {
		release()
		return noop, CPSError(c.MaxCPS, wait)
	}
	return release, nil
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
