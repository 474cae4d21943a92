package voice

import (
	"context"
	"time"

	"github.com/shopspring/decimal"
)

// ConsoleSession is a web console sign-in (console.md). Neither the cookie's
// token nor the key is stored: ID is the SHA-256 of the token, and KeyRef is
// the key's hash masked with a value derived from the token, so the row alone
// says nothing about either, and every request re-checks the key as the API
// would.
type ConsoleSession struct {
	ID         string
	KeyID      string // the key's id; "operator" for the operator key
	KeyRef     []byte
	CreatedAt  time.Time
	LastSeenAt time.Time
	// ExpiresAt is the earlier of the idle and the absolute limit.
	ExpiresAt time.Time
}

// ConsoleSessionStore persists console sessions.
type ConsoleSessionStore interface {
	// CreateConsoleSession inserts s and deletes sessions expired by s.CreatedAt.
	CreateConsoleSession(ctx context.Context, s *ConsoleSession) error
	// ConsoleSession returns the session with id, expired or not.
	ConsoleSession(ctx context.Context, id string) (*ConsoleSession, error)
	// TouchConsoleSession records a use and moves the expiry.
	TouchConsoleSession(ctx context.Context, id string, lastSeen, expires time.Time) error
	// DeleteConsoleSession ends a session; a missing one is not an error.
	DeleteConsoleSession(ctx context.Context, id string) error
}

// Amount is a sum of money in one currency.
type Amount struct {
	Currency string
	Value    decimal.Decimal
}

// CallStats sums the calls created in a time window (the console's overview).
type CallStats struct {
	Calls           int
	Ended           int
	Answered        int
	BillableSeconds int64
	// Spend is the priced calls' total per currency.
	Spend []Amount
}

// CallStatsStore computes call statistics.
type CallStatsStore interface {
	// CallStats sums the calls visible to scope created in [from, to).
	CallStats(ctx context.Context, scope Scope, from, to time.Time) (CallStats, error)
}
