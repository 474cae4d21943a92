package insights_test

import (
	"context"
	"net"
	"strings"
	"testing"

	"github.com/minivoice/minivoice/internal/insights/asr"
	"github.com/minivoice/minivoice/internal/publicmsg"
	"github.com/minivoice/minivoice/internal/voice"
)

// TestPipelineFailuresNameNoPathOrAddress: what the customer reads of a
// failed transcription (its error, the insights.failed webhook) names
// neither the recording's file under the data directory nor the address of
// the operator's speech server.
func TestPipelineFailuresNameNoPathOrAddress(t *testing.T) {
	t.Parallel()
	ctx := context.Background()

	// The recording's file is gone.
	b := setup(t, "sqlite")
	must(t, b.blobs.Remove(b.rec.StorageKey))
	must(t, b.p.Transcribe(ctx, "rec_a", true))
	in, err := b.db.Insights(ctx, voice.Scope{}, "rec_a")
	must(t, err)
	if e := in.Transcription.Error; e == nil || e.Message != "recording file: the file does not exist" ||
		strings.Contains(e.Message, b.blobs.Root()) {
		t.Errorf("missing file: transcription error %+v", e)
	}

	// The speech server on the operator's network refuses connections.
	c := setup(t, "sqlite")
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	must(t, err)
	addr := ln.Addr().String()
	ln.Close()
	_, dialErr := net.Dial("tcp", addr)
	c.asr.results = append(c.asr.results, func(asr.Audio) (*asr.Result, error) { return nil, dialErr })
	must(t, c.p.Transcribe(ctx, "rec_a", true))
	in, err = c.db.Insights(ctx, voice.Scope{}, "rec_a")
	must(t, err)
	if e := in.Transcription.Error; e == nil || strings.Contains(e.Message, "127.0.0.1") || publicmsg.Scrub(e.Message) != e.Message ||
		!strings.Contains(e.Message, "refused") {
		t.Errorf("engine error: transcription error %+v", e)
	}
}
