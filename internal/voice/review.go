package voice

import (
	"context"
	"time"
)

// Review verdicts (api.md, call reviews): what a reviewer concluded about a call.
const (
	VerdictOK            = "ok"
	VerdictNeedsFollowUp = "needs_follow_up"
	VerdictEscalate      = "escalate"
)

// Verdicts lists every review verdict.
var Verdicts = []string{VerdictOK, VerdictNeedsFollowUp, VerdictEscalate}

// MaxReviewNote is the longest review note, in characters.
const MaxReviewNote = 2000

// EventCallReviewed is the event written with every review.
const EventCallReviewed EventType = "call.reviewed"

// Reviewer is the API key that posted a review; KeyID is null for the
// operator key, which comes from configuration and has no id.
type Reviewer struct {
	KeyID *string `json:"key_id"`
	Kind  string  `json:"kind"`
}

// Review is one verdict on a call. A call may be reviewed several times; the
// newest review is its current verdict (Call.Review).
type Review struct {
	ID            string    `json:"id"`
	CallID        string    `json:"call_id"`
	CustomerID    string    `json:"customer_id"`
	ApplicationID string    `json:"application_id"`
	Verdict       string    `json:"verdict"`
	Note          string    `json:"note"`
	Reviewer      Reviewer  `json:"reviewer"`
	CreatedAt     time.Time `json:"created_at"`
}

// CallReview is a call's latest review as the call object shows it.
type CallReview struct {
	Verdict    string    `json:"verdict"`
	ReviewedAt time.Time `json:"reviewed_at"`
}

// ReviewFilter narrows a review listing.
type ReviewFilter struct {
	Scope  Scope
	CallID string
}

// ReviewStore persists call reviews.
type ReviewStore interface {
	// CreateReviewWithEvents inserts r, makes it its call's latest review
	// (Call.Review) and appends events, in one transaction. The call must be
	// visible to scope, else not_found.
	CreateReviewWithEvents(ctx context.Context, scope Scope, r *Review, events ...*Event) error
	// Reviews lists reviews newest first.
	Reviews(ctx context.Context, f ReviewFilter, p Page) (List[*Review], error)
}
