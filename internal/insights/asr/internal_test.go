package asr

import (
	"fmt"
	"math"
	"slices"
	"strings"
	"testing"

	"github.com/minivoice/minivoice/internal/media"
)

// Real pocketsphinx_continuous -time yes output (Debian 0.8+5prealpha+1-15)
// for two flite kal16 phrases 3 s apart: two utterances, each with its
// hypothesis line first, a [SPEECH] filler, and a posterior above 1.
const psTwoUtterances = `good morning
<s> 0.000 0.090 0.999800
[SPEECH] 0.100 0.200 0.678585
good 0.210 0.420 0.845084
morning 0.430 0.860 1.000000
</s> 0.870 1.280 1.000000
goodbye for now
<s> 3.930 4.050 0.999800
[SPEECH] 4.060 4.180 0.540278
goodbye 4.190 4.610 0.594247
for 4.620 4.820 0.949608
now 4.830 5.040 1.000200
</s> 5.050 5.130 1.000000
`

// Real output for one utterance with <sil> pauses and pronunciation
// variants, the kind of line a 10 s flite sentence produces.
const psVariants = `i would like to check the order
<s> 0.000 0.200 0.998501
i 4.190 4.300 0.904736
would 4.310 4.500 0.990247
<sil> 4.510 4.600 0.970830
like 4.610 4.780 0.999800
to(3) 4.790 4.930 0.530533
check 4.940 5.260 0.870998
the(2) 8.380 8.610 0.975112
order 8.620 8.890 0.965891
</s> 9.920 9.990 1.000000
`

// Real output for a faint 50 Hz hum: an empty hypothesis and an empty
// utterance.
const psHum = `
<s> 0.000 0.370 0.999900
</s> 0.380 0.630 1.000000
`

func TestParsePocketsphinx(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name   string
		out    string
		offset float64
		dur    float64
		want   []Segment
	}{
		{"two utterances", psTwoUtterances, 0, 6, []Segment{
			{Start: 0.21, End: 0.87, Text: "good morning", Confidence: (0.845084 + 1) / 2},
			{Start: 4.19, End: 5.05, Text: "goodbye for now", Confidence: (0.594247 + 0.949608 + 1) / 3},
		}},
		// "the(2)" starts 3.12 s after "check" ends: a pause splits the
		// utterance.
		{"variants and a long pause", psVariants, 0, 10, []Segment{
			{Start: 4.19, End: 5.27, Text: "i would like to check", Confidence: (0.904736 + 0.990247 + 0.999800 + 0.530533 + 0.870998) / 5},
			{Start: 8.38, End: 8.90, Text: "the order", Confidence: (0.975112 + 0.965891) / 2},
		}},
		{"hum", psHum, 0, 2, []Segment{}},
		{"nothing", "", 0, 2, []Segment{}},
		// Times past the end of the audio are clamped into it.
		{"clamped", "hi 0.500 1.200 0.9\n", 0, 1, []Segment{{Start: 0.5, End: 1, Text: "hi", Confidence: 0.9}}},
		// Audio trimmed of 1.5 s of leading silence: times are offset back
		// into the recording, and the pause split still works on them.
		{"offset", psVariants, 1.5, 12, []Segment{
			{Start: 5.69, End: 6.77, Text: "i would like to check", Confidence: (0.904736 + 0.990247 + 0.999800 + 0.530533 + 0.870998) / 5},
			{Start: 9.88, End: 10.40, Text: "the order", Confidence: (0.975112 + 0.965891) / 2},
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := parsePocketsphinx([]byte(tt.out), tt.offset, tt.dur)
			if len(got) != len(tt.want) {
				t.Fatalf("got %d segments %+v, want %+v", len(got), got, tt.want)
			}
			for i, g := range got {
				w := tt.want[i]
				if g.Text != w.Text || !near(g.Start, w.Start) || !near(g.End, w.End) || !near(g.Confidence, w.Confidence) {
					t.Errorf("segment %d = %+v, want %+v", i, g, w)
				}
				if g.Confidence < 0 || g.Confidence > 1 {
					t.Errorf("segment %d confidence %v outside 0..1", i, g.Confidence)
				}
			}
		})
	}
}

func near(a, b float64) bool { return math.Abs(a-b) < 1e-6 }

func TestStripVariantAndFillers(t *testing.T) {
	t.Parallel()
	for in, want := range map[string]string{"to(3)": "to", "the(2)": "the", "hello": "hello", "(2)": "(2)", "a(b)": "a(b)", "x()": "x()"} {
		if got := stripVariant(in); got != want {
			t.Errorf("stripVariant(%q) = %q, want %q", in, got, want)
		}
	}
	for w, want := range map[string]bool{"<sil>": true, "<s>": true, "[NOISE]": true, "[SPEECH]": true, "++BREATH++": true, "hello": false, "o'clock": false, "[": false} {
		if got := isFiller(w); got != want {
			t.Errorf("isFiller(%q) = %v, want %v", w, got, want)
		}
	}
}

func TestErrorLines(t *testing.T) {
	t.Parallel()
	// Real stderr of a run on a file that is not a WAV, fed in awkward
	// pieces; pocketsphinx repeats each error.
	log := "INFO: continuous.c(307): pocketsphinx_continuous COMPILED ON: Sep 28 2022\n" +
		"ERROR: \"continuous.c\", line 123: Input audio file has [13] bits per sample instead of 16\n" +
		"FATAL: \"continuous.c\", line 165: Failed to process file '/tmp/g.wav' due to format mismatch.\n\n" +
		"ERROR: \"continuous.c\", line 123: Input audio file has [13] bits per sample instead of 16\n" +
		"INFO: " + strings.Repeat("x", 5000) + "\n" +
		"ERROR: last line without newline"
	var e errorLines
	for i := 0; i < len(log); i += 7 {
		_, _ = e.Write([]byte(log[i:min(i+7, len(log))]))
	}
	got := e.String()
	want := `ERROR: "continuous.c", line 123: Input audio file has [13] bits per sample instead of 16; ` +
		`FATAL: "continuous.c", line 165: Failed to process file '/tmp/g.wav' due to format mismatch.; ` +
		`ERROR: "continuous.c", line 123: Input audio file has [13] bits per sample instead of 16; ` +
		`ERROR: last line without newline`
	if got != want {
		t.Errorf("got  %q\nwant %q", got, want)
	}
	// Bounded however much is logged.
	var big errorLines
	for i := range 10000 {
		_, _ = fmt.Fprintf(&big, "ERROR: failure number %d\n", i)
	}
	if n := len(big.String()); n > maxStderr+1000 {
		t.Errorf("kept %d bytes of stderr", n)
	}
}

func TestLanguageCode(t *testing.T) {
	t.Parallel()
	for in, want := range map[string]string{
		"english": "en", "English": "en", " german ": "de", "en": "en", "DE": "de",
		"yue": "yue", "jw": "jv", "haitian creole": "ht", "klingon": "klingon", "": "",
		"en-US": "en-US",
	} {
		if got := languageCode(in); got != want {
			t.Errorf("languageCode(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestServerMessage(t *testing.T) {
	t.Parallel()
	for body, want := range map[string]string{
		`{"error":{"message":"bad audio","type":"invalid_request_error"}}`: "bad audio",
		`{"error":"failed to read WAV file"}`:                              "failed to read WAV file",
		`{"detail":"Model not found"}`:                                     "Model not found",
		`{"message":"rate limited"}`:                                       "rate limited",
		"upstream connect error\nmore":                                     "upstream connect error",
		"<html><body>502 Bad Gateway</body></html>":                        "",
		"": "",
		`{"error":{"message":"line1\nline2\u0000"}}`: "line1 line2",
		strings.Repeat("é", 400):                     strings.Repeat("é", 250) + "...",
	} {
		if got := serverMessage([]byte(body)); got != want {
			t.Errorf("serverMessage(%.40q) = %q, want %q", body, got, want)
		}
	}
}

func TestFillUpperBand(t *testing.T) {
	t.Parallel()
	// Speech-like level (-27 dBFS) tone at 8 kHz, brought to 16 kHz.
	src := &media.PCM{Rate: 8000, Samples: make([]int16, 8000)}
	for i := range src.Samples {
		src.Samples[i] = int16(1500 * math.Sin(2*math.Pi*700*float64(i)/8000))
	}
	plain := media.Resample(src, modelRate)
	filled := media.Resample(src, modelRate)
	fillUpperBand(filled, 8000)
	again := media.Resample(src, modelRate)
	fillUpperBand(again, 8000)
	if !slices.Equal(filled.Samples, again.Samples) {
		t.Error("filling is not deterministic")
	}
	// The added noise sits fillBelowSpeech dB under the speech...
	added := make([]int16, len(plain.Samples))
	for i := range added {
		added[i] = filled.Samples[i] - plain.Samples[i]
	}
	rel := media.DBFS(added) - media.DBFS(plain.Samples)
	if math.Abs(rel+fillBelowSpeech) > 1.5 {
		t.Errorf("noise %.1f dB relative to the speech, want -%d", rel, fillBelowSpeech)
	}
	// ...and above the speech band: back at 8 kHz only the sliver in the
	// resampler's transition band (3.3 to 4 kHz) is left, 20 dB further
	// down.
	back := media.Resample(&media.PCM{Rate: modelRate, Samples: added}, 8000)
	if lvl := media.DBFS(back.Samples[100:7900]) - media.DBFS(plain.Samples); lvl > -45 {
		t.Errorf("noise below 4 kHz at %.1f dB relative to the speech", lvl)
	}
	// 16 kHz audio and silence are left alone.
	wide := media.Resample(src, modelRate)
	fillUpperBand(wide, modelRate)
	quiet := &media.PCM{Rate: modelRate, Samples: make([]int16, 1000)}
	fillUpperBand(quiet, 8000)
	if !slices.Equal(wide.Samples, plain.Samples) || slices.ContainsFunc(quiet.Samples, func(v int16) bool { return v != 0 }) {
		t.Error("filled audio that needs none")
	}
}

func TestVoiceSpans(t *testing.T) {
	t.Parallel()
	const rate = modelRate
	ms := func(v int) int { return v * rate / 1000 }
	pad := int(trimMargin * rate)
	// G.722 silence: samples of a few units, far below any threshold.
	hiss := func(n int) []int16 {
		s := make([]int16, n)
		for i := range s {
			s[i] = int16(i%7 - 3)
		}
		return s
	}
	toneAt := func(n int, amp float64) []int16 {
		s := make([]int16, n)
		for i := range s {
			s[i] = int16(amp * math.Sin(2*math.Pi*440*float64(i)/rate))
		}
		return s
	}
	tone := func(n int) []int16 { return toneAt(n, 3000) }
	cat := func(parts ...[]int16) []int16 { return slices.Concat(parts...) }
	// 200 bursts of 200 ms, 600 ms apart: more than vadMaxUtterances.
	var many [][]int16
	for range 200 {
		many = append(many, tone(ms(200)), hiss(ms(600)))
	}
	// Line noise at about -50 dBFS under everything: the floor moves the
	// threshold up, so the noise alone is no utterance.
	noisy := cat(hiss(ms(2000)), tone(ms(1000)), hiss(ms(2000)))
	for i := range noisy {
		noisy[i] += int16(100 * math.Sin(2*math.Pi*1234*float64(i)/rate))
	}
	tests := []struct {
		name    string
		samples []int16
		want    []span // nil: check only the count
		count   int
	}{
		{"leading and trailing silence", cat(hiss(ms(5000)), tone(ms(1000)), hiss(ms(2000))),
			[]span{{ms(5000) - pad, ms(6000) + pad}}, 1},
		{"two utterances", cat(hiss(ms(1000)), tone(ms(500)), hiss(ms(3000)), tone(ms(500)), hiss(ms(1000))),
			[]span{{ms(1000) - pad, ms(1500) + pad}, {ms(4500) - pad, ms(5000) + pad}}, 2},
		// A pause shorter than vadMinGap is inside the utterance.
		{"short pause kept", cat(hiss(ms(1000)), tone(ms(500)), hiss(ms(300)), tone(ms(500)), hiss(ms(1000))),
			[]span{{ms(1000) - pad, ms(2300) + pad}}, 1},
		// Padding stops at the middle of a gap shorter than two pads.
		{"padding meets in the gap", cat(hiss(ms(1000)), tone(ms(500)), hiss(ms(500)), tone(ms(500)), hiss(ms(1000))),
			[]span{{ms(1000) - pad, ms(1750)}, {ms(1750), ms(2500) + pad}}, 2},
		{"padding cut at the ends", cat(hiss(ms(100)), tone(ms(500)), hiss(ms(50))), []span{{0, ms(650)}}, 1},
		{"all sound", tone(ms(700)), []span{{0, ms(700)}}, 1},
		{"quiet speech", cat(hiss(ms(1000)), toneAt(ms(500), 60), hiss(ms(1000))), []span{{ms(1000) - pad, ms(1500) + pad}}, 1},
		{"click dropped", cat(hiss(ms(1000)), tone(ms(30)), hiss(ms(1000))), nil, 0},
		{"line noise", noisy, []span{{ms(2000) - pad, ms(3000) + pad}}, 1},
		{"only silence", hiss(ms(3000)), nil, 0},
		{"digital zero", make([]int16, ms(3000)), nil, 0},
		{"empty", nil, nil, 0},
		{"long speech capped", tone(ms(75000)), nil, 3},
		{"utterances bounded", cat(many...), nil, vadMaxUtterances},
		// Too far apart to merge within the cap: the count stays.
		{"sparse utterances", cat(slices.Repeat([][]int16{tone(ms(200)), hiss(ms(31000))}, 110)...), nil, 110},
	}
	for _, tt := range tests {
		got := voiceSpans(tt.samples, rate)
		if len(got) != tt.count || tt.want != nil && !slices.Equal(got, tt.want) {
			t.Errorf("%s: voiceSpans = %v (%d), want %v (%d)", tt.name, got, len(got), tt.want, tt.count)
		}
		for i, s := range got {
			if s.from >= s.to || i > 0 && s.from < got[i-1].to || s.to > len(tt.samples) {
				t.Errorf("%s: span %d %v out of order or outside the audio", tt.name, i, s)
			}
			if float64(s.to-s.from)/rate > vadMaxUtterance+2*trimMargin {
				t.Errorf("%s: span %d %v longer than the cap", tt.name, i, s)
			}
		}
	}
}
