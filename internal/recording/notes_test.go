package recording

import (
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/minivoice/minivoice/internal/voice"
)

// frames sends n 20 ms frames of sound on the near stream, advancing the
// clock by 20 ms before each, as the RTP writer's pacing does.
func frames(r *Recorder, c *fakeClock, rate, n int) {
	per := rate / 50
	for range n {
		c.Advance(20 * time.Millisecond)
		r.WriteNear(bytesOf(1000, per))
	}
}

func TestRecorderNotesFollowTheNearStream(t *testing.T) {
	t.Parallel()
	const rate = 8000
	c := newFakeClock()
	r, _ := newTestRecorder(t, rate, voice.ChannelsDual, c.Now)

	frames(r, c, rate, 10) // 0.2 s of something before the prompt
	r.BeginNote(voice.SpeechNote{Kind: voice.SpeechSay, Text: "Hello there.", Voice: "slt", Start: 99, End: 99})
	frames(r, c, rate, 50) // 1 s of prompt
	r.EndNote()
	// Two seconds with nothing sent (a pause without RTP): the next prompt
	// is placed where its first frame lands, after the gap.
	c.Advance(2 * time.Second)
	r.BeginNote(voice.SpeechNote{Kind: voice.SpeechPlay, URL: "https://example.com/a.wav"})
	frames(r, c, rate, 25)
	// A note begun while one is open ends that one.
	r.BeginNote(voice.SpeechNote{Kind: voice.SpeechSay, Text: "cut"})
	r.EndNote() // before any frame: an empty span
	r.BeginNote(voice.SpeechNote{Kind: voice.SpeechSay, Text: "still playing"})
	frames(r, c, rate, 5)

	open := r.Notes()
	if len(open) != 4 || open[3].End != 3.8 {
		t.Fatalf("open note: %+v", open)
	}
	if _, err := r.Close(); err != nil {
		t.Fatal(err)
	}
	got := r.Notes()
	want := []voice.SpeechNote{
		{Kind: voice.SpeechSay, Text: "Hello there.", Voice: "slt", Start: 0.2, End: 1.2},
		{Kind: voice.SpeechPlay, URL: "https://example.com/a.wav", Start: 3.2, End: 3.7},
		{Kind: voice.SpeechSay, Text: "cut", Start: 3.7, End: 3.7},
		{Kind: voice.SpeechSay, Text: "still playing", Start: 3.7, End: 3.8},
	}
	if len(got) != len(want) {
		t.Fatalf("notes %+v", got)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Errorf("note %d: %+v, want %+v", i, got[i], want[i])
		}
	}
}

func TestRecorderNotesAreBounded(t *testing.T) {
	t.Parallel()
	c := newFakeClock()
	r, _ := newTestRecorder(t, 8000, voice.ChannelsDual, c.Now)
	long := strings.Repeat("é", voice.MaxSpeechNoteText) // 2 bytes each
	for range voice.MaxSpeechNotes + 5 {
		r.BeginNote(voice.SpeechNote{Kind: voice.SpeechSay, Text: long})
		frames(r, c, 8000, 1)
		r.EndNote()
	}
	notes := r.Notes()
	if len(notes) != voice.MaxSpeechNotes {
		t.Fatalf("%d notes kept, want %d", len(notes), voice.MaxSpeechNotes)
	}
	if n := notes[0].Text; len(n) > voice.MaxSpeechNoteText || !utf8.ValidString(n) || len(n) < voice.MaxSpeechNoteText-1 {
		t.Errorf("text clipped to %d bytes, valid %v", len(n), utf8.ValidString(n))
	}
	if _, err := r.Close(); err != nil {
		t.Fatal(err)
	}
	r.BeginNote(voice.SpeechNote{Kind: voice.SpeechSay, Text: "after close"})
	if len(r.Notes()) != voice.MaxSpeechNotes {
		t.Errorf("a note was kept after Close")
	}
}
