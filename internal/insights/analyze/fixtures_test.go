package analyze_test

import (
	"github.com/minivoice/minivoice/internal/voice"
)

// seg builds a segment; channel 0 is the caller, 1 the agent.
func seg(ch int, start, end float64, text string) voice.Segment {
	speaker := voice.SpeakerCaller
	if ch == 1 {
		speaker = voice.SpeakerCallee
	}
	return voice.Segment{Channel: ch, Speaker: speaker, Start: start, End: end, Text: text, Confidence: 0.9}
}

func transcript(dur float64, segs ...voice.Segment) *voice.Transcription {
	return &voice.Transcription{Status: voice.InsightCompleted, Engine: "test", Language: "en", Duration: dur, Segments: segs}
}

func str[T ~string](s T) *T { return &s }

func inboundCall(dur int, source string) *voice.Call {
	return &voice.Call{ID: "call_1", Status: voice.CallCompleted, Direction: voice.DirectionInbound,
		From: "+15551230001", To: "+15557654321", Duration: dur, RecordingChannels: voice.ChannelsDual,
		HangupCause: str(voice.CauseNormalClearing), HangupSource: str(voice.HangupSource(source))}
}

// appTopics is an application's topic list used by several tests.
var appTopics = []voice.TopicDef{
	{Name: "billing", Keywords: []string{"bill", "billing", "charged", "payment", "payments"}},
	{Name: "refund", Keywords: []string{"refund", "money back"}},
	{Name: "appointment", Keywords: []string{"appointment", "book", "booked", "reschedule"}},
}

var complaint = transcript(49,
	seg(1, 0.5, 3.0, "hello acme support this is dana speaking"),
	seg(0, 3.5, 9.0, "i have been charged twice for my bill this month and nobody has fixed it"),
	seg(1, 9.5, 12.0, "i see let me look at your account"),
	seg(0, 12.5, 18.0, "this is ridiculous i called three times about this billing problem"),
	seg(1, 19.0, 23.0, "the billing system shows two payments on your account"),
	seg(0, 24.0, 30.0, "i want a refund today this is the worst service i have ever had"),
	seg(1, 31.0, 34.0, "i cannot do a refund on this line"),
	seg(0, 35.0, 40.0, "that is not good enough i am very angry"),
	seg(1, 41.0, 44.0, "you will need to write to the billing department"),
	seg(0, 45.0, 48.0, "this is useless goodbye"),
)

var booking = transcript(31,
	seg(1, 0.4, 3.2, "good morning thank you for calling bright smile dental how can i help you"),
	seg(0, 3.8, 7.5, "hi i would like to book an appointment for a cleaning please"),
	seg(1, 8.0, 11.0, "of course we have an opening on tuesday at ten in the morning"),
	seg(0, 11.5, 13.0, "tuesday at ten works great"),
	seg(1, 13.5, 17.0, "perfect can i have your name please"),
	seg(0, 17.5, 19.5, "it is maria lopez"),
	seg(1, 20.0, 25.0, "thank you maria your appointment is booked for tuesday at ten and we will send you a text reminder"),
	seg(0, 25.5, 28.0, "wonderful thank you so much"),
	seg(1, 28.5, 30.0, "you are welcome have a great day"),
)

var wrongNumber = transcript(8,
	seg(1, 0.3, 1.0, "hello"),
	seg(0, 1.5, 3.0, "hi is this pizza palace"),
	seg(1, 3.5, 5.5, "no sorry you have the wrong number"),
	seg(0, 6.0, 7.0, "oh sorry bye"),
)

var silence = transcript(12)
