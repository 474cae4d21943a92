package voice

import (
	"context"
	"time"

	"github.com/shopspring/decimal"
)

// Customer statuses.
const (
	CustomerActive    = "active"
	CustomerSuspended = "suspended"
)

// Customer is a tenant: it owns applications, numbers, calls and a balance.
type Customer struct {
	ID                 string           `json:"id"`
	Name               string           `json:"name"`
	Status             string           `json:"status"`
	Currency           string           `json:"currency"`
	Balance            decimal.Decimal  `json:"balance"`
	CreditLimit        decimal.Decimal  `json:"credit_limit"`
	MaxConcurrentCalls int              `json:"max_concurrent_calls"`
	MaxCPS             int              `json:"max_cps"`
	DailySpendLimit    *decimal.Decimal `json:"daily_spend_limit"`
	MaxRatePerMinute   *decimal.Decimal `json:"max_rate_per_minute"`
	BlockedPrefixes    []string         `json:"blocked_prefixes"`
	CreatedAt          time.Time        `json:"created_at"`
	UpdatedAt          time.Time        `json:"updated_at"`
}

// Ledger entry kinds.
const (
	LedgerCredit     = "credit"
	LedgerCallCharge = "call_charge"
	LedgerAdjustment = "adjustment"
)

// LedgerEntry is one change to a customer's balance. The balance is the sum of
// the ledger; entries are never updated or deleted.
type LedgerEntry struct {
	ID           string          `json:"id"`
	CustomerID   string          `json:"customer_id"`
	Amount       decimal.Decimal `json:"amount"`
	BalanceAfter decimal.Decimal `json:"balance_after"`
	Currency     string          `json:"currency"`
	Kind         string          `json:"kind"`
	CallID       *string         `json:"call_id"`
	Description  string          `json:"description"`
	CreatedAt    time.Time       `json:"created_at"`
}

// CustomerStore persists customers and their ledgers.
type CustomerStore interface {
	CreateCustomer(ctx context.Context, c *Customer) error
	// Customer returns the customer with id if scope may see it.
	Customer(ctx context.Context, scope Scope, id string) (*Customer, error)
	Customers(ctx context.Context, scope Scope, p Page) (List[*Customer], error)
	// UpdateCustomer writes every settable field of c; the balance is only
	// changed through the ledger.
	UpdateCustomer(ctx context.Context, c *Customer) error
	// AddLedgerEntry applies e.Amount to the balance and appends e in one
	// transaction, filling e.BalanceAfter.
	AddLedgerEntry(ctx context.Context, e *LedgerEntry) error
	LedgerEntries(ctx context.Context, customerID string, p Page) (List[*LedgerEntry], error)
	// ChargedSince is the total of the customer's call charges from since on,
	// as a positive amount (daily_spend_limit).
	ChargedSince(ctx context.Context, customerID string, since time.Time) (decimal.Decimal, error)
}
