package store_test

import (
	"context"
	"database/sql"
	"encoding/json"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/minivoice/minivoice/internal/store"
	"github.com/minivoice/minivoice/internal/store/storetest"
	"github.com/minivoice/minivoice/internal/voice"
)

// queued records what the insights outbox was asked to queue.
type queued struct {
	mu    sync.Mutex
	steps []string
}

func (q *queued) outbox(_ context.Context, _ *sql.Tx, step, recordingID string, audioSeconds float64) error {
	q.mu.Lock()
	defer q.mu.Unlock()
	q.steps = append(q.steps, step+" "+recordingID+" "+time.Duration(audioSeconds*float64(time.Second)).String())
	return nil
}

func (q *queued) list() []string {
	q.mu.Lock()
	defer q.mu.Unlock()
	return append([]string(nil), q.steps...)
}

func createApp(t *testing.T, db *store.DB, id, customerID string, insights bool) {
	t.Helper()
	a := &voice.Application{ID: id, CustomerID: customerID, Name: id, Status: voice.ApplicationActive, AnswerURL: "https://example.com/a",
		AnswerMethod: "POST", WebhookStatus: voice.WebhookActive, WebhookEvents: []string{"*"}, Insights: insights,
		Topics:        []voice.TopicDef{{Name: "billing", Keywords: []string{"invoice", "bill"}}},
		ScoreCriteria: []voice.ScoreCriterion{{Name: "offer", Speaker: voice.CriterionAgent, AnyOf: []string{"discount"}}},
		Vocabulary:    []string{"Northwind"},
		CreatedAt:     t0, UpdatedAt: t0}
	if err := db.CreateApplication(context.Background(), a); err != nil {
		t.Fatalf("create application: %v", err)
	}
}

func TestInsightsFollowRecordings(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, backend string) {
		ctx := context.Background()
		db := open(t, backend)
		q := &queued{}
		db.SetInsightsOutbox(q.outbox)
		createCustomer(t, db, "cust_a", t0)
		createApp(t, db, "app_on", "cust_a", true)
		createApp(t, db, "app_off", "cust_a", false)

		got, err := db.Application(ctx, voice.Scope{}, "app_on")
		if err != nil || len(got.Topics) != 1 || got.Topics[0].Keywords[1] != "bill" || got.ScoreCriteria[0].AnyOf[0] != "discount" ||
			len(got.Vocabulary) != 1 || got.Vocabulary[0] != "Northwind" {
			t.Fatalf("application topics/criteria round trip: %+v, %v", got, err)
		}

		on := createCall(t, db, "call_on", "cust_a", "app_on", t0)
		off := createCall(t, db, "call_off", "cust_a", "app_off", t0)
		complete := func(r *voice.Recording) {
			t.Helper()
			running := *r
			running.Status = voice.RecordingInProgress
			if err := db.CreateRecording(ctx, &running); err != nil {
				t.Fatal(err)
			}
			if err := db.UpdateRecordingWithEvents(ctx, r); err != nil {
				t.Fatal(err)
			}
		}
		recOn := newRecording("rec_on", on, t0)
		complete(recOn)
		complete(newRecording("rec_off", off, t0))
		if want := []string{"transcription rec_on 12.345s"}; !slices.Equal(q.list(), want) {
			t.Fatalf("queued %v, want %v", q.list(), want)
		}
		// A second completion (recovery racing a writer) queues nothing more.
		if err := db.UpdateRecordingWithEvents(ctx, recOn); err != nil {
			t.Fatal(err)
		}
		if len(q.list()) != 1 {
			t.Fatalf("second completion queued again: %v", q.list())
		}
		in, err := db.Insights(ctx, voice.Scope{CustomerID: "cust_a"}, "rec_on")
		if err != nil {
			t.Fatal(err)
		}
		if in.Transcription.Status != voice.InsightQueued || in.InsightsStatus != voice.InsightQueued || in.CallID != "call_on" {
			t.Fatalf("new record: %+v", in)
		}
		if _, err := db.Insights(ctx, voice.Scope{}, "rec_off"); !voice.IsNotFound(err) {
			t.Errorf("insights off made a record: %v", err)
		}
		if _, err := db.Insights(ctx, voice.Scope{CustomerID: "cust_b"}, "rec_on"); !voice.IsNotFound(err) {
			t.Errorf("another customer reads the record: %v", err)
		}

		// The transcription step: started once, finished once.
		if done, err := db.StartInsightsStep(ctx, "rec_on", voice.StepTranscription); err != nil || done {
			t.Fatalf("start: done %v, %v", done, err)
		}
		in.Transcription = voice.Transcription{Status: voice.InsightCompleted, Engine: "pocketsphinx", Language: "en",
			Text: "hello there", Duration: 12.345,
			Segments: []voice.Segment{{Channel: 0, Speaker: voice.SpeakerCaller, Start: 0.5, End: 1.25, Text: "hello there", Confidence: 0.9}}}
		ev := &voice.Event{ID: "evt_t1", Event: "transcription.completed", CreatedAt: t0, CallID: &on.ID, ApplicationID: "app_on",
			CustomerID: "cust_a", Data: json.RawMessage(`{}`), DeliveryStatus: voice.DeliveryNone}
		written, err := db.FinishInsightsStep(ctx, in, voice.StepTranscription, voice.StepInsights, ev)
		if err != nil || !written {
			t.Fatalf("finish: written %v, %v", written, err)
		}
		ev2 := *ev
		ev2.ID = "evt_t2"
		if written, err := db.FinishInsightsStep(ctx, in, voice.StepTranscription, voice.StepInsights, &ev2); err != nil || written {
			t.Fatalf("second finish: written %v, %v; want nothing written", written, err)
		}
		if done, err := db.StartInsightsStep(ctx, "rec_on", voice.StepTranscription); err != nil || !done {
			t.Fatalf("start after finish: done %v, %v", done, err)
		}
		if want := []string{"transcription rec_on 12.345s", "insights rec_on 12.345s"}; !slices.Equal(q.list(), want) {
			t.Fatalf("queued %v, want %v", q.list(), want)
		}
		evs, err := db.Events(ctx, voice.EventFilter{CallID: "call_on"}, voice.Page{Limit: 10})
		if err != nil || len(evs.Data) != 1 || evs.Data[0].ID != "evt_t1" {
			t.Fatalf("events: %+v, %v; want only evt_t1", evs.Data, err)
		}
		got2, err := db.Insights(ctx, voice.Scope{}, "rec_on")
		if err != nil {
			t.Fatal(err)
		}
		if got2.Transcription.Text != "hello there" || len(got2.Transcription.Segments) != 1 ||
			got2.Transcription.Segments[0].Speaker != voice.SpeakerCaller || got2.Transcription.Status != voice.InsightCompleted {
			t.Errorf("transcription round trip: %+v", got2.Transcription)
		}
		list, err := db.CallInsights(ctx, voice.Scope{ApplicationID: "app_on"}, "call_on")
		if err != nil || len(list) != 1 {
			t.Fatalf("call insights: %d, %v", len(list), err)
		}

		// Deleting the recording deletes its results; a late finish writes nothing.
		recOn.Status = voice.RecordingDeleted
		if err := db.UpdateRecordingWithEvents(ctx, recOn); err != nil {
			t.Fatal(err)
		}
		if _, err := db.Insights(ctx, voice.Scope{}, "rec_on"); !voice.IsNotFound(err) {
			t.Errorf("deleted recording keeps its insights: %v", err)
		}
		in.InsightsStatus = voice.InsightCompleted
		if written, err := db.FinishInsightsStep(ctx, in, voice.StepInsights, ""); err != nil || written {
			t.Errorf("finish after delete: written %v, %v", written, err)
		}
		if done, err := db.StartInsightsStep(ctx, "rec_on", voice.StepInsights); err != nil || !done {
			t.Errorf("start after delete: done %v, %v", done, err)
		}
	})
}

func TestInsightsWithoutQueue(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, backend string) {
		ctx := context.Background()
		db := open(t, backend)
		createCustomer(t, db, "cust_a", t0)
		createApp(t, db, "app_on", "cust_a", true)
		c := createCall(t, db, "call_on", "cust_a", "app_on", t0)
		r := newRecording("rec_on", c, t0)
		if err := db.CreateRecording(ctx, r); err != nil {
			t.Fatal(err)
		}
		if err := db.UpdateRecordingWithEvents(ctx, r); err != nil {
			t.Fatal(err)
		}
		// Nothing would run it, so no record says "queued" forever.
		if _, err := db.Insights(ctx, voice.Scope{}, "rec_on"); !voice.IsNotFound(err) {
			t.Errorf("record without a queue: %v", err)
		}
	})
}
