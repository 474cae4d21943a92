package asr_test

import (
	"context"
	"math"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/minivoice/minivoice/internal/insights/asr"
	"github.com/minivoice/minivoice/internal/media"
	"github.com/minivoice/minivoice/internal/media/rtpaudio"
	"github.com/minivoice/minivoice/internal/tts"

	dmedia "github.com/emiago/diago/media"
)

// refundSentence is what the simulator's caller said in the call that
// issue 15 found "why op" in.
const refundSentence = "Hi Northwind, I was billed twice for my subscription this month and I would like my money back."

// slt renders text with flite's slt voice, the one the network simulator
// speaks with, through the same tts package, at rate.
func slt(t *testing.T, text string, rate int) *media.PCM {
	t.Helper()
	eng, err := tts.New(tts.Config{CacheDir: t.TempDir()})
	if err != nil {
		t.Skipf("flite not usable: %v", err)
	}
	p, err := eng.Render(context.Background(), "slt", text, rate)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// throughPCMU encodes p (8 kHz) as G.711 mu-law and decodes it again, as a
// PCMU call's recording holds it.
func throughCodec(t *testing.T, codec dmedia.Codec, p *media.PCM) *media.PCM {
	t.Helper()
	c, err := rtpaudio.NewAudioCodec(codec)
	if err != nil {
		t.Fatal(err)
	}
	payload := c.Encode(nil, p.Samples)
	return &media.PCM{Rate: p.Rate, Samples: c.Decode(nil, payload)}
}

// TestPocketsphinxSpeechAfterLongSilence reproduces issue 15's finding: a
// callee channel that is digital silence for 5 s while the platform speaks,
// then the caller's sentence, 3 s more silence and the sentence again.
func TestPocketsphinxSpeechAfterLongSilence(t *testing.T) {
	t.Parallel()
	needFullRecognition(t)
	needPocketsphinx(t)
	for _, tc := range []struct {
		name  string
		codec *dmedia.Codec
		noise float64 // RMS of white noise over the whole channel
	}{
		{"16kHz", nil, 0}, {"G722", &rtpaudio.CodecG722, 0}, {"PCMU", &dmedia.CodecAudioUlaw, 0},
		{"G722 line noise", &rtpaudio.CodecG722, 60},
	} {
		codec := tc.codec
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			rate := 16000
			if codec != nil {
				rate = rtpaudio.PCMRate(*codec)
			}
			speech := slt(t, refundSentence, rate)
			var s []int16
			s = append(s, make([]int16, 5*rate)...)
			first := float64(len(s)) / float64(rate)
			s = append(s, speech.Samples...)
			s = append(s, make([]int16, 3*rate)...)
			second := float64(len(s)) / float64(rate)
			s = append(s, speech.Samples...)
			s = append(s, make([]int16, rate)...)
			if tc.noise > 0 {
				// A fixed seed: the same audio every run.
				rng := rand.New(rand.NewPCG(1, 2))
				for i := range s {
					s[i] = int16(max(min(float64(s[i])+rng.NormFloat64()*tc.noise, math.MaxInt16), math.MinInt16))
				}
			}
			a := asr.Audio{Samples: s, Rate: rate}
			if codec != nil {
				// The whole channel goes through the codec, silence too, as
				// a call's recording does: G.722 decodes digital zero to a
				// faint hiss.
				a.Samples = throughCodec(t, *codec, &media.PCM{Rate: rate, Samples: s}).Samples
			}
			eng := asr.NewPocketsphinx(asr.PocketsphinxConfig{TempDir: t.TempDir(), Timeout: 5 * time.Minute})
			res, err := eng.Transcribe(context.Background(), a)
			if err != nil {
				t.Fatal(err)
			}
			ref := refundSentence + " " + refundSentence
			errs, words := asr.WordErrors(ref, text(res))
			wer := float64(errs) / float64(words)
			t.Logf("WER %d/%d = %.2f: %q (speech at %.2f s and %.2f s) %+v", errs, words, wer, text(res), first, second, res.Segments)
			checkSegments(t, res, a)
			// Each segment lies in one of the two utterances, on the
			// recording's clock (0.4 s for word boundaries and padding).
			long := float64(len(speech.Samples)) / float64(rate)
			for i, seg := range res.Segments {
				in := func(at float64) bool { return seg.Start >= at-0.4 && seg.End <= at+long+0.4 }
				if !in(first) && !in(second) {
					t.Errorf("segment %d [%.2f, %.2f] %q is outside both utterances", i, seg.Start, seg.End, seg.Text)
				}
			}
			// Before utterances were decoded one by one, these read 0.33,
			// 0.33, 0.75 and 0.44 (docs/insights.md). 8 kHz speech is the
			// narrowband problem, not this one: it is only logged.
			if codec != nil && *codec == dmedia.CodecAudioUlaw {
				return
			}
			if wer > 0.35 {
				t.Errorf("WER %.2f above 0.35", wer)
			}
		})
	}
}

// TestVoiceSpansSpeech segments real speech: flite's sentence, whose
// pauses between words (and after "Hi Northwind,") are shorter than the
// gap that separates utterances, after 5 s and again after 3 s of silence.
func TestVoiceSpansSpeech(t *testing.T) {
	t.Parallel()
	const rate = 16000
	speech := slt(t, refundSentence, rate)
	var s []int16
	s = append(s, make([]int16, 5*rate)...)
	first := len(s)
	s = append(s, speech.Samples...)
	s = append(s, make([]int16, 3*rate)...)
	second := len(s)
	s = append(s, speech.Samples...)
	got := asr.VoiceSpans(s, rate)
	if len(got) != 2 {
		t.Fatalf("got %d utterances %v, want 2", len(got), got)
	}
	for i, at := range []int{first, second} {
		// The span starts within the padding before the speech and ends
		// within the padding after it (flite's own edges are quiet).
		from, to := got[i][0], got[i][1]
		if from < at-rate/2 || from > at+rate/5 || to < at+len(speech.Samples)-rate/5 || to > at+len(speech.Samples)+rate/2 {
			t.Errorf("utterance %d = [%.2f, %.2f] s, speech is [%.2f, %.2f] s", i, float64(from)/rate, float64(to)/rate,
				float64(at)/rate, float64(at+len(speech.Samples))/rate)
		}
	}
}
