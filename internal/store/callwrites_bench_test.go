package store_test

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/minivoice/minivoice/internal/store"
	"github.com/minivoice/minivoice/internal/store/sqlite"
	"github.com/minivoice/minivoice/internal/voice"
	"github.com/shopspring/decimal"
)

// BenchmarkInboundCallWrites runs the database writes of one priced inbound
// call per op, in the engine's order: the admission's reservation (with the
// customer's limits), the call recorded ringing with call.initiated and
// call.ringing, the answer, the running reservation's first extension, and
// the final write with the charge and call.completed. "serial" runs one call
// at a time; "concurrent-N" keeps N calls' writes in flight at once, as a
// node taking calls at a high rate does. Besides time and allocations it
// reports what reached the operating system per call: bytes written
// (write-B/op, the WAL frames and checkpoints) and write system calls
// (writes/op), from /proc/self/io, which only SQLite writes to here.
// "-daily-limit" gives the customer a daily_spend_limit, which admission
// checks against the day's charges (b.N calls' worth by the end).
func BenchmarkInboundCallWrites(b *testing.B) {
	for _, v := range []struct {
		par   int
		limit bool // the customer has a daily_spend_limit
	}{{1, false}, {8, false}, {32, false}, {1, true}} {
		par := v.par
		name := "serial"
		if par > 1 {
			name = fmt.Sprintf("concurrent-%d", par)
		}
		if v.limit {
			name += "-daily-limit"
		}
		b.Run(name, func(b *testing.B) {
			ctx := context.Background()
			db, err := sqlite.Open(ctx, sqlite.Config{Path: filepath.Join(b.TempDir(), "bench.db")})
			if err != nil {
				b.Fatal(err)
			}
			defer db.Close()
			cust := &voice.Customer{ID: "cus_bench", Name: "bench", Status: voice.CustomerActive, Currency: "EUR",
				CreditLimit: decimal.Zero, MaxConcurrentCalls: 100000, MaxCPS: 1000000, BlockedPrefixes: []string{},
				CreatedAt: t0, UpdatedAt: t0}
			if v.limit {
				limit := decimal.RequireFromString("1000000")
				cust.DailySpendLimit = &limit
			}
			if err := db.CreateCustomer(ctx, cust); err != nil {
				b.Fatal(err)
			}
			if err := db.AddLedgerEntry(ctx, &voice.LedgerEntry{ID: voice.NewID(voice.PrefixLedger, t0), CustomerID: cust.ID,
				Amount: decimal.RequireFromString("1000000"), Kind: voice.LedgerCredit, Description: "credit", CreatedAt: t0}); err != nil {
				b.Fatal(err)
			}
			app := &voice.Application{ID: "app_bench", CustomerID: cust.ID}
			var seq atomic.Int64
			b.SetParallelism(1)
			if par > 1 {
				b.SetParallelism((par + 1) / 2) // RunParallel runs GOMAXPROCS x this many goroutines
			}
			w0, s0 := procWrites(b)
			tx0, g0 := db.GroupStats()
			b.ReportAllocs()
			b.ResetTimer()
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					if err := inboundCallWrites(ctx, db, app, cust, seq.Add(1)); err != nil {
						b.Error(err)
						return
					}
				}
			})
			b.StopTimer()
			w1, s1 := procWrites(b)
			b.ReportMetric(float64(w1-w0)/float64(b.N), "write-B/op")
			b.ReportMetric(float64(s1-s0)/float64(b.N), "writes/op")
			t1, g1 := db.GroupStats()
			if t1 > tx0 {
				b.ReportMetric(float64(g1-g0)/float64(t1-tx0), "writes/tx")
			}
		})
	}
}

// inboundCallWrites is one inbound call's writes, as internal/sip makes them.
func inboundCallWrites(ctx context.Context, db *store.DB, app *voice.Application, cust *voice.Customer, n int64) error {
	now := time.Now()
	id := voice.NewID(voice.PrefixCall, now)
	first := decimal.RequireFromString("0.01")
	dayStart := now.UTC().Truncate(24 * time.Hour)
	res, err := db.Reserve(ctx, voice.Reservation{CustomerID: cust.ID, CallID: id, Amount: first, Now: now,
		DailySpendLimit: cust.DailySpendLimit, DayStart: dayStart,
		Limits: &voice.AdmissionLimits{MaxConcurrentCalls: cust.MaxConcurrentCalls, MaxCPS: cust.MaxCPS}})
	if err != nil {
		return err
	}
	if res.Refused != "" {
		return fmt.Errorf("call %d refused: %s", n, res.Refused)
	}
	subject := voice.EventSubject{CustomerID: cust.ID, ApplicationID: app.ID, CallID: id}
	c := &voice.Call{ID: id, CustomerID: cust.ID, ApplicationID: app.ID, Status: voice.CallRinging,
		Direction: voice.DirectionInbound, From: "+15551230001", To: "+15551230002", RecordingChannels: "dual", Timeout: 30,
		TimeLimit: 14400, Variables: map[string]string{}, Currency: "EUR", RecordingIDs: []string{}, CreatedAt: now,
		UpdatedAt: now, RingingAt: &now}
	if err := db.CreateCallWithEvents(ctx, c,
		voice.NewEvent(app, voice.EventCallInitiated, subject, struct{}{}, now),
		voice.NewEvent(app, voice.EventCallRinging, subject, map[string]int{"sip_code": 180}, now.Add(time.Millisecond))); err != nil {
		return err
	}
	answered := *c
	at := now.Add(100 * time.Millisecond)
	answered.Status, answered.AnsweredAt, answered.UpdatedAt = voice.CallInProgress, &at, at
	if err := db.UpdateCallWithEvents(ctx, &answered, voice.NewEvent(app, voice.EventCallAnswered, subject, struct{}{}, at)); err != nil {
		return err
	}
	if _, err := db.Reserve(ctx, voice.Reservation{CustomerID: cust.ID, CallID: id, Amount: first.Add(first), Now: at}); err != nil {
		return err
	}
	done := answered
	end := at.Add(time.Second)
	price := decimal.RequireFromString("0.01")
	done.Status, done.EndedAt, done.UpdatedAt, done.Duration, done.BillableSeconds, done.Price =
		voice.CallCompleted, &end, end, 1, 1, &price
	charge := &voice.LedgerEntry{ID: voice.NewID(voice.PrefixLedger, end), CustomerID: cust.ID, Amount: price.Neg(),
		Kind: voice.LedgerCallCharge, CallID: &id, Description: "call", CreatedAt: end}
	return db.UpdateCallWithCharge(ctx, &done, charge,
		voice.NewEvent(app, voice.EventCallCompleted, subject, voice.CompletedData(&done), end))
}

// procWrites reads this process's bytes passed to write system calls and
// their number (wchar, syscw).
func procWrites(b *testing.B) (bytes, calls int64) {
	f, err := os.Open("/proc/self/io")
	if err != nil {
		b.Skip("no /proc/self/io")
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		k, v, ok := strings.Cut(sc.Text(), ": ")
		if !ok {
			continue
		}
		n, _ := strconv.ParseInt(v, 10, 64)
		switch k {
		case "wchar":
			bytes = n
		case "syscw":
			calls = n
		}
	}
	return bytes, calls
}
