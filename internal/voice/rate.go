package voice

import (
	"context"
	"time"

	"github.com/shopspring/decimal"
)

// Directions of calls and rates.
const (
	DirectionOutbound = "outbound"
	DirectionInbound  = "inbound"
	DirectionBoth     = "both"
)

// Rate statuses.
const (
	RateActive   = "active"
	RateInactive = "inactive"
)

// Rate prices calls whose number starts with Prefix. A nil CustomerID puts the
// rate in the default deck that every customer falls back to.
type Rate struct {
	ID                  string          `json:"id"`
	CustomerID          *string         `json:"customer_id"`
	Direction           string          `json:"direction"`
	Prefix              string          `json:"prefix"`
	PricePerMinute      decimal.Decimal `json:"price_per_minute"`
	ConnectionFee       decimal.Decimal `json:"connection_fee"`
	InitialIncrement    int             `json:"initial_increment"`
	SubsequentIncrement int             `json:"subsequent_increment"`
	Currency            string          `json:"currency"`
	Status              string          `json:"status"`
	Description         string          `json:"description"`
	CreatedAt           time.Time       `json:"created_at"`
}

// RateFilter narrows a rate listing. DeckSet with a nil CustomerID means the
// default deck only.
type RateFilter struct {
	// Deck: "" any, "default" the default deck, or a customer id.
	Deck      string
	Direction string
	Prefix    string
	Status    string
	// Visible limits to what a customer may see: its own deck and the default deck.
	VisibleTo string
}

// RateStore persists rate decks.
type RateStore interface {
	CreateRate(ctx context.Context, r *Rate) error
	Rate(ctx context.Context, id string) (*Rate, error)
	Rates(ctx context.Context, f RateFilter, p Page) (List[*Rate], error)
	UpdateRate(ctx context.Context, r *Rate) error
	DeleteRate(ctx context.Context, id string) error
	// ActiveRates returns every active rate of every deck (for the in-memory index).
	ActiveRates(ctx context.Context) ([]*Rate, error)
	// ReplaceDeck deletes every rate of (customerID, direction) and inserts rates,
	// in one transaction.
	ReplaceDeck(ctx context.Context, customerID *string, direction string, rates []*Rate) error
	// MatchRate returns the active rate with the longest prefix of digits in the
	// customer's deck, else in the default deck, else not_found.
	MatchRate(ctx context.Context, customerID, direction, digits string) (*Rate, error)
}
