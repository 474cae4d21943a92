package store_test

import (
	"context"
	"fmt"
	"reflect"
	"testing"
	"time"

	"github.com/minivoice/minivoice/internal/store"
	"github.com/minivoice/minivoice/internal/store/storetest"
	"github.com/minivoice/minivoice/internal/voice"
)

// createCall stores a minimal call of the customer and application.
func createCall(t *testing.T, db *store.DB, id, customerID, appID string, at time.Time) *voice.Call {
	t.Helper()
	c := &voice.Call{ID: id, CustomerID: customerID, ApplicationID: appID, Status: voice.CallInProgress,
		Direction: voice.DirectionInbound, From: "+15551230001", To: "+15551230002", RecordingChannels: voice.ChannelsDual,
		Variables: map[string]string{}, RecordingIDs: []string{}, Currency: "EUR", CreatedAt: at, UpdatedAt: at}
	if err := db.CreateCall(context.Background(), c); err != nil {
		t.Fatalf("create call %s: %v", id, err)
	}
	return c
}

// newRecording returns a completed recording of call c made at at.
func newRecording(id string, c *voice.Call, at time.Time) *voice.Recording {
	end := at.Add(12345 * time.Millisecond)
	return &voice.Recording{ID: id, CallID: c.ID, CustomerID: c.CustomerID, ApplicationID: c.ApplicationID,
		Status: voice.RecordingCompleted, Source: voice.RecordingSourceCall, Channels: voice.ChannelsDual, SampleRate: 8000,
		Duration: 12.345, SizeBytes: 197564, SHA256: fmt.Sprintf("%064x", len(id)), StartedAt: at, EndedAt: &end,
		StorageKey: c.CustomerID + "/" + id + ".wav", CreatedAt: at, UpdatedAt: end}
}

func recordingIDs(list []*voice.Recording) []string {
	out := make([]string, len(list))
	for i, r := range list {
		out[i] = r.ID
	}
	return out
}

func TestRecordingCreateGetRoundTrip(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, backend string) {
		ctx := context.Background()
		db := open(t, backend)
		createCustomer(t, db, "cust_a", t0)
		c := createCall(t, db, "call_a1", "cust_a", "app_a1", t0)

		done := newRecording("rec_done", c, t0)
		done.Duration = 0.001 // millisecond precision survives exactly
		running := newRecording("rec_running", c, t0.Add(time.Second))
		running.Status, running.EndedAt, running.Duration, running.SizeBytes, running.SHA256 = voice.RecordingInProgress, nil, 0, 44, ""
		failed := newRecording("rec_failed", c, t0.Add(2*time.Second))
		failed.Status, failed.Error, failed.Source, failed.Channels, failed.SampleRate =
			voice.RecordingFailed, "disk full", voice.RecordingSourceRecordAction, voice.ChannelsMono, 16000
		for _, r := range []*voice.Recording{done, running, failed} {
			if err := db.CreateRecording(ctx, r); err != nil {
				t.Fatalf("create %s: %v", r.ID, err)
			}
			got, err := db.Recording(ctx, voice.Scope{}, r.ID)
			if err != nil {
				t.Fatalf("get %s: %v", r.ID, err)
			}
			if !reflect.DeepEqual(got, r) {
				t.Errorf("round trip of %s:\n got %+v\nwant %+v", r.ID, got, r)
			}
		}
		if err := db.CreateRecording(ctx, newRecording("rec_done", c, t0)); voice.ErrorCode(err) != voice.ECodeConflict {
			t.Errorf("duplicate id: %v, want conflict", err)
		}
		// The call must exist.
		orphan := newRecording("rec_orphan", &voice.Call{ID: "call_nope", CustomerID: "cust_a", ApplicationID: "app_a1"}, t0)
		if err := db.CreateRecording(ctx, orphan); err == nil {
			t.Error("a recording of a missing call was accepted")
		}
		if _, err := db.Recording(ctx, voice.Scope{}, "rec_nope"); !voice.IsNotFound(err) {
			t.Errorf("missing recording: %v, want not_found", err)
		}
	})
}

func TestRecordingListsScopesAndPages(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, backend string) {
		ctx := context.Background()
		db := open(t, backend)
		createCustomer(t, db, "cust_a", t0)
		createCustomer(t, db, "cust_b", t0)
		a1 := createCall(t, db, "call_a1", "cust_a", "app_a1", t0)
		a2 := createCall(t, db, "call_a2", "cust_a", "app_a2", t0)
		b1 := createCall(t, db, "call_b1", "cust_b", "app_b1", t0)
		// Several share a created_at on purpose: the id breaks the tie.
		for _, r := range []*voice.Recording{
			newRecording("rec_1", a1, t0),
			newRecording("rec_2", a1, t0),
			newRecording("rec_3", a2, t0.Add(time.Second)),
			newRecording("rec_4", a1, t0.Add(time.Second)),
			newRecording("rec_5", a2, t0.Add(2*time.Second)),
			newRecording("rec_6", b1, t0.Add(3*time.Second)),
		} {
			if err := db.CreateRecording(ctx, r); err != nil {
				t.Fatal(err)
			}
		}
		all := func(f voice.RecordingFilter, limit int) []string {
			t.Helper()
			var ids []string
			p := voice.Page{Limit: limit}
			for range 20 {
				l, err := db.Recordings(ctx, f, p)
				if err != nil {
					t.Fatal(err)
				}
				if len(l.Data) > limit {
					t.Fatalf("page of %d, limit %d", len(l.Data), limit)
				}
				ids = append(ids, recordingIDs(l.Data)...)
				if !l.HasMore {
					if l.NextCursor != "" {
						t.Fatalf("last page has cursor %q", l.NextCursor)
					}
					return ids
				}
				c, err := voice.DecodeCursor(l.NextCursor)
				if err != nil {
					t.Fatal(err)
				}
				p.After = &c
			}
			t.Fatal("pagination does not end")
			return nil
		}
		for _, tc := range []struct {
			name string
			f    voice.RecordingFilter
			want []string
		}{
			{"operator", voice.RecordingFilter{}, []string{"rec_6", "rec_5", "rec_4", "rec_3", "rec_2", "rec_1"}},
			{"customer a", voice.RecordingFilter{Scope: voice.Scope{CustomerID: "cust_a"}}, []string{"rec_5", "rec_4", "rec_3", "rec_2", "rec_1"}},
			{"customer b", voice.RecordingFilter{Scope: voice.Scope{CustomerID: "cust_b"}}, []string{"rec_6"}},
			{"application a2", voice.RecordingFilter{Scope: voice.Scope{CustomerID: "cust_a", ApplicationID: "app_a2"}}, []string{"rec_5", "rec_3"}},
			{"call a1", voice.RecordingFilter{CallID: "call_a1"}, []string{"rec_4", "rec_2", "rec_1"}},
			{"call a1 for app a2", voice.RecordingFilter{Scope: voice.Scope{CustomerID: "cust_a", ApplicationID: "app_a2"}, CallID: "call_a1"}, []string{}},
			{"call b1 for customer a", voice.RecordingFilter{Scope: voice.Scope{CustomerID: "cust_a"}, CallID: "call_b1"}, []string{}},
		} {
			for _, limit := range []int{1, 2, 50} {
				got := all(tc.f, limit)
				if got == nil {
					got = []string{}
				}
				if !reflect.DeepEqual(got, tc.want) {
					t.Errorf("%s, limit %d: %v, want %v", tc.name, limit, got, tc.want)
				}
			}
		}

		// Get obeys the same scopes.
		for _, tc := range []struct {
			scope voice.Scope
			id    string
			ok    bool
		}{
			{voice.Scope{}, "rec_6", true},
			{voice.Scope{CustomerID: "cust_a"}, "rec_1", true},
			{voice.Scope{CustomerID: "cust_a"}, "rec_6", false},
			{voice.Scope{CustomerID: "cust_b"}, "rec_1", false},
			{voice.Scope{CustomerID: "cust_a", ApplicationID: "app_a1"}, "rec_1", true},
			{voice.Scope{CustomerID: "cust_a", ApplicationID: "app_a1"}, "rec_3", false},
		} {
			_, err := db.Recording(ctx, tc.scope, tc.id)
			if tc.ok && err != nil || !tc.ok && !voice.IsNotFound(err) {
				t.Errorf("Recording(%+v, %s) = %v, want ok=%v", tc.scope, tc.id, err, tc.ok)
			}
		}

		// A deleted recording leaves the lists and reads as missing.
		r4, err := db.Recording(ctx, voice.Scope{}, "rec_4")
		if err != nil {
			t.Fatal(err)
		}
		r4.Status, r4.UpdatedAt = voice.RecordingDeleted, t0.Add(time.Hour)
		if err := db.UpdateRecordingWithEvents(ctx, r4); err != nil {
			t.Fatal(err)
		}
		if _, err := db.Recording(ctx, voice.Scope{}, "rec_4"); !voice.IsNotFound(err) {
			t.Errorf("deleted recording: %v, want not_found", err)
		}
		if got := all(voice.RecordingFilter{CallID: "call_a1"}, 1); !reflect.DeepEqual(got, []string{"rec_2", "rec_1"}) {
			t.Errorf("call a1 after a delete: %v", got)
		}
		// Deleted is final: a second delete (or a late writer) finds nothing.
		if err := db.UpdateRecordingWithEvents(ctx, r4); !voice.IsNotFound(err) {
			t.Errorf("updating a deleted recording: %v, want not_found", err)
		}
	})
}

func TestRecordingUpdateWithEventsIsAtomic(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, backend string) {
		ctx := context.Background()
		db := open(t, backend)
		createCustomer(t, db, "cust_a", t0)
		c := createCall(t, db, "call_a1", "cust_a", "app_a1", t0)
		callID := c.ID
		ev := func(id string) *voice.Event {
			return &voice.Event{ID: id, Event: "recording.completed", CreatedAt: t0, CallID: &callID, ApplicationID: c.ApplicationID,
				CustomerID: c.CustomerID, Data: []byte(`{}`), DeliveryStatus: voice.DeliveryPending}
		}
		if err := db.CreateEvent(ctx, ev("evt_1")); err != nil {
			t.Fatal(err)
		}
		// Two in progress (created out of order), one completed.
		older := newRecording("rec_older", c, t0)
		newer := newRecording("rec_newer", c, t0.Add(time.Second))
		done := newRecording("rec_done", c, t0.Add(-time.Second))
		for _, r := range []*voice.Recording{newer, older} {
			r.Status, r.EndedAt, r.Duration, r.SizeBytes, r.SHA256 = voice.RecordingInProgress, nil, 0, 44, ""
		}
		for _, r := range []*voice.Recording{newer, done, older} {
			if err := db.CreateRecording(ctx, r); err != nil {
				t.Fatal(err)
			}
		}
		unfinished, err := db.UnfinishedRecordings(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if got := recordingIDs(unfinished); !reflect.DeepEqual(got, []string{"rec_older", "rec_newer"}) {
			t.Fatalf("unfinished: %v, want oldest first [rec_older rec_newer]", got)
		}

		// A failing event insert (duplicate id) rolls the update back.
		end := t0.Add(90 * time.Second)
		older.Status, older.EndedAt, older.Duration, older.SizeBytes, older.SHA256, older.UpdatedAt =
			voice.RecordingCompleted, &end, 89.999, 1440044, fmt.Sprintf("%064x", 7), end
		if err := db.UpdateRecordingWithEvents(ctx, older, ev("evt_2"), ev("evt_1")); err == nil {
			t.Fatal("duplicate event id accepted")
		}
		got, err := db.Recording(ctx, voice.Scope{}, older.ID)
		if err != nil {
			t.Fatal(err)
		}
		if got.Status != voice.RecordingInProgress || got.EndedAt != nil || got.SizeBytes != 44 {
			t.Fatalf("after a failed update: %+v", got)
		}
		if evs, _ := db.CallEvents(ctx, voice.Scope{}, callID); len(evs) != 1 {
			t.Fatalf("%d events after a failed update, want 1", len(evs))
		}

		// A good one lands both; only the mutable fields change.
		older.Source, older.StorageKey = voice.RecordingSourceDial, "elsewhere.wav" // not mutable: ignored
		if err := db.UpdateRecordingWithEvents(ctx, older, ev("evt_2")); err != nil {
			t.Fatal(err)
		}
		got, err = db.Recording(ctx, voice.Scope{}, older.ID)
		if err != nil {
			t.Fatal(err)
		}
		want := newRecording("rec_older", c, t0)
		want.EndedAt, want.Duration, want.SizeBytes, want.SHA256, want.UpdatedAt = &end, 89.999, 1440044, fmt.Sprintf("%064x", 7), end
		if !reflect.DeepEqual(got, want) {
			t.Errorf("after the update:\n got %+v\nwant %+v", got, want)
		}
		if evs, _ := db.CallEvents(ctx, voice.Scope{}, callID); len(evs) != 2 || evs[1].ID != "evt_2" {
			t.Fatalf("events: %+v", evs)
		}
		unfinished, err = db.UnfinishedRecordings(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if got := recordingIDs(unfinished); !reflect.DeepEqual(got, []string{"rec_newer"}) {
			t.Fatalf("unfinished after completing one: %v", got)
		}
		// A failed recording is finished too, and keeps its error.
		newer.Status, newer.Error, newer.UpdatedAt = voice.RecordingFailed, "write: no space left on device", end
		if err := db.UpdateRecordingWithEvents(ctx, newer); err != nil {
			t.Fatal(err)
		}
		if unfinished, _ = db.UnfinishedRecordings(ctx); len(unfinished) != 0 {
			t.Fatalf("unfinished after failing the last: %v", recordingIDs(unfinished))
		}
		if got, _ := db.Recording(ctx, voice.Scope{}, newer.ID); got == nil || got.Error != newer.Error {
			t.Errorf("failed recording: %+v", got)
		}
		if err := db.UpdateRecordingWithEvents(ctx, newRecording("rec_nope", c, t0)); !voice.IsNotFound(err) {
			t.Errorf("updating a missing recording: %v, want not_found", err)
		}
	})
}

// TestRecordingSpeechNotes: the notes of what the platform said are written
// when the recording is finished (it is created without them), read back
// as written, and bounded.
func TestRecordingSpeechNotes(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, backend string) {
		ctx := context.Background()
		db := open(t, backend)
		createCustomer(t, db, "cust_a", t0)
		c := createCall(t, db, "call_a1", "cust_a", "app_a1", t0)
		r := newRecording("rec_notes", c, t0)
		r.Status = voice.RecordingInProgress
		if err := db.CreateRecording(ctx, r); err != nil {
			t.Fatal(err)
		}
		if got, err := db.Recording(ctx, voice.Scope{}, r.ID); err != nil || got.Speech != nil {
			t.Fatalf("new recording: notes %v, %v", got.Speech, err)
		}
		notes := []voice.SpeechNote{
			{Kind: voice.SpeechSay, Text: "Bonjour, ça va ?", Voice: "slt", Start: 0.357, End: 5.326},
			{Kind: voice.SpeechPlay, URL: "https://example.com/hold.wav", Start: 6, End: 9.5},
		}
		r.Status, r.Speech = voice.RecordingCompleted, notes
		if err := db.UpdateRecordingWithEvents(ctx, r); err != nil {
			t.Fatal(err)
		}
		got, err := db.Recording(ctx, voice.Scope{}, r.ID)
		if err != nil || !reflect.DeepEqual(got.Speech, notes) {
			t.Fatalf("notes %+v, %v; want %+v", got.Speech, err, notes)
		}
		many := make([]voice.SpeechNote, voice.MaxSpeechNotes+3)
		for i := range many {
			many[i] = voice.SpeechNote{Kind: voice.SpeechSay, Text: "again", Start: float64(i), End: float64(i) + 0.5}
		}
		r.Speech = many
		if err := db.UpdateRecordingWithEvents(ctx, r); err != nil {
			t.Fatal(err)
		}
		if got, err = db.Recording(ctx, voice.Scope{}, r.ID); err != nil || len(got.Speech) != voice.MaxSpeechNotes {
			t.Fatalf("%d notes stored, want %d (%v)", len(got.Speech), voice.MaxSpeechNotes, err)
		}
	})
}
