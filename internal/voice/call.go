package voice

import (
	"context"
	"encoding/json"
	"time"

	"github.com/shopspring/decimal"
)

// Call statuses (api.md). The last five are final.
const (
	CallQueued     = "queued"
	CallRinging    = "ringing"
	CallInProgress = "in-progress"
	CallCompleted  = "completed"
	CallBusy       = "busy"
	CallNoAnswer   = "no-answer"
	CallFailed     = "failed"
	CallCanceled   = "canceled"
)

// CallStatuses lists every status, in lifecycle order.
var CallStatuses = []string{CallQueued, CallRinging, CallInProgress, CallCompleted, CallBusy, CallNoAnswer, CallFailed, CallCanceled}

// CallEnded reports whether status is final.
func CallEnded(status string) bool {
	switch status {
	case CallCompleted, CallBusy, CallNoAnswer, CallFailed, CallCanceled:
		return true
	}
	return false
}

// CallError is the application error that ended a call.
type CallError struct {
	Code    string `json:"code"`
	Message string `json:"message"`
}

// Call is one call leg. Its JSON is the seed's call object plus the spec's fields;
// the first six fields keep the seed's order.
type Call struct {
	ID                string            `json:"id"`
	Status            string            `json:"status"`
	Direction         string            `json:"direction"`
	From              string            `json:"from"`
	To                string            `json:"to"`
	CustomerID        string            `json:"customer_id"`
	ApplicationID     string            `json:"application_id"`
	ParentCallID      *string           `json:"parent_call_id"`
	TrunkID           *string           `json:"trunk_id"`
	NumberID          *string           `json:"number_id"`
	Codec             *string           `json:"codec"`
	Record            bool              `json:"record"`
	RecordingChannels string            `json:"recording_channels"`
	Timeout           int               `json:"timeout"`
	TimeLimit         int               `json:"time_limit"`
	AnswerURL         string            `json:"answer_url,omitempty"`
	Actions           json.RawMessage   `json:"-"`
	Variables         map[string]string `json:"variables"`
	CreatedAt         time.Time         `json:"created_at"`
	RingingAt         *time.Time        `json:"ringing_at"`
	AnsweredAt        *time.Time        `json:"answered_at"`
	EndedAt           *time.Time        `json:"ended_at"`
	Duration          int               `json:"duration"`
	BillableSeconds   int               `json:"billable_seconds"`
	Price             *decimal.Decimal  `json:"price"`
	Currency          string            `json:"currency"`
	HangupCause       *HangupCause      `json:"hangup_cause"`
	HangupSource      *HangupSource     `json:"hangup_source"`
	SIPCode           *int              `json:"sip_code"`
	SIPReason         *string           `json:"sip_reason"`
	RecordingIDs      []string          `json:"recording_ids"`
	Error             *CallError        `json:"error"`
	UpdatedAt         time.Time         `json:"updated_at"`
	// Review is the call's latest review (null before the first); the store
	// sets it with the review, so writes of the call's state leave it alone.
	Review *CallReview `json:"review"`
}

// CallFilter narrows a call listing (api.md list filters).
type CallFilter struct {
	Scope         Scope
	Status        string
	Direction     string
	ApplicationID string
	CustomerID    string
	From          string
	To            string
	// Number keeps calls from or to this number (either end).
	Number        string
	CreatedAfter  *time.Time
	CreatedBefore *time.Time
	// Reviewed keeps calls with (true) or without (false) a review; nil both.
	Reviewed *bool
	// Verdict keeps calls whose latest review has this verdict.
	Verdict string
	// IDs, when not nil, keeps only these calls (none when empty): the
	// console's score and topic filters, worked out from the insights.
	IDs []string
}

// CallStore persists calls.
type CallStore interface {
	CreateCall(ctx context.Context, c *Call) error
	Call(ctx context.Context, scope Scope, id string) (*Call, error)
	Calls(ctx context.Context, f CallFilter, p Page) (List[*Call], error)
	// UpdateCall writes the mutable state of c (status, times, results).
	UpdateCall(ctx context.Context, c *Call) error
	// UpdateCallWithEvents writes c and appends events in one transaction, so
	// an event is never recorded for a state the call did not reach, nor lost
	// for one it did (the transactional outbox of webhooks.md).
	UpdateCallWithEvents(ctx context.Context, c *Call, events ...*Event) error
	// UpdateCallWithCharge is UpdateCallWithEvents plus the call's charge (a
	// call_charge ledger entry moving the balance), all in one transaction, so
	// a call is never billed twice nor its charge lost (billing.md).
	UpdateCallWithCharge(ctx context.Context, c *Call, charge *LedgerEntry, events ...*Event) error
	// CreateCallWithEvents inserts c and events in one transaction.
	CreateCallWithEvents(ctx context.Context, c *Call, events ...*Event) error
	// UnfinishedCalls returns calls not in a final status, oldest first: after
	// a crash these are closed at start-up.
	UnfinishedCalls(ctx context.Context) ([]*Call, error)
	// EndedCalls returns the scope's calls that ended in [from, to), for usage reports.
	EndedCalls(ctx context.Context, scope Scope, customerID string, from, to time.Time) ([]*Call, error)
}
