// Package rating prices calls: how many seconds of a call are billed, what they
// cost, how long a balance can keep a call up, and which rate of a deck applies
// to a number. It is pure computation with no storage and no clock, so the
// call engine, the API and the tests all get the same answer for the same
// inputs (docs/billing.md and ../shared/spec/billing.md).
//
// A typical outbound call goes through it like this:
//
//	r := idx.Lookup(cust.ID, voice.DirectionOutbound, digits) // nil: 403 destination_not_allowed
//	// ... admission checks in internal/billing ...
//	// on answer:
//	d, unlimited := rating.MaxAffordable(r, cust.Balance.Add(cust.CreditLimit))
//	// unless unlimited, hang up at rating.Cutoff(answeredAt, d) with insufficient_balance
//	// on end:
//	secs := rating.BillableSeconds(endedAt.Sub(answeredAt), answered, r.InitialIncrement, r.SubsequentIncrement)
//	price := rating.Price(r, secs, answered)
//
// Money is github.com/shopspring/decimal and is never converted to float.
package rating
