package console_test

import (
	"context"
	"database/sql"
	"fmt"
	"net/http"
	"slices"
	"testing"
	"time"

	"github.com/minivoice/minivoice/internal/voice"
)

// benchCalls is how many calls the benchmark store holds.
const benchCalls = 10_000

// benchSetup fills a SQLite store with benchCalls calls of two customers,
// one call with events, a recording and insights, and signs in as the
// operator (the widest scope, so the biggest pages).
func benchSetup(b *testing.B) (*browser, string) {
	return benchSetupAnalysed(b, 0)
}

// benchSetupAnalysed is benchSetup with the newest analysed calls also
// recorded and analysed (a score, criteria and topics each), for the
// review dashboard.
func benchSetupAnalysed(b *testing.B, analysed int) (*browser, string) {
	b.Helper()
	h := newHarness(b)
	ctx := context.Background()
	h.store.SetInsightsOutbox(func(context.Context, *sql.Tx, string, string, float64) error { return nil })
	custs := []string{h.customer("a"), h.customer("b")}
	apps := []string{h.application(custs[0]), h.application(custs[1])}
	start := time.Now().UTC().Add(-20 * 24 * time.Hour)
	var last *voice.Call
	calls := make([]*voice.Call, 0, benchCalls)
	for i := 0; i < benchCalls; i++ {
		last = h.addCall(custs[i%2], apps[i%2], start.Add(time.Duration(i)*time.Minute), func(c *voice.Call) {
			c.Duration, c.BillableSeconds = i%300, i%300
			if i%5 == 0 {
				c.Status = voice.CallNoAnswer
			}
		})
		calls = append(calls, last)
	}
	for i, c := range calls[len(calls)-analysed:] {
		rec := addRecording(b, h, c, []byte("RIFF"))
		in, err := h.store.Insights(ctx, voice.Scope{}, rec.ID)
		if err != nil {
			b.Fatal(err)
		}
		in.Transcription = voice.Transcription{Status: voice.InsightCompleted, Engine: "bench", Language: "en",
			Segments: []voice.Segment{{Speaker: voice.SpeakerCaller, Start: 0, End: 2, Text: "a benchmark call"}}}
		if _, err := h.store.FinishInsightsStep(ctx, in, voice.StepTranscription, voice.StepInsights); err != nil {
			b.Fatal(err)
		}
		in.InsightsStatus, in.InsightsEngine = voice.InsightCompleted, "bench"
		in.Summary = &voice.Summary{Status: voice.InsightCompleted, Text: "A benchmark call."}
		in.Score = &voice.Score{Status: voice.InsightCompleted, Score: 30 + i%70, Rating: voice.RatingFair,
			Criteria: []voice.Criterion{{Name: "greeting", Score: 100, Passed: i%3 != 0}, {Name: "caller_sentiment", Score: 50, Passed: i%4 != 0}}}
		in.Topics = &voice.Topics{Status: voice.InsightCompleted, Topics: []voice.Topic{{Name: fmt.Sprintf("topic-%d", i%15), Confidence: 0.5, Mentions: 1}}}
		if _, err := h.store.FinishInsightsStep(ctx, in, voice.StepInsights, ""); err != nil {
			b.Fatal(err)
		}
	}
	for i := 0; i < 10; i++ {
		addEvent(b, h, last, last.CreatedAt.Add(time.Duration(i)*time.Second))
	}
	rec := addRecording(b, h, last, []byte("RIFF"))
	in, err := h.store.Insights(ctx, voice.Scope{}, rec.ID)
	if err != nil {
		b.Fatal(err)
	}
	in.Transcription = voice.Transcription{Status: voice.InsightCompleted, Engine: "bench", Language: "en"}
	for i := 0; i < 60; i++ {
		in.Transcription.Segments = append(in.Transcription.Segments, voice.Segment{Speaker: voice.SpeakerCaller,
			Start: float64(i), End: float64(i) + 0.9, Text: fmt.Sprintf("segment %d of the benchmark call", i)})
	}
	if _, err := h.store.FinishInsightsStep(ctx, in, voice.StepTranscription, ""); err != nil {
		b.Fatal(err)
	}
	br := h.browser()
	br.signIn(testOperatorKey)
	return br, last.ID
}

// benchPage renders path b.N times over loopback HTTP and reports the p99.
func benchPage(b *testing.B, br *browser, path string) {
	b.Helper()
	lat := make([]time.Duration, 0, b.N)
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		t0 := time.Now()
		p := br.get(path)
		lat = append(lat, time.Since(t0))
		if p.status != http.StatusOK {
			b.Fatalf("%s: %d", path, p.status)
		}
	}
	b.StopTimer()
	slices.Sort(lat)
	b.ReportMetric(float64(lat[len(lat)*99/100].Microseconds())/1000, "p99-ms")
}

func BenchmarkCallsPage(b *testing.B) {
	br, _ := benchSetup(b)
	benchPage(b, br, "/calls")
}

func BenchmarkCallDetailPage(b *testing.B) {
	br, id := benchSetup(b)
	benchPage(b, br, "/calls/"+id)
}

// BenchmarkOverviewPage renders the overview over 10,000 calls of which
// the newest 2,000 were analysed (their average score per window).
func BenchmarkOverviewPage(b *testing.B) {
	br, _ := benchSetupAnalysed(b, 2000)
	benchPage(b, br, "/")
}

// BenchmarkReviewPage renders the review dashboard over 10,000 calls of
// which the newest 2,000 (the last ~33 hours) were recorded and analysed,
// all within its default 30 days.
func BenchmarkReviewPage(b *testing.B) {
	br, _ := benchSetupAnalysed(b, 2000)
	benchPage(b, br, "/review")
}
