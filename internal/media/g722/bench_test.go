package g722

import (
	"github.com/minivoice/minivoice/internal/cputime"
	"testing"
	"time"
)

// The benchmarks code 1 s of speech-like audio per iteration and report
// x-realtime, seconds of audio coded per second of CPU: how many streams one
// core could carry in that direction.

func BenchmarkEncode(b *testing.B) {
	pcm := speechLike(16000)
	e := NewEncoder()
	buf := make([]byte, 0, len(pcm)/2)
	b.SetBytes(int64(2 * len(pcm)))
	b.ReportAllocs()
	cpu := startCPU()
	for b.Loop() {
		buf = e.Encode(buf[:0], pcm)
	}
	cpu.report(b)
}

func BenchmarkDecode(b *testing.B) {
	data := NewEncoder().Encode(nil, speechLike(16000))
	d := NewDecoder()
	out := make([]int16, 0, 2*len(data))
	b.SetBytes(int64(len(data)))
	b.ReportAllocs()
	cpu := startCPU()
	for b.Loop() {
		out = d.Decode(out[:0], data)
	}
	cpu.report(b)
}

type cpuClock struct {
	start time.Duration
	ok    bool
}

func startCPU() cpuClock {
	t, ok := cputime.Used()
	return cpuClock{t, ok}
}

// report adds x-realtime for b.N seconds of audio, from CPU time where the
// platform has it and wall time otherwise.
func (c cpuClock) report(b *testing.B) {
	used := b.Elapsed()
	if end, ok := cputime.Used(); ok && c.ok && end > c.start {
		used = end - c.start
	}
	b.ReportMetric(float64(b.N)/used.Seconds(), "x-realtime")
}
