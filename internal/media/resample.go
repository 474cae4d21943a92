package media

import (
	"fmt"
	"math"
	"sync"
)

// Resampler design. A Kaiser-windowed sinc low-pass, evaluated as a polyphase
// filter bank: for out/in = L/M in lowest terms, every output sample falls on
// one of L fractional positions between input samples, so L rows of
// coefficients computed once serve the whole signal.
const (
	// sincZeros is how many sinc zero crossings each side of the centre the
	// filter spans; 24 gives a transition band of ~10% of the lower Nyquist
	// frequency, narrow enough to keep speech up to ~3.3 kHz at 8 kHz.
	sincZeros = 24
	// kaiserBeta sets stop-band attenuation to roughly 80 dB, below the
	// noise floor of 16-bit speech.
	kaiserBeta = 8.0
	// cutoff places the -6 dB point at 92% of the lower Nyquist frequency so
	// the transition band ends close to Nyquist and little can alias back.
	cutoff = 0.92
	// maxPhases caps the bank for coprime rates (e.g. 44056 -> 8000) where L
	// is large; beyond it the fractional position is rounded to 1/4096 of a
	// sample, an error far below audibility.
	maxPhases = 4096
	// maxCachedBanks and maxCachedCoefs bound the bank cache: the platform
	// uses a handful of rate pairs, but upload rates are user-controlled.
	maxCachedBanks = 64
	maxCachedCoefs = 1 << 20
)

// filterBank is the precomputed polyphase filter for one (in, out) pair.
type filterBank struct {
	in, out int
	l, m    int64 // out/in = l/m in lowest terms: output j sits at input j*m/l
	phases  int64
	half    int // taps on each side of the output position
	taps    int // 2*half
	coef    []float32
}

var (
	bankMu    sync.Mutex
	bankCache = map[[2]int]*filterBank{}
)

// Resample converts p to rate with a windowed-sinc filter that low-passes at
// the lower of the two Nyquist frequencies, so downsampling does not alias
// (a 6 kHz tone vanishes going 16 kHz -> 8 kHz) and upsampling does not image.
// The output is time-aligned with the input (zero-phase filter) and has
// round(len*rate/p.Rate) samples. The same rate returns a copy, so callers can
// always mutate the result. Rates must be positive: a zero rate is a
// programming error and panics.
func Resample(p *PCM, rate int) *PCM {
	if p.Rate <= 0 || rate <= 0 {
		panic(fmt.Sprintf("media: Resample from %d Hz to %d Hz", p.Rate, rate))
	}
	if p.Rate == rate {
		return p.clone()
	}
	return &PCM{Rate: rate, Samples: bankFor(p.Rate, rate).run(p.Samples)}
}

// bankFor returns the (possibly cached) filter bank converting in to out.
func bankFor(in, out int) *filterBank {
	key := [2]int{in, out}
	bankMu.Lock()
	fb, ok := bankCache[key]
	bankMu.Unlock()
	if ok {
		return fb
	}
	fb = newFilterBank(in, out)
	if len(fb.coef) <= maxCachedCoefs {
		bankMu.Lock()
		if len(bankCache) < maxCachedBanks {
			bankCache[key] = fb
		}
		bankMu.Unlock()
	}
	return fb
}

func newFilterBank(in, out int) *filterBank {
	g := gcd(in, out)
	fb := &filterBank{in: in, out: out, l: int64(out / g), m: int64(in / g)}
	fb.phases = min(fb.l, maxPhases)
	// fc is the cutoff as a fraction of the input Nyquist frequency; when
	// downsampling the filter must also reject everything above the output
	// Nyquist, which stretches it in input samples by in/out.
	fc := cutoff * math.Min(1, float64(out)/float64(in))
	width := sincZeros / fc // half-length in input samples
	fb.half = int(math.Ceil(width))
	fb.taps = 2 * fb.half
	fb.coef = make([]float32, int(fb.phases)*fb.taps)
	row := make([]float64, fb.taps)
	i0Beta := besselI0(kaiserBeta)
	for p := range int(fb.phases) {
		frac := float64(p) / float64(fb.phases)
		sum := 0.0
		for k := range row {
			// Tap k multiplies input sample base-half+1+k, which lies d input
			// samples before the output position base+frac.
			d := frac + float64(fb.half-1-k)
			row[k] = 0
			if math.Abs(d) < width {
				x := d / width
				row[k] = fc * sinc(fc*d) * besselI0(kaiserBeta*math.Sqrt(1-x*x)) / i0Beta
			}
			sum += row[k]
		}
		// Normalise each phase to unit DC gain, so a constant signal stays
		// exactly constant whatever the phase (no periodic ripple).
		dst := fb.coef[p*fb.taps : (p+1)*fb.taps]
		for k, v := range row {
			dst[k] = float32(v / sum)
		}
	}
	return fb
}

// run filters x. Samples beyond either end count as silence.
func (fb *filterBank) run(x []int16) []int16 {
	n := int64(len(x))
	outLen := (n*int64(fb.out) + int64(fb.in)/2) / int64(fb.in)
	y := make([]int16, outLen)
	for j := range y {
		pos := int64(j) * fb.m
		base, frac := pos/fb.l, pos%fb.l
		p := frac
		if fb.phases != fb.l {
			p = (frac*fb.phases + fb.l/2) / fb.l
			if p == fb.phases {
				p, base = 0, base+1
			}
		}
		c := fb.coef[int(p)*fb.taps : int(p+1)*fb.taps]
		start := int(base) - fb.half + 1
		var acc float32
		if start >= 0 && start+fb.taps <= len(x) {
			for k, v := range x[start : start+fb.taps] {
				acc += float32(v) * c[k]
			}
		} else {
			for k := range c {
				if i := start + k; i >= 0 && i < len(x) {
					acc += float32(x[i]) * c[k]
				}
			}
		}
		y[j] = clamp16(acc)
	}
	return y
}

func clamp16(v float32) int16 {
	v = float32(math.Round(float64(v)))
	switch {
	case v > math.MaxInt16:
		return math.MaxInt16
	case v < math.MinInt16:
		return math.MinInt16
	}
	return int16(v)
}

func sinc(x float64) float64 {
	if x == 0 {
		return 1
	}
	return math.Sin(math.Pi*x) / (math.Pi * x)
}

// besselI0 is the zeroth-order modified Bessel function of the first kind,
// by its power series (converges fast for the arguments a Kaiser window uses).
func besselI0(x float64) float64 {
	sum, term := 1.0, 1.0
	for k := 1; k < 100; k++ {
		term *= (x / (2 * float64(k))) * (x / (2 * float64(k)))
		sum += term
		if term < sum*1e-12 {
			break
		}
	}
	return sum
}

func gcd(a, b int) int {
	for b != 0 {
		a, b = b, a%b
	}
	return a
}
