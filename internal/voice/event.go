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
}

// EventFilter narrows an event listing.
type EventFilter struct {
	Scope  Scope
	Event  string
	CallID string
}

// EventStore persists the event log.
type EventStore interface {
	CreateEvent(ctx context.Context, e *Event) error
	EventByID(ctx context.Context, scope Scope, id string) (*Event, error)
	Events(ctx context.Context, f EventFilter, p Page) (List[*Event], error)
	// CallEvents lists one call's events oldest first.
	CallEvents(ctx context.Context, scope Scope, callID string) ([]*Event, error)
}
