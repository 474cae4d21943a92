package media_test

import (
	"math"
	"testing"
	"time"

	"github.com/minivoice/minivoice/internal/media"
)

func TestRMSAndDBFS(t *testing.T) {
	t.Parallel()
	square := make([]int16, 1000)
	for i := range square {
		square[i] = math.MaxInt16
		if i%2 == 1 {
			square[i] = -math.MaxInt16
		}
	}
	tests := []struct {
		name     string
		samples  []int16
		rms, dbf float64
	}{
		{"empty", nil, 0, math.Inf(-1)},
		{"silence", make([]int16, 100), 0, math.Inf(-1)},
		{"constant", []int16{1000, -1000, 1000, -1000}, 1000, 20 * math.Log10(1000.0/32767)},
		{"full-scale square", square, 32767, 0},
		{"full-scale sine", sine(8000, 1000, 1, time.Second).Samples, 32767 / math.Sqrt2, -3.0103},
	}
	for _, tt := range tests {
		if got := media.RMS(tt.samples); math.Abs(got-tt.rms) > 0.5 {
			t.Errorf("%s: RMS = %v, want %v", tt.name, got, tt.rms)
		}
		got := media.DBFS(tt.samples)
		if math.IsInf(tt.dbf, -1) {
			if !math.IsInf(got, -1) {
				t.Errorf("%s: DBFS = %v, want -Inf", tt.name, got)
			}
		} else if math.Abs(got-tt.dbf) > 0.01 {
			t.Errorf("%s: DBFS = %v, want %v", tt.name, got, tt.dbf)
		}
	}
}

func TestDuration(t *testing.T) {
	t.Parallel()
	tests := []struct {
		p    *media.PCM
		want time.Duration
	}{
		{nil, 0},
		{&media.PCM{}, 0},
		{&media.PCM{Rate: 8000, Samples: make([]int16, 8000)}, time.Second},
		{&media.PCM{Rate: 8000, Samples: make([]int16, 160)}, 20 * time.Millisecond},
		{&media.PCM{Rate: 44100, Samples: make([]int16, 44100*3+441)}, 3010 * time.Millisecond},
	}
	for _, tt := range tests {
		if got := tt.p.Duration(); got != tt.want {
			t.Errorf("Duration(%v) = %v, want %v", tt.p, got, tt.want)
		}
	}
}

func TestActiveDuration(t *testing.T) {
	t.Parallel()
	// 1 s of silence, 0.5 s of a -20 dBFS tone, 0.3 s of -60 dBFS hiss-level
	// tone, 10 ms of loud tone at the very end (a partial frame).
	var s []int16
	s = append(s, make([]int16, 8000)...)
	s = append(s, sine(8000, 440, 0.1, 500*time.Millisecond).Samples...)
	s = append(s, sine(8000, 440, 0.001, 300*time.Millisecond).Samples...)
	s = append(s, sine(8000, 440, 0.5, 10*time.Millisecond).Samples...)
	p := &media.PCM{Rate: 8000, Samples: s}
	tests := []struct {
		threshold float64
		want      time.Duration
	}{
		{-40, 510 * time.Millisecond},
		{-80, 810 * time.Millisecond},
		{-10, 10 * time.Millisecond},
		{0, 0},
	}
	for _, tt := range tests {
		if got := media.ActiveDuration(p, tt.threshold); got != tt.want {
			t.Errorf("ActiveDuration at %v dBFS = %v, want %v", tt.threshold, got, tt.want)
		}
	}
	if got := media.ActiveDuration(&media.PCM{}, -40); got != 0 {
		t.Errorf("empty PCM: %v", got)
	}
}

func TestActiveSpans(t *testing.T) {
	t.Parallel()
	// A 0.5 s tone, 0.1 s of silence, 0.2 s of tone (one span: the pause is
	// under the gap), 1 s of silence, then 0.3 s of tone (a second span).
	var s []int16
	s = append(s, sine(8000, 440, 0.1, 500*time.Millisecond).Samples...)
	s = append(s, make([]int16, 800)...)
	s = append(s, sine(8000, 440, 0.1, 200*time.Millisecond).Samples...)
	s = append(s, make([]int16, 8000)...)
	s = append(s, sine(8000, 440, 0.1, 300*time.Millisecond).Samples...)
	got := media.ActiveSpans(&media.PCM{Rate: 8000, Samples: s}, -40, 300*time.Millisecond)
	want := []media.Span{{Start: 0, End: 800 * time.Millisecond}, {Start: 1800 * time.Millisecond, End: 2100 * time.Millisecond}}
	if len(got) != len(want) {
		t.Fatalf("spans %v, want %v", got, want)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Errorf("span %d: %v, want %v", i, got[i], want[i])
		}
	}
	if got := media.ActiveSpans(&media.PCM{Rate: 8000, Samples: make([]int16, 8000)}, -40, time.Second); got != nil {
		t.Errorf("silence: %v", got)
	}
}
