package rating

import (
	"fmt"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/minivoice/minivoice/internal/voice"
	"github.com/shopspring/decimal"
)

var t0 = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)

// mk returns an active rate; deck "" is the default deck.
func mk(id, deck, direction, prefix string) *voice.Rate {
	r := &voice.Rate{ID: id, Direction: direction, Prefix: prefix, PricePerMinute: decimal.NewFromInt(1),
		InitialIncrement: 60, SubsequentIncrement: 60, Currency: "EUR", Status: voice.RateActive, CreatedAt: t0}
	if deck != "" {
		r.CustomerID = &deck
	}
	return r
}

func inactive(r *voice.Rate) *voice.Rate { r.Status = voice.RateInactive; return r }

func TestIndexLookup(t *testing.T) {
	const out, in = voice.DirectionOutbound, voice.DirectionInbound
	empty := ""
	rates := []*voice.Rate{
		// Default deck: overlapping prefixes 1, 1555, 15551.
		mk("d1", "", out, "1"),
		mk("d1555", "", out, "1555"),
		mk("d15551", "", out, "15551"),
		mk("d44", "", out, "44"),
		mk("d4420", "", out, "4420"),
		inactive(mk("d4479", "", out, "4479")), // never matches: 4479... gets 44
		mk("d49", "", out, "49"),
		mk("din1", "", in, "1"),
		// Customer A: its own 44 (cheaper), and an outbound deck without 1.
		mk("a44", "cust_a", out, "44"),
		mk("a3", "cust_a", out, "33"),
		inactive(mk("a49", "cust_a", out, "49")), // inactive: A falls back for 49
		// Customer B: a catch-all "" in its own deck: never falls back outbound.
		mk("ball", "cust_b", out, ""),
		mk("b1555", "cust_b", out, "1555"),
		// Customer C: only inbound rates.
		mk("cin", "cust_c", in, "1555"),
		// A CustomerID pointing to "" is the default deck.
		{ID: "d7", CustomerID: &empty, Direction: out, Prefix: "7", Status: voice.RateActive},
	}
	x, err := NewIndex(rates)
	if err != nil {
		t.Fatal(err)
	}
	if x.Len() != len(rates)-2 { // two are inactive
		t.Errorf("Len = %d, want %d", x.Len(), len(rates)-2)
	}
	tests := []struct {
		name                  string
		cust, dir, digits, id string // id "" means no match
	}{
		{"longest of 1/1555/15551", "", out, "15551234567", "d15551"},
		{"1555 but not 15551", "", out, "15559876543", "d1555"},
		{"exactly the prefix", "", out, "1555", "d1555"},
		{"shorter than 1555", "", out, "155", "d1"},
		{"only 1", "", out, "14155550100", "d1"},
		{"1 itself", "", out, "1", "d1"},
		{"no match", "", out, "33123456789", ""},
		{"empty digits match no prefix but the empty one", "", out, "", ""},
		{"inactive longer prefix is skipped", "", out, "447911123456", "d44"},
		{"longer active prefix", "", out, "442071234567", "d4420"},
		{"leading plus tolerated", "", out, "+15551234567", "d15551"},
		{"non-digit stops the walk", "", out, "1555-1234", "d1555"},
		{"non-digit at once", "", out, "x1555", ""},
		{"CustomerID of empty string is default", "", out, "79161234567", "d7"},

		{"customer deck wins even when default is longer", "cust_a", out, "442071234567", "a44"},
		{"customer deck match", "cust_a", out, "33612345678", "a3"},
		{"customer deck without a match falls back", "cust_a", out, "15551234567", "d15551"},
		{"customer inactive rate falls back", "cust_a", out, "4930123456", "d49"},
		{"customer deck with no match anywhere", "cust_a", out, "861234567", ""},
		{"customer catch-all never falls back", "cust_b", out, "15551234567", "b1555"},
		{"customer catch-all beats default longer", "cust_b", out, "442071234567", "ball"},
		{"customer catch-all on empty digits", "cust_b", out, "", "ball"},
		{"customer with only inbound falls back outbound", "cust_c", out, "15551234567", "d15551"},
		{"customer inbound deck", "cust_c", in, "15551234567", "cin"},
		{"customer inbound no match falls back", "cust_c", in, "14155550100", "din1"},
		{"unknown customer uses default", "cust_zzz", out, "4420", "d4420"},
		{"inbound default", "", in, "15551234567", "din1"},
		{"inbound default no match", "", in, "44", ""},
		{"customer without inbound deck falls back", "cust_a", in, "12125551234", "din1"},

		{"direction both matches nothing", "", voice.DirectionBoth, "1555", ""},
		{"unknown direction", "", "sideways", "1555", ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got := x.Lookup(tc.cust, tc.dir, tc.digits)
			gotID := ""
			if got != nil {
				gotID = got.ID
			}
			if gotID != tc.id {
				t.Errorf("Lookup(%q, %q, %q) = %q, want %q", tc.cust, tc.dir, tc.digits, gotID, tc.id)
			}
		})
	}
}

func TestIndexCatchAllDefault(t *testing.T) {
	x, err := NewIndex([]*voice.Rate{mk("all", "", voice.DirectionOutbound, ""), mk("a1", "cust_a", voice.DirectionOutbound, "1")})
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct{ cust, digits, want string }{
		{"", "", "all"}, {"", "999", "all"}, {"cust_a", "1555", "a1"}, {"cust_a", "44", "all"},
	} {
		if got := x.Lookup(tc.cust, voice.DirectionOutbound, tc.digits); got == nil || got.ID != tc.want {
			t.Errorf("Lookup(%q, %q) = %v, want %s", tc.cust, tc.digits, got, tc.want)
		}
	}
}

func TestIndexDuplicates(t *testing.T) {
	old, newer := mk("rate_old", "", voice.DirectionOutbound, "44"), mk("rate_new", "", voice.DirectionOutbound, "44")
	newer.CreatedAt = t0.Add(time.Second)
	tieA, tieB := mk("rate_a", "", voice.DirectionOutbound, "49"), mk("rate_b", "", voice.DirectionOutbound, "49")
	for _, order := range [][]*voice.Rate{{old, newer, tieA, tieB}, {newer, old, tieB, tieA}} {
		x, err := NewIndex(order)
		if err != nil {
			t.Fatal(err)
		}
		if got := x.Lookup("", voice.DirectionOutbound, "4420"); got.ID != "rate_new" {
			t.Errorf("newest should win, got %s", got.ID)
		}
		if got := x.Lookup("", voice.DirectionOutbound, "4930"); got.ID != "rate_b" {
			t.Errorf("same time: greater id should win, got %s", got.ID)
		}
		if x.Len() != 2 {
			t.Errorf("Len = %d, want 2 (one per prefix)", x.Len())
		}
	}
}

func TestIndexErrors(t *testing.T) {
	bad := []struct {
		name string
		r    *voice.Rate
	}{
		{"nil", nil},
		{"plus in prefix", mk("r", "", voice.DirectionOutbound, "+44")},
		{"letter in prefix", mk("r", "", voice.DirectionOutbound, "4a")},
		{"direction both", mk("r", "", voice.DirectionBoth, "44")},
		{"no direction", mk("r", "", "", "44")},
	}
	for _, tc := range bad {
		if _, err := NewIndex([]*voice.Rate{mk("ok", "", voice.DirectionOutbound, "1"), tc.r}); err == nil {
			t.Errorf("%s: no error", tc.name)
		}
	}
	// An inactive rate is not checked: it is never indexed.
	if _, err := NewIndex([]*voice.Rate{inactive(mk("r", "", voice.DirectionBoth, "+1"))}); err != nil {
		t.Errorf("inactive malformed rate: %v", err)
	}
}

func TestIndexNilAndEmpty(t *testing.T) {
	var x *Index
	if x.Lookup("cust_a", voice.DirectionOutbound, "1555") != nil || x.Len() != 0 {
		t.Error("nil index should match nothing")
	}
	x, err := NewIndex(nil)
	if err != nil || x.Lookup("", voice.DirectionOutbound, "1555") != nil || x.Len() != 0 {
		t.Errorf("empty index: %v", err)
	}
}

// refLookup is billing.md's rule written the slow, obvious way.
func refLookup(rates []*voice.Rate, cust, dir, digits string) *voice.Rate {
	best := func(deck string) *voice.Rate {
		var b *voice.Rate
		for _, r := range rates {
			d := ""
			if r.CustomerID != nil {
				d = *r.CustomerID
			}
			if d != deck || r.Direction != dir || r.Status != voice.RateActive || len(r.Prefix) > len(digits) || digits[:len(r.Prefix)] != r.Prefix {
				continue
			}
			if b == nil || len(r.Prefix) > len(b.Prefix) {
				b = r
			}
		}
		return b
	}
	if cust != "" {
		if r := best(cust); r != nil {
			return r
		}
	}
	return best("")
}

// randomDecks returns rates over a small alphabet of digits so prefixes
// overlap a lot, for several customers and both directions.
func randomDecks(rng *rand.Rand, n int) []*voice.Rate {
	custs := []string{"", "", "cust_a", "cust_b", "cust_c"}
	seen := map[string]bool{}
	var rates []*voice.Rate
	for len(rates) < n {
		p := make([]byte, rng.IntN(6))
		for i := range p {
			p[i] = byte('0' + rng.IntN(3))
		}
		deck := custs[rng.IntN(len(custs))]
		dir := []string{voice.DirectionOutbound, voice.DirectionInbound}[rng.IntN(2)]
		key := deck + "/" + dir + "/" + string(p)
		if seen[key] { // the database allows one rate per prefix in a deck
			continue
		}
		seen[key] = true
		r := mk(fmt.Sprintf("rate_%d", len(rates)), deck, dir, string(p))
		r.CreatedAt = t0.Add(time.Duration(len(rates)) * time.Second)
		if rng.IntN(5) == 0 {
			r.Status = voice.RateInactive
		}
		rates = append(rates, r)
	}
	return rates
}

func randomDigits(rng *rand.Rand) string {
	p := make([]byte, rng.IntN(9))
	for i := range p {
		p[i] = byte('0' + rng.IntN(3))
	}
	return string(p)
}

func TestIndexMatchesReference(t *testing.T) {
	rng := rand.New(rand.NewPCG(5, 6))
	for round := range 50 {
		rates := randomDecks(rng, 1+rng.IntN(120))
		x, err := NewIndex(rates)
		if err != nil {
			t.Fatal(err)
		}
		for range 400 {
			cust := []string{"", "cust_a", "cust_b", "cust_c", "cust_none"}[rng.IntN(5)]
			dir := []string{voice.DirectionOutbound, voice.DirectionInbound}[rng.IntN(2)]
			digits := randomDigits(rng)
			if got, want := x.Lookup(cust, dir, digits), refLookup(rates, cust, dir, digits); got != want {
				t.Fatalf("round %d: Lookup(%q, %q, %q) = %v, want %v", round, cust, dir, digits, got, want)
			}
		}
	}
}

// TestIndexSwapConcurrent is the intended use: readers Lookup through an
// atomic.Pointer while a writer publishes rebuilt indexes. Run with -race.
func TestIndexSwapConcurrent(t *testing.T) {
	var cur atomic.Pointer[Index]
	build := func(id string) *Index {
		x, err := NewIndex([]*voice.Rate{mk(id, "", voice.DirectionOutbound, "44")})
		if err != nil {
			t.Fatal(err)
		}
		return x
	}
	cur.Store(build("v0"))
	var wg sync.WaitGroup
	stop := make(chan struct{})
	for range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				select {
				case <-stop:
					return
				default:
				}
				if r := cur.Load().Lookup("cust_a", voice.DirectionOutbound, "442071234567"); r == nil {
					t.Error("a published index lost its rate")
					return
				}
			}
		}()
	}
	for i := range 200 {
		cur.Store(build(fmt.Sprintf("v%d", i+1)))
	}
	close(stop)
	wg.Wait()
	if got := cur.Load().Lookup("", voice.DirectionOutbound, "44"); got.ID != "v200" {
		t.Errorf("last published = %s", got.ID)
	}
}

func TestLookupDoesNotAllocate(t *testing.T) {
	x, err := NewIndex([]*voice.Rate{mk("d1", "", voice.DirectionOutbound, "1"), mk("a1", "cust_a", voice.DirectionOutbound, "44")})
	if err != nil {
		t.Fatal(err)
	}
	if n := testing.AllocsPerRun(100, func() { x.Lookup("cust_a", voice.DirectionOutbound, "+15551234567") }); n != 0 {
		t.Errorf("Lookup allocates %v times", n)
	}
}
