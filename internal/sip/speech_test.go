package sip

import (
	"math"
	"strings"
	"testing"

	"github.com/minivoice/minivoice/internal/callctl"
)

// tone is n samples of a 440 Hz tone at amplitude amp.
func tone(n, rate int, amp float64) []int16 {
	out := make([]int16, n)
	for i := range out {
		out[i] = int16(amp * math.Sin(float64(i)*2*math.Pi*440/float64(rate)))
	}
	return out
}

func closed(c <-chan struct{}) bool {
	select {
	case <-c:
		return true
	default:
		return false
	}
}

// TestSpeechCapture feeds a capture as the media reader would, in pieces
// that are not whole frames: silence, a click, speech with a short pause,
// then silence until speech_timeout ends it.
func TestSpeechCapture(t *testing.T) {
	t.Parallel()
	const rate = 8000
	c := newSpeechCapture(rate, &callctl.Gather{SpeechTimeout: 1})
	feed := func(s []int16) {
		for len(s) > 0 {
			n := min(len(s), 100) // 12.5 ms pieces
			c.feed(s[:n])
			s = s[n:]
		}
	}
	feed(make([]int16, rate))        // 1 s of digital silence
	feed(tone(rate/20, rate, 10000)) // a 50 ms click: not speech
	feed(make([]int16, rate/2))
	if c.hasStarted() {
		t.Fatal("started on silence and a click")
	}
	feed(tone(rate/2, rate, 10000)) // speech
	if !c.hasStarted() || closed(c.ended) {
		t.Fatalf("after 0.5 s of speech: started %v, ended %v", c.hasStarted(), closed(c.ended))
	}
	feed(make([]int16, rate/2)) // a pause shorter than speech_timeout
	feed(tone(rate/2, rate, 10000))
	if closed(c.ended) {
		t.Fatal("a 0.5 s pause ended a 1 s speech_timeout")
	}
	feed(make([]int16, rate+rate/10))
	if !closed(c.ended) {
		t.Fatal("1.1 s of silence did not end the utterance")
	}
	u := c.utterance()
	// 300 ms before the start, 0.5+0.5+0.5 s, then the 1 s that ended it.
	if d := float64(len(u.Samples)) / rate; d < 2.6 || d > 3.0 || u.Rate != rate {
		t.Errorf("utterance %.2f s at %d Hz, want about 2.8 s", d, u.Rate)
	}
	feed(tone(rate, rate, 10000)) // after the end: ignored
	if n := len(c.utterance().Samples); n != len(u.Samples) {
		t.Errorf("fed after the end: %d samples, was %d", n, len(u.Samples))
	}
	c.stop() // stopping an ended capture is harmless
}

// TestSpeechCaptureBounds: a noisy line is not speech, and an utterance
// that never pauses is cut at the longest one kept.
func TestSpeechCaptureBounds(t *testing.T) {
	t.Parallel()
	const rate = 16000
	c := newSpeechCapture(rate, &callctl.Gather{})
	// A steady tone at -44 dBFS from the start, louder than the floor: it
	// is the line's noise, and speech must rise 12 dB over it.
	for i := 0; i < 10*50; i++ {
		c.feed(tone(rate/50, rate, 300))
	}
	if c.hasStarted() {
		t.Fatal("a steady -44 dBFS tone counted as speech")
	}
	c = newSpeechCapture(rate, &callctl.Gather{})
	for i := 0; i < 40*50 && !closed(c.ended); i++ {
		c.feed(tone(rate/50, rate, 10000))
	}
	if !closed(c.ended) {
		t.Fatal("40 s of speech never ended")
	}
	if n := len(c.utterance().Samples); n > 31*rate {
		t.Errorf("utterance of %d samples, want at most about 30 s", n)
	}
	c = newSpeechCapture(rate, &callctl.Gather{})
	c.stop()
	c.feed(tone(rate, rate, 10000))
	if c.hasStarted() {
		t.Error("a stopped capture started")
	}
}

func TestClipSpeech(t *testing.T) {
	t.Parallel()
	if got := clipSpeech("sales"); got != "sales" {
		t.Errorf("short: %q", got)
	}
	long := strings.Repeat("word ", 400) // 2000 characters
	got := clipSpeech(long)
	if n := len([]rune(got)); n > maxSpeechChars || n < maxSpeechChars-10 || strings.HasSuffix(got, " ") || !strings.HasSuffix(got, "word") {
		t.Errorf("long: %d characters, ends %q", n, got[len(got)-6:])
	}
}
