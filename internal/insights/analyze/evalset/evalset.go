// Package evalset is the labelled dialogue set the offline analyser is
// measured on (bench/insights-eval): what each dialogue is (its turns, the
// far end's request, the outcome, the topics and score band a reviewer
// would give it), what a real call of it left behind (the call, its events,
// its dial legs, its recordings and the transcription), and the measures:
// topic precision and recall, the share of summaries that contain the
// request, ratings inside their band, and caller moods.
//
// The stored records are the testdata of the analyser's tests, so the
// measures are computed the same way in the benchmark and in CI.
package evalset

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/minivoice/minivoice/internal/insights/analyze"
	"github.com/minivoice/minivoice/internal/voice"
)

// Set is the dialogue file: the application's topic list and the dialogues.
type Set struct {
	Topics    []voice.TopicDef `json:"topics"`
	Dialogues []Dialogue       `json:"dialogues"`
}

// Dialogue is one labelled conversation.
type Dialogue struct {
	Name string `json:"name"`
	// Direction is inbound (the far end calls the platform) or outbound
	// (the platform calls the far end).
	Direction string `json:"direction"`
	Turns     []Turn `json:"turns"`
	// Request is what the far end wants, as it says it (for outbound calls
	// without a far-end request: the purpose the platform states). Its
	// content words are what a summary must carry.
	Request string `json:"request"`
	// Outcome says, for people, what was agreed or done.
	Outcome string `json:"outcome"`
	// Topics are the application topics a reviewer would tag it with.
	Topics []string `json:"topics"`
	// Ratings are the acceptable score ratings (poor, fair, good, excellent).
	Ratings []string `json:"ratings"`
	// Sentiment is the far end's mood: negative, neutral or positive.
	Sentiment string `json:"sentiment"`
}

// Turn is one step of a dialogue; exactly one of its kinds is set.
type Turn struct {
	// Platform is text the platform says (a say action).
	Platform string `json:"platform,omitempty"`
	// Far is text the far end says while the platform waits (a pause).
	Far string `json:"far,omitempty"`
	// Menu is a gather prompt; Press the digits the far end presses ("" for
	// none: the gather times out).
	Menu  string `json:"menu,omitempty"`
	Press string `json:"press,omitempty"`
	// Dial connects the far end to another party: "busy" and "no-answer"
	// fail; "talk" is answered and Talk is the conversation, the agent
	// lines said by the dialled party.
	Dial string `json:"dial,omitempty"`
	Talk []Line `json:"talk,omitempty"`
	// Voicemail is the prompt before a record action; Message is what the
	// far end leaves before hanging up.
	Voicemail string `json:"voicemail,omitempty"`
	Message   string `json:"message,omitempty"`
	// Hangup: the far end hangs up here.
	Hangup bool `json:"hangup,omitempty"`
}

// Line is one line of a bridged conversation.
type Line struct {
	Agent string `json:"agent,omitempty"`
	Far   string `json:"far,omitempty"`
}

// Load reads a Set and checks it.
func Load(path string) (*Set, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("evalset: %w", err)
	}
	var s Set
	if err := json.Unmarshal(b, &s); err != nil {
		return nil, fmt.Errorf("evalset: %s: %w", path, err)
	}
	names := map[string]bool{}
	topics := map[string]bool{}
	for _, t := range s.Topics {
		topics[t.Name] = true
	}
	for i, d := range s.Dialogues {
		if d.Name == "" || names[d.Name] {
			return nil, fmt.Errorf("evalset: dialogue %d: missing or duplicate name %q", i, d.Name)
		}
		names[d.Name] = true
		if d.Direction != voice.DirectionInbound && d.Direction != voice.DirectionOutbound {
			return nil, fmt.Errorf("evalset: %s: direction %q", d.Name, d.Direction)
		}
		if len(d.Turns) == 0 || strings.TrimSpace(d.Request) == "" || len(d.Ratings) == 0 {
			return nil, fmt.Errorf("evalset: %s: needs turns, request and ratings", d.Name)
		}
		for _, t := range d.Topics {
			if !topics[t] {
				return nil, fmt.Errorf("evalset: %s: topic %q is not in the topic list", d.Name, t)
			}
		}
	}
	return &s, nil
}

// Record is what one real call of a dialogue left behind, as the API
// returned it: the stored testdata.
type Record struct {
	Dialogue   Dialogue           `json:"dialogue"`
	Topics     []voice.TopicDef   `json:"topics"`
	Codec      string             `json:"codec"`
	Call       *voice.Call        `json:"call"`
	Events     []*voice.Event     `json:"events"`
	Children   []*voice.Call      `json:"children"`
	Recordings []*voice.Recording `json:"recordings"`
	// Transcription is the whole-call recording's.
	Transcription *voice.Transcription `json:"transcription"`
}

// Save writes r as DIR/NAME.json, without the events of the insights
// pipeline itself (they repeat the transcription and hold the results of
// the analyser that ran in the platform, which the record is for
// re-computing).
func (r *Record) Save(dir string) error {
	c := *r
	c.Events = nil
	for _, e := range r.Events {
		if !strings.HasPrefix(string(e.Event), "transcription.") && !strings.HasPrefix(string(e.Event), "insights.") {
			c.Events = append(c.Events, e)
		}
	}
	b, err := json.MarshalIndent(&c, "", " ")
	if err != nil {
		return fmt.Errorf("evalset: %w", err)
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("evalset: %w", err)
	}
	return os.WriteFile(filepath.Join(dir, r.Dialogue.Name+".json"), append(b, '\n'), 0o644)
}

// PlatformResult is the analysis the platform itself made at the time of
// the call (its insights.completed event), nil when the record does not
// hold it (Save leaves it out): the benchmark's before, when the calls
// were placed by an earlier analyser.
func (r *Record) PlatformResult() *analyze.Result {
	for _, e := range r.Events {
		if e == nil || e.Event != "insights.completed" {
			continue
		}
		var res analyze.Result
		var data struct {
			Summary voice.Summary `json:"summary"`
			Score   voice.Score   `json:"score"`
			Topics  voice.Topics  `json:"topics"`
		}
		if json.Unmarshal(e.Data, &data) != nil {
			return nil
		}
		if r.Transcription != nil && data.Summary.RecordingID != r.Transcription.RecordingID {
			continue // another recording's: a message the record action took
		}
		res.Summary, res.Score, res.Topics = data.Summary, data.Score, data.Topics
		return &res
	}
	return nil
}

// LoadRecords reads every DIR/*.json record, in name order.
func LoadRecords(dir string) ([]*Record, error) {
	paths, err := filepath.Glob(filepath.Join(dir, "*.json"))
	if err != nil {
		return nil, fmt.Errorf("evalset: %w", err)
	}
	slices.Sort(paths)
	var out []*Record
	for _, p := range paths {
		b, err := os.ReadFile(p)
		if err != nil {
			return nil, fmt.Errorf("evalset: %w", err)
		}
		var r Record
		if err := json.Unmarshal(b, &r); err != nil {
			return nil, fmt.Errorf("evalset: %s: %w", p, err)
		}
		out = append(out, &r)
	}
	return out, nil
}
