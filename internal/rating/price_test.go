package rating

import (
	"math/big"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/minivoice/minivoice/internal/voice"
	"github.com/shopspring/decimal"
)

func dec(s string) decimal.Decimal { return decimal.RequireFromString(s) }

func rate(ppm, fee string, initial, subsequent int) *voice.Rate {
	return &voice.Rate{ID: "rate_t", Direction: voice.DirectionOutbound, PricePerMinute: dec(ppm), ConnectionFee: dec(fee),
		InitialIncrement: initial, SubsequentIncrement: subsequent, Currency: "EUR", Status: voice.RateActive}
}

const day = 24 * time.Hour

func TestBillableSeconds(t *testing.T) {
	ms := time.Millisecond
	s := time.Second
	tests := []struct {
		name     string
		d        time.Duration
		answered bool
		i, s     int
		want     int
	}{
		// Never answered: nothing is billed, whatever the (ringing) duration.
		{"unanswered zero", 0, false, 60, 60, 0},
		{"unanswered long", 10 * time.Minute, false, 60, 60, 0},
		{"unanswered 1/1", 5 * s, false, 1, 1, 0},

		// 60/60.
		{"60/60 zero", 0, true, 60, 60, 60},
		{"60/60 1ns", 1, true, 60, 60, 60},
		{"60/60 1s", s, true, 60, 60, 60},
		{"60/60 59.999s", 59*s + 999*ms, true, 60, 60, 60},
		{"60/60 60s", 60 * s, true, 60, 60, 60},
		{"60/60 60.001s", 60*s + ms, true, 60, 60, 120},
		{"60/60 61s", 61 * s, true, 60, 60, 120},
		{"60/60 120s", 120 * s, true, 60, 60, 120},
		{"60/60 121s", 121 * s, true, 60, 60, 180},

		// 30/6.
		{"30/6 zero", 0, true, 30, 6, 30},
		{"30/6 29s", 29 * s, true, 30, 6, 30},
		{"30/6 30s", 30 * s, true, 30, 6, 30},
		{"30/6 30.5s", 30*s + 500*ms, true, 30, 6, 36},
		{"30/6 31s", 31 * s, true, 30, 6, 36},
		{"30/6 36s", 36 * s, true, 30, 6, 36},
		{"30/6 36.001s", 36*s + ms, true, 30, 6, 42},
		{"30/6 37s", 37 * s, true, 30, 6, 42},
		{"30/6 95s", 95 * s, true, 30, 6, 96},

		// 6/6.
		{"6/6 zero", 0, true, 6, 6, 6},
		{"6/6 1s", s, true, 6, 6, 6},
		{"6/6 6s", 6 * s, true, 6, 6, 6},
		{"6/6 7s", 7 * s, true, 6, 6, 12},
		{"6/6 12s", 12 * s, true, 6, 6, 12},
		{"6/6 13s", 13 * s, true, 6, 6, 18},

		// 1/1: plain seconds, rounded up, at least one.
		{"1/1 zero", 0, true, 1, 1, 1},
		{"1/1 1ns", 1, true, 1, 1, 1},
		{"1/1 200ms", 200 * ms, true, 1, 1, 1},
		{"1/1 999ms", 999 * ms, true, 1, 1, 1},
		{"1/1 1s", s, true, 1, 1, 1},
		{"1/1 1.001s", s + ms, true, 1, 1, 2},
		{"1/1 59.5s", 59*s + 500*ms, true, 1, 1, 60},
		{"1/1 3600s", 3600 * s, true, 1, 1, 3600},

		// Other shapes decks use.
		{"60/1 61s", 61 * s, true, 60, 1, 61},
		{"60/1 30s", 30 * s, true, 60, 1, 60},
		{"1/60 2s", 2 * s, true, 1, 60, 61},

		// Very long calls: days.
		{"60/60 3 days", 3 * day, true, 60, 60, 259200},
		{"60/60 3 days + 1s", 3*day + s, true, 60, 60, 259260},
		{"30/6 3 days + 1s", 3*day + s, true, 30, 6, 259206},
		{"1/1 3 days + 1ns", 3*day + 1, true, 1, 1, 259201},
		{"1/1 longest duration", time.Duration(1<<63 - 1), true, 1, 1, 9223372037},

		// Malformed input: never panic, never below the minimum.
		{"negative duration", -5 * s, true, 30, 6, 30},
		{"zero increments act as 1/1", 3*s + ms, true, 0, 0, 4},
		{"negative increments act as 1/1", 2 * s, true, -6, -6, 2},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := BillableSeconds(tc.d, tc.answered, tc.i, tc.s); got != tc.want {
				t.Errorf("BillableSeconds(%v, %v, %d, %d) = %d, want %d", tc.d, tc.answered, tc.i, tc.s, got, tc.want)
			}
		})
	}
}

func TestPrice(t *testing.T) {
	tests := []struct {
		name     string
		r        *voice.Rate
		billable int
		answered bool
		want     string // StringFixed(6)
	}{
		{"unanswered is free", rate("0.60", "0.05", 60, 60), 0, false, "0.000000"},
		{"connection fee only when answered", rate("0.60", "0.05", 60, 60), 60, true, "0.650000"},
		{"60/60 one minute", rate("0.60", "0", 60, 60), 60, true, "0.600000"},
		{"60/60 two minutes", rate("0.60", "0", 60, 60), 120, true, "1.200000"},
		{"30/6 36s with fee", rate("0.0123", "0.01", 30, 6), 36, true, "0.017380"},
		{"6/6 12s", rate("0.05", "0", 6, 6), 12, true, "0.010000"},
		{"1/1 7s non-terminating", rate("0.01", "0", 1, 1), 7, true, "0.001167"},
		{"1/1 1s non-terminating", rate("0.01", "0", 1, 1), 1, true, "0.000167"},
		{"1/1 2s non-terminating down", rate("0.01", "0", 1, 1), 2, true, "0.000333"},
		// A half-cent is representable: nothing is rounded to cents.
		{"half cent stays", rate("0.01", "0", 30, 30), 30, true, "0.005000"},
		{"half cent plus fee", rate("0.01", "0.0025", 30, 30), 30, true, "0.007500"},
		// Exactly half a micro-unit rounds up (half-up), not to even.
		{"half micro 0.0000005 rounds up", rate("0.000003", "0", 1, 1), 10, true, "0.000001"},
		{"just under half micro rounds down", rate("0.000003", "0", 1, 1), 9, true, "0.000000"},
		{"just over half micro rounds up", rate("0.000003", "0", 1, 1), 11, true, "0.000001"},
		{"x.xxxxxx5 odd neighbour up", rate("0.123459", "0", 30, 6), 30, true, "0.061730"},
		{"x.xxxxxx5 even neighbour up (not banker's)", rate("0.123457", "0", 30, 6), 30, true, "0.061729"},
		{"x.xxxxxx5 with fee", rate("0.123457", "1.000001", 30, 6), 30, true, "1.061730"},
		// The fee and the per-minute part are rounded together, once.
		{"fee and time rounded once", rate("0.000001", "0.0000004", 1, 1), 6, true, "0.000001"},
		{"very long call 3 days", rate("0.60", "0", 60, 60), 259200, true, "2592.000000"},
		{"very long call 3 days 1/1 thirds", rate("0.01", "0", 1, 1), 259201, true, "43.200167"},
		{"large values stay exact", rate("999999999.999999", "999999999.999999", 1, 1), 9223372037, true, "153722868283333179.610465"},
		{"zero rate", rate("0", "0", 60, 60), 600, true, "0.000000"},
		{"negative billable counts zero", rate("0.60", "0.05", 60, 60), -60, true, "0.050000"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got := Price(tc.r, tc.billable, tc.answered)
			if got.StringFixed(PriceDecimals) != tc.want {
				t.Errorf("Price = %s, want %s", got.StringFixed(PriceDecimals), tc.want)
			}
			if got.Exponent() != -PriceDecimals {
				t.Errorf("exponent %d, want %d", got.Exponent(), -PriceDecimals)
			}
			if ref := refPrice(tc.r, tc.billable, tc.answered); !got.Equal(ref) {
				t.Errorf("Price = %s, reference %s", got, ref)
			}
		})
	}
}

// refPrice is an independent implementation of billing.md's price with
// big.Rat: round_half_up(fee + b*ppm/60, 6) for non-negative amounts.
func refPrice(r *voice.Rate, billable int, answered bool) decimal.Decimal {
	x := new(big.Rat).Mul(r.PricePerMinute.Rat(), big.NewRat(int64(max(billable, 0)), 60))
	if answered {
		x.Add(x, r.ConnectionFee.Rat())
	}
	x.Mul(x, big.NewRat(1_000_000, 1))
	x.Add(x, big.NewRat(1, 2))
	fl := new(big.Int).Quo(x.Num(), x.Denom()) // floor: x >= 0
	return decimal.NewFromBigInt(fl, -PriceDecimals)
}

func TestPriceMatchesReference(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	for range 20000 {
		r := randomRate(rng)
		b := rng.IntN(100000)
		answered := rng.IntN(4) != 0
		got, want := Price(r, b, answered), refPrice(r, b, answered)
		if !got.Equal(want) {
			t.Fatalf("Price(ppm %s fee %s, %d, %v) = %s, reference %s", r.PricePerMinute, r.ConnectionFee, b, answered, got, want)
		}
	}
}

// randomRate returns a rate with up to 6 decimals in both amounts, the way
// the API stores them, often with tiny amounts so rounding matters.
func randomRate(rng *rand.Rand) *voice.Rate {
	amount := func() decimal.Decimal {
		switch rng.IntN(4) {
		case 0:
			return decimal.Zero
		case 1:
			return decimal.New(rng.Int64N(100), -6)
		default:
			return decimal.New(rng.Int64N(5_000_000), -6)
		}
	}
	incs := [][2]int{{60, 60}, {30, 6}, {6, 6}, {1, 1}, {60, 1}, {1, 60}}
	inc := incs[rng.IntN(len(incs))]
	return &voice.Rate{PricePerMinute: amount(), ConnectionFee: amount(), InitialIncrement: inc[0], SubsequentIncrement: inc[1]}
}

func TestFirstIncrementCost(t *testing.T) {
	tests := []struct {
		r    *voice.Rate
		want string
	}{
		{rate("0.60", "0", 60, 60), "0.6"},
		{rate("0.60", "0.05", 30, 6), "0.35"},
		{rate("0.60", "0", 6, 6), "0.06"},
		{rate("0.60", "0", 1, 1), "0.01"},
		{rate("0.01", "0", 1, 1), "0.000167"},
		{rate("0", "0.10", 60, 60), "0.1"},
		{rate("0", "0", 60, 60), "0"},
		{rate("0.60", "0", 0, 0), "0.01"}, // malformed increments act as 1
	}
	for _, tc := range tests {
		if got := FirstIncrementCost(tc.r); !got.Equal(dec(tc.want)) {
			t.Errorf("FirstIncrementCost(%s/min +%s, %d/%d) = %s, want %s", tc.r.PricePerMinute, tc.r.ConnectionFee,
				tc.r.InitialIncrement, tc.r.SubsequentIncrement, got, tc.want)
		}
	}
}

func TestMaxAffordable(t *testing.T) {
	s := time.Second
	tests := []struct {
		name      string
		r         *voice.Rate
		available string
		want      time.Duration
		unlimited bool
	}{
		// The worked examples of the doc comment and docs/billing.md.
		{"60/60", rate("0.60", "0", 60, 60), "1.00", 60 * s, false},
		{"6/6", rate("0.60", "0", 6, 6), "1.00", 96 * s, false},
		{"1/1 exact boundary", rate("0.60", "0", 1, 1), "1.00", 100 * s, false},
		{"30/6 with fee", rate("0.60", "0.05", 30, 6), "0.50", 42 * s, false},
		{"30/6 exactly the first increment", rate("0.60", "0.05", 30, 6), "0.35", 30 * s, false},
		{"30/6 a micro short of the second", rate("0.60", "0.05", 30, 6), "0.409999", 30 * s, false},
		{"30/6 exactly the second", rate("0.60", "0.05", 30, 6), "0.41", 36 * s, false},
		{"60/60 a micro short of two minutes", rate("0.60", "0", 60, 60), "1.199999", 60 * s, false},
		{"60/60 exactly two minutes", rate("0.60", "0", 60, 60), "1.20", 120 * s, false},
		{"more than 6 decimals are floored", rate("0.60", "0", 1, 1), "0.9999999", 99 * s, false},

		// Not even the first increment.
		{"zero available", rate("0.60", "0", 60, 60), "0", 0, false},
		{"negative available", rate("0.60", "0", 60, 60), "-5", 0, false},
		{"first increment short by a micro", rate("0.60", "0", 60, 60), "0.599999", 0, false},
		{"connection fee alone exceeds", rate("0.01", "1.00", 1, 1), "0.99", 0, false},
		{"connection fee alone exceeds free minutes", rate("0", "1.00", 60, 60), "0.50", 0, false},
		{"free rate but over the credit limit", rate("0", "0", 60, 60), "-0.01", 0, false},

		// Price does not grow: only time_limit ends the call.
		{"free rate", rate("0", "0", 60, 60), "0", 0, true},
		{"fee only", rate("0", "0.10", 60, 60), "0.10", 0, true},
		{"huge balance", rate("0.000001", "0", 1, 1), "1000000000000000000000", 0, true},

		// Rounding can make a few seconds free: 0.000001/min rounds to 0 below 30 s.
		{"tiny rate on zero balance", rate("0.000001", "0", 1, 1), "0", 29 * s, false},
		{"tiny rate on one micro", rate("0.000001", "0", 1, 1), "0.000001", 89 * s, false},

		// Very long: days of balance.
		{"days of balance", rate("0.01", "0", 60, 60), "43.20", 3 * day, false},
		{"days of balance 1/1", rate("0.01", "0", 1, 1), "43.200167", 3*day + s, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			d, unlimited := MaxAffordable(tc.r, dec(tc.available))
			if d != tc.want || unlimited != tc.unlimited {
				t.Fatalf("MaxAffordable = %v, %v; want %v, %v", d, unlimited, tc.want, tc.unlimited)
			}
			checkAffordable(t, tc.r, dec(tc.available), d, unlimited)
		})
	}
}

// checkAffordable asserts MaxAffordable's contract for one answer.
func checkAffordable(t *testing.T, r *voice.Rate, available decimal.Decimal, d time.Duration, unlimited bool) {
	t.Helper()
	first := FirstIncrementCost(r)
	if unlimited {
		if d != 0 {
			t.Errorf("unlimited with d = %v", d)
		}
		if first.GreaterThan(available) {
			t.Errorf("unlimited but the first increment %s exceeds %s", first, available)
		}
		return
	}
	if d == 0 {
		if !first.GreaterThan(available) {
			t.Errorf("d = 0 but the first increment %s fits in %s", first, available)
		}
		return
	}
	if d%time.Second != 0 {
		t.Fatalf("d = %v is not whole seconds", d)
	}
	b := BillableSeconds(d, true, r.InitialIncrement, r.SubsequentIncrement)
	if time.Duration(b)*time.Second != d {
		t.Errorf("d = %v is not an increment boundary (billed %d s)", d, b)
	}
	if p := Price(r, b, true); p.GreaterThan(available) {
		t.Errorf("price at d = %s > available %s", p, available)
	}
	_, s := increments(r)
	if p := Price(r, b+int(s), true); !p.GreaterThan(available) {
		t.Errorf("one more increment costs %s, still <= available %s", p, available)
	}
}

func TestMaxAffordableProperties(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	for range 20000 {
		r := randomRate(rng)
		var available decimal.Decimal
		switch rng.IntN(3) {
		case 0: // near a price boundary
			p := Price(r, rng.IntN(5000), true)
			available = p.Add(decimal.New(rng.Int64N(3)-1, -PriceDecimals))
		case 1: // more decimals than a price has
			available = decimal.New(rng.Int64N(100_000_000)-1_000_000, -9)
		default:
			available = decimal.New(rng.Int64N(10_000_000), -6)
		}
		d, unlimited := MaxAffordable(r, available)
		checkAffordable(t, r, available, d, unlimited)
		if t.Failed() {
			t.Fatalf("rate %s/min +%s %d/%d, available %s: d %v unlimited %v", r.PricePerMinute, r.ConnectionFee,
				r.InitialIncrement, r.SubsequentIncrement, available, d, unlimited)
		}
	}
}

func TestCutoff(t *testing.T) {
	at := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	tests := []struct {
		d    time.Duration
		want time.Time
	}{
		{0, at},
		{CutoffLead, at},
		{time.Second, at.Add(500 * time.Millisecond)},
		{96 * time.Second, at.Add(95*time.Second + 500*time.Millisecond)},
	}
	for _, tc := range tests {
		if got := Cutoff(at, tc.d); !got.Equal(tc.want) {
			t.Errorf("Cutoff(%v) = %v, want %v", tc.d, got, tc.want)
		}
		// Hanging up at the cut-off bills no more than d (the point of the lead).
		if tc.d >= time.Second {
			if b := BillableSeconds(Cutoff(at, tc.d).Sub(at)+CutoffLead-time.Nanosecond, true, 1, 1); time.Duration(b)*time.Second > tc.d {
				t.Errorf("a hang-up within the lead bills %d s > %v", b, tc.d)
			}
		}
	}
}
