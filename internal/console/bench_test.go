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
	b.Helper()
	h := newHarness(b)
	ctx := context.Background()
	h.store.SetInsightsOutbox(func(context.Context, *sql.Tx, string, string, float64) error { return nil })
	custs := []string{h.customer("a"), h.customer("b")}
	apps := []string{h.application(custs[0]), h.application(custs[1])}
	start := time.Now().UTC().Add(-20 * 24 * time.Hour)
	var last *voice.Call
	for i := 0; i < benchCalls; i++ {
		last = h.addCall(custs[i%2], apps[i%2], start.Add(time.Duration(i)*time.Minute), func(c *voice.Call) {
			c.Duration, c.BillableSeconds = i%300, i%300
			if i%5 == 0 {
				c.Status = voice.CallNoAnswer
			}
		})
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
