package api_test

import (
	"context"
	"database/sql"
	"testing"
	"time"

	"github.com/minivoice/minivoice/internal/voice"
)

// addRecording stores a recording of call id in status, returning its id.
func (b *bundle) addRecording(callID, source, status string, at time.Time) string {
	b.t.Helper()
	c := b.storedCall(callID)
	id := voice.NewID(voice.PrefixRecording, at)
	r := &voice.Recording{ID: id, CallID: c.ID, CustomerID: c.CustomerID, ApplicationID: c.ApplicationID, Status: voice.RecordingInProgress,
		Source: source, Channels: voice.ChannelsDual, SampleRate: 16000, StartedAt: at, StorageKey: c.CustomerID + "/" + id + ".wav",
		CreatedAt: at, UpdatedAt: at}
	if err := b.store.CreateRecording(context.Background(), r); err != nil {
		b.t.Fatal(err)
	}
	if status != voice.RecordingInProgress {
		end := at.Add(5 * time.Second)
		r.Status, r.Duration, r.EndedAt, r.UpdatedAt = status, 5, &end, end
		if err := b.store.UpdateRecordingWithEvents(context.Background(), r); err != nil {
			b.t.Fatal(err)
		}
	}
	return id
}

func TestCallInsightsEndpoints(t *testing.T) {
	each(t, func(t *testing.T, b *bundle) {
		ctx := context.Background()
		// Completed recordings get a pipeline record when a job queue is
		// installed; this one only notes what would be queued.
		b.store.SetInsightsOutbox(func(context.Context, *sql.Tx, string, string, float64) error { return nil })
		cust := b.customer("acme")
		app := b.application(cust)
		key := b.customerKey(cust)
		other := b.customerKey(b.customer("other"))
		appKey := b.applicationKey(app)
		paths := func(call string) []string {
			return []string{"/v1/calls/" + call + "/transcription", "/v1/calls/" + call + "/summary",
				"/v1/calls/" + call + "/score", "/v1/calls/" + call + "/topics"}
		}

		// No recording: 404 not_found on all four.
		bare := b.placeCall(key, app, "+15557654321")
		for _, p := range paths(bare) {
			if r := b.want(b.call("GET", p, key, nil), 404, "not_found"); r.JSON["error"].(map[string]any)["message"] != "call "+bare+" has no recording" {
				t.Errorf("%s: %s", p, r.Raw)
			}
		}
		b.want(b.call("GET", "/v1/calls/call_nope/summary", key, nil), 404, "not_found")

		// A recording being made reads as queued.
		call := b.placeCall(key, app, "+15557654322")
		t1 := time.Now().UTC()
		live := b.addRecording(call, voice.RecordingSourceCall, voice.RecordingInProgress, t1)
		for _, p := range paths(call) {
			r := b.ok(200, "GET", p, key, nil)
			if r.str("status") != voice.InsightQueued || r.str("recording_id") != live || r.str("call_id") != call {
				t.Errorf("%s while recording: %s", p, r.Raw)
			}
		}

		// Completed: the record the store made, with its status; a voicemail
		// on the same call is chosen only by ?recording_id=.
		vm := b.addRecording(call, voice.RecordingSourceRecordAction, voice.RecordingCompleted, t1.Add(time.Second))
		rec := b.storedRecording(live)
		end := t1.Add(9 * time.Second)
		rec.Status, rec.Duration, rec.EndedAt = voice.RecordingCompleted, 9, &end
		if err := b.store.UpdateRecordingWithEvents(ctx, rec); err != nil {
			t.Fatal(err)
		}
		in, err := b.store.Insights(ctx, voice.Scope{}, live)
		if err != nil {
			t.Fatal(err)
		}
		in.Transcription = voice.Transcription{Status: voice.InsightCompleted, Engine: "pocketsphinx", Language: "en", Text: "hello",
			Duration: 9, Segments: []voice.Segment{{Channel: 0, Speaker: voice.SpeakerCaller, Start: 1, End: 2, Text: "hello", Confidence: 0.5}}}
		in.InsightsStatus = voice.InsightFailed
		in.InsightsEngine = "offline"
		in.InsightsError = &voice.StepError{Code: "engine_error", Message: "boom"}
		if _, err := b.store.FinishInsightsStep(ctx, in, voice.StepTranscription, ""); err != nil {
			t.Fatal(err)
		}
		tr := b.ok(200, "GET", paths(call)[0], appKey, nil)
		if tr.str("status") != "completed" || tr.str("text") != "hello" || tr.str("recording_id") != live || tr.str("engine") != "pocketsphinx" {
			t.Errorf("transcription: %s", tr.Raw)
		}
		for _, p := range paths(call)[1:] {
			r := b.ok(200, "GET", p, key, nil)
			e, _ := r.JSON["error"].(map[string]any)
			if r.str("status") != "failed" || e["code"] != "engine_error" || r.str("engine") != "offline" {
				t.Errorf("%s: %s", p, r.Raw)
			}
		}
		q := b.ok(200, "GET", paths(call)[0]+"?recording_id="+vm, key, nil)
		if q.str("recording_id") != vm || q.str("status") != "queued" {
			t.Errorf("by recording_id: %s", q.Raw)
		}
		b.want(b.call("GET", paths(call)[0]+"?recording_id=rec_nope", key, nil), 404, "not_found")

		// Another customer's key: 404, as for any of its objects.
		for _, p := range paths(call) {
			b.want(b.call("GET", p, other, nil), 404, "not_found")
		}

		// Insights off: recordings made from now on get no record.
		b.ok(200, "PATCH", "/v1/applications/"+app, b.op, map[string]any{"insights": false})
		offCall := b.placeCall(key, app, "+15557654323")
		b.addRecording(offCall, voice.RecordingSourceCall, voice.RecordingCompleted, t1)
		r := b.want(b.call("GET", paths(offCall)[2], key, nil), 404, "not_found")
		if msg := r.JSON["error"].(map[string]any)["message"]; msg != "call "+offCall+" has no insights: its application has insights turned off" {
			t.Errorf("insights off: %v", msg)
		}
	})
}

// storedRecording reads a recording straight from the store.
func (b *bundle) storedRecording(id string) *voice.Recording {
	b.t.Helper()
	r, err := b.store.Recording(context.Background(), voice.Scope{}, id)
	if err != nil {
		b.t.Fatal(err)
	}
	return r
}
