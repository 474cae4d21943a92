// Package asr is MiniVoice's speech recognition: engines that turn a channel
// of a call recording into timed, scored text segments for the transcription
// job.
//
// Two engines exist. Pocketsphinx, the default, runs the Debian
// pocketsphinx_continuous binary on the operator's machine, so no audio
// leaves it; its acoustic model is 16 kHz, so it does well on G.722 calls
// and noticeably worse on 8 kHz G.711 audio, whose upper band is simply
// missing. OpenAI speaks the OpenAI-compatible POST /v1/audio/transcriptions
// protocol to a server the operator runs (whisper.cpp, faster-whisper) or
// chooses, for better accuracy.
//
// Errors tell the job runner what to do next: ErrUnavailable (the engine is
// missing or misconfigured) and ErrRejected (the engine refused this input)
// are permanent, retrying will not help; every other error is transient and
// the job is retried.
package asr

import (
	"context"
	"errors"
	"fmt"
	"math"

	"github.com/minivoice/minivoice/internal/media"
)

// Audio is mono 16-bit PCM: one channel of a recording. Engines resample it
// as they need, so any rate from media.MinRate to media.MaxRate will do.
type Audio struct {
	// Samples are signed 16-bit samples, one per sampling instant.
	Samples []int16
	// Rate is the sample rate in Hz.
	Rate int
	// Vocabulary are words and phrases likely in this audio (the
	// application's vocabulary and topic keywords, the call's prompts).
	// Engines that can bias recognition towards them do; others ignore
	// them. Bounded by the caller (see MaxVocabulary).
	Vocabulary []string
}

// MaxVocabulary bounds Audio.Vocabulary: the phrases an engine is asked to
// favour in one transcription.
const MaxVocabulary = 500

// Segment is a stretch of speech: roughly a sentence or an utterance.
type Segment struct {
	// Start and End are seconds from the start of the audio, with
	// 0 <= Start <= End <= the audio's duration.
	Start, End float64
	// Text is what was said, as the engine spells it.
	Text string
	// Confidence is the engine's confidence in Text, from 0 to 1. Engines
	// compute it differently (word posteriors, token log-probabilities), so
	// compare it only between results of the same engine.
	Confidence float64
}

// Result is a transcription of one Audio.
type Result struct {
	// Language is the spoken language, an ISO-639-1 code such as "en" when
	// the engine names it in a way we recognise, else as the engine said.
	// Empty when unknown.
	Language string
	// Segments are in time order. Silence yields none.
	Segments []Segment
}

// Engine is a speech recogniser. Implementations are safe for concurrent
// use.
type Engine interface {
	// Name identifies the engine in transcripts: "pocketsphinx", or
	// "openai-compatible:" followed by the model name.
	Name() string
	// Available returns nil when the engine looks usable, else an error
	// wrapping ErrUnavailable whose text tells an operator what to fix. It
	// is cheap: it never transcribes anything.
	Available(ctx context.Context) error
	// Transcribe recognises a. Empty audio and silence give a Result with
	// no segments, not an error.
	Transcribe(ctx context.Context, a Audio) (*Result, error)
}

// Permanent errors, for errors.Is. Any other error from an engine is
// transient: the job runner retries it.
var (
	// ErrUnavailable means the engine is missing or misconfigured (no
	// binary, no model, wrong URL or API key). Retrying will not help until
	// an operator acts.
	ErrUnavailable = errors.New("asr: engine unavailable")
	// ErrRejected means the engine refused this particular input (an
	// invalid sample rate, or an HTTP 400/413/415/422 from a server).
	// Retrying the same audio will not help.
	ErrRejected = errors.New("asr: input rejected")
)

var (
	_ Engine = (*Pocketsphinx)(nil)
	_ Engine = (*OpenAI)(nil)
)

// modelRate is the rate both engines feed their recognisers: pocketsphinx's
// en-us acoustic model and Whisper both work at 16 kHz.
const modelRate = 16000

// silenceDBFS is the level no 20 ms frame of an Audio may exceed for it to
// count as silence and skip the engine altogether. -60 dBFS is below line
// noise and far below any speech a recogniser could make out; skipping saves
// a pocketsphinx run per silent channel and keeps Whisper from
// hallucinating words ("Thank you.") into silence.
const silenceDBFS = -60

// check validates a and reports whether it holds any sound worth sending to
// an engine.
func (a Audio) check() (hasSound bool, err error) {
	if len(a.Samples) == 0 {
		return false, nil
	}
	// media.Resample panics on a non-positive rate, and rates outside the
	// range media reads from WAV files do not come from real recordings.
	if a.Rate < media.MinRate || a.Rate > media.MaxRate {
		return false, fmt.Errorf("%w: sample rate %d Hz is outside %d..%d Hz", ErrRejected, a.Rate, media.MinRate, media.MaxRate)
	}
	return media.ActiveDuration(a.pcm(), silenceDBFS) > 0, nil
}

func (a Audio) pcm() *media.PCM { return &media.PCM{Rate: a.Rate, Samples: a.Samples} }

// duration is the length of a in seconds.
func (a Audio) duration() float64 {
	if a.Rate <= 0 {
		return 0
	}
	return float64(len(a.Samples)) / float64(a.Rate)
}

// at16k returns a at modelRate, resampled only when needed. The result may
// share a's samples: read it, never modify it.
func (a Audio) at16k() *media.PCM {
	if a.Rate == modelRate {
		return a.pcm()
	}
	return media.Resample(a.pcm(), modelRate)
}

// emptyResult is what silence transcribes to. Segments is non-nil so that
// it encodes as [] rather than null in JSON.
func emptyResult(lang string) *Result {
	return &Result{Language: lang, Segments: []Segment{}}
}

// clamp01 bounds a confidence to 0..1; NaN counts as no confidence.
func clamp01(v float64) float64 {
	if math.IsNaN(v) || v < 0 {
		return 0
	}
	return min(v, 1)
}

// fitSpan clamps a segment's times into the audio and keeps them ordered,
// because engines round timestamps and may overshoot the end slightly.
func fitSpan(start, end, dur float64) (float64, float64) {
	if math.IsNaN(start) {
		start = 0
	}
	if math.IsNaN(end) {
		end = start
	}
	start = min(max(start, 0), dur)
	end = min(max(end, start), dur)
	return start, end
}
