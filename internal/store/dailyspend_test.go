package store_test

// daily_spend_limit's spend (billing.md, Limits): the call charges of the
// UTC day, kept as a running total per customer and day.

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/minivoice/minivoice/internal/store"
	"github.com/minivoice/minivoice/internal/store/storetest"
	"github.com/minivoice/minivoice/internal/voice"
	"github.com/shopspring/decimal"
)

func TestChargedSince(t *testing.T) {
	storetest.Each(t, func(t *testing.T, backend string) {
		db := open(t, backend)
		ctx := context.Background()
		resCustomer(t, db, "cus_a", "100", "0")
		resCustomer(t, db, "cus_b", "100", "0")
		today := time.Date(2026, 3, 4, 0, 0, 0, 0, time.UTC)
		yesterday := today.AddDate(0, 0, -1)
		entry := func(cust, kind, amount string, at time.Time) {
			t.Helper()
			if err := db.AddLedgerEntry(ctx, &voice.LedgerEntry{ID: voice.NewID(voice.PrefixLedger, at), CustomerID: cust,
				Amount: decimal.RequireFromString(amount), Kind: kind, Description: kind, CreatedAt: at}); err != nil {
				t.Fatalf("ledger entry %s %s at %s: %v", kind, amount, at, err)
			}
		}
		entry("cus_a", voice.LedgerCallCharge, "-1.5", today.Add(-time.Millisecond)) // yesterday's last millisecond
		entry("cus_a", voice.LedgerCallCharge, "-0.25", today)
		entry("cus_a", voice.LedgerCallCharge, "-0.000001", today.Add(12*time.Hour))
		entry("cus_a", voice.LedgerCredit, "40", today.Add(13*time.Hour))            // not a charge
		entry("cus_b", voice.LedgerCallCharge, "-7.123456", today.Add(14*time.Hour)) // another customer's
		entry("cus_a", voice.LedgerCallCharge, "-2", today.AddDate(0, 0, 1))         // tomorrow's

		check := func(when string) {
			t.Helper()
			for _, tc := range []struct {
				cust  string
				since time.Time
				want  string
			}{
				{"cus_a", today, "2.250001"},
				{"cus_a", yesterday, "3.750001"},
				{"cus_a", today.Add(6 * time.Hour), "2.000001"}, // not a midnight: summed from the ledger
				{"cus_b", today, "7.123456"},
				{"cus_none", today, "0"},
			} {
				got, err := db.ChargedSince(ctx, tc.cust, tc.since)
				if err != nil {
					t.Fatal(err)
				}
				if !got.Equal(decimal.RequireFromString(tc.want)) {
					t.Errorf("%s: ChargedSince(%s, %s) = %s, want %s", when, tc.cust, tc.since.Format(time.RFC3339), got, tc.want)
				}
			}
			limit := decimal.RequireFromString("1000")
			res, err := db.Reserve(ctx, voice.Reservation{CustomerID: "cus_a", CallID: "call_" + strings.ReplaceAll(when, " ", "_"),
				Amount: decimal.RequireFromString("0.01"), DailySpendLimit: &limit, DayStart: today, Now: today.Add(15 * time.Hour)})
			if err != nil {
				t.Fatal(err)
			}
			if !res.SpentToday.Equal(decimal.RequireFromString("2.250001")) {
				t.Errorf("%s: Reserve's SpentToday = %s, want 2.250001", when, res.SpentToday)
			}
		}
		check("running totals")

		// The migration that made the table sums the ledger's charges into
		// it: the same totals from the ledger alone.
		stmts := store.MigrationStatements("0016_daily_spend.sql")
		if _, err := db.SQL().ExecContext(ctx, `DELETE FROM customer_daily_spend`); err != nil {
			t.Fatal(err)
		}
		if _, err := db.SQL().ExecContext(ctx, stmts[len(stmts)-1]); err != nil {
			t.Fatalf("the migration's backfill: %v", err)
		}
		check("after the backfill")
	})
}
