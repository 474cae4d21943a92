package voice

import (
	"context"
	"fmt"
	"slices"
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
	// VerifiedCallerIDs are E.164 numbers the operator checked the customer
	// may present as caller ID besides its own numbers (api.md).
	VerifiedCallerIDs []string `json:"verified_caller_ids"`
	// AllowAnyCallerID lets a trusted customer present any caller ID.
	AllowAnyCallerID bool      `json:"allow_any_caller_id"`
	CreatedAt        time.Time `json:"created_at"`
	UpdatedAt        time.Time `json:"updated_at"`
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

// NumberFinder finds a phone number by its E.164 form (a NumberStore).
type NumberFinder interface {
	NumberByE164(ctx context.Context, e164 string) (*Number, error)
}

// CheckCallerID says whether c may present from (E.164) as the caller ID of
// an outbound call or dial leg: one of its own numbers, one the operator
// verified for it, or anything when the operator allows it. Anything else is
// caller_id_not_allowed, so a customer cannot call as another customer's
// number or as a bank's.
func CheckCallerID(ctx context.Context, numbers NumberFinder, c *Customer, from string) error {
	if c.AllowAnyCallerID || slices.Contains(c.VerifiedCallerIDs, from) {
		return nil
	}
	n, err := numbers.NumberByE164(ctx, from)
	if err != nil && !IsNotFound(err) {
		return fmt.Errorf("look up caller id %s: %w", from, err)
	}
	if n != nil && err == nil && n.CustomerID == c.ID {
		return nil
	}
	return &Error{Code: ECodeCallerIDNotAllowed, Param: "from",
		Message: "from: " + from + " is not one of the customer's numbers or verified caller ids"}
}
