// Package insights runs the offline AI pipeline of insights.md on a completed
// recording: the transcription step (each channel through a speech
// recognition engine, internal/insights/asr) and then the insights step
// (summary, score and topics from an analyser, internal/insights/analyze).
//
// The steps run as durable jobs (internal/jobs); this package is what a job
// does. Each step is idempotent: it is marked processing, computed, and
// finished in one transaction with its event and the next step's job, so a
// job run again after a crash or a rescue either finds the step finished and
// does nothing, or redoes it and is the only one to write.
package insights

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/minivoice/minivoice/internal/insights/analyze"
	"github.com/minivoice/minivoice/internal/insights/asr"
	"github.com/minivoice/minivoice/internal/media"
	"github.com/minivoice/minivoice/internal/publicmsg"
	"github.com/minivoice/minivoice/internal/recording"
	"github.com/minivoice/minivoice/internal/voice"
)

// Event types of the pipeline (webhooks.md).
const (
	EventTranscriptionCompleted = voice.EventTranscriptionCompleted
	EventTranscriptionFailed    = voice.EventTranscriptionFailed
	EventInsightsCompleted      = voice.EventInsightsCompleted
	EventInsightsFailed         = voice.EventInsightsFailed
)

// Error codes of a failed step, in its error object and failed event.
const (
	// CodeEngineUnavailable: the engine is not installed or configured;
	// retrying cannot help until the operator fixes it.
	CodeEngineUnavailable = "engine_unavailable"
	// CodeInputRejected: the engine refused this recording or transcript.
	CodeInputRejected = "input_rejected"
	// CodeEngineError: the engine kept failing until the job's last attempt.
	CodeEngineError = "engine_error"
	// CodeRecordingUnreadable: the recording's file is missing or not a
	// WAV the pipeline can read, or longer than it will transcribe.
	CodeRecordingUnreadable = "recording_unreadable"
	// CodeTranscriptionFailed: the insights step could not run because the
	// transcription failed.
	CodeTranscriptionFailed = "transcription_failed"
)

// DefaultMaxAudioBytes bounds the audio data of a recording the pipeline
// reads into memory: 256 MiB is about 70 minutes of a 16 kHz two-channel
// recording. Longer ones fail with recording_unreadable.
const DefaultMaxAudioBytes = 256 << 20

// silentChannel is the level below which a channel is taken to hold no
// speech and is not sent to the engine (a voicemail's unused side, prompts
// that never played): -50 dBFS is below any line noise a codec passes.
const silentChannel = -50.0

// Store is what the pipeline reads and writes.
type Store interface {
	voice.InsightsStore
	Call(ctx context.Context, scope voice.Scope, id string) (*voice.Call, error)
	Application(ctx context.Context, scope voice.Scope, id string) (*voice.Application, error)
	Recording(ctx context.Context, scope voice.Scope, id string) (*voice.Recording, error)
	HasAnsweredChild(ctx context.Context, callID string) (bool, error)
	// The call's facts for the analyser: its events (gather results),
	// its dial legs (among the application's outbound calls) and its
	// recordings.
	CallEvents(ctx context.Context, scope voice.Scope, callID string) ([]*voice.Event, error)
	Calls(ctx context.Context, f voice.CallFilter, p voice.Page) (voice.List[*voice.Call], error)
}

// Config configures a Pipeline.
type Config struct {
	Store Store
	Blobs recording.BlobStore
	// ASR transcribes each channel; nil fails every transcription with
	// engine_unavailable (never an empty transcript).
	ASR asr.Engine
	// Analyzer computes summary, score and topics; default the offline one.
	Analyzer analyze.Engine
	// MaxAudioBytes bounds the audio read per recording; default
	// DefaultMaxAudioBytes.
	MaxAudioBytes int64
	Logger        *slog.Logger
	// Now is the clock of events; default time.Now.
	Now func() time.Time
}

// Pipeline runs the steps. It is safe for concurrent use.
type Pipeline struct {
	cfg Config
	log *slog.Logger
	now func() time.Time
}

// New returns a Pipeline.
func New(cfg Config) *Pipeline {
	if cfg.Analyzer == nil {
		cfg.Analyzer = analyze.NewOffline()
	}
	if cfg.MaxAudioBytes <= 0 {
		cfg.MaxAudioBytes = DefaultMaxAudioBytes
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	return &Pipeline{cfg: cfg, log: cfg.Logger, now: cfg.Now}
}

// ASRName is the transcription engine's name, "" when none is configured.
func (p *Pipeline) ASRName() string {
	if p.cfg.ASR == nil {
		return ""
	}
	return p.cfg.ASR.Name()
}

// stepFailure is a step's permanent failure: recorded as such, not retried.
// Its message reaches the customer (the transcription's or insights' error,
// the insights.failed webhook), so it is publicmsg's text: no path under the
// data directory, no address of the operator's ASR or LLM server.
type stepFailure struct{ code, message string }

func (f *stepFailure) Error() string { return f.code + ": " + f.message }

// classify turns an engine error into a permanent failure, or leaves it
// transient (nil) for the job to retry.
func classify(err error, unavailable, rejected error) *stepFailure {
	var f *stepFailure
	switch {
	case errors.As(err, &f):
		return f
	case errors.Is(err, unavailable):
		return &stepFailure{CodeEngineUnavailable, publicmsg.Text(err)}
	case errors.Is(err, rejected):
		return &stepFailure{CodeInputRejected, publicmsg.Text(err)}
	}
	return nil
}

// Transcribe runs the transcription step of a recording. It returns nil when
// the step is finished, completed or failed for good; an error means a
// transient failure the job should retry. On the last attempt a transient
// failure is recorded as failed (engine_error) instead.
func (p *Pipeline) Transcribe(ctx context.Context, recordingID string, lastAttempt bool) error {
	done, err := p.cfg.Store.StartInsightsStep(ctx, recordingID, voice.StepTranscription)
	if err != nil || done {
		return err
	}
	in, err := p.cfg.Store.Insights(ctx, voice.Scope{}, recordingID)
	if voice.IsNotFound(err) {
		return nil // deleted meanwhile
	}
	if err != nil {
		return err
	}
	started := time.Now()
	t, err := p.transcribe(ctx, in)
	if err != nil {
		f := classify(err, asr.ErrUnavailable, asr.ErrRejected)
		if f == nil && (!lastAttempt || shuttingDown(ctx, err)) {
			p.log.Warn("transcription failed, will retry", "recording_id", recordingID, "err", err)
			return err
		}
		if f == nil {
			f = &stepFailure{CodeEngineError, publicmsg.Text(err)}
		}
		p.log.Warn("transcription step failed for good", "recording_id", recordingID, "err", err)
		fctx, cancel := afterFailure(ctx)
		defer cancel()
		return p.failTranscription(fctx, in, f)
	}
	in.Transcription = *t
	in.InsightsStatus = voice.InsightQueued
	app, err := p.application(ctx, in.ApplicationID)
	if err != nil {
		return err
	}
	data, err := json.Marshal(t)
	if err != nil {
		return fmt.Errorf("insights: transcription event: %w", err)
	}
	ev := p.event(in, app, EventTranscriptionCompleted, data)
	written, err := p.cfg.Store.FinishInsightsStep(ctx, in, voice.StepTranscription, voice.StepInsights, ev)
	if err == nil && written {
		p.log.Info("transcribed", "recording_id", recordingID, "engine", t.Engine, "audio_s", t.Duration,
			"segments", len(t.Segments), "took_s", time.Since(started).Seconds())
	}
	return err
}

// transcribe reads the recording and runs each channel that holds sound
// through the engine.
func (p *Pipeline) transcribe(ctx context.Context, in *voice.Insights) (*voice.Transcription, error) {
	if p.cfg.ASR == nil {
		return nil, &stepFailure{CodeEngineUnavailable, "no speech recognition engine is configured (--asr)"}
	}
	// No Available probe first: Transcribe says ErrUnavailable itself when
	// the engine is missing, and a probe would turn a server that is
	// briefly unreachable into a permanent failure instead of a retry.
	rec, err := p.cfg.Store.Recording(ctx, voice.Scope{}, in.RecordingID)
	if voice.IsNotFound(err) {
		// Deleted since the step started: failing it writes nothing, as
		// the record went with the recording.
		return nil, &stepFailure{CodeRecordingUnreadable, "the recording was deleted"}
	}
	if err != nil {
		return nil, fmt.Errorf("insights: recording %s: %w", in.RecordingID, err)
	}
	chans, err := p.readChannels(rec)
	if err != nil {
		return nil, err
	}
	call, err := p.cfg.Store.Call(ctx, voice.Scope{}, in.CallID)
	if err != nil {
		return nil, fmt.Errorf("insights: call %s: %w", in.CallID, err)
	}
	bridged := rec.Source == voice.RecordingSourceDial
	if !bridged && len(chans) > 1 {
		if bridged, err = p.cfg.Store.HasAnsweredChild(ctx, call.ID); err != nil {
			return nil, err
		}
	}
	now := p.now()
	t := &voice.Transcription{CallID: in.CallID, RecordingID: in.RecordingID, Status: voice.InsightCompleted,
		Engine: p.cfg.ASR.Name(), Language: "", Duration: rec.Duration, Segments: []voice.Segment{},
		CreatedAt: in.Transcription.CreatedAt, UpdatedAt: now}
	if t.CreatedAt.IsZero() {
		t.CreatedAt = now
	}
	// The platform's own speech is known: what say spoke and play played
	// was noted while recording. It becomes the platform channel's
	// segments, and is muted before ASR hears that channel, so only the far
	// end (and a bridged party) is recognised. Recordings without notes
	// (made before them, or with no prompt) are recognised whole.
	platformCh := -1
	if len(rec.Speech) > 0 && len(chans) > 0 {
		platformCh = len(chans) - 1 // the right channel of dual, the mix of mono
		t.Segments = append(t.Segments, platformSegments(rec.Speech, platformCh)...)
	}
	app, err := p.application(ctx, in.ApplicationID)
	if err != nil {
		return nil, err
	}
	vocab := Vocabulary(app, rec.Speech)
	sent := 0
	for ch, pcm := range chans {
		if ch == platformCh {
			if len(chans) > 1 && !bridged {
				continue // nothing but the platform's prompts on it
			}
			pcm = muteNotes(pcm, rec.Speech)
		}
		if len(pcm.Samples) == 0 || media.DBFS(pcm.Samples) < silentChannel {
			continue
		}
		sent++
		res, err := p.cfg.ASR.Transcribe(ctx, asr.Audio{Samples: pcm.Samples, Rate: pcm.Rate, Vocabulary: vocab})
		if err != nil {
			return nil, fmt.Errorf("insights: transcribe channel %d of %s: %w", ch, rec.ID, err)
		}
		if t.Language == "" {
			t.Language = res.Language
		}
		speaker := Speaker(call.Direction, ch, bridged)
		for _, s := range res.Segments {
			text := strings.TrimSpace(s.Text)
			if text == "" {
				continue
			}
			t.Segments = append(t.Segments, voice.Segment{Channel: ch, Speaker: speaker, Start: round3(s.Start),
				End: round3(s.End), Text: text, Confidence: round3(s.Confidence), Source: voice.SourceASR})
		}
	}
	if sent == 0 {
		// A silent recording never reached the engine: make sure an empty
		// transcript means "nobody spoke", not "no engine". The probe's
		// verdict is retried rather than final, since for a remote engine it
		// may only mean the server is briefly unreachable.
		if err := p.cfg.ASR.Available(ctx); err != nil {
			return nil, fmt.Errorf("insights: %s: %s", p.cfg.ASR.Name(), err.Error())
		}
	}
	sort.SliceStable(t.Segments, func(i, j int) bool {
		a, b := t.Segments[i], t.Segments[j]
		if a.Start != b.Start {
			return a.Start < b.Start
		}
		return a.Channel < b.Channel
	})
	texts := make([]string, 0, len(t.Segments))
	for _, s := range t.Segments {
		if s.Text != "" { // a play's segment has none
			texts = append(texts, s.Text)
		}
	}
	t.Text = strings.Join(texts, " ")
	if t.Language == "" {
		t.Language = "en"
	}
	return t, nil
}

// platformSegments turns a recording's speech notes into the segments of
// the platform channel ch: a say is its exact text, confidence 1, source
// tts; a play is a segment without text (the file's words are not known),
// source play, so the transcript still shows when the platform was playing.
// Empty spans (a prompt cut before its first frame) are left out.
func platformSegments(notes []voice.SpeechNote, ch int) []voice.Segment {
	var out []voice.Segment
	for _, n := range notes {
		if n.End <= n.Start {
			continue
		}
		seg := voice.Segment{Channel: ch, Speaker: voice.SpeakerPlatform, Start: round3(n.Start), End: round3(n.End),
			Confidence: 1}
		switch n.Kind {
		case voice.SpeechSay:
			seg.Text, seg.Source = strings.Join(strings.Fields(n.Text), " "), voice.SourceTTS
			if seg.Text == "" {
				continue
			}
		case voice.SpeechPlay:
			seg.Source = voice.SourcePlay
		default:
			continue
		}
		out = append(out, seg)
	}
	return out
}

// muteNotes returns pcm with the spans of notes silenced (a copy; pcm is
// left alone), so ASR on a channel that also carries the platform's speech
// (a bridged call's right channel, a mono mix) does not transcribe it a
// second time. Spans are widened by 60 ms each side: the recorder places a
// note to within a frame or two.
func muteNotes(pcm *media.PCM, notes []voice.SpeechNote) *media.PCM {
	out := *pcm
	out.Samples = slices.Clone(pcm.Samples)
	const margin = 0.06
	for _, n := range notes {
		a := max(0, int((n.Start-margin)*float64(pcm.Rate)))
		b := min(len(out.Samples), int((n.End+margin)*float64(pcm.Rate)))
		if a < b {
			clear(out.Samples[a:b])
		}
	}
	return &out
}

func (p *Pipeline) readChannels(rec *voice.Recording) ([]*media.PCM, error) {
	if p.cfg.Blobs == nil {
		return nil, &stepFailure{CodeRecordingUnreadable, "no recording store"}
	}
	f, err := p.cfg.Blobs.Open(rec.StorageKey)
	if err != nil {
		p.log.Warn("recording file unreadable", "recording_id", rec.ID, "err", err)
		return nil, &stepFailure{CodeRecordingUnreadable, "recording file: " + publicmsg.Text(err)}
	}
	defer f.Close()
	chans, err := media.ReadWAVChannels(f, p.cfg.MaxAudioBytes)
	if err != nil {
		p.log.Warn("recording file unreadable", "recording_id", rec.ID, "err", err)
		return nil, &stepFailure{CodeRecordingUnreadable, "recording file: " + publicmsg.Text(err)}
	}
	return chans, nil
}

// Speaker names who is on channel ch of a recording of a call in direction:
// channel 0 is the far end of the recorded leg (the caller of an inbound
// call, the called party of an outbound one); channel 1 is what the platform
// sent it, the bridged party if a dial was answered (the callee of an
// inbound call; for an outbound call, the party the application connected
// the called party to, standing in for the caller) and otherwise the
// platform's own prompts.
func Speaker(direction string, ch int, bridged bool) string {
	inbound := direction != voice.DirectionOutbound
	switch {
	case ch == 0 && inbound:
		return voice.SpeakerCaller
	case ch == 0:
		return voice.SpeakerCallee
	case !bridged:
		return voice.SpeakerPlatform
	case inbound:
		return voice.SpeakerCallee
	}
	return voice.SpeakerCaller
}

func (p *Pipeline) failTranscription(ctx context.Context, in *voice.Insights, f *stepFailure) error {
	p.log.Warn("transcription failed", "recording_id", in.RecordingID, "code", f.code, "err", f.message)
	now := p.now()
	in.Transcription.Status = voice.InsightFailed
	in.Transcription.Error = &voice.StepError{Code: f.code, Message: f.message}
	in.Transcription.UpdatedAt = now
	if p.cfg.ASR != nil {
		in.Transcription.Engine = p.cfg.ASR.Name()
	}
	// The insights step cannot run without a transcript: it fails too,
	// saying why, so a client waiting on either learns the outcome.
	in.InsightsStatus = voice.InsightFailed
	in.InsightsError = &voice.StepError{Code: CodeTranscriptionFailed, Message: "transcription failed: " + f.message}
	app, err := p.application(ctx, in.ApplicationID)
	if err != nil {
		return err
	}
	evs := []*voice.Event{
		p.event(in, app, EventTranscriptionFailed, failureData(in.RecordingID, f)),
		p.event(in, app, EventInsightsFailed, failureData(in.RecordingID, &stepFailure{CodeTranscriptionFailed, in.InsightsError.Message})),
	}
	_, err = p.cfg.Store.FinishInsightsStep(ctx, in, voice.StepTranscription, "", evs...)
	return err
}

// Analyze runs the insights step of a recording, with the same contract as
// Transcribe.
func (p *Pipeline) Analyze(ctx context.Context, recordingID string, lastAttempt bool) error {
	done, err := p.cfg.Store.StartInsightsStep(ctx, recordingID, voice.StepInsights)
	if err != nil || done {
		return err
	}
	in, err := p.cfg.Store.Insights(ctx, voice.Scope{}, recordingID)
	if voice.IsNotFound(err) {
		return nil
	}
	if err != nil {
		return err
	}
	app, err := p.application(ctx, in.ApplicationID)
	if err != nil {
		return err
	}
	call, err := p.cfg.Store.Call(ctx, voice.Scope{}, in.CallID)
	if err != nil {
		return fmt.Errorf("insights: call %s: %w", in.CallID, err)
	}
	facts, err := p.facts(ctx, call)
	if err != nil {
		return err
	}
	input := analyze.Input{Call: call, Transcription: &in.Transcription, Facts: facts}
	if app != nil {
		input.Topics, input.Criteria = app.Topics, app.ScoreCriteria
	}
	eng := p.cfg.Analyzer
	res, err := eng.Analyze(ctx, input)
	if err != nil {
		f := classify(err, analyze.ErrUnavailable, analyze.ErrRejected)
		if f == nil && (!lastAttempt || shuttingDown(ctx, err)) {
			p.log.Warn("insights failed, will retry", "recording_id", recordingID, "err", err)
			return err
		}
		if f == nil {
			f = &stepFailure{CodeEngineError, publicmsg.Text(err)}
		}
		p.log.Warn("insights failed", "recording_id", recordingID, "code", f.code, "err", err)
		in.InsightsStatus, in.InsightsEngine = voice.InsightFailed, eng.Name()
		in.InsightsError = &voice.StepError{Code: f.code, Message: f.message}
		ev := p.event(in, app, EventInsightsFailed, failureData(recordingID, f))
		fctx, cancel := afterFailure(ctx)
		defer cancel()
		_, err := p.cfg.Store.FinishInsightsStep(fctx, in, voice.StepInsights, "", ev)
		return err
	}
	in.InsightsStatus, in.InsightsEngine, in.InsightsError = voice.InsightCompleted, eng.Name(), nil
	sum, score, topics := res.Summary, res.Score, res.Topics
	sum.CallID, sum.RecordingID, sum.Status, sum.Engine = in.CallID, recordingID, voice.InsightCompleted, eng.Name()
	score.CallID, score.RecordingID, score.Status, score.Engine = in.CallID, recordingID, voice.InsightCompleted, eng.Name()
	topics.CallID, topics.RecordingID, topics.Status, topics.Engine = in.CallID, recordingID, voice.InsightCompleted, eng.Name()
	in.Summary, in.Score, in.Topics = &sum, &score, &topics
	data, err := json.Marshal(struct {
		Summary *voice.Summary `json:"summary"`
		Score   *voice.Score   `json:"score"`
		Topics  *voice.Topics  `json:"topics"`
	}{in.Summary, in.Score, in.Topics})
	if err != nil {
		return fmt.Errorf("insights: event: %w", err)
	}
	_, err = p.cfg.Store.FinishInsightsStep(ctx, in, voice.StepInsights, "", p.event(in, app, EventInsightsCompleted, data))
	return err
}

// maxFactLegs bounds the outbound calls read to find a call's dial legs:
// a dial rings at most 10 numbers at once, and a call seldom dials more
// than a few times.
const maxFactLegs = 100

// maxFactRecordings bounds the recordings read for a call's facts.
const maxFactRecordings = 20

// facts reads what the call did besides talking, for the summary: its
// gather results (events), its dial legs (the application's outbound calls
// created while it was up whose parent it is) and its recordings (the
// record action's are messages left). An error is the store's, worth a
// retry.
func (p *Pipeline) facts(ctx context.Context, call *voice.Call) (*analyze.Facts, error) {
	evs, err := p.cfg.Store.CallEvents(ctx, voice.Scope{}, call.ID)
	if err != nil {
		return nil, fmt.Errorf("insights: events of %s: %w", call.ID, err)
	}
	var legs []*voice.Call
	if call.AnsweredAt != nil {
		f := voice.CallFilter{ApplicationID: call.ApplicationID, Direction: voice.DirectionOutbound,
			CreatedAfter: call.AnsweredAt, CreatedBefore: call.EndedAt}
		list, err := p.cfg.Store.Calls(ctx, f, voice.Page{Limit: maxFactLegs})
		if err != nil {
			return nil, fmt.Errorf("insights: dial legs of %s: %w", call.ID, err)
		}
		legs = list.Data
	}
	var recs []*voice.Recording
	for i, id := range call.RecordingIDs {
		if i == maxFactRecordings {
			break
		}
		r, err := p.cfg.Store.Recording(ctx, voice.Scope{}, id)
		if voice.IsNotFound(err) {
			continue
		}
		if err != nil {
			return nil, fmt.Errorf("insights: recording %s: %w", id, err)
		}
		recs = append(recs, r)
	}
	return analyze.NewFacts(call, evs, legs, recs), nil
}

// application is the recording's application, nil when it is gone (the
// results are still computed and stored, just not sent anywhere). Any other
// error is returned, for the job to retry: guessing "no application" would
// drop its topics, criteria and webhooks.
func (p *Pipeline) application(ctx context.Context, id string) (*voice.Application, error) {
	app, err := p.cfg.Store.Application(ctx, voice.Scope{}, id)
	if voice.IsNotFound(err) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("insights: application %s: %w", id, err)
	}
	return app, nil
}

// afterFailure is the context a step's failure is recorded with: the job's
// own may be what failed (its timeout expired), and the record must still
// be written.
func afterFailure(ctx context.Context) (context.Context, context.CancelFunc) {
	return context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
}

// shuttingDown reports whether err is the job's context canceled under it
// (the process is stopping): the job runs again later, nothing is recorded.
func shuttingDown(ctx context.Context, err error) bool {
	return errors.Is(err, context.Canceled) && errors.Is(ctx.Err(), context.Canceled)
}

func (p *Pipeline) event(in *voice.Insights, app *voice.Application, t voice.EventType, data []byte) *voice.Event {
	return voice.NewEvent(app, t, voice.EventSubject{CustomerID: in.CustomerID, ApplicationID: in.ApplicationID,
		CallID: in.CallID}, json.RawMessage(data), p.now())
}

func failureData(recordingID string, f *stepFailure) []byte {
	b, _ := json.Marshal(struct {
		RecordingID string `json:"recording_id"`
		Code        string `json:"code"`
		Message     string `json:"message"`
	}{recordingID, f.code, f.message}) // cannot fail: three strings
	return b
}

func round3(x float64) float64 {
	if x < 0 {
		return 0
	}
	return float64(int64(x*1000+0.5)) / 1000
}

// Vocabulary is what speech recognition is told to expect on a recording:
// the application's vocabulary, then its topic keywords, then the texts the
// platform spoke on the call (callers answer in the prompt's words: "the
// Tuesday appointment"), each once (ignoring case), at most
// asr.MaxVocabulary in all. app may be nil (deleted).
func Vocabulary(app *voice.Application, notes []voice.SpeechNote) []string {
	var out []string
	seen := map[string]bool{}
	add := func(s string) {
		s = strings.Join(strings.Fields(s), " ")
		if k := strings.ToLower(s); s != "" && !seen[k] && len(out) < asr.MaxVocabulary {
			seen[k] = true
			out = append(out, s)
		}
	}
	if app != nil {
		for _, v := range app.Vocabulary {
			add(v)
		}
		for _, t := range app.Topics {
			for _, k := range t.Keywords {
				add(k)
			}
		}
	}
	for _, n := range notes {
		if n.Kind != voice.SpeechSay {
			continue
		}
		// Sentence by sentence, as phrases stay short; a sentence longer
		// than a vocabulary entry may be goes in word by word.
		for _, sent := range strings.FieldsFunc(n.Text, func(r rune) bool { return strings.ContainsRune(".!?;:", r) }) {
			if len(sent) <= maxVocabularyPhrase {
				add(sent)
				continue
			}
			for _, w := range strings.Fields(sent) {
				add(strings.Trim(w, ",\"'()"))
			}
		}
	}
	return out
}

// maxVocabularyPhrase is the longest phrase Vocabulary passes on, the
// bound on an application's own entries.
const maxVocabularyPhrase = 100
