package rating

import (
	"time"

	"github.com/minivoice/minivoice/internal/voice"
	"github.com/shopspring/decimal"
)

// PriceDecimals is the number of decimal places a price is rounded to
// (billing.md: "rounded half-up to 6 decimals"). Six places keep sub-cent
// per-second prices exact enough that a million 1-second calls add up to the
// same total as one million-second call to within a cent.
const PriceDecimals = 6

// CutoffLead is how long before the end of the last affordable second the
// engine should hang up a call for insufficient_balance. The recorded duration
// is measured from answer to the moment the engine records the end, and is
// rounded up to whole seconds, so a hang-up that lands even a millisecond after
// MaxAffordable's duration would bill one more increment. Half a second covers
// the BYE and the final database write; a hang-up later than that still
// overdraws by at most one increment, which billing.md allows.
const CutoffLead = 500 * time.Millisecond

// maxSeconds is the longest duration, in whole seconds, that time.Duration
// can hold (about 292 years). MaxAffordable reports anything longer as
// unlimited rather than overflowing.
const maxSeconds = int64(1<<63-1) / int64(time.Second)

var (
	sixty = decimal.NewFromInt(60)
	// micro is one unit in the last place of a price.
	micro = decimal.New(1, -PriceDecimals)
	// halfRem is the remainder of a division by 60 at which the discarded
	// part is half a micro-unit: r/60 >= 0.5e-6 <=> r >= 30e-6.
	halfRem = decimal.New(30, -PriceDecimals)
)

// increments returns the rate's initial and subsequent increments, raised to
// at least 1 s: the API only stores 1..3600, and a zero would divide by zero.
func increments(rate *voice.Rate) (initial, subsequent int64) {
	return int64(max(rate.InitialIncrement, 1)), int64(max(rate.SubsequentIncrement, 1))
}

// BillableSeconds returns the seconds billed for a call that was up for d
// (from answer to end), per billing.md:
//
//   - 0 if the call was never answered, whatever d is;
//   - otherwise d is rounded UP to whole seconds with a minimum of 1 s (so an
//     answered call of 0 or 200 ms counts 1 s, 60.001 s counts 61 s), then
//     billable = d <= I ? I : I + ceil((d-I)/S)*S.
//
// initial and subsequent are the rate's increments in seconds; values below 1
// are treated as 1 so a malformed rate never divides by zero. A negative d is
// treated as zero (clock steps can produce one; the call was still answered).
func BillableSeconds(d time.Duration, answered bool, initial, subsequent int) int {
	if !answered {
		return 0
	}
	secs := int64(d / time.Second)
	if d%time.Second > 0 {
		secs++
	}
	secs = max(secs, 1)
	i, s := int64(max(initial, 1)), int64(max(subsequent, 1))
	if secs <= i {
		return int(i)
	}
	return int(i + (secs-i+s-1)/s*s)
}

// Price returns what a call of billable seconds costs at rate:
// connection_fee (only when answered) + billable/60 * price_per_minute.
//
// The sum is computed exactly (price*60 = fee*60 + billable*ppm is an exact
// decimal product; only the final division by 60 can leave a remainder) and
// rounded half-up to PriceDecimals places from that exact remainder, so there
// is never a double rounding through an intermediate 16-digit quotient. For
// example 0.000003/min for 10 s is exactly 0.0000005, which rounds up to
// 0.000001, and 0.00001/min for 3 s is exactly 0.0000005 too.
//
// Prices and fees are never negative (the API refuses them), where half-up
// and shopspring's half-away-from-zero agree; should a negative amount ever
// reach Price, it is rounded half away from zero, the same as
// decimal.Decimal.Round. The result always has exponent -PriceDecimals, so
// StringFixed(6) and String() both show it without loss. A negative billable
// counts as 0. rate must not be nil.
func Price(rate *voice.Rate, billable int, answered bool) decimal.Decimal {
	num := rate.PricePerMinute.Mul(decimal.NewFromInt(int64(max(billable, 0))))
	if answered {
		num = num.Add(rate.ConnectionFee.Mul(sixty))
	}
	return div60(num)
}

// div60 returns num/60 rounded half away from zero to PriceDecimals places,
// exactly.
func div60(num decimal.Decimal) decimal.Decimal {
	// q is num/60 truncated toward zero to 6 places and r = num - 60q, with
	// |r| < 60e-6 and the sign of num.
	q, r := num.QuoRem(sixty, PriceDecimals)
	if r.Abs().Cmp(halfRem) >= 0 {
		if num.Sign() < 0 {
			return q.Sub(micro)
		}
		return q.Add(micro)
	}
	return q
}

// FirstIncrementCost is what the first billing increment of an answered call
// costs: connection_fee + I/60 * price_per_minute, rounded like any price
// (it is Price(rate, I, true)). billing.md requires balance + credit_limit to
// cover it before a call is placed or accepted. rate must not be nil.
func FirstIncrementCost(rate *voice.Rate) decimal.Decimal {
	i, _ := increments(rate)
	return Price(rate, int(i), true)
}

// MaxAffordable returns the longest answered duration d whose price at rate
// is at most available (the customer's balance + credit_limit when the call is
// answered), so the engine can hang up there with hangup_cause
// "insufficient_balance" instead of letting the call overdraw.
//
// The rule: the call may run to the end of the last increment it can pay for
// in full. d is always a billable boundary, I + k*S seconds, and
// Price(rate, BillableSeconds(d), true) <= available <
// Price(rate, BillableSeconds(d)+S, true). A call that ends at d or earlier
// therefore never goes below -credit_limit. Worked examples, with
// price_per_minute 0.60 (0.01 per second) and no connection fee:
//
//   - 60/60, available 1.00: one minute costs 0.60, two cost 1.20, so d = 60 s.
//   - 6/6, available 1.00: each 6 s costs 0.06; 16 of them cost 0.96 and the
//     17th would make 1.02, so d = 96 s.
//   - 1/1, available 1.00: d = 100 s exactly (exact boundary: 1.00 <= 1.00).
//   - 30/6 with a 0.05 connection fee, available 0.50: the first 30 s cost
//     0.35, each further 6 s 0.06: 0.35 + 2*0.06 = 0.47, a third would make
//     0.53, so d = 42 s.
//
// Special cases:
//
//   - available < FirstIncrementCost(rate) (including zero or negative
//     available, or a connection fee alone above it): d = 0, unlimited false.
//     The call should not have been admitted; if it is already up (the balance
//     moved since admission), hang up now.
//   - price_per_minute is zero (or negative) and the first increment is
//     affordable: the price no longer grows with time, so unlimited is true
//     and d is 0; only time_limit ends the call.
//   - the balance pays for longer than a time.Duration can hold (~292 years):
//     unlimited is true as well.
//
// The engine should hang up at Cutoff(answeredAt, d): slightly before d,
// because the recorded duration is rounded up. rate must not be nil.
func MaxAffordable(rate *voice.Rate, available decimal.Decimal) (d time.Duration, unlimited bool) {
	if FirstIncrementCost(rate).Cmp(available) > 0 {
		return 0, false
	}
	ppm := rate.PricePerMinute
	if ppm.Sign() <= 0 {
		return 0, true
	}
	i, s := increments(rate)
	// A price has 6 decimals, so price <= available <=> price <= a6.
	a6 := available.RoundFloor(PriceDecimals)
	// With x = (60*fee + ppm*B)/60 >= 0, round_half_up(x) <= a6 <=>
	// x < a6 + 0.5e-6 <=> ppm*B < 60*a6 + 30e-6 - 60*fee. With B = I + k*S:
	// k*D < N where D = ppm*S and N = 60*a6 + 30e-6 - 60*fee - ppm*I.
	// N > 0 because the first increment (k = 0) is affordable.
	n := a6.Mul(sixty).Add(halfRem).Sub(rate.ConnectionFee.Mul(sixty)).Sub(ppm.Mul(decimal.NewFromInt(i)))
	den := ppm.Mul(decimal.NewFromInt(s))
	q, r := n.QuoRem(den, 0) // q = floor(N/D): both are positive
	k := q
	if r.Sign() == 0 {
		k = q.Sub(decimal.NewFromInt(1)) // k*D < N is strict
	}
	b := k.Mul(decimal.NewFromInt(s)).Add(decimal.NewFromInt(i))
	if b.Cmp(decimal.NewFromInt(maxSeconds)) > 0 {
		return 0, true
	}
	return time.Duration(b.IntPart()) * time.Second, false
}

// Cutoff is when the engine should hang up an answered call that
// MaxAffordable limited to d: CutoffLead before answeredAt+d, so that the
// rounded-up duration it records still lands within the paid increments, and
// never before answeredAt (d = 0 means hang up at once).
func Cutoff(answeredAt time.Time, d time.Duration) time.Time {
	if d <= CutoffLead {
		return answeredAt
	}
	return answeredAt.Add(d - CutoffLead)
}
