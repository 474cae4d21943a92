package voice

import (
	"context"
	"time"
)

// ReviewInsightsFilter narrows the analysed calls the review dashboard
// reads: ended calls visible to Scope, created in [CreatedAfter,
// CreatedBefore), of ApplicationID when set, whose insights completed.
type ReviewInsightsFilter struct {
	Scope         Scope
	ApplicationID string
	CreatedAfter  time.Time
	CreatedBefore time.Time
}

// ReviewInsight is one analysed call as the review dashboard sees it: the
// call's list fields, its latest verdict ("" when not reviewed) and the
// score and topics of its insights (either may be nil).
type ReviewInsight struct {
	CallID        string
	CreatedAt     time.Time
	From, To      string
	ApplicationID string
	Verdict       string
	Score         *Score
	Topics        *Topics
}

// ReviewDashboardStore reads the review dashboard's calls.
type ReviewDashboardStore interface {
	// ReviewInsights calls fn with every call matching f, newest first by
	// (created_at, id), once per call: with the insights of its whole-call
	// recording, else of its bridged conversation, else of its voicemail.
	// An error from fn stops the walk and is returned.
	ReviewInsights(ctx context.Context, f ReviewInsightsFilter, fn func(*ReviewInsight) error) error
}
