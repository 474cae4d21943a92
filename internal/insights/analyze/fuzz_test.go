package analyze_test

import (
	"context"
	"encoding/json"
	"testing"

	"github.com/minivoice/minivoice/internal/insights/analyze"
	"github.com/minivoice/minivoice/internal/voice"
)

// FuzzAnalyze feeds arbitrary text to the offline analyser: it must not
// panic, every score must stay within 0..100 and every confidence within
// 0..1, and the result must encode as JSON (no NaN).
func FuzzAnalyze(f *testing.F) {
	f.Add("i'm calling about my bill", "hello thank you for calling", 3.5, "bill")
	f.Add("", "", 0.0, "")
	f.Add("not not not good", "damn", -1.0, "not")
	f.Fuzz(func(t *testing.T, caller, agent string, gap float64, phrase string) {
		tr := transcript(60,
			voice.Segment{Channel: 1, Start: 0, End: 2, Text: agent, Source: voice.SourceTTS, Confidence: 1},
			voice.Segment{Channel: 0, Start: 2 + gap, End: 4 + gap, Text: caller, Confidence: gap},
			voice.Segment{Channel: 1, Start: 5 + 2*gap, End: 6, Text: caller + " " + agent},
		)
		// Facts and the call's direction change what the summary says.
		call := inboundCall(60, "caller")
		if gap > 1 {
			call.Direction = voice.DirectionOutbound
		}
		facts := &analyze.Facts{Gathers: []analyze.GatherFact{{Digits: phrase, Speech: caller}},
			Dials: []analyze.DialFact{{To: phrase, Status: agent}}, Voicemails: []analyze.VoicemailFact{{Duration: gap}}}
		in := analyze.Input{Transcription: tr, Call: call, Facts: facts,
			Topics:   []voice.TopicDef{{Name: phrase, Keywords: []string{phrase, caller}}},
			Criteria: []voice.ScoreCriterion{{Name: "c", AnyOf: []string{phrase}, Required: []string{agent}, Forbidden: []string{caller}}},
		}
		res, err := analyze.NewOffline().Analyze(context.Background(), in)
		if err != nil {
			t.Fatal(err)
		}
		if s := res.Score.Score; s < 0 || s > 100 {
			t.Fatalf("score %d", s)
		}
		for _, c := range res.Score.Criteria {
			if c.Score < 0 || c.Score > 100 {
				t.Fatalf("criterion %+v", c)
			}
		}
		for _, tp := range res.Topics.Topics {
			if tp.Confidence < 0 || tp.Confidence > 1 || tp.Mentions < 1 {
				t.Fatalf("topic %+v", tp)
			}
		}
		if _, err := json.Marshal(res); err != nil {
			t.Fatalf("JSON: %v", err)
		}
	})
}
