package platform

import (
	"context"
	"testing"
	"time"

	"github.com/minivoice/minivoice/internal/obs"
	"github.com/minivoice/minivoice/internal/store/storetest"
	"github.com/minivoice/minivoice/internal/voice"
	"github.com/shopspring/decimal"
)

// The SQLite writer's counters count the calls' writes and the
// transactions they ran in; PostgreSQL has none.
func TestWriterMetrics(t *testing.T) {
	storetest.Each(t, func(t *testing.T, backend string) {
		db := storetest.Open(t, backend, nil)
		m := obs.NewMetrics()
		registerWriterMetrics(m, db)
		ctx := context.Background()
		now := time.Now()
		if err := db.CreateCustomer(ctx, &voice.Customer{ID: "cus_m", Name: "m", Status: voice.CustomerActive, Currency: "EUR",
			CreditLimit: decimal.RequireFromString("10"), MaxConcurrentCalls: 10, MaxCPS: 10, BlockedPrefixes: []string{},
			CreatedAt: now, UpdatedAt: now}); err != nil {
			t.Fatal(err)
		}
		for _, id := range []string{"call_1", "call_2"} {
			if _, err := db.Reserve(ctx, voice.Reservation{CustomerID: "cus_m", CallID: id, Amount: decimal.RequireFromString("0.01"), Now: now}); err != nil {
				t.Fatal(err)
			}
		}
		got := map[string]float64{}
		mfs, err := m.Registry.Gather()
		if err != nil {
			t.Fatal(err)
		}
		for _, mf := range mfs {
			if n := mf.GetName(); n == "minivoice_sqlite_writes_total" || n == "minivoice_sqlite_write_transactions_total" {
				got[n] = mf.GetMetric()[0].GetCounter().GetValue()
			}
		}
		if backend != "sqlite" {
			if len(got) != 0 {
				t.Errorf("%s exports %v, want no SQLite writer metrics", backend, got)
			}
			return
		}
		// Two reservations, one after the other: two writes, two transactions.
		if got["minivoice_sqlite_writes_total"] != 2 || got["minivoice_sqlite_write_transactions_total"] != 2 {
			t.Errorf("writer metrics %v, want 2 writes in 2 transactions", got)
		}
	})
}
