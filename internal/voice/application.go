package voice

import (
	"context"
	"time"
)

// Application statuses and webhook statuses.
const (
	ApplicationActive   = "active"
	ApplicationInactive = "inactive"
	WebhookActive       = "active"
	WebhookDisabled     = "disabled"
)

// Application is a customer's voice app: where calls fetch their actions and
// where events are sent.
type Application struct {
	ID              string   `json:"id"`
	CustomerID      string   `json:"customer_id"`
	Name            string   `json:"name"`
	Status          string   `json:"status"`
	AnswerURL       string   `json:"answer_url"`
	AnswerMethod    string   `json:"answer_method"`
	FallbackURL     string   `json:"fallback_url"`
	WebhookURL      string   `json:"webhook_url"`
	WebhookStatus   string   `json:"webhook_status"`
	WebhookEvents   []string `json:"webhook_events"`
	RecordByDefault bool     `json:"record_by_default"`
	Insights        bool     `json:"insights"`
	// Topics is the application's topic list, matched first by the
	// insights step (insights.md).
	Topics []TopicDef `json:"topics"`
	// ScoreCriteria are the application's own scorecard lines, scored after
	// the default ones.
	ScoreCriteria []ScoreCriterion `json:"score_criteria"`
	// Vocabulary are names and terms the application's calls use (people,
	// products, places) that speech recognition should expect.
	Vocabulary []string  `json:"vocabulary"`
	CreatedAt  time.Time `json:"created_at"`
	UpdatedAt  time.Time `json:"updated_at"`

	// WebhookSecret signs webhooks. It is shown only on create and rotate.
	WebhookSecret string `json:"-"`
	// PreviousWebhookSecret keeps signing until PreviousSecretExpiresAt so
	// receivers can roll over without dropping events.
	PreviousWebhookSecret   string     `json:"-"`
	PreviousSecretExpiresAt *time.Time `json:"-"`
}

// SigningSecrets are the secrets that sign the application's requests at now:
// the current one, and the previous one until it expires after a rotation, so
// receivers that have not switched yet still verify.
func (a *Application) SigningSecrets(now time.Time) []string {
	var out []string
	if a.WebhookSecret != "" {
		out = append(out, a.WebhookSecret)
	}
	if a.PreviousWebhookSecret != "" && a.PreviousSecretExpiresAt != nil && now.Before(*a.PreviousSecretExpiresAt) {
		out = append(out, a.PreviousWebhookSecret)
	}
	return out
}

// ApplicationStore persists applications.
type ApplicationStore interface {
	CreateApplication(ctx context.Context, a *Application) error
	Application(ctx context.Context, scope Scope, id string) (*Application, error)
	Applications(ctx context.Context, scope Scope, p Page) (List[*Application], error)
	// UpdateApplication writes every field of a, secrets included.
	UpdateApplication(ctx context.Context, a *Application) error
	DeleteApplication(ctx context.Context, scope Scope, id string) error
}
