package asr_test

import (
	"context"
	"errors"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/minivoice/minivoice/internal/insights/asr"
	"github.com/minivoice/minivoice/internal/media"
)

// Each real pocketsphinx run costs seconds of CPU, so the package keeps to a
// handful: three recognitions (two run concurrently), one on a hum, and two
// that are killed early.

// needPocketsphinx skips tb unless flite and pocketsphinx with its en-us
// model are installed.
func needPocketsphinx(tb testing.TB) {
	tb.Helper()
	if _, err := exec.LookPath("flite"); err != nil {
		tb.Skip("flite not installed (Debian package flite): cannot render test speech")
	}
	if err := asr.NewPocketsphinx(asr.PocketsphinxConfig{}).Available(context.Background()); err != nil {
		tb.Skipf("pocketsphinx not usable: %v", err)
	}
}

// needFullRecognition skips tb under -short: a whole recognition costs
// seconds of CPU (25 s for the package on two busy cores), and -short is the
// quick loop; parsing, cancellation and failures are still tested there.
func needFullRecognition(tb testing.TB) {
	tb.Helper()
	if testing.Short() {
		tb.Skip("real pocketsphinx recognitions run only without -short")
	}
}

// speak renders text with flite's 16 kHz voice.
func speak(tb testing.TB, text string) asr.Audio {
	tb.Helper()
	path := filepath.Join(tb.TempDir(), "speech.wav")
	if out, err := exec.Command("flite", "-voice", "kal16", "-t", text, "-o", path).CombinedOutput(); err != nil {
		tb.Fatalf("flite: %v: %s", err, out)
	}
	f, err := os.Open(path)
	if err != nil {
		tb.Fatal(err)
	}
	defer f.Close()
	p, err := media.ReadWAV(f)
	if err != nil {
		tb.Fatal(err)
	}
	return asr.Audio{Samples: p.Samples, Rate: p.Rate}
}

// join concatenates audio at one rate with gap seconds of silence between.
func join(gap float64, parts ...asr.Audio) asr.Audio {
	out := asr.Audio{Rate: parts[0].Rate}
	for i, p := range parts {
		if i > 0 {
			out.Samples = append(out.Samples, make([]int16, int(gap*float64(out.Rate)))...)
		}
		out.Samples = append(out.Samples, p.Samples...)
	}
	return out
}

func to8k(a asr.Audio) asr.Audio {
	p := media.Resample(&media.PCM{Rate: a.Rate, Samples: a.Samples}, 8000)
	return asr.Audio{Samples: p.Samples, Rate: p.Rate}
}

func duration(a asr.Audio) float64 { return float64(len(a.Samples)) / float64(a.Rate) }

func text(r *asr.Result) string {
	var parts []string
	for _, s := range r.Segments {
		parts = append(parts, s.Text)
	}
	return strings.Join(parts, " ")
}

// checkSegments checks the invariants every result must hold.
func checkSegments(t *testing.T, r *asr.Result, a asr.Audio) {
	t.Helper()
	prevEnd := 0.0
	for i, s := range r.Segments {
		if !(s.Start >= prevEnd && s.Start < s.End && s.End <= duration(a)) {
			t.Errorf("segment %d [%.2f, %.2f] out of order or outside the %.2f s audio (previous ended %.2f)", i, s.Start, s.End, duration(a), prevEnd)
		}
		if s.Confidence < 0 || s.Confidence > 1 || math.IsNaN(s.Confidence) {
			t.Errorf("segment %d confidence %v", i, s.Confidence)
		}
		if strings.TrimSpace(s.Text) == "" || strings.ContainsAny(s.Text, "<>[]()") {
			t.Errorf("segment %d text %q", i, s.Text)
		}
		prevEnd = s.End
	}
}

// assertNoTemps checks that runs left nothing in their temp directory.
func assertNoTemps(t *testing.T, dir string) {
	t.Helper()
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		t.Errorf("temp file left behind: %s", e.Name())
	}
}

func TestPocketsphinxRecognises(t *testing.T) {
	t.Parallel()
	needFullRecognition(t)
	needPocketsphinx(t)
	tmp := t.TempDir()
	// A generous timeout: go test ./... may load the machine far beyond
	// what the default allows for, and this test is about recognition.
	eng := asr.NewPocketsphinx(asr.PocketsphinxConfig{TempDir: tmp, Timeout: 5 * time.Minute})
	if eng.Name() != "pocketsphinx" {
		t.Errorf("Name() = %q", eng.Name())
	}

	const first, second = "Hello, thank you for calling. How can I help you today?", "I would like to check the status of my order."
	// Two sentences 1.5 s apart: two utterances, so at least two segments.
	firstAudio := speak(t, first)
	wide := join(1.5, firstAudio, speak(t, second))
	const phone = "I would like to check the status of my order. My account was charged twice this month and I want a refund."
	// 2 s of digital silence first, as when a caller waits out a greeting:
	// once, that turned whole 8 kHz transcripts into a single word.
	narrow := to8k(join(2, asr.Audio{Rate: 16000}, speak(t, phone)))

	// One engine, two concurrent runs: it must be safe for that.
	t.Run("group", func(t *testing.T) {
		t.Run("16kHz", func(t *testing.T) {
			t.Parallel()
			res, err := eng.Transcribe(context.Background(), wide)
			if err != nil {
				t.Fatal(err)
			}
			ref := first + " " + second
			errs, words := asr.WordErrors(ref, text(res))
			t.Logf("16 kHz: WER %d/%d: %q", errs, words, text(res))
			if float64(errs) > 0.3*float64(words) {
				t.Errorf("WER %d/%d above 30%%: heard %q for %q", errs, words, text(res), ref)
			}
			if res.Language != "en" {
				t.Errorf("Language = %q", res.Language)
			}
			checkSegments(t, res, wide)
			if len(res.Segments) < 2 {
				t.Fatalf("got %d segments, want the two sentences apart: %+v", len(res.Segments), res.Segments)
			}
			// The second sentence starts after the 1.5 s gap.
			secondStart := duration(firstAudio) + 1.5
			last := res.Segments[len(res.Segments)-1]
			if last.Start < secondStart-0.5 {
				t.Errorf("last segment starts at %.2f s, before the second sentence (%.2f s)", last.Start, secondStart)
			}
		})
		t.Run("8kHz", func(t *testing.T) {
			t.Parallel()
			// Telephone-band audio is resampled to the model's 16 kHz; the
			// missing upper band costs accuracy, hence the looser bound.
			res, err := eng.Transcribe(context.Background(), narrow)
			if err != nil {
				t.Fatal(err)
			}
			errs, words := asr.WordErrors(phone, text(res))
			t.Logf("8 kHz: WER %d/%d: %q", errs, words, text(res))
			if float64(errs) > 0.5*float64(words) {
				t.Errorf("WER %d/%d above 50%%: heard %q for %q", errs, words, text(res), phone)
			}
			checkSegments(t, res, narrow)
		})
	})
	assertNoTemps(t, tmp)
}

// TestPocketsphinxLeadingSilence transcribes a real voicemail from a G.722
// call: 1.3 s of near-digital silence (samples of a few units, the caller
// not speaking yet), then "Hi, this is Sam. Please call me back about my
// invoice. Thank you." from 1.3 s to 6.1 s. Handed to pocketsphinx whole,
// its leading silence made it hear "i read on you".
func TestPocketsphinxLeadingSilence(t *testing.T) {
	t.Parallel()
	needFullRecognition(t)
	eng := asr.NewPocketsphinx(asr.PocketsphinxConfig{TempDir: t.TempDir(), Timeout: 5 * time.Minute})
	if err := eng.Available(context.Background()); err != nil {
		t.Skipf("pocketsphinx not usable: %v", err)
	}
	f, err := os.Open(filepath.Join("testdata", "voicemail-leading-silence.wav"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	p, err := media.ReadWAV(f)
	if err != nil {
		t.Fatal(err)
	}
	a := asr.Audio{Samples: p.Samples, Rate: p.Rate}
	res, err := eng.Transcribe(context.Background(), a)
	if err != nil {
		t.Fatal(err)
	}
	got := text(res)
	t.Logf("heard %q in %+v", got, res.Segments)
	checkSegments(t, res, a)
	words := strings.Fields(got)
	for _, w := range []string{"call", "me", "back", "thank", "you"} {
		if !slices.Contains(words, w) {
			t.Errorf("%q missing from %q", w, got)
		}
	}
	// Times are in the recording, not in the trimmed audio pocketsphinx
	// heard: nothing before the speech (1.3 s, with room for pocketsphinx's
	// word boundaries) or after it.
	for i, s := range res.Segments {
		if s.Start < 0.9 || s.End > 6.5 {
			t.Errorf("segment %d [%.2f, %.2f] %q outside the speech (1.3 to 6.1 s)", i, s.Start, s.End, s.Text)
		}
	}
}

func TestPocketsphinxSilence(t *testing.T) {
	t.Parallel()
	needPocketsphinx(t)
	tmp := t.TempDir()
	eng := asr.NewPocketsphinx(asr.PocketsphinxConfig{TempDir: tmp, Timeout: 5 * time.Minute})
	// A faint 50 Hz hum at about -50 dBFS is sound enough to be sent to
	// pocketsphinx, which hears an empty utterance in it.
	hum := asr.Audio{Rate: 16000, Samples: make([]int16, 2*16000)}
	for i := range hum.Samples {
		hum.Samples[i] = int16(140 * math.Sin(2*math.Pi*50*float64(i)/16000))
	}
	tests := map[string]asr.Audio{
		"empty":         {},
		"empty no rate": {Samples: []int16{}},
		"digital":       {Rate: 8000, Samples: make([]int16, 3*8000)},
		"hum":           hum,
	}
	for name, a := range tests {
		t.Run(name, func(t *testing.T) {
			res, err := eng.Transcribe(context.Background(), a)
			if err != nil {
				t.Fatal(err)
			}
			if res.Segments == nil || len(res.Segments) != 0 {
				t.Errorf("got segments %#v, want an empty list", res.Segments)
			}
		})
	}
	assertNoTemps(t, tmp)
}

func TestPocketsphinxCancel(t *testing.T) {
	t.Parallel()
	needPocketsphinx(t)
	long := speak(t, "This recording is long enough that recognising it takes a few seconds, so cancelling it must stop the recogniser early.")
	tests := []struct {
		name    string
		timeout time.Duration // engine timeout
		cancel  bool          // cancel the caller's context instead
		want    error
	}{
		{name: "cancelled", cancel: true, want: context.Canceled},
		{name: "timeout", timeout: 300 * time.Millisecond, want: context.DeadlineExceeded},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			tmp := t.TempDir()
			eng := asr.NewPocketsphinx(asr.PocketsphinxConfig{TempDir: tmp, Timeout: tt.timeout})
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			if tt.cancel {
				time.AfterFunc(300*time.Millisecond, cancel)
			}
			start := time.Now()
			res, err := eng.Transcribe(ctx, long)
			took := time.Since(start)
			if !errors.Is(err, tt.want) || errors.Is(err, asr.ErrUnavailable) || errors.Is(err, asr.ErrRejected) {
				t.Fatalf("Transcribe = %+v, %v; want a transient error wrapping %v", res, err, tt.want)
			}
			// Killed at 300 ms: the error above shows the context ended the
			// run. No timing assertion (a loaded CI machine is slow); this
			// is only a failsafe against a run that hangs.
			if took > 20*time.Second {
				t.Errorf("returned after %s", took)
			}
			assertNoTemps(t, tmp)
		})
	}
}

func TestPocketsphinxUnavailable(t *testing.T) {
	t.Parallel()
	tone := asr.Audio{Rate: 16000, Samples: make([]int16, 16000)}
	for i := range tone.Samples {
		tone.Samples[i] = int16(8000 * math.Sin(2*math.Pi*440*float64(i)/16000))
	}
	tests := []struct {
		name string
		cfg  asr.PocketsphinxConfig
		want []string // in the error text
	}{
		{"binary not in PATH", asr.PocketsphinxConfig{Bin: "minivoice-no-such-pocketsphinx"},
			[]string{"minivoice-no-such-pocketsphinx not found in PATH", "pocketsphinx-en-us"}},
		{"binary path missing", asr.PocketsphinxConfig{Bin: filepath.Join(t.TempDir(), "pocketsphinx_continuous")},
			[]string{"pocketsphinx_continuous not found"}},
		{"model missing", asr.PocketsphinxConfig{ModelDir: filepath.Join(t.TempDir(), "model")},
			[]string{"model"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			if tt.cfg.Bin == "" {
				// The binary is checked first; only a real one gets as
				// far as the model.
				if _, err := exec.LookPath(asr.DefaultPocketsphinxBin); err != nil {
					t.Skip("pocketsphinx not installed (Debian package pocketsphinx)")
				}
			}
			tt.cfg.TempDir = t.TempDir()
			eng := asr.NewPocketsphinx(tt.cfg)
			errA := eng.Available(context.Background())
			_, errT := eng.Transcribe(context.Background(), tone)
			for _, err := range []error{errA, errT} {
				if !errors.Is(err, asr.ErrUnavailable) {
					t.Fatalf("got %v, want ErrUnavailable", err)
				}
				for _, w := range tt.want {
					if !strings.Contains(err.Error(), w) {
						t.Errorf("error %q does not mention %q", err, w)
					}
				}
			}
			assertNoTemps(t, tt.cfg.TempDir)
		})
	}
}

func TestRejectsBadRate(t *testing.T) {
	t.Parallel()
	o, err := asr.NewOpenAI(asr.OpenAIConfig{URL: "http://127.0.0.1:9"})
	if err != nil {
		t.Fatal(err)
	}
	for _, eng := range []asr.Engine{asr.NewPocketsphinx(asr.PocketsphinxConfig{}), o} {
		for _, rate := range []int{0, -8000, 1000, 1 << 30} {
			_, err := eng.Transcribe(context.Background(), asr.Audio{Samples: []int16{1, 2, 3}, Rate: rate})
			if !errors.Is(err, asr.ErrRejected) {
				t.Errorf("%s at %d Hz: got %v, want ErrRejected", eng.Name(), rate, err)
			}
		}
	}
}

// BenchmarkPocketsphinx reports how many seconds of 16 kHz speech
// pocketsphinx recognises per second of wall time (x_realtime above 1 is
// faster than real time), process start and model loading included.
func BenchmarkPocketsphinx(b *testing.B) {
	needPocketsphinx(b)
	a := speak(b, "Hello, thank you for calling. How can I help you today? I would like to check the status of my order. Sure, can you give me the order number please?")
	eng := asr.NewPocketsphinx(asr.PocketsphinxConfig{TempDir: b.TempDir()})
	n := 0
	for b.Loop() {
		if _, err := eng.Transcribe(context.Background(), a); err != nil {
			b.Fatal(err)
		}
		n++
	}
	b.ReportMetric(duration(a)*float64(n)/b.Elapsed().Seconds(), "x_realtime")
	b.ReportMetric(duration(a), "audio_s")
}
