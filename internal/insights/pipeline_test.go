package insights_test

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/minivoice/minivoice/internal/insights"
	"github.com/minivoice/minivoice/internal/insights/analyze"
	"github.com/minivoice/minivoice/internal/insights/asr"
	"github.com/minivoice/minivoice/internal/media"
	"github.com/minivoice/minivoice/internal/recording"
	"github.com/minivoice/minivoice/internal/store"
	"github.com/minivoice/minivoice/internal/store/storetest"
	"github.com/minivoice/minivoice/internal/voice"
)

// These tests run the pipeline's orchestration on the real store (SQLite and,
// when configured, PostgreSQL) and real WAV files. The speech engine is a
// scripted one: the real engines have their own tests against pocketsphinx
// and an OpenAI-compatible server (internal/insights/asr), and test/e2e runs
// the whole pipeline on a real call.

var t0 = time.Date(2026, 3, 1, 9, 0, 0, 0, time.UTC)

// scriptedASR answers each Transcribe with the next of its results.
type scriptedASR struct {
	mu        sync.Mutex
	available error
	results   []func(a asr.Audio) (*asr.Result, error)
	calls     []asr.Audio
}

func (s *scriptedASR) Name() string                    { return "scripted" }
func (s *scriptedASR) Available(context.Context) error { return s.available }
func (s *scriptedASR) Transcribe(_ context.Context, a asr.Audio) (*asr.Result, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.calls = append(s.calls, a)
	if s.available != nil { // as the real engines do: missing is an error of Transcribe too
		return nil, s.available
	}
	if len(s.results) == 0 {
		return nil, errors.New("scripted: no more results")
	}
	next := s.results[0]
	s.results = s.results[1:]
	return next(a)
}

func (s *scriptedASR) count() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.calls)
}

func says(segs ...asr.Segment) func(asr.Audio) (*asr.Result, error) {
	return func(asr.Audio) (*asr.Result, error) { return &asr.Result{Language: "en", Segments: segs}, nil }
}

// bundle is one test's platform slice.
type bundle struct {
	db     *store.DB
	blobs  *recording.Dir
	asr    *scriptedASR
	p      *insights.Pipeline
	queued []string
	rec    *voice.Recording
	mu     sync.Mutex
}

// setup stores a customer, an application with insights on, an inbound call
// and its completed two-channel recording (speech-like sound on the left,
// silence on the right).
func setup(t *testing.T, backend string) *bundle {
	t.Helper()
	return setupWith(t, backend, nil)
}

// setupWith is setup with a hook that changes the recording before it is
// stored and writes its file.
func setupWith(t *testing.T, backend string, hook func(b *bundle)) *bundle {
	t.Helper()
	ctx := context.Background()
	b := &bundle{asr: &scriptedASR{}}
	b.db = storetest.Open(t, backend, func() time.Time { return t0 })
	b.db.SetInsightsOutbox(func(_ context.Context, _ *sql.Tx, step, id string, _ float64) error {
		b.mu.Lock()
		defer b.mu.Unlock()
		b.queued = append(b.queued, step+" "+id)
		return nil
	})
	var err error
	if b.blobs, err = recording.NewDir(t.TempDir()); err != nil {
		t.Fatal(err)
	}
	must(t, b.db.CreateCustomer(ctx, &voice.Customer{ID: "cus_a", Name: "a", Status: voice.CustomerActive, Currency: "EUR",
		MaxConcurrentCalls: 10, MaxCPS: 1, BlockedPrefixes: []string{}, CreatedAt: t0, UpdatedAt: t0}))
	must(t, b.db.CreateApplication(ctx, &voice.Application{ID: "app_a", CustomerID: "cus_a", Name: "a", Status: voice.ApplicationActive,
		AnswerURL: "https://example.com/a", AnswerMethod: "POST", WebhookURL: "https://example.com/hook", WebhookStatus: voice.WebhookActive,
		WebhookEvents: []string{"*"}, Insights: true, Topics: []voice.TopicDef{{Name: "billing", Keywords: []string{"invoice"}}},
		ScoreCriteria: []voice.ScoreCriterion{}, Vocabulary: []string{"Northwind"}, CreatedAt: t0, UpdatedAt: t0}))
	ended := t0.Add(30 * time.Second)
	caller := voice.SourceCaller
	must(t, b.db.CreateCall(ctx, &voice.Call{ID: "call_a", CustomerID: "cus_a", ApplicationID: "app_a", Status: voice.CallCompleted,
		Direction: voice.DirectionInbound, From: "+15551230001", To: "+15557654321", RecordingChannels: voice.ChannelsDual,
		Variables: map[string]string{}, RecordingIDs: []string{}, Currency: "EUR", CreatedAt: t0, UpdatedAt: t0,
		AnsweredAt: &t0, EndedAt: &ended, Duration: 30, HangupSource: &caller}))
	b.rec = &voice.Recording{ID: "rec_a", CallID: "call_a", CustomerID: "cus_a", ApplicationID: "app_a", Status: voice.RecordingInProgress,
		Source: voice.RecordingSourceCall, Channels: voice.ChannelsDual, SampleRate: 16000, StartedAt: t0,
		StorageKey: recording.Key("cus_a", "rec_a"), CreatedAt: t0, UpdatedAt: t0}
	if hook != nil {
		hook(b) // writes the file itself
	} else {
		writeWAV(t, b.blobs, b.rec.StorageKey, 16000, 2*time.Second)
	}
	must(t, b.db.CreateRecording(ctx, b.rec))
	b.rec.Status, b.rec.Duration, b.rec.EndedAt = voice.RecordingCompleted, 2, &ended
	must(t, b.db.UpdateRecordingWithEvents(ctx, b.rec))
	// Each event gets its own millisecond, so they list in the order written.
	var tick atomic.Int64
	clock := func() time.Time { return t0.Add(time.Duration(tick.Add(1)) * time.Millisecond) }
	b.p = insights.New(insights.Config{Store: b.db, Blobs: b.blobs, ASR: b.asr, Now: clock})
	return b
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

// writeWAV writes a stereo WAV: a 440 Hz tone on the left, silence on the right.
func writeWAV(t *testing.T, blobs *recording.Dir, key string, rate int, d time.Duration) {
	t.Helper()
	f, err := blobs.Create(key)
	must(t, err)
	w, err := media.NewWAVWriter(f, rate, 2)
	must(t, err)
	n := int(d.Seconds() * float64(rate))
	buf := make([]int16, 0, 2*n)
	for i := range n {
		buf = append(buf, int16(8000*math.Sin(2*math.Pi*440*float64(i)/float64(rate))), 0)
	}
	must(t, w.Write(buf))
	must(t, w.Close())
}

func (b *bundle) steps() []string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return append([]string(nil), b.queued...)
}

func (b *bundle) events(t *testing.T) []*voice.Event {
	t.Helper()
	l, err := b.db.Events(context.Background(), voice.EventFilter{CallID: "call_a"}, voice.Page{Limit: 50})
	must(t, err)
	var out []*voice.Event
	for i := len(l.Data) - 1; i >= 0; i-- { // oldest first
		if e := l.Data[i]; e.Event != "recording.completed" {
			out = append(out, e)
		}
	}
	return out
}

func names(evs []*voice.Event) []string {
	out := make([]string, len(evs))
	for i, e := range evs {
		out[i] = string(e.Event)
	}
	return out
}

func TestPipelineTranscribesAndAnalyses(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, backend string) {
		ctx := context.Background()
		b := setup(t, backend)
		b.asr.results = append(b.asr.results, says(
			asr.Segment{Start: 1.2, End: 2.5, Text: "i have a question about my invoice", Confidence: 0.81234},
			asr.Segment{Start: 0.1, End: 0.9, Text: " hello ", Confidence: 0.9},
			asr.Segment{Start: 3, End: 3.1, Text: "  ", Confidence: 0.1},
		))
		if want := []string{"transcription rec_a"}; !slices.Equal(b.steps(), want) {
			t.Fatalf("queued %v, want %v", b.steps(), want)
		}
		must(t, b.p.Transcribe(ctx, "rec_a", false))
		// The right channel is silent: only the left one went to the engine.
		if b.asr.count() != 1 || b.asr.calls[0].Rate != 16000 || len(b.asr.calls[0].Samples) != 32000 {
			t.Fatalf("engine calls: %d", b.asr.count())
		}
		// The engine is told the application's vocabulary and topic keywords.
		if v := b.asr.calls[0].Vocabulary; !slices.Equal(v, []string{"Northwind", "invoice"}) {
			t.Errorf("vocabulary given to the engine: %q", v)
		}
		in, err := b.db.Insights(ctx, voice.Scope{CustomerID: "cus_a"}, "rec_a")
		must(t, err)
		tr := in.Transcription
		if tr.Status != voice.InsightCompleted || tr.Engine != "scripted" || tr.Language != "en" || tr.Duration != 2 ||
			tr.Text != "hello i have a question about my invoice" || len(tr.Segments) != 2 {
			t.Fatalf("transcription: %+v", tr)
		}
		if s := tr.Segments[1]; s.Speaker != voice.SpeakerCaller || s.Channel != 0 || s.Start != 1.2 || s.Confidence != 0.812 {
			t.Errorf("segment: %+v", s)
		}
		if want := []string{"transcription rec_a", "insights rec_a"}; !slices.Equal(b.steps(), want) {
			t.Fatalf("queued %v, want %v", b.steps(), want)
		}
		evs := b.events(t)
		if !slices.Equal(names(evs), []string{"transcription.completed"}) || evs[0].DeliveryStatus != voice.DeliveryPending {
			t.Fatalf("events %v", names(evs))
		}
		var data voice.Transcription
		must(t, json.Unmarshal(evs[0].Data, &data))
		if data.RecordingID != "rec_a" || data.CallID != "call_a" || data.Text != tr.Text {
			t.Errorf("event data: %s", evs[0].Data)
		}

		// A rerun of the job (a crash after the commit) does nothing.
		must(t, b.p.Transcribe(ctx, "rec_a", false))
		if b.asr.count() != 1 || len(b.events(t)) != 1 {
			t.Errorf("rerun transcribed again or wrote events: %d calls, %v", b.asr.count(), names(b.events(t)))
		}

		must(t, b.p.Analyze(ctx, "rec_a", false))
		in, err = b.db.Insights(ctx, voice.Scope{}, "rec_a")
		must(t, err)
		if in.InsightsStatus != voice.InsightCompleted || in.InsightsEngine != analyze.NewOffline().Name() ||
			in.Summary == nil || in.Score == nil || in.Topics == nil {
			t.Fatalf("insights: %+v", in)
		}
		if in.Summary.CallID != "call_a" || in.Summary.RecordingID != "rec_a" || in.Summary.Status != voice.InsightCompleted ||
			in.Score.Score < 0 || in.Score.Score > 100 || in.Score.Rating == "" || len(in.Score.Criteria) < 6 {
			t.Errorf("results: %+v %+v", in.Summary, in.Score)
		}
		found := false
		for _, tp := range in.Topics.Topics {
			found = found || tp.Name == "billing" && tp.Mentions == 1
		}
		if !found {
			t.Errorf("application topic billing not found: %+v", in.Topics.Topics)
		}
		evs = b.events(t)
		if !slices.Equal(names(evs), []string{"transcription.completed", "insights.completed"}) {
			t.Fatalf("events %v", names(evs))
		}
		var both map[string]json.RawMessage
		must(t, json.Unmarshal(evs[1].Data, &both))
		if len(both) != 3 || both["summary"] == nil || both["score"] == nil || both["topics"] == nil {
			t.Errorf("insights.completed data: %s", evs[1].Data)
		}
		must(t, b.p.Analyze(ctx, "rec_a", false))
		if len(b.events(t)) != 2 {
			t.Errorf("analysis rerun wrote events: %v", names(b.events(t)))
		}
	})
}

func TestPipelineFailures(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, backend string) {
		for _, tc := range []struct {
			name     string
			prepare  func(t *testing.T, b *bundle)
			attempts []bool // lastAttempt of each run; all but the last must ask for a retry
			code     string
		}{
			{"engine missing", func(t *testing.T, b *bundle) {
				b.asr.available = errors.Join(asr.ErrUnavailable, errors.New("pocketsphinx_continuous not found"))
			}, []bool{false}, insights.CodeEngineUnavailable},
			{"engine refuses the audio", func(t *testing.T, b *bundle) {
				b.asr.results = append(b.asr.results, func(asr.Audio) (*asr.Result, error) { return nil, errors.Join(asr.ErrRejected, errors.New("413")) })
			}, []bool{false}, insights.CodeInputRejected},
			{"engine keeps failing", func(t *testing.T, b *bundle) {
				fail := func(asr.Audio) (*asr.Result, error) { return nil, errors.New("connection refused") }
				b.asr.results = append(b.asr.results, fail, fail, fail)
			}, []bool{false, false, true}, insights.CodeEngineError},
			{"file gone", func(t *testing.T, b *bundle) {
				must(t, b.blobs.Remove(b.rec.StorageKey))
			}, []bool{false}, insights.CodeRecordingUnreadable},
		} {
			t.Run(tc.name, func(t *testing.T) {
				ctx := context.Background()
				b := setup(t, backend)
				tc.prepare(t, b)
				for i, last := range tc.attempts {
					err := b.p.Transcribe(ctx, "rec_a", last)
					if retry := i < len(tc.attempts)-1; retry != (err != nil) {
						t.Fatalf("attempt %d: %v (retry wanted: %v)", i+1, err, retry)
					}
					if i < len(tc.attempts)-1 {
						in, err := b.db.Insights(ctx, voice.Scope{}, "rec_a")
						must(t, err)
						if in.Transcription.Status != voice.InsightProcessing {
							t.Errorf("between attempts: %s, want processing", in.Transcription.Status)
						}
					}
				}
				in, err := b.db.Insights(ctx, voice.Scope{}, "rec_a")
				must(t, err)
				if in.Transcription.Status != voice.InsightFailed || in.Transcription.Error == nil || in.Transcription.Error.Code != tc.code ||
					in.Transcription.Error.Message == "" {
					t.Fatalf("transcription: %+v %+v", in.Transcription, in.Transcription.Error)
				}
				if in.InsightsStatus != voice.InsightFailed || in.InsightsError.Code != insights.CodeTranscriptionFailed {
					t.Errorf("insights step: %s %+v", in.InsightsStatus, in.InsightsError)
				}
				evs := b.events(t)
				if !slices.Equal(names(evs), []string{"transcription.failed", "insights.failed"}) {
					t.Fatalf("events %v", names(evs))
				}
				var data struct {
					RecordingID string `json:"recording_id"`
					Code        string `json:"code"`
				}
				must(t, json.Unmarshal(evs[0].Data, &data))
				if data.RecordingID != "rec_a" || data.Code != tc.code {
					t.Errorf("failed event data %s", evs[0].Data)
				}
				// No job for the insights step, and a rerun changes nothing.
				if len(b.steps()) != 1 {
					t.Errorf("queued %v", b.steps())
				}
				must(t, b.p.Transcribe(ctx, "rec_a", true))
				if len(b.events(t)) != 2 {
					t.Errorf("rerun wrote events: %v", names(b.events(t)))
				}
			})
		}
	})
}

func TestPipelineWithoutEngine(t *testing.T) {
	t.Parallel()
	b := setup(t, "sqlite")
	p := insights.New(insights.Config{Store: b.db, Blobs: b.blobs})
	must(t, p.Transcribe(context.Background(), "rec_a", false))
	in, err := b.db.Insights(context.Background(), voice.Scope{}, "rec_a")
	must(t, err)
	if in.Transcription.Status != voice.InsightFailed || in.Transcription.Error.Code != insights.CodeEngineUnavailable {
		t.Errorf("no engine: %+v", in.Transcription)
	}
}

func TestPipelineRecordingDeletedMeanwhile(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, backend string) {
		ctx := context.Background()
		b := setup(t, backend)
		b.asr.results = append(b.asr.results, func(asr.Audio) (*asr.Result, error) {
			// The customer deletes the recording while it is transcribed.
			rec := *b.rec
			rec.Status = voice.RecordingDeleted
			if err := b.db.UpdateRecordingWithEvents(ctx, &rec); err != nil {
				return nil, err
			}
			return &asr.Result{Segments: []asr.Segment{{Start: 0, End: 1, Text: "hello"}}}, nil
		})
		must(t, b.p.Transcribe(ctx, "rec_a", false))
		if _, err := b.db.Insights(ctx, voice.Scope{}, "rec_a"); !voice.IsNotFound(err) {
			t.Errorf("results of a deleted recording: %v", err)
		}
		if evs := b.events(t); len(evs) != 0 || len(b.steps()) != 1 {
			t.Errorf("events %v, queued %v", names(evs), b.steps())
		}
		// A job still queued for it finds nothing to do.
		must(t, b.p.Analyze(ctx, "rec_a", true))
	})
}

func TestSpeaker(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		direction string
		ch        int
		bridged   bool
		want      string
	}{
		{voice.DirectionInbound, 0, false, voice.SpeakerCaller},
		{voice.DirectionInbound, 1, false, voice.SpeakerPlatform},
		{voice.DirectionInbound, 1, true, voice.SpeakerCallee},
		{voice.DirectionOutbound, 0, false, voice.SpeakerCallee},
		{voice.DirectionOutbound, 1, false, voice.SpeakerPlatform},
		{voice.DirectionOutbound, 1, true, voice.SpeakerCaller},
	} {
		if got := insights.Speaker(tc.direction, tc.ch, tc.bridged); got != tc.want {
			t.Errorf("Speaker(%s, %d, %v) = %s, want %s", tc.direction, tc.ch, tc.bridged, got, tc.want)
		}
	}
}

// TestPipelineJobContextEnds: a last attempt whose own context timed out
// still records the failure (with a context of its own); one canceled by a
// shutdown records nothing and asks to run again.
func TestPipelineJobContextEnds(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name   string
		ctx    func() (context.Context, context.CancelFunc)
		status string
	}{
		{"timeout", func() (context.Context, context.CancelFunc) {
			return context.WithTimeout(context.Background(), 50*time.Millisecond)
		},
			voice.InsightFailed},
		{"shutdown", func() (context.Context, context.CancelFunc) {
			ctx, cancel := context.WithCancel(context.Background())
			time.AfterFunc(50*time.Millisecond, cancel)
			return ctx, cancel
		}, voice.InsightProcessing},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			b := setup(t, "sqlite")
			hang := &hangingASR{}
			p := insights.New(insights.Config{Store: b.db, Blobs: b.blobs, ASR: hang})
			ctx, cancel := tc.ctx()
			defer cancel()
			err := p.Transcribe(ctx, "rec_a", true)
			if (tc.status == voice.InsightProcessing) != (err != nil) {
				t.Fatalf("Transcribe: %v", err)
			}
			in, err := b.db.Insights(context.Background(), voice.Scope{}, "rec_a")
			must(t, err)
			if in.Transcription.Status != tc.status {
				t.Errorf("status %s, want %s (%+v)", in.Transcription.Status, tc.status, in.Transcription.Error)
			}
			if tc.status == voice.InsightFailed && in.Transcription.Error.Code != insights.CodeEngineError {
				t.Errorf("error %+v", in.Transcription.Error)
			}
		})
	}
}

// hangingASR blocks until its context ends.
type hangingASR struct{}

func (hangingASR) Name() string                    { return "hanging" }
func (hangingASR) Available(context.Context) error { return nil }
func (hangingASR) Transcribe(ctx context.Context, _ asr.Audio) (*asr.Result, error) {
	<-ctx.Done()
	return nil, ctx.Err()
}

// TestPipelineSilentRecordingWithoutEngine: a recording nobody spoke on is
// never sent to the engine, but an empty transcript still needs an engine
// that could have heard something.
func TestPipelineSilentRecordingWithoutEngine(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	b := setup(t, "sqlite")
	must(t, b.blobs.Remove(b.rec.StorageKey))
	f, err := b.blobs.Create(b.rec.StorageKey)
	must(t, err)
	w, err := media.NewWAVWriter(f, 16000, 2)
	must(t, err)
	must(t, w.Write(make([]int16, 2*16000)))
	must(t, w.Close())
	b.asr.available = errors.Join(asr.ErrUnavailable, errors.New("pocketsphinx_continuous not found"))
	if err := b.p.Transcribe(ctx, "rec_a", false); err == nil {
		t.Fatal("an empty transcript without an engine")
	}
	must(t, b.p.Transcribe(ctx, "rec_a", true))
	in, err := b.db.Insights(ctx, voice.Scope{}, "rec_a")
	must(t, err)
	if in.Transcription.Status != voice.InsightFailed || !strings.Contains(in.Transcription.Error.Message, "not found") {
		t.Errorf("transcription %+v %+v", in.Transcription, in.Transcription.Error)
	}
	// With the engine there, silence is an empty transcript.
	c := setup(t, "sqlite")
	must(t, c.blobs.Remove(c.rec.StorageKey))
	f, err = c.blobs.Create(c.rec.StorageKey)
	must(t, err)
	w, err = media.NewWAVWriter(f, 16000, 2)
	must(t, err)
	must(t, w.Write(make([]int16, 2*16000)))
	must(t, w.Close())
	must(t, c.p.Transcribe(ctx, "rec_a", false))
	in, err = c.db.Insights(ctx, voice.Scope{}, "rec_a")
	must(t, err)
	if in.Transcription.Status != voice.InsightCompleted || len(in.Transcription.Segments) != 0 || c.asr.count() != 0 {
		t.Errorf("silent transcription %+v", in.Transcription)
	}
}

// writeToneWAV writes a stereo WAV with a 440 Hz tone on both channels: the
// platform channel holds sound, as a recording with prompts does.
func writeToneWAV(t *testing.T, blobs *recording.Dir, key string, rate int, d time.Duration) {
	t.Helper()
	f, err := blobs.Create(key)
	must(t, err)
	w, err := media.NewWAVWriter(f, rate, 2)
	must(t, err)
	n := int(d.Seconds() * float64(rate))
	buf := make([]int16, 0, 2*n)
	for i := range n {
		v := int16(8000 * math.Sin(2*math.Pi*440*float64(i)/float64(rate)))
		buf = append(buf, v, v)
	}
	must(t, w.Write(buf))
	must(t, w.Close())
}

// speechNotes are a say, a play and a say on the recording's clock.
var speechNotes = []voice.SpeechNote{
	{Kind: voice.SpeechSay, Text: "Hello, thank you for calling Acme.", Voice: "slt", Start: 0.1, End: 0.9},
	{Kind: voice.SpeechPlay, URL: "https://example.com/hold.wav", Start: 1.0, End: 1.3},
	{Kind: voice.SpeechSay, Text: " Goodbye. ", Voice: "kal16", Start: 1.5, End: 1.9},
	{Kind: voice.SpeechSay, Text: "cut before it started", Start: 1.9, End: 1.9},
}

func TestPipelinePlatformSpeechFromNotes(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, backend string) {
		ctx := context.Background()
		b := setupWith(t, backend, func(b *bundle) {
			writeToneWAV(t, b.blobs, b.rec.StorageKey, 16000, 2*time.Second)
			b.rec.Speech = speechNotes
		})
		// The notes are stored with the recording.
		rec, err := b.db.Recording(ctx, voice.Scope{}, "rec_a")
		must(t, err)
		if !slices.Equal(rec.Speech, speechNotes) {
			t.Fatalf("stored notes %+v, want %+v", rec.Speech, speechNotes)
		}
		b.asr.results = append(b.asr.results, says(asr.Segment{Start: 0.95, End: 1.4, Text: "hi there", Confidence: 0.7}))
		must(t, b.p.Transcribe(ctx, "rec_a", false))
		// Both channels hold sound, but only the far end's went to the engine.
		if b.asr.count() != 1 {
			t.Fatalf("engine calls: %d, want 1 (the far end only)", b.asr.count())
		}
		in, err := b.db.Insights(ctx, voice.Scope{}, "rec_a")
		must(t, err)
		tr := in.Transcription
		want := []voice.Segment{
			{Channel: 1, Speaker: voice.SpeakerPlatform, Start: 0.1, End: 0.9, Text: "Hello, thank you for calling Acme.", Confidence: 1, Source: voice.SourceTTS},
			{Channel: 0, Speaker: voice.SpeakerCaller, Start: 0.95, End: 1.4, Text: "hi there", Confidence: 0.7, Source: voice.SourceASR},
			{Channel: 1, Speaker: voice.SpeakerPlatform, Start: 1.0, End: 1.3, Text: "", Confidence: 1, Source: voice.SourcePlay},
			{Channel: 1, Speaker: voice.SpeakerPlatform, Start: 1.5, End: 1.9, Text: "Goodbye.", Confidence: 1, Source: voice.SourceTTS},
		}
		if !slices.Equal(tr.Segments, want) {
			t.Fatalf("segments\n got %+v\nwant %+v", tr.Segments, want)
		}
		if tr.Text != "Hello, thank you for calling Acme. hi there Goodbye." {
			t.Errorf("text %q", tr.Text)
		}
		// The event carries the source of each segment.
		evs := b.events(t)
		if len(evs) != 1 || !strings.Contains(string(evs[0].Data), `"source":"tts"`) ||
			!strings.Contains(string(evs[0].Data), `"source":"asr"`) {
			t.Fatalf("event data: %v", names(evs))
		}
	})
}

func TestPipelineBridgedChannelMutesPlatformSpeech(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, backend string) {
		ctx := context.Background()
		b := setupWith(t, backend, func(b *bundle) {
			writeToneWAV(t, b.blobs, b.rec.StorageKey, 16000, 2*time.Second)
			// A bridged recording: channel 1 carries a party too, so it is
			// recognised, but without the platform's own speech.
			b.rec.Source = voice.RecordingSourceDial
			b.rec.Speech = speechNotes[:1]
		})
		b.asr.results = append(b.asr.results,
			says(asr.Segment{Start: 0.2, End: 0.5, Text: "far end", Confidence: 0.6}),
			says(asr.Segment{Start: 1.2, End: 1.8, Text: "bridged party", Confidence: 0.8}))
		must(t, b.p.Transcribe(ctx, "rec_a", false))
		if b.asr.count() != 2 {
			t.Fatalf("engine calls: %d, want 2", b.asr.count())
		}
		right := b.asr.calls[1].Samples
		// 0.1-0.9 s, widened by 60 ms, is silence; the rest is the tone.
		if media.DBFS(right[int(0.05*16000)+1:int(0.95*16000)-1]) > -90 || media.DBFS(right[int(1.0*16000):]) < -30 ||
			media.DBFS(right[:int(0.03*16000)]) < -30 {
			t.Errorf("platform speech not muted on the bridged channel")
		}
		if media.DBFS(b.asr.calls[0].Samples[int(0.1*16000):int(0.9*16000)]) < -30 {
			t.Errorf("the far end's channel was muted")
		}
		in, err := b.db.Insights(ctx, voice.Scope{}, "rec_a")
		must(t, err)
		var got []string
		for _, s := range in.Transcription.Segments {
			got = append(got, s.Speaker+"/"+s.Source+"/"+s.Text)
		}
		want := []string{"platform/tts/Hello, thank you for calling Acme.", "caller/asr/far end", "callee/asr/bridged party"}
		if !slices.Equal(got, want) {
			t.Errorf("segments %q, want %q", got, want)
		}
	})
}

func TestVocabulary(t *testing.T) {
	t.Parallel()
	app := &voice.Application{Vocabulary: []string{"Acme Dental", "Dr. Okafor"},
		Topics: []voice.TopicDef{{Name: "billing", Keywords: []string{"refund", "acme dental"}}}}
	notes := []voice.SpeechNote{
		{Kind: voice.SpeechSay, Text: "Hello, this is Acme Dental. Your appointment with Dr. Okafor is on Tuesday!"},
		{Kind: voice.SpeechPlay, URL: "https://example.com/hold.wav"},
		{Kind: voice.SpeechSay, Text: strings.Repeat("very ", 30) + "long"},
	}
	got := insights.Vocabulary(app, notes)
	want := []string{"Acme Dental", "Dr. Okafor", "refund", "Hello, this is Acme Dental", "Your appointment with Dr", "Okafor is on Tuesday", "very", "long"}
	if !slices.Equal(got, want) {
		t.Errorf("Vocabulary = %q\nwant %q", got, want)
	}
	if got := insights.Vocabulary(nil, nil); len(got) != 0 {
		t.Errorf("no application, no notes: %q", got)
	}
	many := &voice.Application{}
	for i := range 600 {
		many.Vocabulary = append(many.Vocabulary, fmt.Sprintf("word%d", i))
	}
	if got := insights.Vocabulary(many, nil); len(got) != asr.MaxVocabulary {
		t.Errorf("bound: %d entries, want %d", len(got), asr.MaxVocabulary)
	}
}
