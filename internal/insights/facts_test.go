package insights_test

import (
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/minivoice/minivoice/internal/insights/asr"
	"github.com/minivoice/minivoice/internal/store/storetest"
	"github.com/minivoice/minivoice/internal/voice"
)

// TestAnalysisReadsTheCallsFacts: the insights step gives the analyser
// what the call did besides talking, from the store: the key pressed at a
// gather (its call.gather event) and the dial leg it placed (a child call),
// on both backends; another call's leg is not this call's.
func TestAnalysisReadsTheCallsFacts(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, backend string) {
		ctx := context.Background()
		b := setup(t, backend)
		callID, otherID := "call_a", "call_other"
		must(t, b.db.CreateEvent(ctx, &voice.Event{ID: "evt_gather", Event: "call.gather", CreatedAt: t0.Add(5 * time.Second),
			CallID: &callID, ApplicationID: "app_a", CustomerID: "cus_a", Data: json.RawMessage(`{"digits":"3","reason":"max_digits"}`),
			DeliveryStatus: voice.DeliveryNone, Attempts: []voice.Attempt{}}))
		answered, ended := t0.Add(9*time.Second), t0.Add(25*time.Second)
		for _, leg := range []struct{ id, to string }{{"call_leg", "+15550001111"}, {"call_stranger", "+15550002222"}} {
			parent := &callID
			if leg.id == "call_stranger" {
				parent = &otherID
			}
			must(t, b.db.CreateCall(ctx, &voice.Call{ID: leg.id, CustomerID: "cus_a", ApplicationID: "app_a", Status: voice.CallCompleted,
				Direction: voice.DirectionOutbound, From: "+15557654321", To: leg.to, ParentCallID: parent,
				Variables: map[string]string{}, RecordingIDs: []string{}, Currency: "EUR", CreatedAt: t0.Add(6 * time.Second),
				UpdatedAt: t0, AnsweredAt: &answered, EndedAt: &ended, Duration: 16}))
		}
		b.asr.results = append(b.asr.results, says(
			asr.Segment{Start: 0.5, End: 2, Text: "i need to change my invoice address", Confidence: 0.8}))
		must(t, b.p.Transcribe(ctx, "rec_a", false))
		must(t, b.p.Analyze(ctx, "rec_a", false))
		in, err := b.db.Insights(ctx, voice.Scope{}, "rec_a")
		must(t, err)
		if in.Summary == nil {
			t.Fatalf("no summary: %+v", in)
		}
		text := in.Summary.Text
		for _, want := range []string{`The caller asked: "I need to change my invoice address."`, "The caller pressed 3.",
			"The call was transferred to +15550001111 (answered, 16 s)."} {
			if !strings.Contains(text, want) {
				t.Errorf("summary %q lacks %q", text, want)
			}
		}
		if strings.Contains(text, "+15550002222") {
			t.Errorf("summary %q names another call's leg", text)
		}
	})
}
