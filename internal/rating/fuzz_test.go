package rating

import (
	"testing"
	"time"

	"github.com/minivoice/minivoice/internal/voice"
	"github.com/shopspring/decimal"
)

// FuzzBillableSeconds checks the invariants every increment rule must keep:
// never negative, zero exactly when unanswered, at least the initial
// increment and at least the rounded-up duration, less than one subsequent
// increment above it, on an increment boundary, and monotone in duration.
func FuzzBillableSeconds(f *testing.F) {
	f.Add(int64(0), int64(1), uint16(60), uint16(60), true)
	f.Add(int64(60_000_000_001), int64(5_999_999_999), uint16(30), uint16(6), true)
	f.Add(int64(999_999_999), int64(1), uint16(1), uint16(1), true)
	f.Add(int64(3*24*time.Hour), int64(time.Second), uint16(6), uint16(6), false)
	f.Fuzz(func(t *testing.T, d, delta int64, initial, subsequent uint16, answered bool) {
		// Durations of a real call: 0 to ~100 years; increments as the API
		// allows them (1..3600), keeping 0 to exercise the guard.
		d = abs(d) % int64(100*365*24*time.Hour)
		delta = abs(delta) % int64(24*time.Hour)
		i, s := int(initial%3601), int(subsequent%3601)
		b := BillableSeconds(time.Duration(d), answered, i, s)
		if !answered {
			if b != 0 {
				t.Fatalf("unanswered billed %d", b)
			}
			return
		}
		ii, ss := max(i, 1), max(s, 1)
		secs := max((d+int64(time.Second)-1)/int64(time.Second), 1)
		if b < ii || int64(b) < secs {
			t.Fatalf("d %d, %d/%d: billed %d < max(I, %d)", d, i, s, b, secs)
		}
		if b > ii && (int64(b)-secs >= int64(ss) || (b-ii)%ss != 0) {
			t.Fatalf("d %d, %d/%d: billed %d is not the next boundary after %d s", d, i, s, b, secs)
		}
		if b2 := BillableSeconds(time.Duration(d+delta), true, i, s); b2 < b {
			t.Fatalf("not monotone: %d s for %d ns, %d s for %d ns", b, d, b2, d+delta)
		}
	})
}

// FuzzPrice checks that a price is never negative, has 6 decimals, matches
// an independent big.Rat computation, never drops when the call gets longer,
// and is at least the connection fee of an answered call.
func FuzzPrice(f *testing.F) {
	f.Add(uint64(600_000), uint64(0), uint32(60), uint32(60), true)
	f.Add(uint64(3), uint64(0), uint32(10), uint32(1), true)
	f.Add(uint64(123_457), uint64(1_000_001), uint32(30), uint32(6), true)
	f.Add(uint64(1), uint64(1), uint32(0), uint32(100), false)
	f.Fuzz(func(t *testing.T, ppmMicros, feeMicros uint64, billable, more uint32, answered bool) {
		// The API stores amounts below 1e9 with at most 6 decimals.
		r := &voice.Rate{PricePerMinute: decimal.New(int64(ppmMicros%1_000_000_000_000_000), -6),
			ConnectionFee: decimal.New(int64(feeMicros%1_000_000_000_000_000), -6), InitialIncrement: 1, SubsequentIncrement: 1}
		p := Price(r, int(billable), answered)
		if p.IsNegative() {
			t.Fatalf("negative price %s", p)
		}
		if p.Exponent() != -PriceDecimals {
			t.Fatalf("price %s has exponent %d", p, p.Exponent())
		}
		if ref := refPrice(r, int(billable), answered); !p.Equal(ref) {
			t.Fatalf("Price %s, reference %s", p, ref)
		}
		if p2 := Price(r, int(billable)+int(more), answered); p2.LessThan(p) {
			t.Fatalf("longer call is cheaper: %s < %s", p2, p)
		}
		if answered && p.LessThan(r.ConnectionFee.Round(PriceDecimals)) {
			t.Fatalf("price %s below the connection fee %s", p, r.ConnectionFee)
		}
	})
}

// FuzzMaxAffordable checks MaxAffordable's contract (see checkAffordable).
func FuzzMaxAffordable(f *testing.F) {
	f.Add(uint64(600_000), uint64(50_000), int64(500_000), uint16(30), uint16(6))
	f.Add(uint64(1), uint64(0), int64(0), uint16(1), uint16(1))
	f.Add(uint64(0), uint64(100_000), int64(100_000), uint16(60), uint16(60))
	f.Fuzz(func(t *testing.T, ppmMicros, feeMicros uint64, availableNanos int64, initial, subsequent uint16) {
		r := &voice.Rate{PricePerMinute: decimal.New(int64(ppmMicros%1_000_000_000_000_000), -6),
			ConnectionFee:    decimal.New(int64(feeMicros%1_000_000_000_000_000), -6),
			InitialIncrement: int(initial%3600) + 1, SubsequentIncrement: int(subsequent%3600) + 1}
		available := decimal.New(availableNanos, -9)
		d, unlimited := MaxAffordable(r, available)
		checkAffordable(t, r, available, d, unlimited)
	})
}

func abs(x int64) int64 {
	if x < 0 {
		if x == -1<<63 {
			return 1<<63 - 1
		}
		return -x
	}
	return x
}
