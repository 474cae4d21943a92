package billing

import (
	"fmt"
	"strings"
	"time"

	"github.com/minivoice/minivoice/internal/rating"
	"github.com/minivoice/minivoice/internal/voice"
	"github.com/shopspring/decimal"
)

// Limits is the admission part of a customer: what the limiters and checks
// read. LimitsOf copies it out of a voice.Customer so a live call can keep
// the limits it was admitted under while the customer is edited.
type Limits struct {
	// MaxConcurrentCalls bounds the customer's calls that are up at once
	// (429 concurrency_limit; inbound SIP 503).
	MaxConcurrentCalls int
	// MaxCPS bounds call attempts per second, with a burst of the same size
	// (429 cps_limit; inbound SIP 503).
	MaxCPS int
	// DailySpendLimit, when set, bounds what the customer's calls may cost
	// per UTC day (429 daily_spend_limit).
	DailySpendLimit *decimal.Decimal
	// MaxRatePerMinute, when set, refuses destinations whose rate has a
	// higher price_per_minute: a toll-fraud guard (403 destination_not_allowed).
	MaxRatePerMinute *decimal.Decimal
	// BlockedPrefixes refuses numbers starting with any of them (403
	// destination_not_allowed).
	BlockedPrefixes []string
}

// LimitsOf returns c's limits. The pointers and the slice are copied, so
// later changes to c do not show through.
func LimitsOf(c *voice.Customer) Limits {
	l := Limits{MaxConcurrentCalls: c.MaxConcurrentCalls, MaxCPS: c.MaxCPS,
		BlockedPrefixes: append([]string(nil), c.BlockedPrefixes...)}
	if c.DailySpendLimit != nil {
		v := *c.DailySpendLimit
		l.DailySpendLimit = &v
	}
	if c.MaxRatePerMinute != nil {
		v := *c.MaxRatePerMinute
		l.MaxRatePerMinute = &v
	}
	return l
}

// Available is what a customer can spend before its balance passes its
// credit limit: balance + credit_limit. It is the amount the balance check
// compares with on the customer as read; the reservation the Gate then
// writes compares it less the customer's open reservations, in the database.
func Available(c *voice.Customer) decimal.Decimal { return c.Balance.Add(c.CreditLimit) }

// BlockedPrefix returns the first of the customer's blocked prefixes that
// digits starts with, and whether there is one. A leading "+" on digits is
// ignored.
func BlockedPrefix(c *voice.Customer, digits string) (string, bool) {
	digits = strings.TrimPrefix(digits, "+")
	for _, p := range c.BlockedPrefixes {
		if p != "" && strings.HasPrefix(digits, p) {
			return p, true
		}
	}
	return "", false
}

// CheckDestination refuses a call the customer may not make to (or, inbound,
// receive on) digits, with 403 destination_not_allowed, in this order:
//
//  1. digits starts with one of the customer's blocked_prefixes;
//  2. rate is nil: no active rate matches, in the customer's deck or the
//     default deck (billing.md: such a call is refused);
//  3. the rate's price_per_minute is above the customer's
//     max_rate_per_minute, when set.
//
// All three share the code api.md gives destination_not_allowed ("no active
// rate matches, or the prefix is blocked for the customer"); the rate-limit
// case was given the same code rather than a new one because, to the client,
// it is the same answer (this customer may not call there) and error codes are
// a frozen public list. The message tells the cases apart. Only the per-minute
// price is compared, as billing.md says; a connection fee is bounded by the
// balance check. digits is the number without "+" (a leading "+" is ignored).
func CheckDestination(cust *voice.Customer, rate *voice.Rate, digits string) *voice.Error {
	digits = strings.TrimPrefix(digits, "+")
	if p, ok := BlockedPrefix(cust, digits); ok {
		return voice.Errorf(voice.ECodeDestinationNotAllowed,
			"calls to +%s are blocked for this customer (blocked prefix %s)", digits, p)
	}
	if rate == nil {
		return voice.Errorf(voice.ECodeDestinationNotAllowed, "no active rate matches +%s", digits)
	}
	if m := cust.MaxRatePerMinute; m != nil && rate.PricePerMinute.GreaterThan(*m) {
		return voice.Errorf(voice.ECodeDestinationNotAllowed,
			"+%s is priced at %s %s per minute, above this customer's max_rate_per_minute of %s",
			digits, rate.PricePerMinute, rate.Currency, m)
	}
	return nil
}

// CheckBalance refuses, with 402 insufficient_balance, a call whose first
// billing increment the customer cannot pay: balance + credit_limit <
// rating.FirstIncrementCost(rate) (connection_fee + I/60 * price_per_minute,
// rounded like the final price). Exactly enough is enough. A nil rate is
// refused as CheckDestination refuses it, so no call is admitted unpriced.
func CheckBalance(cust *voice.Customer, rate *voice.Rate) *voice.Error {
	if rate == nil {
		return voice.Errorf(voice.ECodeDestinationNotAllowed, "no active rate matches the number")
	}
	first := rating.FirstIncrementCost(rate)
	if avail := Available(cust); avail.LessThan(first) {
		return voice.Errorf(voice.ECodeInsufficientBalance,
			"balance plus credit limit (%s %s) cannot pay the first billing increment of this call (%s %s)",
			avail, cust.Currency, first, rate.Currency)
	}
	return nil
}

// DayStart returns the start (00:00 UTC) of the UTC day now falls in: the
// lower bound of the spend that CheckDailySpend's spentToday sums.
func DayStart(now time.Time) time.Time {
	y, m, d := now.UTC().Date()
	return time.Date(y, m, d, 0, 0, 0, 0, time.UTC)
}

// CheckDailySpend refuses, with 429 daily_spend_limit and Retry-After until
// the next 00:00 UTC, a call that would take the customer's spend for the
// current UTC day above its daily_spend_limit. No limit set: always nil.
//
// spentToday is what the customer's calls have been charged today: the sum of
// the prices of its calls that ended at or after DayStart(now), which is
// minus the sum of its call_charge ledger entries created since then (the
// charge is written when the call ends, in the same transaction) and the sum
// of the cost column of GET /v1/usage for today. Credits and adjustments do
// not count: a refund does not raise the day's allowance. Calls still up have
// not been charged and do not count here; the Gate's reservation counts them
// (what they have reserved) in the same transaction that reserves the new
// call. The limit is an admission check: a call already admitted is cut only
// when its reservation cannot grow (Meter).
//
// The new call's first increment counts: the call is refused when
// spentToday + rating.FirstIncrementCost(rate) > limit, so a call is never
// started that is certain to pass the limit, the same way CheckBalance treats
// the balance. Reaching the limit exactly is allowed. A nil rate counts zero.
func CheckDailySpend(cust *voice.Customer, spentToday decimal.Decimal, rate *voice.Rate, now time.Time) *voice.Error {
	limit := cust.DailySpendLimit
	if limit == nil {
		return nil
	}
	need := spentToday
	if rate != nil {
		need = need.Add(rating.FirstIncrementCost(rate))
	}
	if need.LessThanOrEqual(*limit) {
		return nil
	}
	return &voice.Error{Code: voice.ECodeDailySpendLimit, RetryAfter: secondsUntil(now, DayStart(now).AddDate(0, 0, 1)),
		Message: fmt.Sprintf("today's spend (%s %s) plus this call's first billing increment would pass the daily_spend_limit of %s; it resets at 00:00 UTC",
			spentToday, cust.Currency, limit)}
}

// secondsUntil is a Retry-After value: whole seconds from now to t, rounded
// up, at least 1 (0 would mean "no header").
func secondsUntil(now, t time.Time) int {
	return ceilSeconds(t.Sub(now))
}

// ceilSeconds rounds d up to whole seconds, at least 1.
func ceilSeconds(d time.Duration) int {
	s := int((d + time.Second - 1) / time.Second)
	return max(s, 1)
}
