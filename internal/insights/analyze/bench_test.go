package analyze_test

import (
	"context"
	"fmt"
	"strings"
	"testing"

	"github.com/minivoice/minivoice/internal/insights/analyze"
	"github.com/minivoice/minivoice/internal/voice"
)

// longCall builds a deterministic ten-minute conversation of n segments
// (four seconds apart, alternating sides) from a small vocabulary, with a
// linear congruential generator so every run sees the same words.
func longCall(n int) *voice.Transcription {
	vocab := strings.Fields(`i would like to check my account balance and the last invoice please we can
		help you with that the payment was charged twice on monday so i need a refund for the second charge
		thank you for waiting your ticket number is ready and we will send you an email confirmation today
		the internet router keeps dropping the connection every evening could you book a technician visit`)
	seed := uint32(42)
	next := func(k int) int {
		seed = seed*1664525 + 1013904223
		return int(seed>>16) % k
	}
	segs := make([]voice.Segment, n)
	for i := range segs {
		words := make([]string, 6+next(14))
		for j := range words {
			words[j] = vocab[next(len(vocab))]
		}
		start := float64(i) * 4
		segs[i] = voice.Segment{Channel: i % 2, Start: start, End: start + 3.5, Text: strings.Join(words, " ")}
	}
	return &voice.Transcription{Duration: float64(n) * 4, Segments: segs}
}

func BenchmarkOffline(b *testing.B) {
	in := analyze.Input{Call: inboundCall(600, "caller"), Transcription: longCall(150), Topics: appTopics,
		Criteria: []voice.ScoreCriterion{{Name: "intro", Speaker: voice.CriterionAgent, AnyOf: []string{"my name is"}}}}
	e := analyze.NewOffline()
	ctx := context.Background()
	if _, err := e.Analyze(ctx, in); err != nil { // loads the embedded data outside the timing
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := e.Analyze(ctx, in); err != nil {
			b.Fatal(err)
		}
	}
}

func TestLongCall(t *testing.T) {
	t.Parallel()
	tr := longCall(150)
	res := analyzeOffline(t, analyze.Input{Transcription: tr, Topics: appTopics})
	// At most: purpose, request, keys, three transfers, three messages,
	// outcome and follow-up, or five central sentences.
	if n := len(res.Summary.KeyPoints); n == 0 || n > 11 {
		t.Errorf("%d key points, want 1 to 11", n)
	}
	if got := fmt.Sprint(tr.Segments[149].Start); got != "596" {
		t.Errorf("last segment at %s s, want a ten-minute call", got)
	}
}
