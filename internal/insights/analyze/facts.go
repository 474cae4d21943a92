package analyze

import (
	"encoding/json"
	"slices"
	"strings"
	"time"

	"github.com/minivoice/minivoice/internal/voice"
)

// Facts are what a call did besides talking, as its events and records say:
// the summary reports them and the scorecard counts them. The pipeline
// builds them with NewFacts; nil Facts means unknown, and the summary then
// says only what the transcript does.
type Facts struct {
	// Gathers are the call's gather results, in order.
	Gathers []GatherFact `json:"gathers,omitempty"`
	// Dials are the call's dial legs, in order.
	Dials []DialFact `json:"dials,omitempty"`
	// Voicemails are recordings the record action made (a message left).
	Voicemails []VoicemailFact `json:"voicemails,omitempty"`
}

// GatherFact is one gather's result.
type GatherFact struct {
	// At is seconds from the call's answer, -1 when unknown.
	At     float64 `json:"at"`
	Digits string  `json:"digits"`
	// Speech is what a speech gather recognised ("" for none).
	Speech string `json:"speech,omitempty"`
	Reason string `json:"reason"`
}

// DialFact is one leg a dial placed.
type DialFact struct {
	To string `json:"to"`
	// Status is the leg's final call status: completed (answered),
	// busy, no-answer, failed or canceled.
	Status   string `json:"status"`
	Answered bool   `json:"answered"`
	Duration int    `json:"duration"`
}

// VoicemailFact is a message left through the record action.
type VoicemailFact struct {
	Duration float64 `json:"duration"`
}

// Bounds on what NewFacts keeps: a call can gather, dial and record many
// times (up to its time limit), and the summary names a few.
const (
	maxFactGathers    = 20
	maxFactDials      = 20
	maxFactVoicemails = 10
	maxFactDigits     = 32
	// maxFactSpeechWords cuts a speech gather's answer (a menu choice is
	// a few words; the gather bounds the utterance at 30 s).
	maxFactSpeechWords = 20
)

// NewFacts gathers a call's facts from its events (call.gather), the legs
// its dials placed (children: calls whose parent is the call; others are
// ignored) and its recordings (those of the record action are messages
// left). Anything malformed is skipped.
func NewFacts(call *voice.Call, events []*voice.Event, children []*voice.Call, recordings []*voice.Recording) *Facts {
	f := &Facts{}
	var answered time.Time
	if call != nil && call.AnsweredAt != nil {
		answered = *call.AnsweredAt
	}
	for _, e := range events {
		if e == nil || e.Event != "call.gather" || len(f.Gathers) == maxFactGathers {
			continue
		}
		var g struct {
			Digits string `json:"digits"`
			Speech string `json:"speech"`
			Reason string `json:"reason"`
		}
		if json.Unmarshal(e.Data, &g) != nil {
			continue
		}
		if len(g.Digits) > maxFactDigits {
			g.Digits = g.Digits[:maxFactDigits]
		}
		if w := strings.Fields(g.Speech); len(w) > maxFactSpeechWords {
			g.Speech = strings.Join(w[:maxFactSpeechWords], " ") + "..."
		}
		at := -1.0
		if !answered.IsZero() && !e.CreatedAt.Before(answered) {
			at = e.CreatedAt.Sub(answered).Seconds()
		}
		f.Gathers = append(f.Gathers, GatherFact{At: at, Digits: g.Digits, Speech: g.Speech, Reason: g.Reason})
	}
	kids := slices.DeleteFunc(slices.Clone(children), func(c *voice.Call) bool { return c == nil })
	slices.SortStableFunc(kids, func(a, b *voice.Call) int { return a.CreatedAt.Compare(b.CreatedAt) })
	for _, c := range kids {
		if call == nil || c.ParentCallID == nil || *c.ParentCallID != call.ID || len(f.Dials) == maxFactDials {
			continue
		}
		f.Dials = append(f.Dials, DialFact{To: c.To, Status: c.Status, Answered: c.AnsweredAt != nil, Duration: c.Duration})
	}
	for _, r := range recordings {
		if r == nil || r.Source != voice.RecordingSourceRecordAction || r.Status != voice.RecordingCompleted ||
			len(f.Voicemails) == maxFactVoicemails {
			continue
		}
		f.Voicemails = append(f.Voicemails, VoicemailFact{Duration: r.Duration})
	}
	return f
}
