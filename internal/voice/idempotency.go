package voice

import (
	"context"
	"time"
)

// IdempotencyRecord is the stored outcome of a POST made with an Idempotency-Key.
// Status 0 means the first request is still being handled.
type IdempotencyRecord struct {
	Owner       string
	Key         string
	RequestHash []byte
	Status      int
	Body        []byte
	CreatedAt   time.Time
}

// IdempotencyStore keeps responses for replay.
type IdempotencyStore interface {
	// ReserveIdempotencyKey inserts rec (Status 0) unless a record newer than
	// notBefore exists, in which case it returns that record and false.
	ReserveIdempotencyKey(ctx context.Context, rec *IdempotencyRecord, notBefore time.Time) (*IdempotencyRecord, bool, error)
	CompleteIdempotencyKey(ctx context.Context, owner, key string, status int, body []byte) error
	// ReleaseIdempotencyKey forgets a reservation whose request failed in a way
	// a retry may fix (a 5xx).
	ReleaseIdempotencyKey(ctx context.Context, owner, key string) error
}

// Store is every storage interface together: what a backend provides.
type Store interface {
	CustomerStore
	KeyStore
	ApplicationStore
	RateStore
	TrunkStore
	NumberStore
	CallStore
	EventStore
	RecordingStore
	InsightsStore
	IdempotencyStore
	SIPRefusalStore
	ReviewStore
	Ping(ctx context.Context) error
	Close() error
}
