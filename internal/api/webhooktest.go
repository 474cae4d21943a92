package api

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"time"

	"github.com/minivoice/minivoice/internal/auth"
	"github.com/minivoice/minivoice/internal/delivery"
	"github.com/minivoice/minivoice/internal/netguard"
	"github.com/minivoice/minivoice/internal/publicmsg"
	"github.com/minivoice/minivoice/internal/voice"
	pub "github.com/minivoice/minivoice/webhook"
)

// webhookTestTimeout bounds the whole test request (webhooks.md).
const webhookTestTimeout = 10 * time.Second

// webhookTestEvent is the event type of a webhook test.
const webhookTestEvent = "webhook.test"

// webhookTestData names the application tested, since there is no call to
// carry its id.
type webhookTestData struct {
	ApplicationID string `json:"application_id"`
}

// WebhookTestResult is the answer when the receiver took the test.
type WebhookTestResult struct {
	Delivered  bool  `json:"delivered"`
	HTTPStatus int   `json:"http_status"`
	LatencyMS  int64 `json:"latency_ms"`
}

// newWebhookTestSender sends webhook tests through the SSRF guard, with the
// operator's exceptions.
func newWebhookTestSender(cfg Config) *delivery.Sender {
	version := cfg.Version
	if version == "" {
		version = "dev"
	}
	client := netguard.NewClient(netguard.ClientConfig{Allow: cfg.AllowPrivateURLs, Timeout: webhookTestTimeout})
	return &delivery.Sender{Client: client, UserAgent: "MiniVoice/" + version, Now: cfg.Now}
}

// webhookTest sends a signed webhook.test event to the application's
// webhook_url and waits for the answer: 200 with the receiver's status when
// it answered 2xx, else 502 webhook_test_failed. The test is sent whatever
// webhook_status and webhook_events say, and is not kept in the event log.
func (s *Server) webhookTest(w http.ResponseWriter, r *http.Request, p *auth.Principal) error {
	a, err := s.store.Application(r.Context(), p.Scope(), r.PathValue("id"))
	if err != nil {
		return err
	}
	if err := decode(r, &struct{}{}); err != nil {
		return err
	}
	res, err := s.WebhookTest(r.Context(), a)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, res)
	return nil
}

// WebhookTest sends a's webhook_url a signed webhook.test event, as POST
// /v1/applications/{id}/webhook-test does: the result when the receiver
// answered 2xx, else a webhook_test_failed error (with http_status in
// Extra when it answered).
func (s *Server) WebhookTest(ctx context.Context, a *voice.Application) (WebhookTestResult, error) {
	if a.WebhookURL == "" {
		return WebhookTestResult{}, voice.Invalid("webhook_url", "is not set; set it with PATCH /v1/applications/{id} first")
	}
	now := s.clock()
	id := voice.NewID(voice.PrefixEvent, now)
	data, err := json.Marshal(webhookTestData{ApplicationID: a.ID})
	if err != nil {
		return WebhookTestResult{}, fmt.Errorf("webhook test: %w", err)
	}
	// The shape of every webhook, with no call.
	body, err := json.Marshal(pub.Payload{ID: id, Event: webhookTestEvent, CreatedAt: now, Call: json.RawMessage("null"),
		Variables: map[string]string{}, Data: data})
	if err != nil {
		return WebhookTestResult{}, fmt.Errorf("webhook test: %w", err)
	}
	// The answer is the receiver's, so a client that hangs up does not cut
	// the attempt short and leave the receiver with half a request.
	res := s.hooks.Send(context.WithoutCancel(ctx), delivery.Delivery{URL: a.WebhookURL, ID: id,
		Secrets: a.SigningSecrets(s.now()), Body: body, Timeout: webhookTestTimeout})
	switch {
	case res.Err != nil:
		return WebhookTestResult{}, &voice.Error{Code: voice.ECodeWebhookTestFailed, Message: "test receiver unreachable: " + unreachableReason(res.Err)}
	case !res.OK():
		return WebhookTestResult{}, &voice.Error{Code: voice.ECodeWebhookTestFailed, Message: "test receiver returned non-2xx",
			Extra: map[string]any{"http_status": res.HTTPStatus}}
	}
	return WebhookTestResult{Delivered: true, HTTPStatus: res.HTTPStatus, LatencyMS: res.Latency.Milliseconds()}, nil
}

// unreachableReason says why a test request got no answer, without the
// request line Go's client puts before it, and as publicmsg's text: never
// the address the receiver's name resolved to or the resolver's.
func unreachableReason(err error) string {
	if errors.Is(err, context.DeadlineExceeded) {
		return fmt.Sprintf("no answer within %s", webhookTestTimeout)
	}
	var ue *url.Error
	if errors.As(err, &ue) {
		if ue.Timeout() {
			return fmt.Sprintf("no answer within %s", webhookTestTimeout)
		}
		err = ue.Err
	}
	return publicmsg.Text(err)
}
