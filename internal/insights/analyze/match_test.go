package analyze

import (
	"strings"
	"testing"
	"time"

	"github.com/minivoice/minivoice/internal/voice"
)

func TestStem(t *testing.T) {
	t.Parallel()
	for _, g := range [][]string{
		{"appointment", "appointments"},
		{"book", "booked", "booking", "books"},
		{"charge", "charged", "charges", "charging"},
		{"bill", "billed", "bills", "billing"},
		{"cancel", "cancelled", "canceled", "cancels"},
		{"delivery", "deliveries"},
		{"refund", "refunds", "refunded"},
	} {
		for _, w := range g[1:] {
			if stem(w) != stem(g[0]) {
				t.Errorf("stem(%q) = %q, stem(%q) = %q", w, stem(w), g[0], stem(g[0]))
			}
		}
	}
}

func TestPhonetic(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct{ a, b string }{
		{"acme", "acne"}, {"appointment", "apointmeant"}, {"refund", "refined"}, {"cancel", "cansell"},
		{"knight", "night"}, {"phone", "fone"},
	} {
		ka, kb := phonetic(tt.a), phonetic(tt.b)
		if d := editDistance(ka, kb, 5); d > 1 {
			t.Errorf("phonetic(%q) = %q, phonetic(%q) = %q: %d apart", tt.a, ka, tt.b, kb, d)
		}
	}
	if phonetic("") != "" || phonetic("123") != "" {
		t.Error("no letters, no key")
	}
}

func TestEditDistance(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		a, b         string
		limit, wantD int
	}{{"kitten", "sitting", 5, 3}, {"", "abc", 5, 3}, {"abc", "abc", 0, 0}, {"abcdef", "uvwxyz", 2, 3}} {
		if d := editDistance(tt.a, tt.b, tt.limit); d != tt.wantD {
			t.Errorf("editDistance(%q, %q, %d) = %d, want %d", tt.a, tt.b, tt.limit, d, tt.wantD)
		}
	}
}

func topicsOf(t *testing.T, defs []voice.TopicDef, segs ...voice.Segment) []voice.Topic {
	t.Helper()
	tr := &voice.Transcription{Segments: segs}
	p := prepare(tr, nil)
	return topics(Input{Transcription: tr, Topics: defs}, &p, loadResources()).Topics
}

func TestTopicsThroughRecognitionErrors(t *testing.T) {
	t.Parallel()
	asr := func(start float64, conf float64, text string) voice.Segment {
		return voice.Segment{Channel: 0, Speaker: voice.SpeakerCaller, Start: start, End: start + 2, Text: text, Confidence: conf,
			Source: voice.SourceASR}
	}
	defs := []voice.TopicDef{{Name: "appointment", Keywords: []string{"appointment"}},
		{Name: "clinic", Keywords: []string{"acme dental"}}, {Name: "cancellation", Keywords: []string{"cancel"}},
		{Name: "billing", Keywords: []string{"bill"}}}
	got := topicsOf(t, defs,
		asr(1, 0.7, "i have two appointments with acne dental"),
		asr(4, 0.6, "i want to can sell one of them"),
		asr(7, 0.9, "we will see"))
	want := map[string]string{"appointment": "appointments", "clinic": "acne dental", "cancellation": "can sell"}
	found := map[string]bool{}
	for _, tp := range got {
		if w, ok := want[tp.Name]; ok {
			found[tp.Name] = true
			if tp.Evidence == nil || tp.Evidence.Matched != w || tp.Evidence.Speaker != voice.SpeakerCaller || tp.Evidence.Keyword == "" {
				t.Errorf("%s: evidence %+v, want the match %q", tp.Name, tp.Evidence, w)
			}
			if tp.Confidence <= 0 || tp.Confidence >= 0.7 {
				t.Errorf("%s: confidence %v: an inexact match is below an exact one's 0.7", tp.Name, tp.Confidence)
			}
		}
		if tp.Name == "billing" {
			t.Errorf("billing matched %+v: short keywords are matched exactly or by stem only ('will')", tp.Evidence)
		}
	}
	if len(found) != len(want) {
		t.Errorf("topics %+v, want %v", got, want)
	}

	// The platform's own text is exact: a near word there is another word.
	tts := voice.Segment{Channel: 1, Speaker: voice.SpeakerPlatform, Start: 0, End: 3, Text: "We have changed your booking.",
		Confidence: 1, Source: voice.SourceTTS}
	for _, tp := range topicsOf(t, []voice.TopicDef{{Name: "billing", Keywords: []string{"charged"}}}, tts) {
		if tp.Name == "billing" {
			t.Errorf("'changed' in the platform's text matched 'charged': %+v", tp.Evidence)
		}
	}
	// But inflections still match there, and the evidence keeps its text.
	got = topicsOf(t, []voice.TopicDef{{Name: "booking", Keywords: []string{"book"}}}, tts)
	if len(got) == 0 || got[0].Name != "booking" || got[0].Evidence.Text != "We have changed your booking." || got[0].Evidence.Matched != "booking" {
		t.Errorf("booking in tts: %+v", got)
	}
}

// TestTopicsBounded runs the largest topic list an application may have
// against a long, noisy transcript: the fuzzy budget keeps it bounded.
func TestTopicsBounded(t *testing.T) {
	t.Parallel()
	var defs []voice.TopicDef
	for i := range MaxEntries {
		var kws []string
		for j := range MaxPhrases {
			kws = append(kws, strings.Repeat(string(rune('a'+(i+j)%26)), 3)+"tion "+strings.Repeat("x", j%5+2)+"ing")
		}
		defs = append(defs, voice.TopicDef{Name: string(rune('a'+i%26)) + strings.Repeat("z", i), Keywords: kws})
	}
	var segs []voice.Segment
	words := strings.Fields("aaation xxing appointment bbbtion station nation ration relation caution")
	for i := range 3000 {
		var b []string
		for j := range 10 {
			b = append(b, words[(i*7+j*3)%len(words)])
		}
		segs = append(segs, voice.Segment{Start: float64(i), End: float64(i) + 1, Text: strings.Join(b, " "), Confidence: 0.5,
			Source: voice.SourceASR})
	}
	start := time.Now()
	got := topicsOf(t, defs, segs...)
	if len(got) == 0 {
		t.Error("no topics")
	}
	// A failsafe, not a timing assertion: unbounded matching takes minutes.
	if d := time.Since(start); d > 60*time.Second {
		t.Errorf("took %v", d)
	}
}
