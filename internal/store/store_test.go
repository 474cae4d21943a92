package store_test

import (
	"context"
	"fmt"
	"path/filepath"
	"slices"
	"sort"
	"sync"
	"testing"
	"time"

	"github.com/minivoice/minivoice/internal/store"
	"github.com/minivoice/minivoice/internal/store/postgres"
	"github.com/minivoice/minivoice/internal/store/sqlite"
	"github.com/minivoice/minivoice/internal/store/storetest"
	"github.com/minivoice/minivoice/internal/voice"
	"github.com/shopspring/decimal"
)

// t0 is the fixed clock of these tests: many rows share it on purpose.
var t0 = time.Date(2025, 6, 1, 12, 0, 0, 0, time.UTC)

func fixedClock() time.Time { return t0 }

func open(t *testing.T, backend string) *store.DB {
	t.Helper()
	return storetest.Open(t, backend, fixedClock)
}

func createCustomer(t *testing.T, db *store.DB, id string, at time.Time) *voice.Customer {
	t.Helper()
	c := &voice.Customer{ID: id, Name: id, Status: voice.CustomerActive, Currency: "EUR", MaxConcurrentCalls: 10, MaxCPS: 1,
		BlockedPrefixes: []string{}, CreatedAt: at, UpdatedAt: at}
	if err := db.CreateCustomer(context.Background(), c); err != nil {
		t.Fatalf("create customer %s: %v", id, err)
	}
	return c
}

func rate(id string, cust *string, direction, prefix, status string) *voice.Rate {
	return &voice.Rate{ID: id, CustomerID: cust, Direction: direction, Prefix: prefix,
		PricePerMinute: decimal.RequireFromString("0.01"), InitialIncrement: 60, SubsequentIncrement: 60,
		Currency: "EUR", Status: status, CreatedAt: t0}
}

func ptr(s string) *string { return &s }

func TestMatchRateLongestPrefix(t *testing.T) {
	storetest.Each(t, func(t *testing.T, backend string) {
		ctx := context.Background()
		db := open(t, backend)
		createCustomer(t, db, "cust_a", t0)
		createCustomer(t, db, "cust_b", t0)
		a := ptr("cust_a")
		for _, r := range []*voice.Rate{
			// The default deck.
			rate("rate_def_empty", nil, voice.DirectionOutbound, "", voice.RateActive),
			rate("rate_def_1", nil, voice.DirectionOutbound, "1", voice.RateActive),
			rate("rate_def_1555", nil, voice.DirectionOutbound, "1555", voice.RateActive),
			rate("rate_def_15551", nil, voice.DirectionOutbound, "15551", voice.RateActive),
			rate("rate_def_155512", nil, voice.DirectionOutbound, "155512", voice.RateInactive),
			rate("rate_def_in_1555123", nil, voice.DirectionInbound, "1555123", voice.RateActive),
			// cust_a's deck.
			rate("rate_a_1", a, voice.DirectionOutbound, "1", voice.RateActive),
			rate("rate_a_44", a, voice.DirectionOutbound, "44", voice.RateActive),
			rate("rate_a_336", a, voice.DirectionOutbound, "336", voice.RateInactive),
			rate("rate_a_in_49", a, voice.DirectionInbound, "49", voice.RateActive),
		} {
			if err := db.CreateRate(ctx, r); err != nil {
				t.Fatalf("create rate %s: %v", r.ID, err)
			}
		}
		tests := []struct {
			customer, direction, digits string
			want                        string // "" means not_found
		}{
			// No customer: the default deck only.
			{"", "outbound", "15551234567", "rate_def_15551"}, // the inactive 155512 is ignored
			{"", "outbound", "15559999999", "rate_def_1555"},
			{"", "outbound", "15000000000", "rate_def_1"},
			{"", "outbound", "4420000000", "rate_def_empty"},
			{"", "outbound", "", "rate_def_empty"},
			{"", "outbound", "1555", "rate_def_1555"},
			{"", "outbound", "155", "rate_def_1"},
			// A customer without a deck falls back to the default deck.
			{"cust_b", "outbound", "15551234567", "rate_def_15551"},
			{"cust_b", "outbound", "33", "rate_def_empty"},
			// The customer's deck wins whenever it has a match, even a shorter one.
			{"cust_a", "outbound", "15551234567", "rate_a_1"},
			{"cust_a", "outbound", "4420000000", "rate_a_44"},
			// Only when the customer's deck has no (active) match: the default deck.
			{"cust_a", "outbound", "3361234567", "rate_def_empty"},
			{"cust_a", "outbound", "4920000000", "rate_def_empty"},
			// Direction is respected in both decks.
			{"", "inbound", "15551234567", "rate_def_in_1555123"},
			{"", "inbound", "1555122", ""},
			{"", "inbound", "4420000000", ""},
			{"cust_a", "inbound", "4920000000", "rate_a_in_49"},
			{"cust_a", "inbound", "15551234567", "rate_def_in_1555123"},
			{"cust_a", "inbound", "4420000000", ""},
			{"cust_b", "inbound", "4920000000", ""},
			// An unknown customer has no deck.
			{"cust_nobody", "outbound", "4420000000", "rate_def_empty"},
		}
		for _, tc := range tests {
			got, err := db.MatchRate(ctx, tc.customer, tc.direction, tc.digits)
			if tc.want == "" {
				if !voice.IsNotFound(err) {
					t.Errorf("MatchRate(%q, %s, %q) = %v, %v; want not_found", tc.customer, tc.direction, tc.digits, got, err)
				}
				continue
			}
			if err != nil {
				t.Errorf("MatchRate(%q, %s, %q): %v", tc.customer, tc.direction, tc.digits, err)
				continue
			}
			if got.ID != tc.want {
				t.Errorf("MatchRate(%q, %s, %q) = %s (prefix %q), want %s", tc.customer, tc.direction, tc.digits, got.ID, got.Prefix, tc.want)
			}
		}

		// Deactivating the customer's "1" sends 1... numbers to the default deck.
		r, err := db.Rate(ctx, "rate_a_1")
		if err != nil {
			t.Fatal(err)
		}
		r.Status = voice.RateInactive
		if err := db.UpdateRate(ctx, r); err != nil {
			t.Fatal(err)
		}
		if got, err := db.MatchRate(ctx, "cust_a", "outbound", "15551234567"); err != nil || got.ID != "rate_def_15551" {
			t.Fatalf("after deactivating rate_a_1: %v, %v; want rate_def_15551", got, err)
		}
	})
}

// deckPrefixes lists the prefixes of one deck, sorted.
func deckPrefixes(t *testing.T, db *store.DB, deck, direction string) []string {
	t.Helper()
	l, err := db.Rates(context.Background(), voice.RateFilter{Deck: deck, Direction: direction}, voice.Page{Limit: voice.MaxListLimit})
	if err != nil {
		t.Fatalf("list deck %s/%s: %v", deck, direction, err)
	}
	out := []string{}
	for _, r := range l.Data {
		out = append(out, r.Prefix)
	}
	sort.Strings(out)
	return out
}

func TestReplaceDeck(t *testing.T) {
	storetest.Each(t, func(t *testing.T, backend string) {
		ctx := context.Background()
		db := open(t, backend)
		createCustomer(t, db, "cust_a", t0)
		createCustomer(t, db, "cust_b", t0)
		a, b := ptr("cust_a"), ptr("cust_b")
		for _, r := range []*voice.Rate{
			rate("rate_a_out_1", a, "outbound", "1", voice.RateActive),
			rate("rate_a_out_44", a, "outbound", "44", voice.RateActive),
			rate("rate_a_in_1", a, "inbound", "1", voice.RateActive),
			rate("rate_b_out_1", b, "outbound", "1", voice.RateActive),
			rate("rate_d_out_1", nil, "outbound", "1", voice.RateActive),
			rate("rate_d_in_1", nil, "inbound", "1", voice.RateActive),
		} {
			if err := db.CreateRate(ctx, r); err != nil {
				t.Fatal(err)
			}
		}
		check := func(when string, want map[[2]string][]string) {
			t.Helper()
			for k, w := range want {
				if got := deckPrefixes(t, db, k[0], k[1]); !slices.Equal(got, w) {
					t.Errorf("%s: deck %s/%s = %v, want %v", when, k[0], k[1], got, w)
				}
			}
		}
		// Replace cust_a's outbound deck: nothing else changes.
		if err := db.ReplaceDeck(ctx, a, "outbound", []*voice.Rate{
			rate("rate_a_out_33", a, "outbound", "33", voice.RateActive),
			rate("rate_a_out_49", a, "outbound", "49", voice.RateActive),
		}); err != nil {
			t.Fatal(err)
		}
		check("after replacing cust_a/outbound", map[[2]string][]string{
			{"cust_a", "outbound"}:  {"33", "49"},
			{"cust_a", "inbound"}:   {"1"},
			{"cust_b", "outbound"}:  {"1"},
			{"default", "outbound"}: {"1"},
			{"default", "inbound"}:  {"1"},
		})
		// Replace the default outbound deck: customer decks stay.
		if err := db.ReplaceDeck(ctx, nil, "outbound", []*voice.Rate{
			rate("rate_d_out_", nil, "outbound", "", voice.RateActive),
			rate("rate_d_out_7", nil, "outbound", "7", voice.RateActive),
		}); err != nil {
			t.Fatal(err)
		}
		want := map[[2]string][]string{
			{"cust_a", "outbound"}:  {"33", "49"},
			{"cust_a", "inbound"}:   {"1"},
			{"cust_b", "outbound"}:  {"1"},
			{"default", "outbound"}: {"", "7"},
			{"default", "inbound"}:  {"1"},
		}
		check("after replacing default/outbound", want)

		// A replacement that fails half-way (a duplicate id) changes nothing.
		err := db.ReplaceDeck(ctx, a, "outbound", []*voice.Rate{
			rate("rate_dup", a, "outbound", "5", voice.RateActive),
			rate("rate_dup", a, "outbound", "6", voice.RateActive),
		})
		if err == nil {
			t.Fatal("ReplaceDeck with a duplicate id succeeded")
		}
		check("after a failed replacement", want)
		if _, err := db.Rate(ctx, "rate_dup"); !voice.IsNotFound(err) {
			t.Fatalf("the failed replacement left rate_dup behind: %v", err)
		}

		// Replacing with nothing empties the deck.
		if err := db.ReplaceDeck(ctx, b, "outbound", nil); err != nil {
			t.Fatal(err)
		}
		want[[2]string{"cust_b", "outbound"}] = []string{}
		check("after emptying cust_b/outbound", want)
	})
}

func TestAddLedgerEntryConcurrent(t *testing.T) {
	storetest.Each(t, func(t *testing.T, backend string) {
		ctx := context.Background()
		db := open(t, backend)
		createCustomer(t, db, "cust_a", t0)
		const n = 50
		cent := decimal.RequireFromString("0.01")
		entries := make([]*voice.LedgerEntry, n)
		errs := make([]error, n)
		var wg sync.WaitGroup
		start := make(chan struct{})
		for i := range n {
			entries[i] = &voice.LedgerEntry{ID: fmt.Sprintf("led_%03d", i), CustomerID: "cust_a", Amount: cent,
				Kind: voice.LedgerCredit, Description: "top-up", CreatedAt: t0}
			wg.Add(1)
			go func() {
				defer wg.Done()
				<-start
				errs[i] = db.AddLedgerEntry(ctx, entries[i])
			}()
		}
		close(start)
		wg.Wait()
		for i, err := range errs {
			if err != nil {
				t.Fatalf("entry %d: %v", i, err)
			}
		}
		c, err := db.Customer(ctx, voice.Scope{}, "cust_a")
		if err != nil {
			t.Fatal(err)
		}
		if want := decimal.RequireFromString("0.50"); !c.Balance.Equal(want) {
			t.Fatalf("balance = %s, want %s", c.Balance, want)
		}
		// Each entry saw a different balance: 0.01, 0.02, ... 0.50 in some order.
		var afters []string
		for _, e := range entries {
			if e.Currency != "EUR" {
				t.Errorf("entry %s currency %q, want EUR", e.ID, e.Currency)
			}
			afters = append(afters, e.BalanceAfter.StringFixed(2))
		}
		sort.Strings(afters)
		for i, s := range afters {
			if want := decimal.New(int64(i+1), -2).StringFixed(2); s != want {
				t.Fatalf("balance_after values %v: position %d is %s, want %s", afters, i, s, want)
			}
		}
		l, err := db.LedgerEntries(ctx, "cust_a", voice.Page{Limit: voice.MaxListLimit})
		if err != nil {
			t.Fatal(err)
		}
		if len(l.Data) != n || l.HasMore {
			t.Fatalf("ledger has %d entries (has_more %v), want %d", len(l.Data), l.HasMore, n)
		}
		sum := decimal.Zero
		for _, e := range l.Data {
			sum = sum.Add(e.Amount)
		}
		if !sum.Equal(c.Balance) {
			t.Fatalf("sum of the ledger %s != balance %s", sum, c.Balance)
		}
	})
}

func TestLedgerCallChargeOnce(t *testing.T) {
	storetest.Each(t, func(t *testing.T, backend string) {
		ctx := context.Background()
		db := open(t, backend)
		createCustomer(t, db, "cust_a", t0)
		if err := db.AddLedgerEntry(ctx, &voice.LedgerEntry{ID: "led_credit", CustomerID: "cust_a",
			Amount: decimal.RequireFromString("10"), Kind: voice.LedgerCredit, CreatedAt: t0}); err != nil {
			t.Fatal(err)
		}
		charge := func(id string) error {
			return db.AddLedgerEntry(ctx, &voice.LedgerEntry{ID: id, CustomerID: "cust_a", Amount: decimal.RequireFromString("-0.25"),
				Kind: voice.LedgerCallCharge, CallID: ptr("call_1"), Description: "call", CreatedAt: t0})
		}
		if err := charge("led_charge1"); err != nil {
			t.Fatal(err)
		}
		err := charge("led_charge2")
		if err == nil {
			t.Fatal("a second call_charge for the same call succeeded")
		}
		if code := voice.ErrorCode(err); code != voice.ECodeConflict {
			t.Errorf("second charge: code %q (%v), want conflict", code, err)
		}
		c, err := db.Customer(ctx, voice.Scope{}, "cust_a")
		if err != nil {
			t.Fatal(err)
		}
		if want := decimal.RequireFromString("9.75"); !c.Balance.Equal(want) {
			t.Fatalf("balance = %s after the refused charge, want %s", c.Balance, want)
		}
		l, err := db.LedgerEntries(ctx, "cust_a", voice.Page{})
		if err != nil {
			t.Fatal(err)
		}
		if len(l.Data) != 2 {
			t.Fatalf("ledger has %d entries, want 2", len(l.Data))
		}
		// The index covers only call charges: an adjustment about the same call is fine.
		if err := db.AddLedgerEntry(ctx, &voice.LedgerEntry{ID: "led_adj", CustomerID: "cust_a", Amount: decimal.RequireFromString("0.25"),
			Kind: voice.LedgerAdjustment, CallID: ptr("call_1"), CreatedAt: t0}); err != nil {
			t.Fatalf("adjustment for a charged call: %v", err)
		}
		// And another call may be charged.
		if err := db.AddLedgerEntry(ctx, &voice.LedgerEntry{ID: "led_charge3", CustomerID: "cust_a", Amount: decimal.RequireFromString("-1"),
			Kind: voice.LedgerCallCharge, CallID: ptr("call_2"), CreatedAt: t0}); err != nil {
			t.Fatalf("charge for another call: %v", err)
		}
		// An entry for a missing customer is not_found and adds nothing.
		if err := db.AddLedgerEntry(ctx, &voice.LedgerEntry{ID: "led_x", CustomerID: "cust_nobody", Amount: decimal.RequireFromString("1"),
			Kind: voice.LedgerCredit, CreatedAt: t0}); !voice.IsNotFound(err) {
			t.Fatalf("entry for a missing customer: %v, want not_found", err)
		}
	})
}

func TestKeysetPaginationEqualTimestamps(t *testing.T) {
	storetest.Each(t, func(t *testing.T, backend string) {
		ctx := context.Background()
		db := open(t, backend)
		// 3 timestamps, 11 customers each: most rows tie on created_at, and
		// NewID's random part puts the ids in no particular order.
		var all []*voice.Customer
		for i := range 33 {
			at := t0.Add(time.Duration(i%3) * time.Second)
			all = append(all, createCustomer(t, db, voice.NewID(voice.PrefixCustomer, t0), at))
		}
		want := make([]string, 0, len(all))
		sort.Slice(all, func(i, j int) bool {
			if !all[i].CreatedAt.Equal(all[j].CreatedAt) {
				return all[i].CreatedAt.After(all[j].CreatedAt)
			}
			return all[i].ID > all[j].ID
		})
		for _, c := range all {
			want = append(want, c.ID)
		}
		for _, limit := range []int{1, 4, 5, 11, 32, 33, 34} {
			var got []string
			var after *voice.Cursor
			for pages := 0; ; pages++ {
				if pages > len(all)+1 {
					t.Fatalf("limit %d: pagination does not end", limit)
				}
				l, err := db.Customers(ctx, voice.Scope{}, voice.Page{Limit: limit, After: after})
				if err != nil {
					t.Fatal(err)
				}
				if len(l.Data) > limit {
					t.Fatalf("limit %d: page of %d", limit, len(l.Data))
				}
				for _, c := range l.Data {
					got = append(got, c.ID)
				}
				if pages == 0 && limit == 4 {
					// A row created meanwhile is newer: it must not shift later pages.
					createCustomer(t, db, "cust_zzzz_late", t0.Add(time.Hour))
				}
				if !l.HasMore {
					if l.NextCursor != "" {
						t.Fatalf("limit %d: next_cursor %q on the last page", limit, l.NextCursor)
					}
					break
				}
				c, err := voice.DecodeCursor(l.NextCursor)
				if err != nil {
					t.Fatalf("limit %d: next_cursor: %v", limit, err)
				}
				after = &c
			}
			if limit == 4 {
				// The late row was inserted before this pass ended but after its first page.
				if !slices.Equal(got, want) {
					t.Fatalf("limit %d: got %d ids %v\nwant %d ids %v", limit, len(got), got, len(want), want)
				}
				want = append([]string{"cust_zzzz_late"}, want...)
				continue
			}
			if !slices.Equal(got, want) {
				t.Fatalf("limit %d: pages repeated or skipped rows:\ngot  %v\nwant %v", limit, got, want)
			}
		}
	})
}

func TestIdempotencyKeys(t *testing.T) {
	storetest.Each(t, func(t *testing.T, backend string) {
		ctx := context.Background()
		db := open(t, backend)
		ttl := 24 * time.Hour
		rec := func(owner, key, hash string, at time.Time) *voice.IdempotencyRecord {
			return &voice.IdempotencyRecord{Owner: owner, Key: key, RequestHash: []byte(hash), CreatedAt: at}
		}
		reserve := func(r *voice.IdempotencyRecord, now time.Time) (*voice.IdempotencyRecord, bool) {
			t.Helper()
			got, ok, err := db.ReserveIdempotencyKey(ctx, r, now.Add(-ttl))
			if err != nil {
				t.Fatalf("reserve %s/%s: %v", r.Owner, r.Key, err)
			}
			return got, ok
		}

		// First reservation wins.
		if _, ok := reserve(rec("op", "k1", "h1", t0), t0); !ok {
			t.Fatal("first reservation refused")
		}
		// A duplicate while in flight sees status 0 and the first request's hash.
		got, ok := reserve(rec("op", "k1", "h2", t0.Add(time.Second)), t0.Add(time.Second))
		if ok || got.Status != 0 || string(got.RequestHash) != "h1" || !got.CreatedAt.Equal(t0) {
			t.Fatalf("duplicate in flight: %+v, %v", got, ok)
		}
		// Another owner's key of the same name is separate.
		if _, ok := reserve(rec("cust_other", "k1", "h9", t0), t0); !ok {
			t.Fatal("another owner's reservation refused")
		}
		// Complete stores the answer; a duplicate now replays it.
		if err := db.CompleteIdempotencyKey(ctx, "op", "k1", 201, []byte(`{"id":"x"}`)); err != nil {
			t.Fatal(err)
		}
		got, ok = reserve(rec("op", "k1", "h1", t0.Add(time.Minute)), t0.Add(time.Minute))
		if ok || got.Status != 201 || string(got.Body) != `{"id":"x"}` || string(got.RequestHash) != "h1" {
			t.Fatalf("duplicate after completion: %+v, %v", got, ok)
		}
		// Completing an unknown key is not_found.
		if err := db.CompleteIdempotencyKey(ctx, "op", "nope", 200, nil); !voice.IsNotFound(err) {
			t.Fatalf("complete unknown key: %v, want not_found", err)
		}

		// Release forgets a reservation so a retry runs again.
		if _, ok := reserve(rec("op", "k2", "h1", t0), t0); !ok {
			t.Fatal("reserve k2 refused")
		}
		if err := db.ReleaseIdempotencyKey(ctx, "op", "k2"); err != nil {
			t.Fatal(err)
		}
		if _, ok := reserve(rec("op", "k2", "h1", t0), t0); !ok {
			t.Fatal("reservation after release refused")
		}
		// Releasing an unknown key is harmless.
		if err := db.ReleaseIdempotencyKey(ctx, "op", "never"); err != nil {
			t.Fatalf("release unknown key: %v", err)
		}

		// Expiry: a record created exactly at notBefore is still live...
		later := t0.Add(ttl)
		got, ok = reserve(rec("op", "k1", "h3", later), later)
		if ok || got.Status != 201 {
			t.Fatalf("record exactly ttl old: %+v, %v; want it still live", got, ok)
		}
		// ...and one older than notBefore is replaced by the new request.
		later = t0.Add(ttl + time.Millisecond)
		if _, ok := reserve(rec("op", "k1", "h3", later), later); !ok {
			t.Fatal("expired record was not replaced")
		}
		got, ok = reserve(rec("op", "k1", "h4", later), later)
		if ok || got.Status != 0 || string(got.RequestHash) != "h3" || !got.CreatedAt.Equal(later) {
			t.Fatalf("after replacing the expired record: %+v, %v; want the new in-flight record", got, ok)
		}
	})
}

func TestConcurrentIdempotencyReservation(t *testing.T) {
	storetest.Each(t, func(t *testing.T, backend string) {
		ctx := context.Background()
		db := open(t, backend)
		const n = 20
		var wg sync.WaitGroup
		wins := make([]bool, n)
		errs := make([]error, n)
		start := make(chan struct{})
		for i := range n {
			wg.Add(1)
			go func() {
				defer wg.Done()
				<-start
				_, wins[i], errs[i] = db.ReserveIdempotencyKey(ctx, &voice.IdempotencyRecord{Owner: "op", Key: "same",
					RequestHash: []byte("h"), CreatedAt: t0}, t0.Add(-time.Hour))
			}()
		}
		close(start)
		wg.Wait()
		won := 0
		for i := range n {
			if errs[i] != nil {
				t.Fatalf("reservation %d: %v", i, errs[i])
			}
			if wins[i] {
				won++
			}
		}
		if won != 1 {
			t.Fatalf("%d concurrent reservations of one key won, want exactly 1", won)
		}
	})
}

func TestMigrationsRerun(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "minivoice.db")
	db, err := sqlite.Open(ctx, sqlite.Config{Path: path, Now: fixedClock})
	if err != nil {
		t.Fatal(err)
	}
	createCustomer(t, db, "cust_keep", t0)
	versions := migrationCount(t, db)
	if versions == 0 {
		t.Fatal("no migration recorded")
	}
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	db, err = sqlite.Open(ctx, sqlite.Config{Path: path, Now: func() time.Time { return t0.Add(time.Hour) }})
	if err != nil {
		t.Fatalf("reopen: %v", err)
	}
	defer db.Close()
	if n := migrationCount(t, db); n != versions {
		t.Fatalf("reopening recorded %d migrations, want %d", n, versions)
	}
	var applied int64
	if err := db.SQL().QueryRowContext(ctx, `SELECT MAX(applied_at) FROM schema_migrations`).Scan(&applied); err != nil {
		t.Fatal(err)
	}
	if applied != t0.UnixMilli() {
		t.Fatalf("a migration was re-applied on reopen (applied_at %d)", applied)
	}
	if _, err := db.Customer(ctx, voice.Scope{}, "cust_keep"); err != nil {
		t.Fatalf("data did not survive reopening: %v", err)
	}
}

func TestMigrationsRerunPostgres(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	db, url := storetest.OpenWithURL(t, "postgres", fixedClock)
	createCustomer(t, db, "cust_keep", t0)
	versions := migrationCount(t, db)
	db2, err := postgres.Open(ctx, postgres.Config{URL: url, Now: fixedClock, MaxConns: 2})
	if err != nil {
		t.Fatalf("second open: %v", err)
	}
	defer db2.Close()
	if n := migrationCount(t, db2); n != versions {
		t.Fatalf("second open recorded %d migrations, want %d", n, versions)
	}
	if _, err := db2.Customer(ctx, voice.Scope{}, "cust_keep"); err != nil {
		t.Fatalf("data not visible to the second open: %v", err)
	}
}

// Several processes sharing one PostgreSQL database may start at once; all
// of them must come up on a fresh schema.
func TestMigrationsConcurrentPostgres(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	url := storetest.SchemaURL(t)
	const n = 4
	var wg sync.WaitGroup
	errs := make([]error, n)
	dbs := make([]*store.DB, n)
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			dbs[i], errs[i] = postgres.Open(ctx, postgres.Config{URL: url, Now: fixedClock, MaxConns: 2})
		}()
	}
	wg.Wait()
	for i := range n {
		if errs[i] != nil {
			t.Errorf("open %d: %v", i, errs[i])
			continue
		}
		defer dbs[i].Close()
	}
}

func migrationCount(t *testing.T, db *store.DB) int {
	t.Helper()
	var n int
	if err := db.SQL().QueryRowContext(context.Background(), `SELECT COUNT(*) FROM schema_migrations`).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}

func TestCreateNumberConflict(t *testing.T) {
	storetest.Each(t, func(t *testing.T, backend string) {
		ctx := context.Background()
		db := open(t, backend)
		createCustomer(t, db, "cust_a", t0)
		createCustomer(t, db, "cust_b", t0)
		n := &voice.Number{ID: "num_1", Number: "+15551234567", CustomerID: "cust_a", Status: voice.NumberActive, CreatedAt: t0, UpdatedAt: t0}
		if err := db.CreateNumber(ctx, n); err != nil {
			t.Fatal(err)
		}
		dup := &voice.Number{ID: "num_2", Number: "+15551234567", CustomerID: "cust_b", Status: voice.NumberActive, CreatedAt: t0, UpdatedAt: t0}
		err := db.CreateNumber(ctx, dup)
		if code := voice.ErrorCode(err); code != voice.ECodeConflict {
			t.Fatalf("duplicate number: %v (code %q), want conflict", err, code)
		}
		// The same id is a conflict too.
		sameID := &voice.Number{ID: "num_1", Number: "+15551234568", CustomerID: "cust_a", Status: voice.NumberActive, CreatedAt: t0, UpdatedAt: t0}
		if code := voice.ErrorCode(db.CreateNumber(ctx, sameID)); code != voice.ECodeConflict {
			t.Fatalf("duplicate id: code %q, want conflict", code)
		}
		got, err := db.NumberByE164(ctx, "+15551234567")
		if err != nil || got.ID != "num_1" || got.CustomerID != "cust_a" {
			t.Fatalf("NumberByE164 = %+v, %v; want num_1 of cust_a", got, err)
		}
		// Moving another number onto a taken one is a conflict as well.
		other := &voice.Number{ID: "num_3", Number: "+15550000000", CustomerID: "cust_b", Status: voice.NumberActive, CreatedAt: t0, UpdatedAt: t0}
		if err := db.CreateNumber(ctx, other); err != nil {
			t.Fatal(err)
		}
		other.Number = "+15551234567"
		if code := voice.ErrorCode(db.UpdateNumber(ctx, other)); code != voice.ECodeConflict {
			t.Fatalf("update onto a taken number: code %q, want conflict", code)
		}
		// Customers see only their own numbers.
		if _, err := db.Number(ctx, voice.Scope{CustomerID: "cust_b"}, "num_1"); !voice.IsNotFound(err) {
			t.Fatalf("cust_b sees cust_a's number: %v", err)
		}
	})
}
