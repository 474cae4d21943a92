package voice

import (
	"context"
	"time"
)

// Key kinds. The operator key is not stored: it comes from configuration.
const (
	KeyOperator    = "operator"
	KeyCustomer    = "customer"
	KeyApplication = "application"
)

// Key is an API key's record. The secret itself is never stored, only its
// SHA-256 hash; Secret is set once, on the object returned at creation.
type Key struct {
	ID            string     `json:"id"`
	Kind          string     `json:"kind"`
	Name          string     `json:"name"`
	CustomerID    string     `json:"customer_id"`
	ApplicationID *string    `json:"application_id"`
	Prefix        string     `json:"prefix"`
	Secret        string     `json:"key,omitempty"`
	Hash          []byte     `json:"-"`
	CreatedAt     time.Time  `json:"created_at"`
	LastUsedAt    *time.Time `json:"last_used_at"`
	RevokedAt     *time.Time `json:"revoked_at"`
}

// KeyStore persists API keys.
type KeyStore interface {
	CreateKey(ctx context.Context, k *Key) error
	// KeyByHash finds a key by the hash of its secret, revoked or not.
	KeyByHash(ctx context.Context, hash []byte) (*Key, error)
	Key(ctx context.Context, scope Scope, id string) (*Key, error)
	// Keys lists a customer's keys; applicationID narrows to one application's.
	Keys(ctx context.Context, customerID, applicationID string, p Page) (List[*Key], error)
	RevokeKey(ctx context.Context, id string, at time.Time) error
	// TouchKey records a use; callers rate-limit it so reads stay reads.
	TouchKey(ctx context.Context, id string, at time.Time) error
}
