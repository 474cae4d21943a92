package console_test

import (
	"bytes"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/minivoice/minivoice/internal/media"
)

// TestWaveform: the call page shows the recording's waveform, drawn from
// the WAV as SVG for the call's own tenant only, and cached by its hash.
func TestWaveform(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	cust, other := h.customer("wave-a"), h.customer("wave-b")
	call := h.addCall(cust, h.application(cust), time.Now(), nil)
	pcm := &media.PCM{Rate: 8000, Samples: make([]int16, 8000)}
	for i := range 4000 {
		pcm.Samples[i] = int16(8000 - 16000*(i%2)) // loud first half, silent second
	}
	var wav bytes.Buffer
	if err := media.WriteWAV(&wav, pcm); err != nil {
		t.Fatal(err)
	}
	rec := addRecording(t, h, call, wav.Bytes())
	key, _ := h.customerKey(cust)
	otherKey, _ := h.customerKey(other)

	b := h.browser()
	b.signIn(key)
	if p := b.get("/calls/" + call.ID); !strings.Contains(p.body, `<img id="waveform" class="waveform" src="/calls/`+call.ID+`/waveform.svg"`) {
		t.Errorf("call page lacks the waveform image:\n%s", p.body)
	}
	p := b.get("/calls/" + call.ID + "/waveform.svg")
	if p.status != http.StatusOK || p.header.Get("Content-Type") != "image/svg+xml" || !strings.HasPrefix(p.body, "<svg") {
		t.Fatalf("waveform: %d %s %.200s", p.status, p.header.Get("Content-Type"), p.body)
	}
	if strings.Count(p.body, "<path") != 1 || !strings.Contains(p.body, "1.0 s") {
		t.Errorf("a mono one-second recording should be one lane titled 1.0 s: %.300s", p.body)
	}
	// Loud strokes in the first half, flat ones in the second.
	if !strings.Contains(p.body, "M0.5 23.2V36.8") || !strings.Contains(p.body, "M599.5 29.5V30.5") {
		t.Errorf("strokes do not follow the audio: %.400s", p.body)
	}
	etag := p.header.Get("ETag")
	if etag != `"wave-`+rec.SHA256+`"` {
		t.Errorf("ETag %q, want the recording's hash", etag)
	}
	req, _ := http.NewRequest("GET", h.url+"/calls/"+call.ID+"/waveform.svg", nil)
	req.Header.Set("If-None-Match", etag)
	if r := b.do(req); r.status != http.StatusNotModified {
		t.Errorf("revalidation: %d, want 304", r.status)
	}
	ob := h.browser()
	ob.signIn(otherKey)
	if p := ob.get("/calls/" + call.ID + "/waveform.svg"); p.status != http.StatusNotFound {
		t.Errorf("another tenant: %d, want 404", p.status)
	}
}
