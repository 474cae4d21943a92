package recording

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"io/fs"
	"os"
	"sync"
	"testing"
	"time"

	"github.com/minivoice/minivoice/internal/voice"
)

// fakeStore is the part of the store Recover uses, in memory.
type fakeStore struct {
	mu      sync.Mutex
	recs    []*voice.Recording
	updates []*voice.Recording
	events  []*voice.Event
	listErr error
}

func (s *fakeStore) UnfinishedRecordings(context.Context) ([]*voice.Recording, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.listErr != nil {
		return nil, s.listErr
	}
	var out []*voice.Recording
	for _, r := range s.recs {
		if r.Status == voice.RecordingInProgress {
			c := *r
			out = append(out, &c)
		}
	}
	return out, nil
}

func (s *fakeStore) UpdateRecordingWithEvents(_ context.Context, r *voice.Recording, events ...*voice.Event) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	for i, old := range s.recs {
		if old.ID == r.ID {
			c := *r
			s.recs[i] = &c
		}
	}
	c := *r
	s.updates = append(s.updates, &c)
	s.events = append(s.events, events...)
	return nil
}

func (s *fakeStore) event(t *testing.T, recID string) *voice.Event {
	t.Helper()
	for i, u := range s.updates {
		if u.ID == recID {
			return s.events[i]
		}
	}
	t.Fatalf("no update of %s", recID)
	return nil
}

func (s *fakeStore) recording(id string) *voice.Recording {
	for _, r := range s.recs {
		if r.ID == id {
			return r
		}
	}
	return nil
}

// appStore adds the store's Application lookup.
type appStore struct {
	*fakeStore
	apps map[string]*voice.Application
}

func (s appStore) Application(_ context.Context, _ voice.Scope, id string) (*voice.Application, error) {
	if a, ok := s.apps[id]; ok {
		return a, nil
	}
	return nil, errors.New("not found")
}

func newRec(id string) *voice.Recording {
	start := time.Date(2026, 3, 1, 11, 0, 0, 0, time.UTC)
	return &voice.Recording{ID: id, CallID: "call_1", CustomerID: "cust_1", ApplicationID: "app_1",
		Status: voice.RecordingInProgress, Source: voice.RecordingSourceCall, Channels: voice.ChannelsDual,
		SampleRate: 8000, StartedAt: start, CreatedAt: start, UpdatedAt: start, StorageKey: Key("cust_1", id),
		MediaURL: "/v1/recordings/" + id + "/media"}
}

// abandon writes seconds of audio through a Recorder and then "crashes":
// the file is closed under the recorder's feet, so its buffered tail and
// final header are never written.
func abandon(t *testing.T, d *Dir, key string, seconds int) {
	t.Helper()
	f, err := d.Create(key)
	if err != nil {
		t.Fatal(err)
	}
	clk := newFakeClock()
	r, err := NewRecorder(Config{File: f, Rate: 8000, Now: clk.Now})
	if err != nil {
		t.Fatal(err)
	}
	for i := range seconds * 50 {
		clk.Advance(20 * time.Millisecond)
		r.WriteFar(tone(440, 8000, i*160, 160, 8000))
		r.WriteNear(tone(1000, 8000, i*160, 160, 8000))
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
}

func TestRecover(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	now := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	d := newTestDir(t)

	crashed, missing, empty, badKey, done := newRec("rec_crashed"), newRec("rec_missing"), newRec("rec_empty"),
		newRec("rec_badkey"), newRec("rec_done")
	badKey.StorageKey = "../../etc/passwd"
	done.Status = voice.RecordingCompleted
	abandon(t, d, crashed.StorageKey, 3)
	f, err := d.Create(empty.StorageKey) // died before the header was written
	if err != nil {
		t.Fatal(err)
	}
	_ = f.Close()

	st := &fakeStore{recs: []*voice.Recording{crashed, missing, empty, badKey, done}}
	completed, failed, err := Recover(ctx, st, d, now)
	if err != nil {
		t.Fatal(err)
	}
	if completed != 1 || failed != 3 {
		t.Errorf("Recover = %d completed, %d failed; want 1, 3", completed, failed)
	}

	// The crashed recording is completed with facts matching its file.
	got := st.recording(crashed.ID)
	b, err := os.ReadFile(d.Path(crashed.StorageKey))
	if err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256(b)
	chans := readChannels(t, d.Path(crashed.StorageKey))
	fileDur := chans[0].Duration().Seconds()
	if got.Status != voice.RecordingCompleted || got.SHA256 != hex.EncodeToString(sum[:]) ||
		got.SizeBytes != int64(len(b)) || got.Duration != fileDur || got.EndedAt == nil || !got.EndedAt.Equal(now) ||
		!got.UpdatedAt.Equal(now) {
		t.Errorf("crashed recording = %+v; want completed, %d bytes, %.3f s, sha %x", got, len(b), fileDur, sum)
	}
	if got.Duration < 2 || got.Duration > 3 {
		t.Errorf("crashed recording kept %.3f s of 3 s", got.Duration)
	}
	ev := st.event(t, crashed.ID)
	if ev.Event != EventCompleted || ev.CallID == nil || *ev.CallID != "call_1" || ev.CustomerID != "cust_1" ||
		ev.ApplicationID != "app_1" || !ev.CreatedAt.Equal(now) || !voice.ValidID(voice.PrefixEvent, ev.ID) ||
		ev.DeliveryStatus != voice.DeliveryPending {
		t.Errorf("completed event = %+v", ev)
	}
	var data voice.Recording
	if err := json.Unmarshal(ev.Data, &data); err != nil {
		t.Fatal(err)
	}
	if data.ID != crashed.ID || data.Status != voice.RecordingCompleted || data.SHA256 != got.SHA256 ||
		data.Duration != got.Duration {
		t.Errorf("completed event data = %s", ev.Data)
	}

	// The others are failed with recording_lost.
	for _, r := range []*voice.Recording{missing, empty, badKey} {
		got := st.recording(r.ID)
		if got.Status != voice.RecordingFailed || got.Error == "" || got.EndedAt == nil || got.SHA256 != "" {
			t.Errorf("%s = %+v, want failed", r.ID, got)
		}
		ev := st.event(t, r.ID)
		var data map[string]string
		if err := json.Unmarshal(ev.Data, &data); err != nil {
			t.Fatal(err)
		}
		if ev.Event != EventFailed || data["recording_id"] != r.ID || data["code"] != CodeRecordingLost ||
			data["message"] != got.Error || len(data) != 3 {
			t.Errorf("%s: event %s %s", r.ID, ev.Event, ev.Data)
		}
	}
	if _, err := d.Open(empty.StorageKey); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("the empty file was kept: %v", err)
	}
	if st.recording(done.ID).Status != voice.RecordingCompleted || len(st.updates) != 4 {
		t.Errorf("%d updates; the completed recording must not be touched", len(st.updates))
	}

	// A second run finds nothing left to do.
	if c, f, err := Recover(ctx, st, d, now); c != 0 || f != 0 || err != nil {
		t.Errorf("second Recover = %d, %d, %v", c, f, err)
	}
}

func TestRecoverDeliveryFollowsApplication(t *testing.T) {
	t.Parallel()
	d := newTestDir(t)
	subscribed, unsubscribed, noApp := newRec("rec_a"), newRec("rec_b"), newRec("rec_c")
	unsubscribed.ApplicationID = "app_2"
	noApp.ApplicationID = "app_gone"
	abandon(t, d, subscribed.StorageKey, 1)
	st := appStore{fakeStore: &fakeStore{recs: []*voice.Recording{subscribed, unsubscribed, noApp}}, apps: map[string]*voice.Application{
		"app_1": {ID: "app_1", WebhookURL: "https://example.com/hook", WebhookEvents: []string{string(EventCompleted)}},
		"app_2": {ID: "app_2", WebhookURL: "https://example.com/hook", WebhookEvents: []string{"call.completed"}},
	}}
	if _, _, err := Recover(context.Background(), st, d, time.Now()); err != nil {
		t.Fatal(err)
	}
	for id, want := range map[string]string{"rec_a": voice.DeliveryPending, "rec_b": voice.DeliveryNone, "rec_c": voice.DeliveryNone} {
		if ev := st.event(t, id); ev.DeliveryStatus != want {
			t.Errorf("%s: %s delivery %q, want %q", id, ev.Event, ev.DeliveryStatus, want)
		}
	}
}

func TestRecoverUnusableFileStaysInProgress(t *testing.T) {
	t.Parallel()
	// An I/O error that is not "missing" or "not a WAV" (here: a directory
	// where the file should be, failing even for root) may be temporary: the
	// recording is left for the next start instead of declared lost.
	d := newTestDir(t)
	r, ok := newRec("rec_odd"), newRec("rec_ok")
	if err := os.MkdirAll(d.Path(r.StorageKey), 0o750); err != nil {
		t.Fatal(err)
	}
	abandon(t, d, ok.StorageKey, 1)
	st := &fakeStore{recs: []*voice.Recording{r, ok}}
	c, f, err := Recover(context.Background(), st, d, time.Now())
	if err == nil || c != 1 || f != 0 {
		t.Errorf("Recover = %d, %d, %v; want the good one completed and an error for the other", c, f, err)
	}
	if st.recording(r.ID).Status != voice.RecordingInProgress {
		t.Error("a file that may be intact was given up")
	}
}

func TestRecoverStoreError(t *testing.T) {
	t.Parallel()
	boom := errors.New("db down")
	if _, _, err := Recover(context.Background(), &fakeStore{listErr: boom}, newTestDir(t), time.Now()); !errors.Is(err, boom) {
		t.Errorf("Recover = %v, want %v", err, boom)
	}
}

func TestDeliveryStatus(t *testing.T) {
	t.Parallel()
	hook := "https://example.com/hook"
	tests := []struct {
		name string
		app  *voice.Application
		want string
	}{
		{"no application", nil, voice.DeliveryNone},
		{"no webhook", &voice.Application{WebhookEvents: []string{"*"}}, voice.DeliveryNone},
		{"all events", &voice.Application{WebhookURL: hook, WebhookEvents: []string{"*"}}, voice.DeliveryPending},
		{"this event", &voice.Application{WebhookURL: hook, WebhookEvents: []string{string(EventFailed)}}, voice.DeliveryPending},
		{"other events", &voice.Application{WebhookURL: hook, WebhookEvents: []string{string(EventCompleted)}}, voice.DeliveryNone},
		{"disabled", &voice.Application{WebhookURL: hook, WebhookEvents: []string{"*"}, WebhookStatus: voice.WebhookDisabled},
			voice.DeliveryDisabled},
	}
	for _, tt := range tests {
		if got := FailedEvent(tt.app, newRec("rec_d"), "c", "m", time.Now()).DeliveryStatus; got != tt.want {
			t.Errorf("%s: DeliveryStatus = %q, want %q", tt.name, got, tt.want)
		}
	}
}

func TestEventsWithoutCall(t *testing.T) {
	t.Parallel()
	r := newRec("rec_x")
	r.CallID = ""
	if ev := FailedEvent(nil, r, "disk_full", "no space", time.Now()); ev.CallID != nil {
		t.Errorf("CallID = %v, want nil for a recording without a call", *ev.CallID)
	}
}
