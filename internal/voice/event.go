package voice

import (
	"context"
	"encoding/json"
	"time"
)

// Delivery statuses of an event's webhook.
const (
	DeliveryPending   = "pending"
	DeliveryDelivered = "delivered"
	DeliveryRetrying  = "retrying"
	DeliveryExhausted = "exhausted"
	DeliveryDisabled  = "disabled"
	DeliveryNone      = "none"
)

// Attempt is one try at delivering an event.
type Attempt struct {
	At         time.Time `json:"at"`
	URL        string    `json:"url"`
	HTTPStatus int       `json:"http_status"`
	LatencyMS  int64     `json:"latency_ms"`
	Error      string    `json:"error"`
	Response   string    `json:"response,omitempty"`
}

// Event is something that happened, kept for the event log and sent as a webhook.
type Event struct {
	ID             string          `json:"id"`
	Event          string          `json:"event"`
	CreatedAt      time.Time       `json:"created_at"`
	CallID         *string         `json:"call_id"`
	ApplicationID  string          `json:"application_id"`
	CustomerID     string          `json:"customer_id"`
	Data           json.RawMessage `json:"data"`
	DeliveryStatus string          `json:"delivery_status"`
	Attempts       []Attempt       `json:"attempts"`
	// NextAttemptAt is when the next automatic delivery attempt is due: set
	// while the event is pending or retrying, null once it is final.
	NextAttemptAt *time.Time `json:"next_attempt_at"`

	// Call is the call object (as GET /v1/calls/{id} shows it) at the moment
	// the event was written: the webhook's "call" and "variables". The store
	// fills it in when it writes the event; null for events of no call.
	Call json.RawMessage `json:"-"`
	// DeliveryRound counts redeliveries (POST /v1/events/{id}/redeliver):
	// a delivery job of an earlier round stands down.
	DeliveryRound int `json:"-"`
	// RoundAttempts counts the attempts of the current round: they pick the
	// next retry delay, and when the schedule is exhausted.
	RoundAttempts int `json:"-"`
}

// DeliveryStatuses lists every delivery status.
var DeliveryStatuses = []string{DeliveryPending, DeliveryDelivered, DeliveryRetrying, DeliveryExhausted, DeliveryDisabled, DeliveryNone}

// EventFilter narrows an event listing.
type EventFilter struct {
	Scope          Scope
	Event          string
	CallID         string
	ApplicationID  string
	DeliveryStatus string
}

// EventStore persists the event log.
type EventStore interface {
	CreateEvent(ctx context.Context, e *Event) error
	EventByID(ctx context.Context, scope Scope, id string) (*Event, error)
	Events(ctx context.Context, f EventFilter, p Page) (List[*Event], error)
	// CallEvents lists one call's events oldest first.
	CallEvents(ctx context.Context, scope Scope, callID string) ([]*Event, error)
	// RedeliverEvent queues one more delivery of an event visible to scope,
	// whatever its status, and returns it as it now is (pending).
	RedeliverEvent(ctx context.Context, scope Scope, id string) (*Event, error)
}
