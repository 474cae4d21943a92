package store_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/minivoice/minivoice/internal/store"
	"github.com/minivoice/minivoice/internal/store/storetest"
	"github.com/minivoice/minivoice/internal/voice"
)

// analyse ends call id of app at at and gives its recording rec (of source)
// completed insights scoring score.
func analyse(t *testing.T, db *store.DB, id, rec, source, cust, app string, at time.Time, score int) *voice.Call {
	t.Helper()
	ctx := context.Background()
	c, err := db.Call(ctx, voice.Scope{}, id)
	if voice.IsNotFound(err) {
		c = createCall(t, db, id, cust, app, at)
		end := at.Add(time.Minute)
		c.Status, c.EndedAt = voice.CallCompleted, &end
		if err := db.UpdateCall(ctx, c); err != nil {
			t.Fatal(err)
		}
	} else if err != nil {
		t.Fatal(err)
	}
	r := newRecording(rec, c, at)
	r.Source = source
	running := *r
	running.Status = voice.RecordingInProgress
	if err := db.CreateRecording(ctx, &running); err != nil {
		t.Fatal(err)
	}
	if err := db.UpdateRecordingWithEvents(ctx, r); err != nil {
		t.Fatal(err)
	}
	in, err := db.Insights(ctx, voice.Scope{}, rec)
	if err != nil {
		t.Fatal(err)
	}
	in.Transcription = voice.Transcription{Status: voice.InsightCompleted, Engine: "t", Language: "en", Segments: []voice.Segment{}}
	if _, err := db.FinishInsightsStep(ctx, in, voice.StepTranscription, voice.StepInsights); err != nil {
		t.Fatal(err)
	}
	in.InsightsStatus, in.InsightsEngine = voice.InsightCompleted, "offline"
	in.Score = &voice.Score{Status: voice.InsightCompleted, Score: score, Rating: voice.RatingPoor,
		Criteria: []voice.Criterion{{Name: "caller_sentiment", Passed: score > 50}}}
	in.Topics = &voice.Topics{Status: voice.InsightCompleted, Topics: []voice.Topic{{Name: "billing", Mentions: 1}}}
	if _, err := db.FinishInsightsStep(ctx, in, voice.StepInsights, ""); err != nil {
		t.Fatal(err)
	}
	return c
}

func TestReviewInsights(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, backend string) {
		ctx := context.Background()
		db := open(t, backend)
		q := &queued{}
		db.SetInsightsOutbox(q.outbox)
		createCustomer(t, db, "cust_a", t0)
		createCustomer(t, db, "cust_b", t0)
		createApp(t, db, "app_a", "cust_a", true)
		createApp(t, db, "app_a2", "cust_a", true)
		createApp(t, db, "app_b", "cust_b", true)
		// call_1 has a voicemail and a whole-call recording: the whole call's
		// insights stand for it, whatever the order they were made in.
		analyse(t, db, "call_1", "rec_1vm", voice.RecordingSourceRecordAction, "cust_a", "app_a", t0, 10)
		analyse(t, db, "call_1", "rec_1", voice.RecordingSourceCall, "cust_a", "app_a", t0, 70)
		c2 := analyse(t, db, "call_2", "rec_2", voice.RecordingSourceCall, "cust_a", "app_a2", t0.Add(time.Hour), 40)
		analyse(t, db, "call_old", "rec_old", voice.RecordingSourceCall, "cust_a", "app_a", t0.Add(-48*time.Hour), 40)
		analyse(t, db, "call_b", "rec_b", voice.RecordingSourceCall, "cust_b", "app_b", t0.Add(time.Minute), 5)
		// An ended call whose insights have not completed is not read.
		pending := createCall(t, db, "call_pending", "cust_a", "app_a", t0.Add(2*time.Hour))
		end := t0.Add(2 * time.Hour)
		pending.Status, pending.EndedAt = voice.CallCompleted, &end
		if err := db.UpdateCall(ctx, pending); err != nil {
			t.Fatal(err)
		}
		r := newRecording("rec_pending", pending, t0.Add(2*time.Hour))
		running := *r
		running.Status = voice.RecordingInProgress
		if err := db.CreateRecording(ctx, &running); err != nil {
			t.Fatal(err)
		}
		if err := db.UpdateRecordingWithEvents(ctx, r); err != nil {
			t.Fatal(err)
		}
		if err := db.CreateReviewWithEvents(ctx, voice.Scope{}, newReview("rev_2", c2, voice.VerdictOK, t0.Add(3*time.Hour))); err != nil {
			t.Fatal(err)
		}

		walk := func(f voice.ReviewInsightsFilter) string {
			t.Helper()
			var out []string
			err := db.ReviewInsights(ctx, f, func(in *voice.ReviewInsight) error {
				s := in.CallID + ":" + in.Verdict
				if in.Score != nil {
					s += ":" + string(rune('0'+in.Score.Score/10))
				}
				if in.Topics == nil || len(in.Topics.Topics) != 1 || in.From != "+15551230001" || in.CreatedAt.IsZero() {
					t.Errorf("row %+v", in)
				}
				out = append(out, s)
				return nil
			})
			if err != nil {
				t.Fatal(err)
			}
			return strings.Join(out, ",")
		}
		day := voice.ReviewInsightsFilter{CreatedAfter: t0.Add(-time.Hour), CreatedBefore: t0.Add(24 * time.Hour)}
		day.Scope = voice.Scope{CustomerID: "cust_a"}
		if got, want := walk(day), "call_2:ok:4,call_1::7"; got != want {
			t.Errorf("cust_a: %s, want %s", got, want)
		}
		day.ApplicationID = "app_a"
		if got, want := walk(day), "call_1::7"; got != want {
			t.Errorf("app_a: %s, want %s", got, want)
		}
		day.ApplicationID = "app_b" // another tenant's application: nothing
		if got := walk(day); got != "" {
			t.Errorf("cust_a with app_b: %s", got)
		}
		day.Scope, day.ApplicationID = voice.Scope{}, ""
		if got, want := walk(day), "call_2:ok:4,call_b::0,call_1::7"; got != want {
			t.Errorf("operator: %s, want %s", got, want)
		}
	})
}
