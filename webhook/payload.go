package webhook

import (
	"encoding/json"
	"time"
)

// Payload is the JSON body of every webhook MiniVoice sends (webhooks.md):
//
//	{"id": "evt_...", "event": "call.completed", "created_at": "2026-05-29T12:10:00Z",
//	 "call": {"id": "call_...", "status": "completed", ...}, "variables": {}, "data": {...}}
//
// Decode it from the raw body once the signature is verified. Fields may be
// added in later versions, never renamed.
type Payload struct {
	// ID is the event id, also sent as webhook-id: the same on every retry,
	// so a receiver de-duplicates on it.
	ID string `json:"id"`
	// Event is the event type, such as "call.completed".
	Event     string    `json:"event"`
	CreatedAt time.Time `json:"created_at"`
	// Call is the call object as GET /v1/calls/{id} returned it when the
	// event happened (not when it was delivered); absent for events of no call.
	Call json.RawMessage `json:"call,omitempty"`
	// Variables are the call's variables at that moment.
	Variables map[string]string `json:"variables"`
	// Data is the event-specific part.
	Data json.RawMessage `json:"data"`
}
