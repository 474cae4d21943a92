package e2e

// Speech recognition accuracy end to end, the CI-sized version of the
// benchmark bench/asr-wer: the first few sentences of its fixed set are
// spoken by the simulator with flite through a real G.722 call and a real
// PCMU call, recorded by the platform's `record` action, fetched through
// the API's media endpoint and transcribed with pocketsphinx. The word error
// rate must stay under thresholds set from measured runs with a margin
// (docs/benchmarks.md, "Speech recognition accuracy and speed"), so a
// regression anywhere on that path (codec, jitter buffer, recorder,
// resampling, the engine's wrapper) fails the test.

import (
	"context"
	"errors"
	"os/exec"
	"testing"
	"time"

	"github.com/minivoice/minivoice/bench/asr-wer/wer"
	"github.com/minivoice/minivoice/internal/insights/asr"
)

// asrSentences is how many sentences of bench/asr-wer/sentences.txt the
// test speaks per codec: the first ones in the file, not a hand-picked set.
const asrSentences = 6

// asrMaxWER is the highest word error rate, in percent, the test accepts
// per codec. On a quiet machine seven runs measured G.722 9.6 to 15.1 % and
// PCMU 37.0 to 49.3 % (docs/benchmarks.md); in the full CI run (go test
// -race, every package and end-to-end test at once on 2 cores) G.722 reached
// 27.4 %, since the starved call path delivers the speech less cleanly. The
// thresholds sit above that: they catch a broken codec, resampler, recorder
// or engine wrapper, which send WER towards 100 %; they are not goals.
//
// The goal (insights.md) is WER <= 10 % on G.722 calls over the whole
// benchmark set (bench/asr-wer), which pocketsphinx does not reach yet.
// G.711 (PCMU) is 8 kHz audio for a 16 kHz acoustic model and is expected to
// do much worse.
var asrMaxWER = map[string]float64{
	"G722": 40,
	"PCMU": 70,
}

// TestASRWordErrorRate runs the small benchmark on both codecs at once.
func TestASRWordErrorRate(t *testing.T) {
	t.Parallel()
	if _, err := exec.LookPath("flite"); err != nil {
		t.Skip("flite is not installed (Debian package flite)")
	}
	engine := asr.NewPocketsphinx(asr.PocketsphinxConfig{})
	if err := engine.Available(context.Background()); err != nil {
		if errors.Is(err, asr.ErrUnavailable) {
			t.Skipf("pocketsphinx is not usable (Debian packages pocketsphinx, pocketsphinx-en-us): %v", err)
		}
		t.Fatal(err)
	}
	refs, err := wer.LoadSentences("../../bench/asr-wer/sentences.txt")
	if err != nil {
		t.Fatal(err)
	}
	if len(refs) < asrSentences {
		t.Fatalf("%d sentences in bench/asr-wer/sentences.txt, want at least %d", len(refs), asrSentences)
	}
	refs = refs[:asrSentences]
	cache := t.TempDir() // flite renders each sentence once for both codecs
	for _, codec := range []string{"G722", "PCMU"} {
		t.Run(codec, func(t *testing.T) {
			t.Parallel()
			ctx, cancel := context.WithTimeout(context.Background(), 240*time.Second)
			defer cancel()
			// One call at a time: the test should not add to the load that
			// degrades the audio it measures.
			res, err := wer.Run(ctx, wer.Config{Codec: codec, Sentences: refs, Engine: engine, TTSCacheDir: cache,
				Concurrency: 1})
			if err != nil {
				t.Fatal(err)
			}
			for _, s := range res.Sentences {
				t.Logf("%s #%d %d/%d errors, %.1f s audio in %.2f s\n\tref: %s\n\thyp: %s", codec, s.Index+1, s.Errors,
					s.Words, s.AudioSec, s.WallSec, s.Reference, s.Hypothesis)
			}
			t.Logf("%s: WER %.1f %% (%d errors / %d words), %.1f s of audio transcribed in %.1f s (%.2fx real time); calls took %.1f s",
				codec, res.WERPct, res.Errors, res.Words, res.PerRecording.AudioSec, res.PerRecording.WallSec,
				res.PerRecording.XRealTime(), res.CallsWall)
			if res.Words == 0 {
				t.Fatal("no reference words")
			}
			if max := asrMaxWER[codec]; res.WERPct > max {
				t.Errorf("%s: WER %.1f %%, want <= %.0f %%", codec, res.WERPct, max)
			}
			for _, s := range res.Sentences {
				if s.SampleRate != wer.Codecs[codec] || s.Codec != codec {
					t.Errorf("sentence %d: %s at %d Hz, want %s at %d Hz", s.Index+1, s.Codec, s.SampleRate, codec, wer.Codecs[codec])
				}
			}
		})
	}
}

// asrDialogueMaxWER bounds TestASRDialogue's word error rate per codec.
// bench/asr-wer -dialogue measured, on these voices' first sentences and
// a loaded machine, G.722 slt 25.5 % and kal 39.0 %, PCMU 39.0 % and
// 34.8 % (docs/benchmarks.md); the bounds leave room for a starved CI run
// and catch what matters: a channel whose speech after the platform's
// prompts and a silence collapses, or narrowband handling gone (kal over
// G.722 scored 79 % without it).
var asrDialogueMaxWER = map[string]float64{
	"G722": 55,
	"PCMU": 65,
}

// TestASRDialogue places realistic calls (bench/asr-wer -dialogue): the
// platform greets, the caller waits it out and speaks, the platform asks
// again, the caller answers, both stay silent 6 s, the caller speaks again;
// the whole-call recording's caller channel is transcribed in one go. Two
// calls per codec: flite's slt (wideband) and kal (an 8 kHz voice, which
// over G.722 is narrowband speech in a wideband call).
func TestASRDialogue(t *testing.T) {
	t.Parallel()
	if testing.Short() {
		t.Skip("real calls and recognition: skipped with -short")
	}
	if _, err := exec.LookPath("flite"); err != nil {
		t.Skip("flite is not installed (Debian package flite)")
	}
	engine := asr.NewPocketsphinx(asr.PocketsphinxConfig{Timeout: 5 * time.Minute})
	if err := engine.Available(context.Background()); err != nil {
		if errors.Is(err, asr.ErrUnavailable) {
			t.Skipf("pocketsphinx is not usable (Debian packages pocketsphinx, pocketsphinx-en-us): %v", err)
		}
		t.Fatal(err)
	}
	refs, err := wer.LoadSentences("../../bench/asr-wer/sentences.txt")
	if err != nil {
		t.Fatal(err)
	}
	var clips []wer.Clip
	for _, v := range []string{"slt", "kal"} {
		for _, r := range refs[:3] {
			clips = append(clips, wer.Clip{Voice: v, Text: r})
		}
	}
	cache := t.TempDir()
	for _, codec := range []string{"G722", "PCMU"} {
		t.Run(codec, func(t *testing.T) {
			t.Parallel()
			ctx, cancel := context.WithTimeout(context.Background(), 300*time.Second)
			defer cancel()
			res, err := wer.RunDialogues(ctx, wer.DialogueConfig{Codec: codec, Clips: clips, Engine: engine, TTSCacheDir: cache,
				Concurrency: 2})
			if err != nil {
				t.Fatal(err)
			}
			for _, c := range res.Calls {
				for _, u := range c.Utterances {
					t.Logf("%s %s %-13s %d/%d errors\n\tref: %s\n\thyp: %s", codec, c.Voice, u.Position, u.Errors, u.Words, u.Text, u.Hypothesis)
					if u.Words > 0 && u.Errors >= u.Words {
						t.Errorf("%s %s %s: nothing right (%q for %q)", codec, c.Voice, u.Position, u.Hypothesis, u.Text)
					}
				}
			}
			t.Logf("%s: WER %.1f %% (%d/%d), %.1f s of calls transcribed with %.1f CPU s", codec, res.Total.WER(), res.Total.Errors,
				res.Total.Words, res.Throughput.AudioSec, res.Throughput.CPUSec)
			if res.Total.Words == 0 {
				t.Fatal("no reference words")
			}
			if max := asrDialogueMaxWER[codec]; res.Total.WER() > max {
				t.Errorf("%s: WER %.1f %%, want <= %.0f %%", codec, res.Total.WER(), max)
			}
		})
	}
}
