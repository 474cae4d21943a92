package analyze_test

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/minivoice/minivoice/internal/insights/analyze"
	"github.com/minivoice/minivoice/internal/voice"
)

func TestNewFacts(t *testing.T) {
	t.Parallel()
	answered := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	call := &voice.Call{ID: "call_1", AnsweredAt: &answered}
	parent, other := "call_1", "call_2"
	ev := func(name string, at time.Duration, data string) *voice.Event {
		return &voice.Event{Event: voice.EventType(name), CreatedAt: answered.Add(at), Data: json.RawMessage(data)}
	}
	f := analyze.NewFacts(call,
		[]*voice.Event{ev("call.answered", 0, `{}`), ev("call.gather", 7*time.Second, `{"digits":"1","reason":"max_digits"}`),
			ev("call.gather", 20*time.Second, `{"digits":"","reason":"timeout"}`), ev("call.gather", 21*time.Second, `not json`),
			ev("call.gather", 22*time.Second, `{"digits":"","speech":"speak to a person","confidence":0.8,"reason":"speech"}`), nil},
		[]*voice.Call{
			{To: "+15550000002", Status: voice.CallBusy, ParentCallID: &parent, CreatedAt: answered.Add(10 * time.Second)},
			{To: "+15550000001", Status: voice.CallCompleted, ParentCallID: &parent, AnsweredAt: &answered, Duration: 42, CreatedAt: answered.Add(5 * time.Second)},
			{To: "+15550000009", Status: voice.CallCompleted, ParentCallID: &other},
			nil},
		[]*voice.Recording{{Source: voice.RecordingSourceCall, Status: voice.RecordingCompleted, Duration: 60},
			{Source: voice.RecordingSourceRecordAction, Status: voice.RecordingCompleted, Duration: 9.4}, nil})
	want := &analyze.Facts{
		Gathers: []analyze.GatherFact{{At: 7, Digits: "1", Reason: "max_digits"}, {At: 20, Reason: "timeout"},
			{At: 22, Speech: "speak to a person", Reason: "speech"}},
		Dials:      []analyze.DialFact{{To: "+15550000001", Status: "completed", Answered: true, Duration: 42}, {To: "+15550000002", Status: "busy"}},
		Voicemails: []analyze.VoicemailFact{{Duration: 9.4}},
	}
	same(t, "facts", f, want)
}

func TestSummaryFacts(t *testing.T) {
	t.Parallel()
	call := inboundCall(40, "caller")
	tr := transcript(40,
		voice.Segment{Channel: 1, Speaker: voice.SpeakerPlatform, Start: 0, End: 4, Confidence: 1, Source: voice.SourceTTS,
			Text: "Thank you for calling Northwind. Please tell us why you are calling."},
		voice.Segment{Channel: 0, Speaker: voice.SpeakerCaller, Start: 5, End: 10, Confidence: 0.7, Source: voice.SourceASR,
			Text: "um so i i was charged twice for my subscription and i would like my money back"},
		voice.Segment{Channel: 1, Speaker: voice.SpeakerPlatform, Start: 20, End: 25, Confidence: 1, Source: voice.SourceTTS,
			Text: "All our agents are busy. Please leave a message after the tone."},
	)
	facts := &analyze.Facts{Gathers: []analyze.GatherFact{{Digits: "2"}, {Speech: "billing", Reason: "speech"}},
		Dials:      []analyze.DialFact{{To: "+15550000486", Status: voice.CallBusy}},
		Voicemails: []analyze.VoicemailFact{{Duration: 8.6}}}
	res := analyzeOffline(t, analyze.Input{Call: call, Transcription: tr, Facts: facts})
	want := "Inbound call from +15551230001 to +15557654321, 40 s, ended by the caller hanging up. " +
		"The caller asked: \"I was charged twice for my subscription and I would like my money back.\" " +
		"The caller answered the menu: 'billing'. The caller pressed 2. A transfer to +15550000486 failed: the line was busy. The caller left a 9 s message. " +
		"The caller sounded unhappy ('charged twice'). Follow-up: return the message."
	if res.Summary.Text != want {
		t.Errorf("summary\n got %q\nwant %q", res.Summary.Text, want)
	}
	same(t, "key points", res.Summary.KeyPoints, []string{
		"Caller: I was charged twice for my subscription and I would like my money back", "Answered: 'billing'", "Pressed: 2",
		"Transfer: A transfer to +15550000486 failed: the line was busy", "Message: 9 s", "Follow-up: return the message"})

	// Without facts the summary says what the transcript does, and that
	// nothing was agreed.
	res = analyzeOffline(t, analyze.Input{Call: call, Transcription: tr})
	if !strings.HasSuffix(res.Summary.Text, "Left open: no outcome was stated.") || strings.Contains(res.Summary.Text, "pressed") {
		t.Errorf("summary without facts %q", res.Summary.Text)
	}
}

func TestOutboundPurpose(t *testing.T) {
	t.Parallel()
	call := inboundCall(20, "caller")
	call.Direction = voice.DirectionOutbound
	tr := transcript(20,
		voice.Segment{Channel: 1, Speaker: voice.SpeakerPlatform, Start: 0, End: 5, Confidence: 1, Source: voice.SourceTTS,
			Text: "Hello, this is Acme Dental calling to remind you of your appointment tomorrow at ten."},
		voice.Segment{Channel: 0, Speaker: voice.SpeakerCallee, Start: 6, End: 8, Confidence: 0.8, Source: voice.SourceASR,
			Text: "great thank you"},
	)
	res := analyzeOffline(t, analyze.Input{Call: call, Transcription: tr})
	same(t, "purpose", criterion(t, res.Score, "purpose_identified"), voice.Criterion{Name: "purpose_identified", Score: 100,
		Passed: true, Evidence: "at 0:00 agent: 'calling to remind you of your appointment tomorrow' (the agent side placed the call)"})
	if want := "The platform called to say: \"Hello, this is Acme Dental calling to remind you of your appointment tomorrow at ten.\""; !strings.Contains(res.Summary.Text, want) {
		t.Errorf("summary %q lacks %q", res.Summary.Text, want)
	}
	// The same words on an inbound call are not the caller's purpose.
	res = analyzeOffline(t, analyze.Input{Call: inboundCall(20, "caller"), Transcription: tr})
	if c := criterion(t, res.Score, "purpose_identified"); c.Passed {
		t.Errorf("inbound: %+v", c)
	}
}
