package analyze_test

import (
	"context"
	"encoding/json"
	"errors"
	"reflect"
	"sync"
	"testing"

	"github.com/minivoice/minivoice/internal/insights/analyze"
	"github.com/minivoice/minivoice/internal/voice"
)

// analyzeOffline runs the offline engine and fails the test on error.
func analyzeOffline(t *testing.T, in analyze.Input) *analyze.Result {
	t.Helper()
	res, err := analyze.NewOffline().Analyze(context.Background(), in)
	if err != nil {
		t.Fatalf("Analyze: %v", err)
	}
	return res
}

// withoutEvidence clears the topics' evidence, which TestTopicEvidence
// checks, so the tests of names, confidences and mentions stay readable.
func withoutEvidence(ts []voice.Topic) []voice.Topic {
	for i := range ts {
		ts[i].Evidence = nil
	}
	return ts
}

// same fails the test when got and want differ, showing both as JSON.
func same(t *testing.T, what string, got, want any) {
	t.Helper()
	if !reflect.DeepEqual(got, want) {
		g, _ := json.MarshalIndent(got, "", "  ")
		w, _ := json.MarshalIndent(want, "", "  ")
		t.Errorf("%s:\n got %s\nwant %s", what, g, w)
	}
}

func TestOfflineScenarios(t *testing.T) {
	t.Parallel()
	head := "Inbound call from +15551230001 to +15557654321, "
	tests := []struct {
		name      string
		tr        *voice.Transcription
		text      string
		keyPoints []string
		criteria  []voice.Criterion
		total     int
		rating    string
		topics    []voice.Topic
	}{
		{
			name: "complaint",
			tr:   complaint,
			text: head + "49 s, ended by the caller hanging up. The caller said: \"I have been charged twice for my bill this month " +
				"and nobody has fixed it.\" The caller sounded unhappy ('charged twice'). Left open: no outcome was stated.",
			keyPoints: []string{
				"Caller: I have been charged twice for my bill this month and nobody has fixed it",
				"Left open: no outcome was stated",
			},
			criteria: []voice.Criterion{
				{Name: "greeting", Score: 100, Passed: true, Evidence: "at 0:00 agent: 'hello'"},
				{Name: "purpose_identified", Score: 100, Passed: true, Evidence: "at 0:03 caller: 'i have been charged twice for my'"},
				{Name: "resolution_stated", Score: 0, Passed: false, Evidence: "no resolution or next step was stated"},
				{Name: "politeness", Score: 40, Passed: false, Evidence: "no polite words (please, thank you, sorry)"},
				{Name: "no_long_silences", Score: 100, Passed: true, Evidence: "longest silence 1.0 s, at 0:18"},
				{Name: "caller_sentiment", Score: 1, Passed: false, Evidence: "negative (-0.98) over 53 caller words, strongest at 0:03: 'charged twice'"},
			},
			total: 57, rating: voice.RatingFair,
			topics: []voice.Topic{
				{Name: "billing", Confidence: 1, Mentions: 6},
				{Name: "refund", Confidence: 0.8, Mentions: 2},
				{Name: "account", Confidence: 0.3, Mentions: 2},
			},
		},
		{
			name: "booking",
			tr:   booking,
			text: head + "31 s, ended by the caller hanging up. The caller asked: \"I would like to book an appointment for a cleaning please.\" " +
				"The agent replied: \"Thank you maria your appointment is booked for tuesday at ten and we will send you a text reminder.\" " +
				"The caller sounded satisfied. Follow-up: 'we will send you a text reminder'.",
			keyPoints: []string{
				"Caller: I would like to book an appointment for a cleaning please",
				"Callee: thank you maria your appointment is booked for tuesday at ten and we will send you a text reminder",
				"Follow-up: 'we will send you a text reminder'",
			},
			criteria: []voice.Criterion{
				{Name: "greeting", Score: 100, Passed: true, Evidence: "at 0:00 agent: 'good morning'"},
				{Name: "purpose_identified", Score: 100, Passed: true, Evidence: "at 0:03 caller: 'i would like to book an appointment for a'"},
				{Name: "resolution_stated", Score: 100, Passed: true, Evidence: "at 0:20 agent: 'maria your appointment is booked for tuesday at'"},
				{Name: "politeness", Score: 100, Passed: true, Evidence: "5 polite word(s), first at 0:00 agent: 'thank you'"},
				{Name: "no_long_silences", Score: 100, Passed: true, Evidence: "longest silence 0.6 s, at 0:03"},
				{Name: "caller_sentiment", Score: 94, Passed: true, Evidence: "positive (+0.88) over 26 caller words, strongest at 0:11: 'great'"},
			},
			total: 99, rating: voice.RatingExcellent,
			topics: []voice.Topic{
				{Name: "appointment", Confidence: 1, Mentions: 4},
				{Name: "tuesday", Confidence: 0.47, Mentions: 3},
				{Name: "maria", Confidence: 0.46, Mentions: 2},
			},
		},
		{
			name:      "wrong number",
			tr:        wrongNumber,
			text:      head + "8 s, ended by the caller hanging up. Hi is this pizza palace.",
			keyPoints: []string{"Caller: hi is this pizza palace"},
			criteria: []voice.Criterion{
				{Name: "greeting", Score: 100, Passed: true, Evidence: "at 0:00 agent: 'hello'"},
				{Name: "purpose_identified", Score: 0, Passed: false, Evidence: "the caller did not say why they called"},
				{Name: "resolution_stated", Score: 0, Passed: false, Evidence: "no resolution or next step was stated"},
				{Name: "politeness", Score: 80, Passed: true, Evidence: "2 polite word(s), first at 0:03 agent: 'sorry'"},
				{Name: "no_long_silences", Score: 100, Passed: true, Evidence: "longest silence 0.5 s, at 0:01"},
				{Name: "caller_sentiment", Score: 50, Passed: true, Evidence: "neutral (+0.00) over 8 caller words"},
			},
			total: 55, rating: voice.RatingFair,
			topics: []voice.Topic{},
		},
		{
			name:      "silence",
			tr:        silence,
			text:      head + "12 s, ended by the caller hanging up. No speech was recognised.",
			keyPoints: []string{},
			criteria: []voice.Criterion{
				{Name: "greeting", Evidence: "no speech was recognised"},
				{Name: "purpose_identified", Evidence: "no speech was recognised"},
				{Name: "resolution_stated", Evidence: "no speech was recognised"},
				{Name: "politeness", Evidence: "no speech was recognised"},
				{Name: "no_long_silences", Evidence: "no speech was recognised"},
				{Name: "caller_sentiment", Evidence: "no speech was recognised"},
			},
			total: 0, rating: voice.RatingPoor,
			topics: []voice.Topic{},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			res := analyzeOffline(t, analyze.Input{Call: inboundCall(int(tt.tr.Duration), "caller"), Transcription: tt.tr, Topics: appTopics})
			same(t, "summary", res.Summary, voice.Summary{Engine: "offline", Text: tt.text, KeyPoints: tt.keyPoints})
			same(t, "score", res.Score, voice.Score{Engine: "offline", Score: tt.total, Rating: tt.rating, Criteria: tt.criteria})
			res.Topics.Topics = withoutEvidence(res.Topics.Topics)
			same(t, "topics", res.Topics, voice.Topics{Engine: "offline", Topics: tt.topics})
		})
	}
}

// criterion returns the named criterion of a score.
func criterion(t *testing.T, s voice.Score, name string) voice.Criterion {
	t.Helper()
	for _, c := range s.Criteria {
		if c.Name == name {
			return c
		}
	}
	t.Fatalf("no criterion %q in %+v", name, s.Criteria)
	return voice.Criterion{}
}

func TestApplicationCriteria(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		tr   *voice.Transcription
		c    voice.ScoreCriterion
		want voice.Criterion
	}{
		{"any_of said", complaint,
			voice.ScoreCriterion{Speaker: voice.CriterionAgent, AnyOf: []string{"my name is", "this is", "speaking"}},
			voice.Criterion{Score: 100, Passed: true, Evidence: "at 0:00 agent: 'this is'"}},
		{"any_of not said", booking,
			voice.ScoreCriterion{Speaker: voice.CriterionAgent, AnyOf: []string{"my name is", "this is", "speaking"}},
			voice.Criterion{Score: 0, Evidence: "none of 'my name is', 'this is', 'speaking' was said"}},
		{"any_of lists at most three", booking,
			voice.ScoreCriterion{AnyOf: []string{"alpha", "bravo", "charlie", "delta"}},
			voice.Criterion{Score: 0, Evidence: "none of 'alpha', 'bravo', 'charlie'... was said"}},
		{"forbidden not said", complaint,
			voice.ScoreCriterion{Speaker: voice.CriterionAgent, Forbidden: []string{"guarantee", "promise"}},
			voice.Criterion{Score: 100, Passed: true, Evidence: "no forbidden phrase was said"}},
		{"forbidden said", complaint,
			voice.ScoreCriterion{Speaker: voice.CriterionCaller, Forbidden: []string{"ridiculous", "lawyer"}},
			voice.Criterion{Score: 50, Evidence: "forbidden: at 0:12 caller: 'ridiculous'"}},
		{"required partly said", booking,
			voice.ScoreCriterion{Speaker: voice.CriterionAgent, Required: []string{"your name", "date of birth"}},
			voice.Criterion{Score: 50, Evidence: "not said: 'date of birth'"}},
		{"required all said", booking,
			voice.ScoreCriterion{Speaker: voice.CriterionAgent, Required: []string{"your name", "booked"}},
			voice.Criterion{Score: 100, Passed: true, Evidence: "at 0:13 agent: 'your name'"}},
		{"speaker caller filters out the agent", booking,
			voice.ScoreCriterion{Speaker: voice.CriterionCaller, AnyOf: []string{"booked"}},
			voice.Criterion{Score: 0, Evidence: "'booked' was not said"}},
		{"speaker agent", booking,
			voice.ScoreCriterion{Speaker: voice.CriterionAgent, AnyOf: []string{"booked"}},
			voice.Criterion{Score: 100, Passed: true, Evidence: "at 0:20 agent: 'booked'"}},
		{"speaker empty means any", booking,
			voice.ScoreCriterion{AnyOf: []string{"BOOKED"}},
			voice.Criterion{Score: 100, Passed: true, Evidence: "at 0:20 agent: 'booked'"}},
		{"whole words only", booking,
			voice.ScoreCriterion{Speaker: voice.CriterionAgent, AnyOf: []string{"book"}},
			voice.Criterion{Score: 0, Evidence: "'book' was not said"}},
		{"whole word by the caller", booking,
			voice.ScoreCriterion{Speaker: voice.CriterionAny, AnyOf: []string{"book"}},
			voice.Criterion{Score: 100, Passed: true, Evidence: "at 0:03 caller: 'book'"}},
		{"punctuation and case ignored", booking,
			voice.ScoreCriterion{AnyOf: []string{"Tuesday, at TEN!"}},
			voice.Criterion{Score: 100, Passed: true, Evidence: "at 0:08 agent: 'tuesday at ten'"}},
		{"all three kinds", booking,
			voice.ScoreCriterion{AnyOf: []string{"cleaning"}, Required: []string{"tuesday"}, Forbidden: []string{"cancel"}},
			voice.Criterion{Score: 100, Passed: true, Evidence: "at 0:03 caller: 'cleaning'"}},
		{"share of conditions met", booking,
			voice.ScoreCriterion{AnyOf: []string{"refund"}, Required: []string{"tuesday", "maria"}, Forbidden: []string{"great"}},
			voice.Criterion{Score: 50, Evidence: "'refund' was not said; forbidden: at 0:11 caller: 'great'"}},
		{"no speech", silence,
			voice.ScoreCriterion{Forbidden: []string{"refund"}},
			voice.Criterion{Score: 0, Evidence: "no speech was recognised"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			tt.c.Name, tt.want.Name = "custom", "custom"
			res := analyzeOffline(t, analyze.Input{Transcription: tt.tr, Criteria: []voice.ScoreCriterion{tt.c}})
			if n := len(res.Score.Criteria); n != 7 {
				t.Fatalf("%d criteria, want the 6 defaults and 1 custom", n)
			}
			same(t, "criterion", res.Score.Criteria[6], tt.want)
		})
	}
}

func TestApplicationCriteriaCountInTotal(t *testing.T) {
	t.Parallel()
	// The defaults sum to 594 on the booking; one failing criterion more
	// gives round(594/7) = 85, still excellent, and a second one 594/8 = 74.
	one := []voice.ScoreCriterion{{Name: "a", AnyOf: []string{"zebra"}}}
	two := append(one, voice.ScoreCriterion{Name: "b", Required: []string{"zebra"}})
	for _, tt := range []struct {
		criteria []voice.ScoreCriterion
		total    int
		rating   string
	}{
		{nil, 99, voice.RatingExcellent},
		{one, 85, voice.RatingExcellent},
		{two, 74, voice.RatingGood},
	} {
		res := analyzeOffline(t, analyze.Input{Transcription: booking, Criteria: tt.criteria})
		if res.Score.Score != tt.total || res.Score.Rating != tt.rating {
			t.Errorf("%d criteria: score %d %s, want %d %s", len(tt.criteria), res.Score.Score, res.Score.Rating, tt.total, tt.rating)
		}
	}
}

func TestApplicationTopics(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name   string
		tr     *voice.Transcription
		defs   []voice.TopicDef
		topics []voice.Topic
	}{
		{"most mentioned first", complaint,
			[]voice.TopicDef{{Name: "Refunds", Keywords: []string{"refund"}}, {Name: "Billing", Keywords: []string{"billing", "charged"}}},
			[]voice.Topic{{Name: "Billing", Confidence: 1, Mentions: 5}, {Name: "Refunds", Confidence: 0.8, Mentions: 2},
				{Name: "account", Confidence: 0.3, Mentions: 2}}},
		{"ties keep the application's order", complaint,
			[]voice.TopicDef{{Name: "money", Keywords: []string{"refund"}}, {Name: "accounts", Keywords: []string{"account"}}},
			[]voice.Topic{{Name: "money", Confidence: 0.8, Mentions: 2}, {Name: "accounts", Confidence: 0.8, Mentions: 2},
				{Name: "billing", Confidence: 0.61, Mentions: 3}}},
		{"one place counts once", complaint,
			[]voice.TopicDef{{Name: "refund", Keywords: []string{"refund", "refund today", "Refund"}}},
			[]voice.Topic{{Name: "refund", Confidence: 0.8, Mentions: 2}, {Name: "billing", Confidence: 0.61, Mentions: 3},
				{Name: "account", Confidence: 0.3, Mentions: 2}}},
		{"one mention", complaint,
			[]voice.TopicDef{{Name: "department", Keywords: []string{"billing department"}}},
			[]voice.Topic{{Name: "department", Confidence: 0.7, Mentions: 1}, {Name: "refund", Confidence: 0.45, Mentions: 2},
				{Name: "account", Confidence: 0.3, Mentions: 2}}},
		{"unmatched topics are left out but their words are not salient", complaint,
			[]voice.TopicDef{{Name: "account", Keywords: []string{"login"}}, {Name: "x", Keywords: []string{"billing"}}},
			[]voice.Topic{{Name: "x", Confidence: 1, Mentions: 4}, {Name: "refund", Confidence: 0.45, Mentions: 2}}},
		{"no application topics", complaint, nil,
			[]voice.Topic{{Name: "billing", Confidence: 0.61, Mentions: 3}, {Name: "refund", Confidence: 0.45, Mentions: 2},
				{Name: "account", Confidence: 0.3, Mentions: 2}}},
		{"phrases across words of the caller and the agent", booking,
			[]voice.TopicDef{{Name: "dental", Keywords: []string{"cleaning", "bright smile dental"}}},
			[]voice.Topic{{Name: "dental", Confidence: 0.8, Mentions: 2}, {Name: "tuesday", Confidence: 0.47, Mentions: 3},
				{Name: "maria", Confidence: 0.46, Mentions: 2}, {Name: "appointment", Confidence: 0.44, Mentions: 2}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			res := analyzeOffline(t, analyze.Input{Transcription: tt.tr, Topics: tt.defs})
			same(t, "topics", withoutEvidence(res.Topics.Topics), tt.topics)
		})
	}
}

func TestLongSilences(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		segs []voice.Segment
		want voice.Criterion
	}{
		{"gap in the middle", []voice.Segment{
			seg(1, 0.5, 2, "hello thank you for calling"), seg(0, 2.5, 5, "hi i need help with my order"),
			seg(1, 19, 21, "thanks for waiting i found your order")},
			voice.Criterion{Score: 80, Evidence: "longest silence 14.0 s, from 0:05 to 0:19"}},
		{"leading silence", []voice.Segment{seg(1, 12, 14, "hello"), seg(0, 14.5, 16, "hi")},
			voice.Criterion{Score: 90, Evidence: "longest silence 12.0 s, before the first words at 0:12"}},
		{"ten seconds pass", []voice.Segment{seg(1, 0, 5, "hello"), seg(0, 15, 16, "hi")},
			voice.Criterion{Score: 100, Passed: true, Evidence: "longest silence 10.0 s, at 0:05"}},
		{"overlapping speech closes no gap", []voice.Segment{
			seg(0, 0, 20, "a long story about my order"), seg(1, 5, 6, "okay"), seg(1, 21, 22, "i see")},
			voice.Criterion{Score: 100, Passed: true, Evidence: "longest silence 1.0 s, at 0:20"}},
		{"segments out of order are sorted", []voice.Segment{seg(0, 40, 42, "still there"), seg(1, 0, 2, "hello")},
			voice.Criterion{Score: 0, Evidence: "longest silence 38.0 s, from 0:02 to 0:40"}},
		{"empty segments are not speech", []voice.Segment{seg(1, 0, 2, "hello"), seg(0, 5, 6, "  "), seg(0, 14, 15, "hi")},
			voice.Criterion{Score: 90, Evidence: "longest silence 12.0 s, from 0:02 to 0:14"}},
		{"back to back", []voice.Segment{seg(1, 0, 2, "hello"), seg(0, 2, 3, "hi")},
			voice.Criterion{Score: 100, Passed: true, Evidence: "no silence between speech"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			res := analyzeOffline(t, analyze.Input{Transcription: transcript(60, tt.segs...)})
			tt.want.Name = analyze.CriterionNoLongSilences
			same(t, "no_long_silences", criterion(t, res.Score, analyze.CriterionNoLongSilences), tt.want)
		})
	}
}

func TestDefaultCriteria(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		segs []voice.Segment
		want voice.Criterion
	}{
		{"late greeting", []voice.Segment{seg(1, 1, 3, "please hold the line"), seg(1, 20, 22, "hello thank you for holding")},
			voice.Criterion{Name: "greeting", Score: 40, Evidence: "greeting came late, at 0:20 agent: 'hello'"}},
		{"no greeting", []voice.Segment{seg(1, 1, 3, "account services"), seg(0, 4, 5, "hello")},
			voice.Criterion{Name: "greeting", Evidence: "no greeting from the agent side"}},
		{"silent agent", []voice.Segment{seg(0, 1, 3, "hello is anyone there")},
			voice.Criterion{Name: "greeting", Evidence: "the agent side said nothing"}},
		{"purpose by answering how can i help", []voice.Segment{
			seg(1, 0, 3, "hello how can i help you today"), seg(0, 3.5, 4, "yes"),
			seg(0, 4.5, 8, "my internet stopped working last night")},
			voice.Criterion{Name: "purpose_identified", Score: 100, Passed: true,
				Evidence: "at 0:04 caller answered 'how can i help': 'my internet stopped working last night'"}},
		{"a short reply is no purpose", []voice.Segment{seg(1, 0, 3, "hello how can i help you today"), seg(0, 3.5, 4, "yes hi")},
			voice.Criterion{Name: "purpose_identified", Evidence: "the caller did not say why they called"}},
		{"purpose phrases are the caller's", []voice.Segment{seg(1, 0, 3, "i would like to know your name")},
			voice.Criterion{Name: "purpose_identified", Evidence: "the caller did not say why they called"}},
		{"negated resolution", []voice.Segment{seg(1, 0, 3, "sorry it is not resolved yet")},
			voice.Criterion{Name: "resolution_stated", Evidence: "no resolution or next step was stated"}},
		{"a caller's commitment is no resolution", []voice.Segment{seg(0, 0, 3, "i will call my lawyer")},
			voice.Criterion{Name: "resolution_stated", Evidence: "no resolution or next step was stated"}},
		{"an agent's commitment is", []voice.Segment{seg(1, 0, 3, "i will call you tomorrow with the answer")},
			voice.Criterion{Name: "resolution_stated", Score: 100, Passed: true, Evidence: "at 0:00 agent: 'i will call you tomorrow'"}},
		{"an outcome on the caller's side", []voice.Segment{seg(0, 0, 3, "great so we are all set then")},
			voice.Criterion{Name: "resolution_stated", Score: 100, Passed: true, Evidence: "at 0:00 caller: 'so we are all set then'"}},
		{"rude words", []voice.Segment{seg(0, 0, 3, "this is damn stupid"), seg(1, 3, 4, "sorry about that")},
			voice.Criterion{Name: "politeness", Score: 0, Evidence: "2 rude word(s), first at 0:00 caller: 'damn'"}},
		{"one polite word", []voice.Segment{seg(0, 0, 3, "yes please")},
			voice.Criterion{Name: "politeness", Score: 60, Passed: true, Evidence: "1 polite word(s), first at 0:00 caller: 'please'"}},
		{"positive", []voice.Segment{seg(0, 0, 3, "the service was good and the nurse was lovely")},
			voice.Criterion{Name: "caller_sentiment", Score: 87, Passed: true, Evidence: "positive (+0.74) over 9 caller words, strongest at 0:00: 'lovely'"}},
		{"one positive word is no mood", []voice.Segment{seg(0, 0, 3, "the service was good")},
			voice.Criterion{Name: "caller_sentiment", Score: 50, Passed: true, Evidence: "neutral (+0.00) over 4 caller words"}},
		{"negated", []voice.Segment{seg(0, 0, 3, "the service was not good and i am not pleased")},
			voice.Criterion{Name: "caller_sentiment", Score: 23, Evidence: "negative (-0.55) over 10 caller words, strongest at 0:00: 'not good'"}},
		{"negation reaches three words", []voice.Segment{seg(0, 0, 3, "i am not very happy"), seg(0, 4, 5, "this is a problem")},
			voice.Criterion{Name: "caller_sentiment", Score: 20, Evidence: "negative (-0.60) over 9 caller words, strongest at 0:00: 'not very happy'"}},
		{"a misheard positive word inside a complaint counts nothing", []voice.Segment{
			seg(0, 0, 3, "i was charged nice for my subscription and i would like my money back"), seg(0, 4, 5, "great thanks")},
			voice.Criterion{Name: "caller_sentiment", Score: 20, Evidence: "negative (-0.61) over 16 caller words, strongest at 0:00: 'money back'"}},
		{"a complaint is never positive", []voice.Segment{
			seg(0, 0, 3, "my internet is not working"), seg(0, 4, 5, "thank you so much you are wonderful")},
			voice.Criterion{Name: "caller_sentiment", Score: 50, Passed: true, Evidence: "neutral (+0.00) over 12 caller words"}},
		{"thanks with an intensifier is a mood", []voice.Segment{seg(0, 0, 3, "thank you so much")},
			voice.Criterion{Name: "caller_sentiment", Score: 75, Passed: true, Evidence: "positive (+0.50) over 4 caller words, strongest at 0:00: 'thank you so much'"}},
		{"fillers carry no sentiment", []voice.Segment{seg(0, 0, 3, "yes okay i would like to pay my bill please")},
			voice.Criterion{Name: "caller_sentiment", Score: 50, Passed: true, Evidence: "neutral (+0.00) over 10 caller words"}},
		{"the agent's words are not the caller's", []voice.Segment{seg(1, 0, 3, "this is terrible awful horrible")},
			voice.Criterion{Name: "caller_sentiment", Score: 50, Passed: true, Evidence: "the caller said nothing: neutral"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			res := analyzeOffline(t, analyze.Input{Transcription: transcript(60, tt.segs...)})
			same(t, tt.want.Name, criterion(t, res.Score, tt.want.Name), tt.want)
		})
	}
}

func TestSummaryHeader(t *testing.T) {
	t.Parallel()
	call := func(dir, status, source, cause string, dur int) *voice.Call {
		c := &voice.Call{Direction: dir, From: "+15551230001", To: "+15557654321", Status: status, Duration: dur}
		if source != "" {
			c.HangupSource = str(voice.HangupSource(source))
		}
		if cause != "" {
			c.HangupCause = str(voice.HangupCause(cause))
		}
		return c
	}
	tests := []struct {
		name string
		call *voice.Call
		tr   *voice.Transcription
		want string
	}{
		{"nothing known", nil, nil, "Call."},
		{"transcription duration only", nil, transcript(65.4), "Call, 1 min 5 s."},
		{"caller hung up", call("inbound", "completed", "caller", "normal_clearing", 125),
			nil, "Inbound call from +15551230001 to +15557654321, 2 min 5 s, ended by the caller hanging up."},
		{"callee hung up", call("outbound", "completed", "callee", "normal_clearing", 120),
			nil, "Outbound call from +15551230001 to +15557654321, 2 min, ended by the called party hanging up."},
		{"api", call("outbound", "completed", "api", "normal_clearing", 3725),
			nil, "Outbound call from +15551230001 to +15557654321, 1 h 2 min 5 s, ended through the API."},
		{"time limit", call("inbound", "completed", "system", "time_limit", 3600),
			nil, "Inbound call from +15551230001 to +15557654321, 1 h, ended by the platform (time limit)."},
		{"platform", call("inbound", "completed", "system", "normal_clearing", 9),
			nil, "Inbound call from +15551230001 to +15557654321, 9 s, ended by the platform."},
		{"busy", call("outbound", "busy", "callee", "user_busy", 0),
			nil, "Outbound call from +15551230001 to +15557654321, the line was busy."},
		{"no answer", call("outbound", "no-answer", "", "no_answer", 0),
			nil, "Outbound call from +15551230001 to +15557654321, not answered."},
		{"failed", call("outbound", "failed", "system", "carrier_error", 0),
			nil, "Outbound call from +15551230001 to +15557654321, failed (carrier error)."},
		{"canceled", call("outbound", "canceled", "api", "originator_cancel", 0),
			nil, "Outbound call from +15551230001 to +15557654321, canceled before it was answered."},
		{"in progress, call duration unknown", call("inbound", "in-progress", "", "", 0),
			transcript(42), "Inbound call from +15551230001 to +15557654321, 42 s, still in progress."},
		{"unknown direction and source", &voice.Call{To: "+15557654321", Status: "completed", Duration: 30},
			nil, "Call to +15557654321, 30 s."},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			res := analyzeOffline(t, analyze.Input{Call: tt.call, Transcription: tt.tr})
			if want := tt.want + " No speech was recognised."; res.Summary.Text != want {
				t.Errorf("summary %q, want %q", res.Summary.Text, want)
			}
		})
	}
}

func TestSummaryLength(t *testing.T) {
	t.Parallel()
	words := []string{"invoice", "router", "delivery", "password", "warranty", "contract", "upgrade", "printer"}
	for _, tt := range []struct{ segments, points int }{{1, 1}, {3, 1}, {4, 1}, {5, 2}, {8, 2}, {9, 3}, {16, 4}, {17, 5}, {40, 5}} {
		var segs []voice.Segment
		for i := range tt.segments {
			segs = append(segs, seg(i%2, float64(i*3), float64(i*3+2), "the "+words[i%len(words)]+" and the "+words[(i+3)%len(words)]))
		}
		res := analyzeOffline(t, analyze.Input{Transcription: transcript(200, segs...)})
		if n := len(res.Summary.KeyPoints); n != tt.points {
			t.Errorf("%d segments: %d key points, want %d", tt.segments, n, tt.points)
		}
	}
}

func TestLongSegmentsAreSplit(t *testing.T) {
	t.Parallel()
	long := "i bought a printer last week and the printer does not print anything at all " +
		"so i tried the printer driver update and the printer still shows an error about the toner " +
		"which i replaced yesterday with a new toner from your shop"
	res := analyzeOffline(t, analyze.Input{Transcription: transcript(60, seg(0, 0, 30, long))})
	// 43 words: two sentences of 22 and 21; the one about the toner has
	// more content.
	want := []string{"Caller: and the printer still shows an error about the toner which i replaced yesterday with a new toner from your shop"}
	same(t, "key points", res.Summary.KeyPoints, want)
}

func TestMonoRecording(t *testing.T) {
	t.Parallel()
	call := inboundCall(20, "caller")
	call.RecordingChannels = voice.ChannelsMono
	tr := transcript(20,
		seg(0, 0, 3, "thank you for calling acme"),
		seg(0, 3.5, 6, "hi i need a new router"),
	)
	res := analyzeOffline(t, analyze.Input{Call: call, Transcription: tr})
	// Both sides share channel 0: the agent's greeting still counts, and
	// key points do not guess who spoke (the request is the one with a
	// purpose phrase).
	same(t, "greeting", criterion(t, res.Score, "greeting"),
		voice.Criterion{Name: "greeting", Score: 100, Passed: true, Evidence: "at 0:00 speaker: 'thank you for calling'"})
	same(t, "key points", res.Summary.KeyPoints, []string{"Speaker: I need a new router", "Left open: no outcome was stated"})
}

func TestSpeakerLabels(t *testing.T) {
	t.Parallel()
	tr := transcript(10, voice.Segment{Channel: 1, Speaker: voice.SpeakerPlatform, Start: 0, End: 2, Text: "your invoice is ready"},
		voice.Segment{Channel: 1, Start: 3, End: 4, Text: "press one for the invoice"})
	res := analyzeOffline(t, analyze.Input{Transcription: tr})
	same(t, "key points", res.Summary.KeyPoints, []string{"Platform: your invoice is ready"})
	tr.Segments[0].Speaker = ""
	res = analyzeOffline(t, analyze.Input{Transcription: tr})
	same(t, "key points", res.Summary.KeyPoints, []string{"Agent: your invoice is ready"})
}

func TestMalformedInput(t *testing.T) {
	t.Parallel()
	nan := 0.0
	nan /= nan
	tr := transcript(-5,
		voice.Segment{Channel: 7, Start: nan, End: -3, Text: "Hello!!! THANK-YOU for calling"},
		voice.Segment{Channel: -1, Start: 5, End: 1, Text: "…"},
		voice.Segment{Channel: 0, Start: 1e300, End: 2e300, Text: "I’m calling about my bill"},
	)
	res := analyzeOffline(t, analyze.Input{Transcription: tr})
	if res.Score.Score < 0 || res.Score.Score > 100 {
		t.Fatalf("score %d", res.Score.Score)
	}
	same(t, "purpose", criterion(t, res.Score, "purpose_identified"), voice.Criterion{Name: "purpose_identified", Score: 100,
		Passed: true, Evidence: "at 2777:46:40 caller: 'i'm calling about my bill'"})
}

func TestNoTranscription(t *testing.T) {
	t.Parallel()
	res := analyzeOffline(t, analyze.Input{})
	same(t, "summary", res.Summary, voice.Summary{Engine: "offline", Text: "Call. No speech was recognised.", KeyPoints: []string{}})
	if res.Score.Score != 0 || res.Score.Rating != voice.RatingPoor || len(res.Score.Criteria) != 6 {
		t.Errorf("score %+v", res.Score)
	}
	same(t, "topics", res.Topics, voice.Topics{Engine: "offline", Topics: []voice.Topic{}})
}

func TestOfflineCanceled(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	_, err := analyze.NewOffline().Analyze(ctx, analyze.Input{Transcription: booking})
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("err %v, want context.Canceled", err)
	}
	e := analyze.NewOffline()
	if e.Name() != "offline" || e.Available(context.Background()) != nil {
		t.Errorf("Name %q, Available %v", e.Name(), e.Available(context.Background()))
	}
}

func TestDeterministic(t *testing.T) {
	t.Parallel()
	in := analyze.Input{Call: inboundCall(49, "callee"), Transcription: complaint, Topics: appTopics,
		Criteria: []voice.ScoreCriterion{{Name: "x", AnyOf: []string{"refund"}}}}
	first, err := json.Marshal(analyzeOffline(t, in))
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	outs := make([][]byte, 8)
	for i := range outs {
		wg.Go(func() {
			res, err := analyze.NewOffline().Analyze(context.Background(), in)
			if err != nil {
				t.Error(err)
				return
			}
			outs[i], _ = json.Marshal(res)
		})
	}
	wg.Wait()
	for i, out := range outs {
		if string(out) != string(first) {
			t.Fatalf("run %d differs:\n%s\n%s", i, out, first)
		}
	}
}
