package media

import (
	"math"
	"time"
)

// Duration is how long p plays for. A PCM without a valid rate has no
// duration rather than a division by zero.
func (p *PCM) Duration() time.Duration {
	if p == nil || p.Rate <= 0 {
		return 0
	}
	return samplesDuration(len(p.Samples), p.Rate)
}

// RMS is the root-mean-square amplitude of samples on the 0..32767 scale of
// int16; an empty slice has RMS 0.
func RMS(samples []int16) float64 {
	if len(samples) == 0 {
		return 0
	}
	var sum float64
	for _, s := range samples {
		v := float64(s)
		sum += v * v
	}
	return math.Sqrt(sum / float64(len(samples)))
}

// DBFS is the RMS level in decibels relative to full scale (32767), so a
// full-scale square wave reads 0 dBFS and a full-scale sine about -3 dBFS.
// Digital silence reads -Inf, which compares below every threshold.
func DBFS(samples []int16) float64 {
	return 20 * math.Log10(RMS(samples)/math.MaxInt16)
}

// activeFrame is the analysis frame of ActiveDuration: 20 ms, the RTP
// packetisation interval, so "active" means the same thing as "a packet that
// carried sound".
const activeFrame = 20 * time.Millisecond

// activeFrames calls fn with the offset and length of each 20 ms frame of p
// (a trailing partial frame counts for its own length) whose level exceeds
// thresholdDBFS, in order.
func activeFrames(p *PCM, thresholdDBFS float64, fn func(off, n int)) {
	if p == nil || p.Rate <= 0 {
		return
	}
	frame := max(p.Rate*int(activeFrame/time.Millisecond)/1000, 1)
	for off := 0; off < len(p.Samples); off += frame {
		n := min(frame, len(p.Samples)-off)
		if DBFS(p.Samples[off:off+n]) > thresholdDBFS {
			fn(off, n)
		}
	}
}

// ActiveDuration totals the 20 ms frames of p whose level exceeds
// thresholdDBFS (a trailing partial frame counts for its own length). Tests
// use it to assert that speech really arrived, not just packets of silence or
// comfort noise; -40 dBFS separates speech from line noise well.
func ActiveDuration(p *PCM, thresholdDBFS float64) time.Duration {
	active := 0
	activeFrames(p, thresholdDBFS, func(_, n int) { active += n })
	if active == 0 {
		return 0
	}
	return samplesDuration(active, p.Rate)
}

// Span is a stretch of a recording, as offsets from its start.
type Span struct {
	Start, End time.Duration
}

// ActiveSpans lists where p has sound: its 20 ms frames above
// thresholdDBFS (as ActiveDuration counts them), joined into one span when
// less than gap of quieter frames separates them, so a sentence with its
// pauses is one span and a prompt and an echo of the caller are two.
func ActiveSpans(p *PCM, thresholdDBFS float64, gap time.Duration) []Span {
	var spans []Span
	activeFrames(p, thresholdDBFS, func(off, n int) {
		start, end := samplesDuration(off, p.Rate), samplesDuration(off+n, p.Rate)
		if k := len(spans) - 1; k >= 0 && start-spans[k].End < gap {
			spans[k].End = end
			return
		}
		spans = append(spans, Span{Start: start, End: end})
	})
	return spans
}
