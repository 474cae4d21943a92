package asr

import (
	"math"
	"math/rand/v2"
	"testing"

	"github.com/minivoice/minivoice/internal/media"
)

func TestParseNarrowband(t *testing.T) {
	for in, want := range map[string]narrowband{
		"":               defaultNarrowband,
		"noise":          {method: NarrowbandNoise, gainDB: -fillBelowSpeech},
		"noise:-35":      {method: NarrowbandNoise, gainDB: -35},
		"fold":           {method: NarrowbandFold, gainDB: -15},
		"fold+noise:-25": {method: NarrowbandFold, gainDB: -25, noise: true},
		"shift:-20":      {method: NarrowbandShift, gainDB: -20},
		"none":           {method: NarrowbandNone},
	} {
		got, err := parseNarrowband(in)
		if err != nil || got != want {
			t.Errorf("parseNarrowband(%q) = %+v, %v; want %+v", in, got, err, want)
		}
	}
	for _, bad := range []string{"fold:", "fold:x", "fold:5", "fold:NaN", "fold:-81", "mirror", "none+noise"} {
		if _, err := parseNarrowband(bad); err == nil {
			t.Errorf("parseNarrowband(%q) accepted", bad)
		}
	}
	if err := NewPocketsphinx(PocketsphinxConfig{Narrowband: "mirror"}).Available(t.Context()); err == nil {
		t.Error("an engine with a bad Narrowband is available")
	}
}

// TestExtendBand: folding and shifting put a tone's copy above 4 kHz at the
// requested level, leave the band below alone, and add nothing where the
// audio is digital silence.
func TestExtendBand(t *testing.T) {
	const rate8, f = 8000, 1000.0
	src := &media.PCM{Rate: rate8, Samples: make([]int16, 2*rate8)}
	for i := range rate8 { // 1 s of tone, then 1 s of digital silence
		src.Samples[i] = int16(8000 * math.Sin(2*math.Pi*f*float64(i)/rate8))
	}
	for _, tc := range []struct {
		method string
		image  float64 // where the tone's copy lands, Hz
	}{{NarrowbandFold, 8000 - f}, {NarrowbandShift, 4000 + f}} {
		p := media.Resample(src, modelRate)
		orig := append([]int16(nil), p.Samples...)
		extendBand(p, rate8, tc.method, -20)
		diff := make([]float64, len(p.Samples))
		for i := range diff {
			diff[i] = float64(p.Samples[i]) - float64(orig[i])
		}
		// Measure over the steady middle of the tone, and over the silence.
		mid := diff[modelRate/4 : 3*modelRate/4]
		at := func(x []float64, hz float64) float64 { // amplitude at hz (Goertzel-free DFT bin)
			var re, im float64
			for i, v := range x {
				re += v * math.Cos(2*math.Pi*hz*float64(i)/modelRate)
				im -= v * math.Sin(2*math.Pi*hz*float64(i)/modelRate)
			}
			return 2 * math.Hypot(re, im) / float64(len(x))
		}
		if a := at(mid, tc.image); math.Abs(20*math.Log10(a/8000)-(-20)) > 1.5 {
			t.Errorf("%s: copy at %.0f Hz is %.1f dB under the tone, want 20", tc.method, tc.image, -20*math.Log10(a/8000))
		}
		if a := at(mid, f); a > 8000*0.01 {
			t.Errorf("%s: the original band changed by %.0f at %.0f Hz", tc.method, a, f)
		}
		var silent float64
		for _, v := range diff[modelRate+modelRate/2:] {
			silent = max(silent, math.Abs(v))
		}
		if silent != 0 {
			t.Errorf("%s: %v added to digital silence", tc.method, silent)
		}
	}
}

// TestBandLimited: noise over the whole band is wideband, the same noise
// band-limited to 3 kHz is not, and too little loud audio is never
// called narrowband.
func TestBandLimited(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	wide := &media.PCM{Rate: modelRate, Samples: make([]int16, 2*modelRate)}
	for i := range wide.Samples {
		wide.Samples[i] = int16(rng.NormFloat64() * 3000)
	}
	if bandLimited(wide) {
		t.Error("white noise at 16 kHz called narrowband")
	}
	// Through 6 kHz: nothing above 3 kHz, as telephone speech has little
	// energy near 4 kHz.
	narrow := media.Resample(media.Resample(wide, 6000), modelRate)
	if !bandLimited(narrow) {
		t.Error("noise band-limited to 3 kHz not called narrowband")
	}
	short := &media.PCM{Rate: modelRate, Samples: narrow.Samples[:modelRate/4]}
	if bandLimited(short) {
		t.Error("0.25 s of audio called narrowband")
	}
	if bandLimited(&media.PCM{Rate: modelRate, Samples: make([]int16, modelRate)}) {
		t.Error("digital silence called narrowband")
	}
}
