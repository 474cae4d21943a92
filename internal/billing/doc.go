// Package billing decides whether a call may start: the per-customer checks
// and limits of billing.md (destination allowed, balance, daily spend,
// concurrent calls, calls per second), each refusal as the *voice.Error the
// API answers with. The checks themselves are independent of storage: the
// caller looks the customer and the rate up (the rate with rating.Index or
// the store's MatchRate), sums today's spend, and asks; the Admitter holds
// only a per-process count of the calls it admitted, for metrics.
//
// The money and the limits that count calls are in the database: Gate.Admit
// reserves each admitted call's first increment through its
// ReservationStore and, in the same transaction, applies the customer's
// max_concurrent_calls (its open reservations are its calls that are up)
// and max_cps (a token bucket row), atomically per customer across every
// process sharing the database; a Meter grows an answered call's
// reservation before each further increment (billing.md, Reservations and
// Limits). Gate.AdmitTrunk applies an outbound trunk's max_channels and
// max_cps the same way, per trunk.
//
// Outbound (POST /v1/calls, a dial child) and inbound (an INVITE to a DID)
// calls go through the same checks; an inbound refusal is answered with
// SIPResponse's status instead of the HTTP one.
//
// The checks return *voice.Error, not error, so the caller can read Code and
// RetryAfter without a type assertion. Compare the result with nil before
// using it as an error: a nil *voice.Error stored in an error interface is
// not a nil error.
//
//	if verr := billing.CheckBalance(cust, rate); verr != nil {
//		return verr // not: return billing.CheckBalance(cust, rate)
//	}
package billing
