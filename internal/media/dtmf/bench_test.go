package dtmf

import (
	"testing"

	"github.com/minivoice/minivoice/internal/cputime"
)

// BenchmarkDetector feeds a realistic, busy telephone-event stream: 50
// packets per second (one per 20 ms at the 8000 Hz clock), in which a key is
// pressed every 200 ms. Each press is a sipp-style start (marker, duration
// 0), six continuations and the end packet three times. One op is one
// packet. ns/packet and x-realtime (seconds of stream handled per second)
// are measured in CPU time of the process where it can be read, so that
// they hold on a busy machine; ns/op is the usual wall-clock figure.
func BenchmarkDetector(b *testing.B) {
	const (
		rate          = 8000
		packetsPerSec = 50
		perPress      = 10 // 200 ms of packets
		seconds       = 16 // one press of each of the 16 keys, five times over
	)
	type sample struct {
		off     uint32
		marker  bool
		payload []byte
	}
	var stream []sample
	for n := range seconds * packetsPerSec / perPress {
		digit, _ := DigitFromCode(byte(n % 16))
		start := uint32(n * perPress * rate / packetsPerSec)
		for i := range perPress {
			var p []byte
			switch {
			case i == 0:
				p = pl(digit, false, 0)
			case i < perPress-3:
				p = pl(digit, false, uint16(i*rate/packetsPerSec))
			default:
				p = pl(digit, true, uint16((perPress-3)*rate/packetsPerSec))
			}
			stream = append(stream, sample{start, i == 0, p})
		}
	}

	d := NewDetector()
	base := uint32(0xFFFF0000) // cross the uint32 wrap during the run
	var n, presses int
	b.ReportAllocs()
	cpu0, cpuOK := cputime.Used()
	for b.Loop() {
		s := stream[n%len(stream)]
		loop := uint32(n / len(stream))
		if _, ok := d.Packet(base+loop*seconds*rate+s.off, s.marker, s.payload); ok {
			presses++
		}
		n++
	}
	cpu1, _ := cputime.Used()
	if want := (n + perPress - 1) / perPress; presses != want {
		b.Fatalf("%d presses in %d packets, want %d", presses, n, want)
	}
	spent := b.Elapsed()
	if cpuOK && cpu1 > cpu0 {
		spent = cpu1 - cpu0
	}
	b.ReportMetric(float64(spent.Nanoseconds())/float64(n), "ns/packet")
	b.ReportMetric(float64(n)/packetsPerSec/spent.Seconds(), "x-realtime")
}
