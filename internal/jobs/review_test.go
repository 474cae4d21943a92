package jobs_test

import (
	"context"
	"encoding/json"
	"testing"
	"time"

	"github.com/minivoice/minivoice/internal/jobs"
	"github.com/minivoice/minivoice/internal/store/storetest"
	"github.com/minivoice/minivoice/internal/voice"
)

// A review's call.reviewed event, written with the review, is delivered to
// the application's webhook with the review as data and the call showing it.
func TestCallReviewedDelivered(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, backend string) {
		rc := newReceiver(t, nil)
		e := newEnv(t, backend, jobs.Config{})
		app := e.app(rc.URL + "/hooks")
		c, initiated := e.call(app)
		e.waitStatus(initiated.ID, voice.DeliveryDelivered, 10*time.Second)

		now := time.Now().UTC().Truncate(time.Millisecond)
		key := "key_reviewer"
		rv := &voice.Review{ID: voice.NewID(voice.PrefixReview, now), CallID: c.ID, CustomerID: c.CustomerID,
			ApplicationID: app.ID, Verdict: voice.VerdictEscalate, Note: "angry caller",
			Reviewer: voice.Reviewer{KeyID: &key, Kind: voice.KeyCustomer}, CreatedAt: now}
		data, err := json.Marshal(rv)
		if err != nil {
			t.Fatal(err)
		}
		ev := e.newEvent(c, string(voice.EventCallReviewed), now)
		ev.Data = data
		if err := e.db.CreateReviewWithEvents(context.Background(), voice.Scope{}, rv, ev); err != nil {
			t.Fatal(err)
		}
		e.waitStatus(ev.ID, voice.DeliveryDelivered, 10*time.Second)

		reqs := rc.requests()
		if len(reqs) != 2 {
			t.Fatalf("receiver got %d requests, want 2", len(reqs))
		}
		r := reqs[1]
		if !signedBy(app.WebhookSecret, r.Header, r.Body) || r.Header.Get("webhook-id") != ev.ID {
			t.Errorf("headers %v", r.Header)
		}
		var body struct {
			Event string `json:"event"`
			Call  struct {
				ID     string            `json:"id"`
				Review *voice.CallReview `json:"review"`
			} `json:"call"`
			Data *voice.Review `json:"data"`
		}
		if err := json.Unmarshal(r.Body, &body); err != nil {
			t.Fatal(err)
		}
		if body.Event != string(voice.EventCallReviewed) || body.Call.ID != c.ID {
			t.Errorf("body %s", r.Body)
		}
		if body.Call.Review == nil || body.Call.Review.Verdict != voice.VerdictEscalate || !body.Call.Review.ReviewedAt.Equal(now) {
			t.Errorf("call.review = %+v, want escalate at %v", body.Call.Review, now)
		}
		if body.Data == nil || body.Data.ID != rv.ID || body.Data.Note != rv.Note || *body.Data.Reviewer.KeyID != key {
			t.Errorf("data = %+v, want the review %+v", body.Data, rv)
		}
	})
}
