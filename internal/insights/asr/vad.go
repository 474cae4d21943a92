package asr

import (
	"math"
	"slices"

	"github.com/minivoice/minivoice/internal/media"
)

// Voice-activity segmentation. pocketsphinx_continuous normalises its
// features (cepstral mean, noise level) over what it has heard so far, and a
// long silence it is given is part of that: a caller's channel that is
// digital silence for 5 s while the platform speaks, then "Hi Northwind, I
// was billed twice for my subscription this month and I would like my money
// back." came out as "why op" (issue 15). Trimming the ends (soundSpan) does
// not help silence between utterances. So the engine finds the utterances
// itself, by frame energy, and decodes each one in its own run, padded by
// trimMargin on either side, with times offset back onto the recording's
// clock.
const (
	// vadFrame is the analysis frame, in seconds.
	vadFrame = 0.01
	// vadMinGap is the shortest silence that separates two utterances:
	// shorter pauses (between words, before a plosive) stay inside one. The
	// same hangover keeps an utterance open after its last loud frame.
	vadMinGap = 0.5
	// vadMinVoice drops bursts shorter than this (clicks, a codec's
	// start-up): nothing a recogniser could make a word of.
	vadMinVoice = 0.08
	// vadMaxUtterance caps one utterance: longer speech is cut at its
	// quietest frame in the second half of the window, so a single run's
	// memory and time stay bounded and its normalisation stays local.
	vadMaxUtterance = 30.0
	// vadMaxUtterances bounds the runs one Transcribe makes (each loads
	// the model, about 0.3 s of CPU): beyond it neighbouring utterances
	// are merged (see mergeRuns), their silence kept inside, which
	// pocketsphinx copes with.
	vadMaxUtterances = 100
	// vadAbsFloorDBFS is the lowest level a voiced frame may have, whatever
	// the channel's noise: below line noise and G.722's idle hiss.
	vadAbsFloorDBFS = -60
	// vadAboveNoise and vadBelowSpeech place the threshold: at least this
	// many dB over the channel's noise floor (its 10th percentile frame)
	// and no more than this many below its speech (its 95th percentile).
	vadAboveNoise  = 12
	vadBelowSpeech = 35
	vadBelowPeak   = 6
)

// span is a range of samples [from, to).
type span struct{ from, to int }

// voiceSpans returns the utterances in samples at rate, padded by
// trimMargin (never past the middle of the silence to a neighbour), in
// order and not overlapping. It returns nil when nothing is voiced.
func voiceSpans(samples []int16, rate int) []span {
	n := max(1, int(vadFrame*float64(rate)))
	frames := (len(samples) + n - 1) / n
	if frames == 0 {
		return nil
	}
	db := make([]float64, frames)
	for i := range db {
		f := samples[i*n : min((i+1)*n, len(samples))]
		// Digital zero is -Inf; -120 keeps percentiles finite.
		db[i] = max(media.DBFS(f), -120)
	}
	sorted := slices.Clone(db)
	slices.Sort(sorted)
	noise := sorted[len(sorted)/10]
	speech := sorted[min(len(sorted)-1, len(sorted)*95/100)]
	// A channel that is sound throughout (a tone, steady noise, speech with
	// no pause) has its floor near its peak; vadBelowPeak keeps the
	// threshold under it there, so it is one long utterance, not none.
	threshold := max(float64(vadAbsFloorDBFS), min(noise+vadAboveNoise, speech-vadBelowPeak), speech-vadBelowSpeech)

	// Runs of voiced frames, joined across pauses shorter than vadMinGap.
	minGap := int(math.Round(vadMinGap / vadFrame))
	var runs []span // in frames
	for i, v := range db {
		if v < threshold {
			continue
		}
		if k := len(runs) - 1; k >= 0 && i-runs[k].to < minGap {
			runs[k].to = i + 1
			continue
		}
		runs = append(runs, span{i, i + 1})
	}
	minVoice := int(math.Round(vadMinVoice / vadFrame))
	runs = slices.DeleteFunc(runs, func(r span) bool { return r.to-r.from < minVoice })
	runs = splitLong(runs, db, int(math.Round(vadMaxUtterance/vadFrame)))
	runs = mergeRuns(runs, vadMaxUtterances, int(math.Round(vadMaxUtterance/vadFrame)))
	if len(runs) == 0 {
		return nil
	}

	// Pad, in samples, up to the middle of each gap.
	pad := int(trimMargin * float64(rate))
	out := make([]span, len(runs))
	for i, r := range runs {
		from, to := r.from*n-pad, min(r.to*n, len(samples))+pad
		if i > 0 {
			from = max(from, (runs[i-1].to*n+r.from*n)/2)
		}
		if i < len(runs)-1 {
			to = min(to, (r.to*n+runs[i+1].from*n)/2)
		}
		out[i] = span{max(0, from), min(len(samples), to)}
	}
	return out
}

// splitLong cuts runs longer than maxLen frames at their quietest frame
// between half and all of maxLen from their start, repeatedly.
func splitLong(runs []span, db []float64, maxLen int) []span {
	var out []span
	for _, r := range runs {
		for r.to-r.from > maxLen {
			cut := r.from + maxLen/2
			for i := cut; i < r.from+maxLen; i++ {
				// <=: of equally quiet frames the latest, so steady
				// sound is cut at the cap, not at half of it.
				if db[i] <= db[cut] {
					cut = i
				}
			}
			out = append(out, span{r.from, cut})
			r.from = cut
		}
		out = append(out, r)
	}
	return out
}

// mergeRuns joins neighbouring runs, in order, while more than limit are
// left and the joined run stays within maxLen frames. Runs too far apart to
// join within maxLen are left apart, so the count can stay above limit on
// long recordings: it is then at most about one per maxLen/2 of audio.
func mergeRuns(runs []span, limit, maxLen int) []span {
	need := len(runs) - limit
	if need <= 0 {
		return runs
	}
	out := []span{runs[0]}
	for _, r := range runs[1:] {
		last := &out[len(out)-1]
		if need > 0 && r.to-last.from <= maxLen {
			last.to = r.to
			need--
			continue
		}
		out = append(out, r)
	}
	return out
}
