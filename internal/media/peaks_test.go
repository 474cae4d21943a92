package media

import (
	"bytes"
	"encoding/binary"
	"errors"
	"testing"
)

// stereoWAV is a 16-bit stereo WAV of left and right (same length).
func stereoWAV(rate int, left, right []int16) []byte {
	var b bytes.Buffer
	b.Write(wavHeader(rate, 2, uint32(len(left)*4)))
	for i := range left {
		_ = binary.Write(&b, binary.LittleEndian, left[i])
		_ = binary.Write(&b, binary.LittleEndian, right[i])
	}
	return b.Bytes()
}

func TestWAVPeaks(t *testing.T) {
	t.Parallel()
	// One second at 8 kHz: the left channel loud in its first half only,
	// the right channel a steady -300 throughout.
	left, right := make([]int16, 8000), make([]int16, 8000)
	for i := range left {
		if i < 4000 {
			left[i] = int16(1000 - 2000*(i%2))
		}
		right[i] = -300
	}
	p, err := WAVPeaks(bytes.NewReader(stereoWAV(8000, left, right)), 4)
	if err != nil {
		t.Fatal(err)
	}
	if p.Rate != 8000 || p.Duration != 1 || len(p.Min) != 2 || len(p.Max[0]) != 4 {
		t.Fatalf("peaks = %+v", p)
	}
	for b, want := range []int16{1000, 1000, 0, 0} {
		if p.Max[0][b] != want || p.Min[0][b] != -want {
			t.Errorf("left bucket %d: %d..%d, want -%d..%d", b, p.Min[0][b], p.Max[0][b], want, want)
		}
		if p.Min[1][b] != -300 || p.Max[1][b] != 0 {
			t.Errorf("right bucket %d: %d..%d, want -300..0", b, p.Min[1][b], p.Max[1][b])
		}
	}
	// A file cut short draws what is there; garbage is an error.
	short := stereoWAV(8000, left, right)
	if _, err := WAVPeaks(bytes.NewReader(short[:len(short)/2]), 4); err != nil {
		t.Errorf("truncated file: %v", err)
	}
	if _, err := WAVPeaks(bytes.NewReader([]byte("not a wav at all")), 4); !errors.Is(err, ErrMalformedWAV) {
		t.Errorf("garbage: %v", err)
	}
}
