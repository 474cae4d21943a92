package rating

import (
	"fmt"
	"github.com/minivoice/minivoice/internal/cputime"
	"math/rand/v2"
	"runtime"
	"strconv"
	"testing"
	"time"

	"github.com/minivoice/minivoice/internal/voice"
	"github.com/shopspring/decimal"
)

// deckSize is the size of the benchmark deck: a large wholesale A-Z deck.
const deckSize = 100_000

// countryCodes are real E.164 country calling codes. A benchmark deck made of
// random digit strings would spread evenly over the trie; real decks cluster
// under these codes, with many long mobile and city prefixes under a few.
var countryCodes = func() []string {
	cc := []string{"1", "7"}
	for _, c := range []int{20, 27, 30, 31, 32, 33, 34, 36, 39, 40, 41, 43, 44, 45, 46, 47, 48, 49, 51, 52, 53, 54, 55, 56, 57, 58,
		60, 61, 62, 63, 64, 65, 66, 81, 82, 84, 86, 90, 91, 92, 93, 94, 95, 98} {
		cc = append(cc, strconv.Itoa(c))
	}
	for _, span := range [][2]int{{211, 269}, {290, 299}, {350, 359}, {370, 389}, {420, 423}, {500, 509}, {590, 599},
		{670, 692}, {850, 856}, {880, 886}, {960, 977}, {992, 998}} {
		for c := span[0]; c <= span[1]; c++ {
			cc = append(cc, strconv.Itoa(c))
		}
	}
	return cc
}()

// benchDeck returns a default deck of n distinct outbound prefixes of 1 to 7
// digits (every country code, then codes extended by random digits, weighted
// towards the 5-7 digit mobile and city prefixes that make up most of a real
// deck) and the rates as the store would return them: each with its own id,
// decimals parsed from strings and a description.
func benchDeck(n int) []*voice.Rate {
	rng := rand.New(rand.NewPCG(42, 42))
	seen := make(map[string]bool, n)
	prefixes := make([]string, 0, n)
	for _, c := range countryCodes {
		seen[c] = true
		prefixes = append(prefixes, c)
	}
	weights := []int{0, 1, 2, 4, 8, 10, 10} // extra digits 0..6, capped to 7 in all
	total := 0
	for _, w := range weights {
		total += w
	}
	for len(prefixes) < n {
		c := countryCodes[rng.IntN(len(countryCodes))]
		if rng.IntN(3) == 0 { // most traffic and most prefixes: NANP, UK, DE, CN, IN...
			c = []string{"1", "44", "49", "86", "91", "33", "7"}[rng.IntN(7)]
		}
		w := rng.IntN(total)
		extra := 0
		for w >= weights[extra] {
			w -= weights[extra]
			extra++
		}
		extra = min(extra, 7-len(c))
		p := []byte(c)
		for range extra {
			p = append(p, byte('0'+rng.IntN(10)))
		}
		if !seen[string(p)] {
			seen[string(p)] = true
			prefixes = append(prefixes, string(p))
		}
	}
	rates := make([]*voice.Rate, n)
	for i, p := range prefixes[:n] {
		rates[i] = &voice.Rate{ID: voice.NewID(voice.PrefixRate, t0), Direction: voice.DirectionOutbound, Prefix: p,
			PricePerMinute: decimal.RequireFromString(fmt.Sprintf("0.%06d", rng.IntN(999_999)+1)), ConnectionFee: decimal.Zero,
			InitialIncrement: 60, SubsequentIncrement: 60, Currency: "EUR", Status: voice.RateActive,
			Description: "Destination " + p, CreatedAt: t0}
	}
	return rates
}

// benchNumbers returns random E.164 numbers (without "+") of 10 to 13 digits
// under the deck's country codes, so nearly every lookup walks deep.
func benchNumbers(n int) []string {
	rng := rand.New(rand.NewPCG(7, 7))
	out := make([]string, n)
	for i := range out {
		c := countryCodes[rng.IntN(len(countryCodes))]
		if rng.IntN(2) == 0 {
			c = []string{"1", "44", "49", "86", "91", "33", "7"}[rng.IntN(7)]
		}
		p := []byte(c)
		for len(p) < 10+rng.IntN(4) {
			p = append(p, byte('0'+rng.IntN(10)))
		}
		out[i] = string(p)
	}
	return out
}

func heapAlloc() uint64 {
	var m runtime.MemStats
	runtime.GC()
	runtime.GC()
	runtime.ReadMemStats(&m)
	return m.HeapAlloc
}

// BenchmarkLookup is one Lookup in a 100,000-prefix default deck. "default"
// searches the default deck only; "customer_fallback" first misses in a
// customer deck (the common case: customers have a few special prices) and
// then searches the default deck.
func BenchmarkLookup(b *testing.B) {
	rates := benchDeck(deckSize)
	cust := "cust_special"
	for _, p := range []string{"4420", "331", "8610"} {
		r := &voice.Rate{ID: "rate_" + p, CustomerID: &cust, Direction: voice.DirectionOutbound, Prefix: p, Status: voice.RateActive}
		rates = append(rates, r)
	}
	x, err := NewIndex(rates)
	if err != nil {
		b.Fatal(err)
	}
	numbers := benchNumbers(1 << 16)
	for _, bc := range []struct{ name, cust string }{{"default", ""}, {"customer_fallback", "cust_special"}} {
		b.Run(bc.name, func(b *testing.B) {
			hits := 0
			b.ReportAllocs()
			start := time.Now()
			cpu0, cpuOK := cputime.Used()
			i := 0
			for b.Loop() {
				if x.Lookup(bc.cust, voice.DirectionOutbound, numbers[i&(len(numbers)-1)]) != nil {
					hits++
				}
				i++
			}
			b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "lookups/s")
			if cpu1, ok := cputime.Used(); ok && cpuOK && cpu1 > cpu0 {
				b.ReportMetric(float64(cpu1-cpu0)/float64(b.N), "cpu-ns/lookup")
			}
			if hits == 0 {
				b.Fatal("no lookup matched")
			}
		})
	}
}

// BenchmarkNewIndex builds the index of a 100,000-prefix deck and reports
// the heap it keeps (runtime.MemStats before and after the build, after GC)
// in total and per prefix, and the heap of the rates themselves as loaded.
func BenchmarkNewIndex(b *testing.B) {
	before := heapAlloc()
	rates := benchDeck(deckSize)
	ratesHeap := heapAlloc() - before
	var x *Index
	var indexHeap uint64
	for b.Loop() {
		x = nil
		b.StopTimer()
		h0 := heapAlloc()
		b.StartTimer()
		var err error
		if x, err = NewIndex(rates); err != nil {
			b.Fatal(err)
		}
		b.StopTimer()
		indexHeap = heapAlloc() - h0
		b.StartTimer()
	}
	b.StopTimer()
	b.ReportMetric(float64(indexHeap), "index-B")
	b.ReportMetric(float64(indexHeap)/deckSize, "index-B/prefix")
	b.ReportMetric(float64(ratesHeap), "rates-B")
	b.ReportMetric(float64(ratesHeap+indexHeap)/deckSize, "total-B/prefix")
	b.ReportMetric(float64(len(x.nodes)), "nodes")
	runtime.KeepAlive(x)
	runtime.KeepAlive(rates)
}

// TestDeckMemory keeps the memory target honest in every test run: a
// 100,000-prefix deck, rates included, under 64 MiB.
func TestDeckMemory(t *testing.T) {
	if testing.Short() {
		t.Skip("builds a 100,000-prefix deck")
	}
	before := heapAlloc()
	rates := benchDeck(deckSize)
	x, err := NewIndex(rates)
	if err != nil {
		t.Fatal(err)
	}
	total := heapAlloc() - before
	if x.Len() != deckSize {
		t.Fatalf("Len = %d", x.Len())
	}
	if total > 64<<20 {
		t.Errorf("deck uses %d bytes, more than 64 MiB", total)
	}
	t.Logf("deck heap %d bytes (%.0f B/prefix), %d nodes", total, float64(total)/deckSize, len(x.nodes))
	runtime.KeepAlive(x)
	runtime.KeepAlive(rates)
}
