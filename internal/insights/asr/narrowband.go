package asr

import (
	"fmt"
	"math"
	"strconv"
	"strings"

	"github.com/minivoice/minivoice/internal/media"
)

// Narrowband audio. G.711 calls carry 8 kHz audio, nothing above 4 kHz,
// while pocketsphinx's en-us model is trained on 16 kHz speech and its
// filterbank reaches 6.8 kHz. What the engine puts into the empty band
// decides how badly that mismatch hurts (docs/insights.md, "Accuracy and
// speed", has the measurements behind the default).

// Narrowband methods, the values of PocketsphinxConfig.Narrowband's method
// part.
const (
	// NarrowbandNoise fills the band with faint white noise, a fixed
	// level under the speech (fillUpperBand).
	NarrowbandNoise = "noise"
	// NarrowbandFold mirrors the 0-4 kHz spectrum into 4-8 kHz (spectral
	// folding: the 16 kHz signal times (-1)^n), attenuated: a band's
	// energy follows the speech's own, and the strong low formants land
	// above the filterbank's 6.8 kHz.
	NarrowbandFold = "fold"
	// NarrowbandShift moves the 0-4 kHz spectrum up by 4 kHz, unmirrored
	// (spectral translation), attenuated.
	NarrowbandShift = "shift"
	// NarrowbandNone leaves the band empty.
	NarrowbandNone = "none"
)

// narrowband is a parsed PocketsphinxConfig.Narrowband.
type narrowband struct {
	method string
	gainDB float64 // the added band's level relative to the speech (noise) or to the mirrored signal (fold, shift)
	noise  bool    // fold or shift plus the noise floor
}

// defaultNarrowband is the method the engine uses unless configured.
var defaultNarrowband = narrowband{method: NarrowbandNoise, gainDB: -fillBelowSpeech}

// parseNarrowband reads "method", "method:dB" or "method+noise:dB".
func parseNarrowband(s string) (narrowband, error) {
	if s == "" {
		return defaultNarrowband, nil
	}
	m, db, hasDB := strings.Cut(s, ":")
	nb := narrowband{method: m}
	if base, ok := strings.CutSuffix(m, "+noise"); ok {
		nb.method, nb.noise = base, true
	}
	switch nb.method {
	case NarrowbandNoise, NarrowbandNone:
		if nb.noise {
			return narrowband{}, fmt.Errorf("asr: narrowband method %q: +noise goes with fold or shift", m)
		}
		if nb.method == NarrowbandNoise {
			nb.gainDB = -fillBelowSpeech
		}
	case NarrowbandFold, NarrowbandShift:
		nb.gainDB = -15
	default:
		return narrowband{}, fmt.Errorf("asr: narrowband method %q: want noise, fold, shift or none", m)
	}
	if hasDB {
		v, err := strconv.ParseFloat(db, 64)
		if err != nil || math.IsNaN(v) || v > 0 || v < -80 {
			return narrowband{}, fmt.Errorf("asr: narrowband level %q: want dB from -80 to 0", db)
		}
		nb.gainDB = v
	}
	return nb, nil
}

// apply fills the band above srcRate/2 of p, a 16 kHz resampling of audio
// at srcRate, in place.
func (nb narrowband) apply(p *media.PCM, srcRate int) {
	if srcRate >= p.Rate || len(p.Samples) == 0 {
		return
	}
	switch nb.method {
	case NarrowbandNoise:
		fillUpperBandAt(p, srcRate, -nb.gainDB)
	case NarrowbandFold, NarrowbandShift:
		extendBand(p, srcRate, nb.method, nb.gainDB)
		if nb.noise {
			fillUpperBand(p, srcRate)
		}
	}
}

// extendBand adds, where the audio is not digital silence, a copy of p's
// band below srcRate/2 moved above it: mirrored at p.Rate/2 (fold) or
// shifted up by srcRate/2 (shift), gainDB below the original.
func extendBand(p *media.PCM, srcRate int, method string, gainDB float64) {
	g := math.Pow(10, gainDB/20)
	moved := &media.PCM{Rate: p.Rate, Samples: make([]int16, len(p.Samples))}
	// Fold at p.Rate/2 maps f to p.Rate/2 - f: for 8 kHz audio at 16 kHz,
	// 0-4 kHz to 8-4 kHz, already clear of the original band. A shift by
	// srcRate/2 (a quarter of p.Rate: cos(pi n/2) = 1, 0, -1, 0) also makes
	// the mirrored lower sideband inside the original band, removed below.
	quarter := 4*srcRate/2 == p.Rate
	for i, s := range p.Samples {
		v := float64(s)
		switch {
		case method == NarrowbandFold:
			if i%2 == 1 {
				v = -v
			}
		case quarter:
			// Both sidebands carry half the amplitude; 2 restores it.
			v *= 2 * [4]float64{1, 0, -1, 0}[i%4]
		default:
			v *= 2 * math.Cos(math.Pi*float64(srcRate)*float64(i)/float64(p.Rate))
		}
		moved.Samples[i] = int16(max(min(math.Round(v*g), math.MaxInt16), math.MinInt16))
	}
	// Keep only what lies above srcRate/2: subtract the band the resampler
	// passes (the same filter that band-limited the speech).
	low := media.Resample(media.Resample(moved, srcRate), p.Rate)
	gate := soundGate(p.Samples, p.Rate)
	for i, s := range p.Samples {
		v := float64(s) + float64(int32(moved.Samples[i])-int32(low.Samples[i]))*gate[i]
		p.Samples[i] = int16(max(min(math.Round(v), math.MaxInt16), math.MinInt16))
	}
}

// ModelInput returns the 16 kHz audio the pocketsphinx engine decodes for
// a with its default settings, before cutting it into utterances: a at
// 16 kHz as it is, lower rates (and wideband audio carrying narrowband
// speech, see bandLimited) resampled with the missing band filled by the
// default narrowband method. Tools that adapt the acoustic model to
// telephone audio (bench/asr-wer/adapt) train on exactly this.
func ModelInput(a Audio) *media.PCM {
	p := media.Resample(a.pcm(), modelRate)
	band := a.Rate
	if a.Rate >= modelRate && bandLimited(p) {
		band = narrowRate
		p = media.Resample(media.Resample(p, narrowRate), modelRate)
	}
	if band < modelRate {
		defaultNarrowband.apply(p, band)
	}
	return p
}

// Narrowband speech in wideband audio. flite's 8 kHz voice (kal) through a
// G.722 call scored 79 % WER against 9-26 % for its 16 kHz voices: the
// recording is 16 kHz, but above 4 kHz there is nothing, the same mismatch
// as G.711 without its treatment. Over the loud frames of bench/asr-wer's
// G.722 recordings, the band above 4 kHz held -41 dB of the energy for kal
// and -10 to -27 dB for the wideband voices and the human recordings; PCMU
// recordings resampled to 16 kHz hold -35 to -37 dB (human speech, the
// µ-law noise reaching up to the resampler's edge) and -43 to -51 dB
// (flite). Audio under narrowBandDB there is treated as narrowband.
const (
	narrowRate   = 8000
	narrowBandDB = -31.0
	// narrowMinVoiced is how much loud audio, in seconds, the decision
	// needs: less is too little to tell.
	narrowMinVoiced = 0.5
)

// narrowProbe bounds the audio bandLimited examines, in seconds: the
// first of a long recording tells, and resampling hours of it twice only
// to decide would cost memory in proportion.
const narrowProbe = 120

// bandLimited reports whether p, at modelRate, has next to nothing above
// narrowRate/2 where it is loud (20 ms frames above speechFrameDBFS),
// judged on its first narrowProbe seconds.
func bandLimited(p *media.PCM) bool {
	if n := narrowProbe * p.Rate; len(p.Samples) > n {
		p = &media.PCM{Rate: p.Rate, Samples: p.Samples[:n]}
	}
	low := media.Resample(media.Resample(p, narrowRate), p.Rate)
	n := p.Rate / 50
	var high, total float64
	voiced := 0
	for i := 0; i+n <= len(p.Samples); i += n {
		if media.DBFS(p.Samples[i:i+n]) <= speechFrameDBFS {
			continue
		}
		voiced += n
		for j := i; j < i+n; j++ {
			x := float64(p.Samples[j])
			h := x - float64(low.Samples[j])
			high += h * h
			total += x * x
		}
	}
	if float64(voiced) < narrowMinVoiced*float64(p.Rate) || total == 0 {
		return false
	}
	return 10*math.Log10(high/total) < narrowBandDB
}
