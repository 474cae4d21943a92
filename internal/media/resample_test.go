package media_test

import (
	"fmt"
	"math"
	"slices"
	"testing"
	"time"

	"github.com/minivoice/minivoice/internal/media"
)

// sine is a tone of freq Hz at amp (0..1 of full scale).
func sine(rate int, freq, amp float64, d time.Duration) *media.PCM {
	n := int(int64(rate) * int64(d) / int64(time.Second))
	p := &media.PCM{Rate: rate, Samples: make([]int16, n)}
	for i := range p.Samples {
		p.Samples[i] = int16(math.Round(amp * 32767 * math.Sin(2*math.Pi*freq*float64(i)/float64(rate))))
	}
	return p
}

// middle drops 50 ms at each end, where the filter sees the silence beyond
// the buffer and ramps; the tests measure steady state.
func middle(p *media.PCM) []int16 {
	edge := p.Rate / 20
	return p.Samples[edge : len(p.Samples)-edge]
}

// snrDB compares p with the ideal tone at p's rate: the resampler is
// zero-phase, so the output should line up with it sample for sample.
func snrDB(p *media.PCM, freq, amp float64) float64 {
	ideal := sine(p.Rate, freq, amp, p.Duration())
	var sig, noise float64
	edge := p.Rate / 20
	for i := edge; i < len(p.Samples)-edge; i++ {
		s := float64(ideal.Samples[i])
		e := float64(p.Samples[i]) - s
		sig += s * s
		noise += e * e
	}
	return 10 * math.Log10(sig/noise)
}

func TestResampleKeepsSpeechBandTone(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name  string
		rates []int // source rate, then each conversion in turn
	}{
		{"16k->8k->16k", []int{16000, 8000, 16000}},
		{"44.1k->8k", []int{44100, 8000}},
		{"48k->8k", []int{48000, 8000}},
		{"48k->16k", []int{48000, 16000}},
		{"22.05k->8k", []int{22050, 8000}},
		{"22.05k->16k", []int{22050, 16000}},
		{"8k->44.1k", []int{8000, 44100}},
		{"8k->48k", []int{8000, 48000}},
		{"16k->22.05k", []int{16000, 22050}},
		{"coprime 44056->8000 (quantised phases)", []int{44056, 8000}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			const amp = 0.5
			p := sine(tt.rates[0], 1000, amp, time.Second)
			for _, r := range tt.rates[1:] {
				p = media.Resample(p, r)
			}
			want := amp * 32767 / math.Sqrt2
			got := media.RMS(middle(p))
			if math.Abs(got-want)/want > 0.02 {
				t.Errorf("RMS %.1f, want %.1f within 2%%", got, want)
			}
			if snr := snrDB(p, 1000, amp); snr < 40 {
				t.Errorf("SNR against the ideal tone %.1f dB, want >= 40", snr)
			}
		})
	}
}

func TestResampleRejectsAliases(t *testing.T) {
	t.Parallel()
	tests := []struct {
		in, out int
		freq    float64 // above the output Nyquist frequency
	}{
		{16000, 8000, 6000},
		{16000, 8000, 4500},
		{44100, 8000, 5000},
		{44100, 8000, 15000},
		{48000, 16000, 9000},
		{22050, 16000, 10000},
	}
	for _, tt := range tests {
		t.Run(fmt.Sprintf("%g Hz %d->%d", tt.freq, tt.in, tt.out), func(t *testing.T) {
			t.Parallel()
			in := sine(tt.in, tt.freq, 0.9, time.Second)
			out := media.Resample(in, tt.out)
			atten := media.DBFS(middle(in)) - media.DBFS(middle(out))
			if atten < 30 {
				t.Errorf("attenuated by %.1f dB, want > 30", atten)
			}
		})
	}
}

func TestResampleLength(t *testing.T) {
	t.Parallel()
	tests := []struct{ n, in, out, want int }{
		{16000, 16000, 8000, 8000},
		{8000, 8000, 16000, 16000},
		{44100, 44100, 8000, 8000},
		{441, 44100, 8000, 80},
		{160, 8000, 44100, 882},
		{1, 16000, 8000, 1}, // half a sample rounds up
		{0, 16000, 8000, 0},
		{3, 48000, 8000, 1},
	}
	for _, tt := range tests {
		p := media.Resample(&media.PCM{Rate: tt.in, Samples: make([]int16, tt.n)}, tt.out)
		if len(p.Samples) != tt.want || p.Rate != tt.out {
			t.Errorf("%d samples %d->%d Hz: got %d at %d Hz, want %d", tt.n, tt.in, tt.out, len(p.Samples), p.Rate, tt.want)
		}
	}
}

func TestResampleSameRateCopies(t *testing.T) {
	t.Parallel()
	in := &media.PCM{Rate: 8000, Samples: []int16{1, 2, 3}}
	out := media.Resample(in, 8000)
	out.Samples[0] = 99
	if in.Samples[0] != 1 || !slices.Equal(out.Samples, []int16{99, 2, 3}) {
		t.Fatal("same-rate Resample shares its buffer with the input")
	}
}

func TestResampleDCAndClipping(t *testing.T) {
	t.Parallel()
	// A constant stays exactly constant away from the ends, and a full-scale
	// step's overshoot clips instead of wrapping around to the other sign.
	for _, rates := range [][2]int{{16000, 8000}, {8000, 16000}, {44100, 8000}, {8000, 22050}} {
		in := &media.PCM{Rate: rates[0], Samples: make([]int16, rates[0])}
		for i := range in.Samples {
			in.Samples[i] = 12345
			if i >= len(in.Samples)/2 {
				in.Samples[i] = math.MaxInt16
			}
		}
		out := media.Resample(in, rates[1])
		edge := rates[1] / 20
		q := len(out.Samples) / 4
		if got := out.Samples[q]; got != 12345 {
			t.Errorf("%v: DC level %d, want 12345", rates, got)
		}
		peak := int16(0)
		for i, v := range out.Samples[edge : len(out.Samples)-edge] {
			if v <= 0 {
				t.Fatalf("%v: sample %d is %d: overshoot wrapped", rates, i+edge, v)
			}
			peak = max(peak, v)
		}
		if peak != math.MaxInt16 {
			t.Errorf("%v: peak %d, want the overshoot clipped at full scale", rates, peak)
		}
	}
}

func TestResamplePanicsOnBadRate(t *testing.T) {
	t.Parallel()
	for _, tc := range [][2]int{{0, 8000}, {8000, 0}, {8000, -1}} {
		func() {
			defer func() {
				if recover() == nil {
					t.Errorf("Resample %v did not panic", tc)
				}
			}()
			media.Resample(&media.PCM{Rate: tc[0]}, tc[1])
		}()
	}
}

func BenchmarkResample44kTo8k(b *testing.B) {
	p := sine(44100, 1000, 0.5, 10*time.Second)
	b.ResetTimer()
	for b.Loop() {
		media.Resample(p, 8000)
	}
}

func BenchmarkResample8kTo16k(b *testing.B) {
	p := sine(8000, 1000, 0.5, 10*time.Second)
	b.ResetTimer()
	for b.Loop() {
		media.Resample(p, 16000)
	}
}
