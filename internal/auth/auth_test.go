package auth_test

import (
	"context"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/minivoice/minivoice/internal/auth"
	"github.com/minivoice/minivoice/internal/store/storetest"
	"github.com/minivoice/minivoice/internal/voice"
	"github.com/shopspring/decimal"
)

// clock is a replaceable test clock.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *clock) advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

func TestNewSecret(t *testing.T) {
	t.Parallel()
	for kind, prefix := range map[string]string{voice.KeyOperator: "mvk_op_", voice.KeyCustomer: "mvk_cu_", voice.KeyApplication: "mvk_ap_"} {
		a, b := auth.NewSecret(kind), auth.NewSecret(kind)
		if !strings.HasPrefix(a, prefix) || len(a) != len(prefix)+32 || a == b {
			t.Errorf("NewSecret(%s) = %q, %q", kind, a, b)
		}
		if auth.DisplayPrefix(a) != a[:12] || strings.Contains(auth.DisplayPrefix(a), a[12:]) {
			t.Errorf("DisplayPrefix(%q) = %q", a, auth.DisplayPrefix(a))
		}
	}
	if len(auth.Hash("x")) != 32 {
		t.Fatal("hash is not SHA-256")
	}
}

func TestAuthenticate(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, backend string) {
		ctx := context.Background()
		clk := &clock{t: time.Date(2026, 5, 29, 12, 0, 0, 0, time.UTC)}
		db := storetest.Open(t, backend, clk.now)
		a := auth.New(auth.Config{Store: db, OperatorKey: "operator-secret-123", Now: clk.now})

		now := clk.now()
		cust := &voice.Customer{ID: "cust_1", Name: "a", Status: voice.CustomerActive, Currency: "EUR", Balance: decimal.Zero,
			MaxConcurrentCalls: 1, MaxCPS: 1, BlockedPrefixes: []string{}, CreatedAt: now, UpdatedAt: now}
		if err := db.CreateCustomer(ctx, cust); err != nil {
			t.Fatal(err)
		}
		secret := auth.NewSecret(voice.KeyCustomer)
		key := &voice.Key{ID: "key_1", Kind: voice.KeyCustomer, CustomerID: cust.ID, Prefix: auth.DisplayPrefix(secret),
			Hash: auth.Hash(secret), CreatedAt: now}
		if err := db.CreateKey(ctx, key); err != nil {
			t.Fatal(err)
		}

		p, err := a.Authenticate(ctx, "Bearer operator-secret-123")
		if err != nil || !p.IsOperator() || p.Owner() != "operator" {
			t.Fatalf("operator: %+v %v", p, err)
		}
		for _, h := range []string{"", "Bearer", "Bearer ", "Basic abc", "Bearer nope", "Token " + secret, "Bearer" + secret} {
			if _, err := a.Authenticate(ctx, h); voice.ErrorCode(err) != voice.ECodeUnauthorized {
				t.Errorf("%q: %v, want unauthorized", h, err)
			}
		}
		p, err = a.Authenticate(ctx, "Bearer "+secret)
		if err != nil || p.CustomerID != cust.ID || p.Scope().CustomerID != cust.ID || p.Owner() != key.ID {
			t.Fatalf("customer key: %+v %v", p, err)
		}
		if p, err := a.Authenticate(ctx, "bearer "+secret); err != nil || p.KeyID != key.ID {
			t.Fatalf("the scheme is case-insensitive: %+v %v", p, err)
		}
		// last_used_at is written on first use, then at most once per interval.
		k, _ := db.Key(ctx, voice.Scope{}, key.ID)
		if k.LastUsedAt == nil || !k.LastUsedAt.Equal(now) {
			t.Fatalf("last_used_at = %v, want %v", k.LastUsedAt, now)
		}
		clk.advance(30 * time.Second)
		_, _ = a.Authenticate(ctx, "Bearer "+secret)
		if k, _ = db.Key(ctx, voice.Scope{}, key.ID); !k.LastUsedAt.Equal(now) {
			t.Fatalf("last_used_at rewritten within the interval: %v", k.LastUsedAt)
		}
		clk.advance(31 * time.Second)
		_, _ = a.Authenticate(ctx, "Bearer "+secret)
		if k, _ = db.Key(ctx, voice.Scope{}, key.ID); !k.LastUsedAt.Equal(clk.now()) {
			t.Fatalf("last_used_at = %v, want %v", k.LastUsedAt, clk.now())
		}

		cust.Status = voice.CustomerSuspended
		if err := db.UpdateCustomer(ctx, cust); err != nil {
			t.Fatal(err)
		}
		if _, err := a.Authenticate(ctx, "Bearer "+secret); voice.ErrorCode(err) != voice.ECodeCustomerSuspended {
			t.Fatalf("suspended: %v", err)
		}
		if err := db.RevokeKey(ctx, key.ID, clk.now()); err != nil {
			t.Fatal(err)
		}
		if _, err := a.Authenticate(ctx, "Bearer "+secret); voice.ErrorCode(err) != voice.ECodeUnauthorized {
			t.Fatalf("revoked: %v", err)
		}
	})
}

func TestAuthenticateRequestThrottlesKeyGuessing(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, backend string) {
		ctx := context.Background()
		clk := &clock{t: time.Date(2026, 5, 29, 12, 0, 0, 0, time.UTC)}
		db := storetest.Open(t, backend, clk.now)
		th := auth.NewThrottle()
		th.Limit, th.Now = 5, clk.now
		a := auth.New(auth.Config{Store: db, OperatorKey: "operator-secret-123", Now: clk.now, Throttle: th})
		const guesser, other = "203.0.113.9:40000", "203.0.113.10:40000"

		for i := range 5 {
			_, err := a.AuthenticateRequest(ctx, "Bearer mvk_cu_guess"+strings.Repeat("x", i), guesser)
			if ve, ok := err.(*voice.Error); !ok || ve.Code != voice.ECodeUnauthorized {
				t.Fatalf("guess %d: %v, want unauthorized", i, err)
			}
		}
		// Blocked now, even with the right key: the source cannot tell a hit
		// from a miss while blocked.
		_, err := a.AuthenticateRequest(ctx, "Bearer operator-secret-123", guesser)
		ve, ok := err.(*voice.Error)
		if !ok || ve.Code != voice.ECodeRateLimited || ve.RetryAfter != 60 {
			t.Fatalf("blocked source: %v (%+v), want 429 rate_limited with Retry-After 60", err, ve)
		}
		if p, err := a.AuthenticateRequest(ctx, "Bearer operator-secret-123", other); err != nil || !p.IsOperator() {
			t.Fatalf("another source: %+v %v", p, err)
		}
		clk.advance(time.Minute)
		if p, err := a.AuthenticateRequest(ctx, "Bearer operator-secret-123", guesser); err != nil || !p.IsOperator() {
			t.Fatalf("after the window: %+v %v", p, err)
		}
	})
}
