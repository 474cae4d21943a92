package voice

import (
	"bytes"
	"context"
	"encoding/json"
	"time"
)

// Statuses of a step of the insights pipeline (transcription, then insights:
// summary, score and topics), insights.md.
const (
	InsightQueued     = "queued"
	InsightProcessing = "processing"
	InsightCompleted  = "completed"
	InsightFailed     = "failed"
)

// Speakers of a transcript segment: who was on the recording's channel.
const (
	SpeakerCaller   = "caller"   // the party who placed the call
	SpeakerCallee   = "callee"   // the party who was called
	SpeakerPlatform = "platform" // prompts the platform played
)

// Score ratings, from the 0..100 score.
const (
	RatingExcellent = "excellent"
	RatingGood      = "good"
	RatingFair      = "fair"
	RatingPoor      = "poor"
)

// Segment is one stretch of speech on one channel of a recording.
type Segment struct {
	// Channel is the WAV channel: 0 is the left (or only) one, 1 the right.
	Channel int    `json:"channel"`
	Speaker string `json:"speaker"`
	// Start and End are seconds from the start of the recording.
	Start float64 `json:"start"`
	End   float64 `json:"end"`
	Text  string  `json:"text"`
	// Confidence is the engine's, scaled to 0..1; 1 for the platform's own
	// speech.
	Confidence float64 `json:"confidence"`
	// Source says where the text came from: SourceASR (speech recognition),
	// SourceTTS (the text the platform's say spoke) or SourcePlay (an audio
	// file the platform played; its Text is empty).
	Source string `json:"source"`
}

// Sources of a segment's text.
const (
	SourceASR  = "asr"
	SourceTTS  = "tts"
	SourcePlay = "play"
)

// UnmarshalJSON reads a segment; one stored before segments had a source
// came from speech recognition, so it reads as SourceASR.
func (s *Segment) UnmarshalJSON(b []byte) error {
	type plain Segment // without this method
	var p plain
	if err := json.Unmarshal(b, &p); err != nil {
		return err
	}
	if p.Source == "" {
		p.Source = SourceASR
	}
	*s = Segment(p)
	return nil
}

// StepError says why a pipeline step failed.
type StepError struct {
	Code    string `json:"code"`
	Message string `json:"message"`
}

// Transcription is what speech recognition made of one recording.
type Transcription struct {
	CallID      string     `json:"call_id"`
	RecordingID string     `json:"recording_id"`
	Status      string     `json:"status"`
	Engine      string     `json:"engine"`
	Language    string     `json:"language"`
	Text        string     `json:"text"`
	Duration    float64    `json:"duration"` // seconds of audio
	Segments    []Segment  `json:"segments"`
	Error       *StepError `json:"error,omitempty"`
	CreatedAt   time.Time  `json:"created_at"`
	UpdatedAt   time.Time  `json:"updated_at"`
}

// Summary is a short extractive summary of a call.
type Summary struct {
	CallID      string     `json:"call_id"`
	RecordingID string     `json:"recording_id"`
	Status      string     `json:"status"`
	Engine      string     `json:"engine"`
	Text        string     `json:"text"`
	KeyPoints   []string   `json:"key_points"`
	Error       *StepError `json:"error,omitempty"`
}

// Criterion is one line of a scorecard.
type Criterion struct {
	Name     string `json:"name"`
	Score    int    `json:"score"` // 0..100
	Passed   bool   `json:"passed"`
	Evidence string `json:"evidence"`
}

// Score rates a call against a scorecard.
type Score struct {
	CallID      string      `json:"call_id"`
	RecordingID string      `json:"recording_id"`
	Status      string      `json:"status"`
	Engine      string      `json:"engine"`
	Score       int         `json:"score"` // 0..100
	Rating      string      `json:"rating"`
	Criteria    []Criterion `json:"criteria"`
	Error       *StepError  `json:"error,omitempty"`
}

// Topic is a subject the call was about.
type Topic struct {
	Name       string  `json:"name"`
	Confidence float64 `json:"confidence"` // 0..1
	Mentions   int     `json:"mentions"`
	// Evidence is where the topic was first heard; nil from engines or
	// records that do not say.
	Evidence *TopicEvidence `json:"evidence,omitempty"`
}

// TopicEvidence is the segment in which a topic was first heard.
type TopicEvidence struct {
	// Start and End are the segment's, in seconds from the start of the
	// recording.
	Start   float64 `json:"start"`
	End     float64 `json:"end"`
	Speaker string  `json:"speaker"`
	// Text is the segment's text, shortened around the match when long.
	Text string `json:"text"`
	// Matched is the words of the segment that matched, as recognised.
	Matched string `json:"matched"`
	// Keyword is the application keyword they matched ("" for a salient
	// phrase, which is its own evidence).
	Keyword string `json:"keyword,omitempty"`
}

// Topics lists what a call was about: the application's own topics first,
// then salient phrases.
type Topics struct {
	CallID      string     `json:"call_id"`
	RecordingID string     `json:"recording_id"`
	Status      string     `json:"status"`
	Engine      string     `json:"engine"`
	Topics      []Topic    `json:"topics"`
	Error       *StepError `json:"error,omitempty"`
}

// TopicDef is one entry of an application's topic list: a topic and the
// words or phrases that mention it.
type TopicDef struct {
	Name     string   `json:"name"`
	Keywords []string `json:"keywords"`
}

// UnmarshalJSON also takes a bare string, shorthand for a topic whose one
// keyword is its name ("billing" is {"name":"billing","keywords":["billing"]}),
// so the lists applications were created with before topics had keywords
// still read.
func (t *TopicDef) UnmarshalJSON(b []byte) error {
	if b = bytes.TrimSpace(b); len(b) > 0 && b[0] == '"' {
		var name string
		if err := json.Unmarshal(b, &name); err != nil {
			return err
		}
		*t = TopicDef{Name: name, Keywords: []string{name}}
		return nil
	}
	type plain TopicDef // without this method
	var p plain
	// Strict like the API's decoder, which cannot reach inside this method.
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&p); err != nil {
		return err
	}
	*t = TopicDef(p)
	if t.Keywords == nil {
		t.Keywords = []string{}
	}
	return nil
}

// Scorecard criterion speakers: whose words a criterion looks at.
const (
	CriterionAny    = "any"
	CriterionCaller = "caller" // the far end of the recorded leg
	CriterionAgent  = "agent"  // the other side: the bridged party or the platform's prompts
)

// ScoreCriterion is an application-defined line of the scorecard. It passes
// when the speaker said at least one of AnyOf (if given), every phrase of
// Required, and none of Forbidden.
type ScoreCriterion struct {
	Name      string   `json:"name"`
	Speaker   string   `json:"speaker"`
	AnyOf     []string `json:"any_of"`
	Required  []string `json:"required"`
	Forbidden []string `json:"forbidden"`
}

// Insights is the pipeline's record for one recording: the transcription
// step, then the insights step (summary, score and topics).
type Insights struct {
	RecordingID   string
	CallID        string
	CustomerID    string
	ApplicationID string

	Transcription Transcription
	// InsightsStatus, InsightsEngine and InsightsError describe the
	// insights step; Summary, Score and Topics are its results (nil until
	// it completes).
	InsightsStatus string
	InsightsEngine string
	InsightsError  *StepError
	Summary        *Summary
	Score          *Score
	Topics         *Topics

	CreatedAt time.Time
	UpdatedAt time.Time
}

// Steps of the insights pipeline, in order.
const (
	StepTranscription = "transcription"
	StepInsights      = "insights"
)

// InsightsStore persists the pipeline's records. A record is created in the
// transaction that completes its recording (for applications with insights
// on), and deleted with the recording.
type InsightsStore interface {
	// Insights returns the record of a recording visible to scope.
	Insights(ctx context.Context, scope Scope, recordingID string) (*Insights, error)
	// CallInsights returns the records of a call's recordings visible to
	// scope, oldest first.
	CallInsights(ctx context.Context, scope Scope, callID string) ([]*Insights, error)
	// StartInsightsStep marks step processing if it is queued, or still
	// processing after a crash; done is true when it has already finished
	// (completed or failed) and must not run again.
	StartInsightsStep(ctx context.Context, recordingID, step string) (done bool, err error)
	// FinishInsightsStep writes in's fields of step (its status completed or
	// failed) and events, and queues next ("" for none), in one
	// transaction; written is false, and nothing changes, when step had
	// already finished or the record is gone (the recording was deleted).
	FinishInsightsStep(ctx context.Context, in *Insights, step, next string, events ...*Event) (written bool, err error)
}
