package rating_test

// This test lives in the external test package so that it may import the
// store even if the store one day imports rating (an internal test would
// then be an import cycle).

import (
	"context"
	"fmt"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/minivoice/minivoice/internal/rating"
	"github.com/minivoice/minivoice/internal/store/storetest"
	"github.com/minivoice/minivoice/internal/voice"
	"github.com/shopspring/decimal"
)

// TestIndexMatchesStore checks the index against the SQL lookup it replaces,
// store.MatchRate, on the same random decks: several customers, both
// directions, inactive rates, and prefixes over three digits so they overlap
// heavily.
func TestIndexMatchesStore(t *testing.T) {
	storetest.Each(t, func(t *testing.T, backend string) {
		ctx := context.Background()
		t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
		db := storetest.Open(t, backend, nil)
		custs := []string{"cust_a", "cust_b", "cust_c"}
		for _, id := range custs {
			if err := db.CreateCustomer(ctx, &voice.Customer{ID: id, Name: id, Status: voice.CustomerActive, Currency: "EUR",
				MaxConcurrentCalls: 1, MaxCPS: 1, BlockedPrefixes: []string{}, CreatedAt: t0, UpdatedAt: t0}); err != nil {
				t.Fatal(err)
			}
		}
		rng := rand.New(rand.NewPCG(7, 8))
		digits := func(n int) string {
			p := make([]byte, n)
			for i := range p {
				p[i] = byte('0' + rng.IntN(3))
			}
			return string(p)
		}
		dirs := []string{voice.DirectionOutbound, voice.DirectionInbound}
		seen := map[string]bool{}
		var rates []*voice.Rate
		for len(rates) < 300 {
			deck := []string{"", "", "cust_a", "cust_b", "cust_c"}[rng.IntN(5)]
			dir, prefix := dirs[rng.IntN(2)], digits(rng.IntN(6))
			if seen[deck+"/"+dir+"/"+prefix] { // one rate per prefix in a deck
				continue
			}
			seen[deck+"/"+dir+"/"+prefix] = true
			r := &voice.Rate{ID: fmt.Sprintf("rate_%d", len(rates)), Direction: dir, Prefix: prefix,
				PricePerMinute: decimal.NewFromInt(1), InitialIncrement: 60, SubsequentIncrement: 60, Currency: "EUR",
				Status: voice.RateActive, CreatedAt: t0.Add(time.Duration(len(rates)) * time.Second)}
			if deck != "" {
				r.CustomerID = &deck
			}
			if rng.IntN(5) == 0 {
				r.Status = voice.RateInactive
			}
			if err := db.CreateRate(ctx, r); err != nil {
				t.Fatal(err)
			}
			rates = append(rates, r)
		}
		x, err := rating.NewIndex(rates)
		if err != nil {
			t.Fatal(err)
		}
		for range 1500 {
			cust := []string{"", "cust_a", "cust_b", "cust_c", "cust_none"}[rng.IntN(5)]
			dir, number := dirs[rng.IntN(2)], digits(rng.IntN(9))
			want, err := db.MatchRate(ctx, cust, dir, number)
			if err != nil && !voice.IsNotFound(err) {
				t.Fatal(err)
			}
			got := x.Lookup(cust, dir, number)
			if (got == nil) != (want == nil) || got != nil && got.ID != want.ID {
				t.Fatalf("Lookup(%q, %q, %q) = %v, MatchRate = %v", cust, dir, number, got, want)
			}
		}
	})
}
