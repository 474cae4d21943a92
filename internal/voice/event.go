package voice

import (
	"context"
	"encoding/json"
	"slices"
	"time"
)

// EventType names what happened: an event's "event" and a webhook's type.
type EventType string

// Event types an application can subscribe to (webhook_events).
const (
	EventCallInitiated          EventType = "call.initiated"
	EventCallRinging            EventType = "call.ringing"
	EventCallAnswered           EventType = "call.answered"
	EventCallCompleted          EventType = "call.completed"
	EventCallGather             EventType = "call.gather"
	EventCallError              EventType = "call.error"
	EventRecordingCompleted     EventType = "recording.completed"
	EventRecordingFailed        EventType = "recording.failed"
	EventTranscriptionCompleted EventType = "transcription.completed"
	EventTranscriptionFailed    EventType = "transcription.failed"
	EventInsightsCompleted      EventType = "insights.completed"
	EventInsightsFailed         EventType = "insights.failed"
	// EventStreamStarted and EventStreamStopped bracket a live media
	// stream (the stream action, POST /v1/calls/{id}/streams).
	EventStreamStarted EventType = "stream.started"
	EventStreamStopped EventType = "stream.stopped"
	// EventWebhookTest is sent by POST /v1/applications/{id}/webhook-test
	// only; nobody subscribes to it.
	EventWebhookTest EventType = "webhook.test"
)

// EventTypes lists every event type an application may subscribe to.
var EventTypes = []EventType{EventCallInitiated, EventCallRinging, EventCallAnswered, EventCallCompleted, EventCallGather,
	EventCallError, EventRecordingCompleted, EventRecordingFailed, EventTranscriptionCompleted, EventTranscriptionFailed,
	EventInsightsCompleted, EventInsightsFailed, EventCallReviewed, EventStreamStarted, EventStreamStopped}

// Subscribed reports whether the application's webhook_events include t
// ("*" is every type).
func (a *Application) Subscribed(t EventType) bool {
	return slices.Contains(a.WebhookEvents, "*") || slices.Contains(a.WebhookEvents, string(t))
}

// DeliveryStatusFor is the delivery status a new event of type t starts
// with for application app (nil: deleted or none): none without a webhook
// URL or a subscription, disabled while the application's webhook is
// disabled, else pending. It is the one subscription rule: every event the
// platform writes is built by NewEvent, which applies it.
func DeliveryStatusFor(app *Application, t EventType) string {
	if app == nil || app.WebhookURL == "" || !app.Subscribed(t) {
		return DeliveryNone
	}
	if app.WebhookStatus == WebhookDisabled {
		return DeliveryDisabled
	}
	return DeliveryPending
}

// EventSubject is whose event it is.
type EventSubject struct {
	CustomerID    string
	ApplicationID string
	// CallID is empty for events of no call.
	CallID string
}

// NewEvent builds an event of type t about subject at the given time, its
// data marshalled (nil or unmarshallable data becomes {}; json.RawMessage
// is taken as is) and its delivery status set by app's subscription.
func NewEvent(app *Application, t EventType, subject EventSubject, data any, at time.Time) *Event {
	b, err := json.Marshal(data)
	if err != nil || data == nil {
		b = []byte(`{}`)
	}
	var callID *string
	if subject.CallID != "" {
		id := subject.CallID
		callID = &id
	}
	return &Event{ID: NewID(PrefixEvent, at), Event: t, CreatedAt: at, CallID: callID, ApplicationID: subject.ApplicationID,
		CustomerID: subject.CustomerID, Data: b, DeliveryStatus: DeliveryStatusFor(app, t), Attempts: []Attempt{}}
}

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
	Event          EventType       `json:"event"`
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
