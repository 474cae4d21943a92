package analyze_test

import (
	"context"
	"fmt"

	"github.com/minivoice/minivoice/internal/insights/analyze"
	"github.com/minivoice/minivoice/internal/voice"
)

func ExampleOffline_Analyze() {
	caller := voice.SourceCaller
	call := &voice.Call{Direction: voice.DirectionInbound, From: "+15551230001", To: "+15557654321",
		Status: voice.CallCompleted, Duration: 14, HangupSource: &caller}
	tr := &voice.Transcription{Segments: []voice.Segment{
		{Channel: 1, Start: 0.5, End: 3, Text: "thank you for calling acme dental how can i help"},
		{Channel: 0, Start: 3.5, End: 7, Text: "hi i would like to book a cleaning appointment"},
		{Channel: 1, Start: 7.5, End: 11, Text: "your cleaning appointment is booked for friday at nine"},
		{Channel: 0, Start: 11.5, End: 13, Text: "perfect thank you"},
	}}
	res, err := analyze.NewOffline().Analyze(context.Background(), analyze.Input{Call: call, Transcription: tr})
	if err != nil {
		panic(err)
	}
	fmt.Println(res.Summary.Text)
	fmt.Println(res.Score.Score, res.Score.Rating)
	for _, c := range res.Score.Criteria {
		fmt.Printf("%s %d %v\n", c.Name, c.Score, c.Passed)
	}
	// Output:
	// Inbound call from +15551230001 to +15557654321, 14 s, ended by the caller hanging up. The caller asked: "I would like to book a cleaning appointment." The agent replied: "Your cleaning appointment is booked for friday at nine." The caller sounded satisfied.
	// 94 excellent
	// greeting 100 true
	// purpose_identified 100 true
	// resolution_stated 100 true
	// politeness 80 true
	// no_long_silences 100 true
	// caller_sentiment 83 true
}
