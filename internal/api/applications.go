package api

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"time"
	"unicode"

	"github.com/minivoice/minivoice/internal/auth"
	"github.com/minivoice/minivoice/internal/insights/analyze"
	"github.com/minivoice/minivoice/internal/netguard"
	"github.com/minivoice/minivoice/internal/voice"
)

// secretOverlap is how long a rotated-out webhook secret keeps signing.
const secretOverlap = 24 * time.Hour

// WebhookEvents are the event types an application may subscribe to
// (voice.EventTypes as the strings webhook_events holds).
var WebhookEvents = func() []string {
	out := make([]string, len(voice.EventTypes))
	for i, t := range voice.EventTypes {
		out[i] = string(t)
	}
	return out
}()

// applicationView is an application as the API shows it: the secret only when
// it was just made.
type applicationView struct {
	*voice.Application
	WebhookSecret string `json:"webhook_secret,omitempty"`
}

// ApplicationInput is the body of POST and PATCH /v1/applications: the
// fields given (Opt.Set) are changed.
type ApplicationInput struct {
	CustomerID      Opt[string]                 `json:"customer_id"`
	Name            Opt[string]                 `json:"name"`
	Status          Opt[string]                 `json:"status"`
	AnswerURL       Opt[string]                 `json:"answer_url"`
	AnswerMethod    Opt[string]                 `json:"answer_method"`
	FallbackURL     Opt[string]                 `json:"fallback_url"`
	WebhookURL      Opt[string]                 `json:"webhook_url"`
	WebhookSecret   Opt[string]                 `json:"webhook_secret"`
	WebhookStatus   Opt[string]                 `json:"webhook_status"`
	WebhookEvents   Opt[[]string]               `json:"webhook_events"`
	RecordByDefault Opt[bool]                   `json:"record_by_default"`
	Insights        Opt[bool]                   `json:"insights"`
	Topics          Opt[[]voice.TopicDef]       `json:"topics"`
	ScoreCriteria   Opt[[]voice.ScoreCriterion] `json:"score_criteria"`
	Vocabulary      Opt[[]string]               `json:"vocabulary"`
}

func setStr(dst *string, o Opt[string]) {
	if o.Set {
		*dst = strings.TrimSpace(o.Value)
	}
}

func (s *Server) checkURL(param, u string, required bool) error {
	if u == "" {
		if required {
			return voice.Invalid(param, "is required")
		}
		return nil
	}
	if err := netguard.CheckURL(u, s.allow); err != nil {
		return voice.Invalid(param, "%s", err.Error())
	}
	return nil
}

// validWebhookSecret checks a given secret: whsec_ + base64 of 24..64 bytes.
func validWebhookSecret(sec string) bool {
	raw, ok := strings.CutPrefix(sec, "whsec_")
	if !ok {
		return false
	}
	b, err := base64.StdEncoding.DecodeString(raw)
	return err == nil && len(b) >= 24 && len(b) <= 64
}

// NewWebhookSecret returns whsec_ + base64 of 32 random bytes.
func NewWebhookSecret() string {
	var b [32]byte
	_, _ = rand.Read(b[:])
	return "whsec_" + base64.StdEncoding.EncodeToString(b[:])
}

func (s *Server) applyApplication(in *ApplicationInput, a *voice.Application, p *auth.Principal) error {
	setStr(&a.Name, in.Name)
	if err := checkName("name", a.Name); err != nil {
		return err
	}
	setStr(&a.Status, in.Status)
	if a.Status != voice.ApplicationActive && a.Status != voice.ApplicationInactive {
		return voice.Invalid("status", "must be active or inactive")
	}
	setStr(&a.AnswerURL, in.AnswerURL)
	if err := s.checkURL("answer_url", a.AnswerURL, false); err != nil {
		return err
	}
	if in.AnswerMethod.Set {
		a.AnswerMethod = strings.ToUpper(in.AnswerMethod.Value)
	}
	if a.AnswerMethod != http.MethodPost && a.AnswerMethod != http.MethodGet {
		return voice.Invalid("answer_method", "must be POST or GET")
	}
	setStr(&a.FallbackURL, in.FallbackURL)
	if err := s.checkURL("fallback_url", a.FallbackURL, false); err != nil {
		return err
	}
	setStr(&a.WebhookURL, in.WebhookURL)
	if err := s.checkURL("webhook_url", a.WebhookURL, false); err != nil {
		return err
	}
	if in.WebhookSecret.Set {
		if !validWebhookSecret(in.WebhookSecret.Value) {
			return voice.Invalid("webhook_secret", "must be whsec_ followed by the base64 of 24 to 64 bytes")
		}
		a.WebhookSecret = in.WebhookSecret.Value
	}
	setStr(&a.WebhookStatus, in.WebhookStatus)
	if a.WebhookStatus != voice.WebhookActive && a.WebhookStatus != voice.WebhookDisabled {
		return voice.Invalid("webhook_status", "must be active or disabled")
	}
	if in.WebhookEvents.Set {
		a.WebhookEvents = in.WebhookEvents.Value
	}
	if len(a.WebhookEvents) == 0 {
		return voice.Invalid("webhook_events", `must be ["*"] or a list of event types`)
	}
	for _, e := range a.WebhookEvents {
		if e != "*" && !slices.Contains(WebhookEvents, e) {
			return voice.Invalid("webhook_events", "unknown event type %q", e)
		}
	}
	if in.RecordByDefault.Set {
		a.RecordByDefault = in.RecordByDefault.Value
	}
	if in.Insights.Set {
		a.Insights = in.Insights.Value
	}
	// The lists are validated when given, so an application stored under
	// older, looser rules can still be changed in other ways.
	if in.Topics.Set {
		a.Topics = in.Topics.Value
		if a.Topics == nil {
			a.Topics = []voice.TopicDef{}
		}
		if err := analyze.ValidateTopics("topics", a.Topics); err != nil {
			return err
		}
	}
	if a.Topics == nil {
		a.Topics = []voice.TopicDef{}
	}
	if in.ScoreCriteria.Set {
		a.ScoreCriteria = in.ScoreCriteria.Value
		if a.ScoreCriteria == nil {
			a.ScoreCriteria = []voice.ScoreCriterion{}
		}
		if err := analyze.ValidateCriteria("score_criteria", a.ScoreCriteria); err != nil {
			return err
		}
	}
	if a.ScoreCriteria == nil {
		a.ScoreCriteria = []voice.ScoreCriterion{}
	}
	if in.Vocabulary.Set {
		v, err := cleanVocabulary("vocabulary", in.Vocabulary.Value)
		if err != nil {
			return err
		}
		a.Vocabulary = v
	}
	if a.Vocabulary == nil {
		a.Vocabulary = []string{}
	}
	normalizeInsightLists(a)
	return nil
}

// normalizeInsightLists stores topics and criteria in one shape whatever the
// client left out: names trimmed, lists never null, a criterion's speaker
// "any" unless given.
func normalizeInsightLists(a *voice.Application) {
	orEmpty := func(l []string) []string {
		if l == nil {
			return []string{}
		}
		return l
	}
	for i := range a.Topics {
		t := &a.Topics[i]
		t.Name, t.Keywords = strings.TrimSpace(t.Name), orEmpty(t.Keywords)
	}
	for i := range a.ScoreCriteria {
		c := &a.ScoreCriteria[i]
		c.Name = strings.TrimSpace(c.Name)
		if c.Speaker == "" {
			c.Speaker = voice.CriterionAny
		}
		c.AnyOf, c.Required, c.Forbidden = orEmpty(c.AnyOf), orEmpty(c.Required), orEmpty(c.Forbidden)
	}
}

func (s *Server) createApplication(w http.ResponseWriter, r *http.Request, p *auth.Principal) error {
	var in ApplicationInput
	if err := decode(r, &in); err != nil {
		return err
	}
	customerID := p.CustomerID
	if p.IsOperator() {
		if !in.CustomerID.Set || in.CustomerID.Value == "" {
			return voice.Invalid("customer_id", "is required with the operator key")
		}
		customerID = in.CustomerID.Value
	} else if in.CustomerID.Set && in.CustomerID.Value != p.CustomerID {
		return voice.NotFound("customer")
	}
	c, err := s.store.Customer(r.Context(), p.Scope(), customerID)
	if err != nil {
		if voice.IsNotFound(err) {
			return voice.Invalid("customer_id", "no such customer")
		}
		return err
	}
	now := s.clock()
	a := &voice.Application{ID: voice.NewID(voice.PrefixApplication, now), CustomerID: c.ID, Status: voice.ApplicationActive,
		AnswerMethod: http.MethodPost, WebhookStatus: voice.WebhookActive, WebhookEvents: []string{"*"}, Insights: true,
		WebhookSecret: NewWebhookSecret(), CreatedAt: now, UpdatedAt: now}
	if err := s.applyApplication(&in, a, p); err != nil {
		return err
	}
	if err := s.store.CreateApplication(r.Context(), a); err != nil {
		return err
	}
	writeJSON(w, http.StatusCreated, applicationView{Application: a, WebhookSecret: a.WebhookSecret})
	return nil
}

func (s *Server) getApplication(w http.ResponseWriter, r *http.Request, p *auth.Principal) error {
	a, err := s.store.Application(r.Context(), p.Scope(), r.PathValue("id"))
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, applicationView{Application: a})
	return nil
}

func (s *Server) listApplications(w http.ResponseWriter, r *http.Request, p *auth.Principal) error {
	pg, err := parsePage(r)
	if err != nil {
		return err
	}
	scope := p.Scope()
	if cid := r.URL.Query().Get("customer_id"); cid != "" {
		if _, err := s.store.Customer(r.Context(), scope, cid); err != nil {
			return err
		}
		scope.CustomerID = cid
	}
	list, err := s.store.Applications(r.Context(), scope, pg)
	if err != nil {
		return err
	}
	out := voice.List[applicationView]{Data: make([]applicationView, len(list.Data)), HasMore: list.HasMore, NextCursor: list.NextCursor}
	for i, a := range list.Data {
		out.Data[i] = applicationView{Application: a}
	}
	writeJSON(w, http.StatusOK, out)
	return nil
}

func (s *Server) updateApplication(w http.ResponseWriter, r *http.Request, p *auth.Principal) error {
	a, err := s.store.Application(r.Context(), p.Scope(), r.PathValue("id"))
	if err != nil {
		return err
	}
	var in ApplicationInput
	if err := decode(r, &in); err != nil {
		return err
	}
	if err := s.UpdateApplication(r.Context(), p, a, &in); err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, applicationView{Application: a})
	return nil
}

// UpdateApplication changes a (read with p's scope) as PATCH
// /v1/applications/{id} does, with the same checks, and stores it. The web
// console saves its application form through it.
func (s *Server) UpdateApplication(ctx context.Context, p *auth.Principal, a *voice.Application, in *ApplicationInput) error {
	if err := checkInputText(in); err != nil {
		return err
	}
	if in.CustomerID.Set && in.CustomerID.Value != a.CustomerID {
		return voice.Invalid("customer_id", "cannot change")
	}
	if in.WebhookSecret.Set {
		return voice.Invalid("webhook_secret", "use POST /v1/applications/{id}/webhook-secret/rotate")
	}
	if err := s.applyApplication(in, a, p); err != nil {
		return err
	}
	a.UpdatedAt = s.clock()
	return s.store.UpdateApplication(ctx, a)
}

func (s *Server) deleteApplication(w http.ResponseWriter, r *http.Request, p *auth.Principal) error {
	if err := s.store.DeleteApplication(r.Context(), p.Scope(), r.PathValue("id")); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

type rotateInput struct {
	WebhookSecret string `json:"webhook_secret"`
}

// rotateWebhookSecret makes a new secret; the old one keeps signing alongside
// for 24 hours so receivers can switch without losing events.
func (s *Server) rotateWebhookSecret(w http.ResponseWriter, r *http.Request, p *auth.Principal) error {
	a, err := s.store.Application(r.Context(), p.Scope(), r.PathValue("id"))
	if err != nil {
		return err
	}
	var in rotateInput
	if err := decode(r, &in); err != nil {
		return err
	}
	if err := s.RotateWebhookSecret(r.Context(), a, in.WebhookSecret); err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, struct {
		applicationView
		PreviousSecretExpiresAt *time.Time `json:"previous_secret_expires_at"`
	}{applicationView{Application: a, WebhookSecret: a.WebhookSecret}, a.PreviousSecretExpiresAt})
	return nil
}

// RotateWebhookSecret gives a (read with the caller's scope) a new webhook
// secret, secret when given (checked) else a random one, and keeps the old
// one signing alongside for 24 hours, as POST
// /v1/applications/{id}/webhook-secret/rotate does.
func (s *Server) RotateWebhookSecret(ctx context.Context, a *voice.Application, secret string) error {
	if secret == "" {
		secret = NewWebhookSecret()
	} else if !validWebhookSecret(secret) {
		return voice.Invalid("webhook_secret", "must be whsec_ followed by the base64 of 24 to 64 bytes")
	}
	now := s.clock()
	expires := now.Add(secretOverlap)
	a.PreviousWebhookSecret, a.PreviousSecretExpiresAt = a.WebhookSecret, &expires
	a.WebhookSecret = secret
	a.UpdatedAt = now
	return s.store.UpdateApplication(ctx, a)
}

// Bounds on an application's vocabulary: a speech recogniser given more
// phrases, or longer ones, gets slower to prepare and no more accurate.
const (
	MaxVocabularyEntries = 200
	MaxVocabularyLen     = 100
)

// cleanVocabulary validates an application's vocabulary and returns it with
// each entry trimmed and inner white space collapsed; an entry given twice
// (ignoring case) is kept once.
func cleanVocabulary(param string, in []string) ([]string, error) {
	if len(in) > MaxVocabularyEntries {
		return nil, voice.Invalid(param, "at most %d entries", MaxVocabularyEntries)
	}
	out := make([]string, 0, len(in))
	seen := map[string]bool{}
	for i, s := range in {
		p := fmt.Sprintf("%s[%d]", param, i)
		s = strings.Join(strings.Fields(s), " ")
		switch {
		case s == "":
			return nil, voice.Invalid(p, "must not be empty")
		case len(s) > MaxVocabularyLen:
			return nil, voice.Invalid(p, "at most %d bytes", MaxVocabularyLen)
		case !strings.ContainsFunc(s, unicode.IsLetter):
			return nil, voice.Invalid(p, "must contain a word")
		}
		if k := strings.ToLower(s); !seen[k] {
			seen[k] = true
			out = append(out, s)
		}
	}
	return out, nil
}
