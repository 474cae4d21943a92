package billing

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/minivoice/minivoice/internal/voice"
	"github.com/shopspring/decimal"
)

// GateStore is what a Gate reads: the customer as it is now and what it has
// been charged today.
type GateStore interface {
	Customer(ctx context.Context, scope voice.Scope, id string) (*voice.Customer, error)
	ChargedSince(ctx context.Context, customerID string, since time.Time) (decimal.Decimal, error)
}

// Gate admits new calls for the whole process: the API's POST /v1/calls, the
// engine's inbound INVITEs and dial's child calls all go through one Gate, so
// the concurrency and CPS limits count every call of a customer.
type Gate struct {
	Store    GateStore
	Book     *Book
	Admitter *Admitter
	// Now is the clock; default time.Now.
	Now func() time.Time
}

// Ticket is an admitted call: the rate it is priced at and the release of its
// concurrency slot, which must be called when the call ends, however it ends
// (it is idempotent).
type Ticket struct {
	Rate     *voice.Rate
	Customer *voice.Customer
	Release  func()
}

// Admit applies billing.md's checks to a new call of customerID to or from
// number (E.164, the callee outbound, the DID inbound). A refusal is a
// *voice.Error carrying the API status, code and Retry-After; SIPResponse maps
// it for inbound calls.
func (g *Gate) Admit(ctx context.Context, customerID, direction, number string) (*Ticket, error) {
	now := time.Now
	if g.Now != nil {
		now = g.Now
	}
	cust, err := g.Store.Customer(ctx, voice.Scope{}, customerID)
	if err != nil {
		return nil, fmt.Errorf("admit: %w", err)
	}
	digits := strings.TrimPrefix(number, "+")
	rate := g.Book.Lookup(cust.ID, direction, digits)
	var spent decimal.Decimal
	t := now()
	if cust.DailySpendLimit != nil {
		if spent, err = g.Store.ChargedSince(ctx, cust.ID, DayStart(t)); err != nil {
			return nil, fmt.Errorf("admit: %w", err)
		}
	}
	release, verr := g.Admitter.Admit(Request{Customer: cust, Rate: rate, Digits: digits, SpentToday: spent, Now: t})
	if verr != nil {
		return nil, verr
	}
	return &Ticket{Rate: rate, Customer: cust, Release: release}, nil
}
