package store_test

import (
	"context"
	"testing"
	"time"

	"github.com/minivoice/minivoice/internal/store/storetest"
	"github.com/minivoice/minivoice/internal/voice"
	"github.com/shopspring/decimal"
)

// TestConsoleSessions: a session is stored, found, touched and deleted on
// both backends, and creating one removes those already expired.
func TestConsoleSessions(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, backend string) {
		ctx := context.Background()
		db := open(t, backend)
		old := &voice.ConsoleSession{ID: "sess_old", KeyID: "key_a", KeyRef: []byte{1, 2, 3}, CreatedAt: t0,
			LastSeenAt: t0, ExpiresAt: t0.Add(time.Hour)}
		if err := db.CreateConsoleSession(ctx, old); err != nil {
			t.Fatal(err)
		}
		got, err := db.ConsoleSession(ctx, "sess_old")
		if err != nil || got.KeyID != "key_a" || string(got.KeyRef) != string([]byte{1, 2, 3}) || !got.ExpiresAt.Equal(old.ExpiresAt) {
			t.Fatalf("session = %+v, %v", got, err)
		}
		if err := db.TouchConsoleSession(ctx, "sess_old", t0.Add(time.Minute), t0.Add(2*time.Hour)); err != nil {
			t.Fatal(err)
		}
		if got, _ := db.ConsoleSession(ctx, "sess_old"); !got.ExpiresAt.Equal(t0.Add(2*time.Hour)) || !got.LastSeenAt.Equal(t0.Add(time.Minute)) {
			t.Errorf("touched session = %+v", got)
		}
		// A sign-in after the old one expired removes it.
		fresh := &voice.ConsoleSession{ID: "sess_new", KeyID: "operator", KeyRef: []byte{9}, CreatedAt: t0.Add(3 * time.Hour),
			LastSeenAt: t0.Add(3 * time.Hour), ExpiresAt: t0.Add(4 * time.Hour)}
		if err := db.CreateConsoleSession(ctx, fresh); err != nil {
			t.Fatal(err)
		}
		if _, err := db.ConsoleSession(ctx, "sess_old"); !voice.IsNotFound(err) {
			t.Errorf("expired session still there: %v", err)
		}
		if err := db.DeleteConsoleSession(ctx, "sess_new"); err != nil {
			t.Fatal(err)
		}
		if _, err := db.ConsoleSession(ctx, "sess_new"); !voice.IsNotFound(err) {
			t.Errorf("deleted session still there: %v", err)
		}
	})
}

// TestCallStats: the overview's sums, per tenant, on both backends, with
// exact money.
func TestCallStats(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, backend string) {
		ctx := context.Background()
		db := open(t, backend)
		createCustomer(t, db, "cust_a", t0)
		createCustomer(t, db, "cust_b", t0)
		for i, p := range []string{"0.1", "0.2", "0.000001"} {
			c := createCall(t, db, "call_a"+string(rune('0'+i)), "cust_a", "app_a", t0.Add(time.Duration(i)*time.Minute))
			end, price := c.CreatedAt.Add(time.Minute), decimal.RequireFromString(p)
			c.Status, c.EndedAt, c.Price, c.BillableSeconds = voice.CallCompleted, &end, &price, 60
			if i < 2 {
				c.AnsweredAt = &c.CreatedAt
			}
			if err := db.UpdateCall(ctx, c); err != nil {
				t.Fatal(err)
			}
		}
		createCall(t, db, "call_b0", "cust_b", "app_b", t0)
		st, err := db.CallStats(ctx, voice.Scope{CustomerID: "cust_a"}, t0, t0.Add(time.Hour))
		if err != nil {
			t.Fatal(err)
		}
		if st.Calls != 3 || st.Ended != 3 || st.Answered != 2 || st.BillableSeconds != 180 || len(st.Spend) != 1 ||
			st.Spend[0].Currency != "EUR" || !st.Spend[0].Value.Equal(decimal.RequireFromString("0.300001")) {
			t.Errorf("stats = %+v", st)
		}
		if st, _ := db.CallStats(ctx, voice.Scope{CustomerID: "cust_b"}, t0, t0.Add(time.Hour)); st.Calls != 1 || st.Ended != 0 {
			t.Errorf("other tenant's stats = %+v", st)
		}
		if st, _ := db.CallStats(ctx, voice.Scope{CustomerID: "cust_a"}, t0.Add(time.Hour), t0.Add(2*time.Hour)); st.Calls != 0 {
			t.Errorf("empty window = %+v", st)
		}
	})
}
