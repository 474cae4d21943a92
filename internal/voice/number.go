package voice

import (
	"context"
	"time"
)

// Number statuses.
const (
	NumberActive   = "active"
	NumberDisabled = "disabled"
)

// Number is a DID: a phone number that routes inbound calls to an application.
type Number struct {
	ID            string    `json:"id"`
	Number        string    `json:"number"`
	CustomerID    string    `json:"customer_id"`
	ApplicationID *string   `json:"application_id"`
	Status        string    `json:"status"`
	CreatedAt     time.Time `json:"created_at"`
	UpdatedAt     time.Time `json:"updated_at"`
}

// NumberStore persists DIDs.
type NumberStore interface {
	// CreateNumber fails with conflict when the number exists.
	CreateNumber(ctx context.Context, n *Number) error
	Number(ctx context.Context, scope Scope, id string) (*Number, error)
	NumberByE164(ctx context.Context, e164 string) (*Number, error)
	Numbers(ctx context.Context, scope Scope, p Page) (List[*Number], error)
	UpdateNumber(ctx context.Context, n *Number) error
	DeleteNumber(ctx context.Context, id string) error
}
