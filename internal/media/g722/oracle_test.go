package g722

import (
	"bytes"
	"encoding/binary"
	"math"
	"math/rand/v2"
	"os"
	"os/exec"
	"strconv"
	"testing"
)

// TestSpandspOracle compares this package with a live spandsp on much more
// audio than the committed vectors hold. It runs only when G722_SPANDSP_REF
// names the wrapper built from testdata/spandsp/ref.c:
//
//	cc -O2 -o /tmp/ref testdata/spandsp/ref.c -lspandsp
//	G722_SPANDSP_REF=/tmp/ref go test -run SpandspOracle ./internal/media/g722/
func TestSpandspOracle(t *testing.T) {
	ref := os.Getenv("G722_SPANDSP_REF")
	if ref == "" {
		t.Skip("G722_SPANDSP_REF not set")
	}
	t.Parallel()
	run := func(t *testing.T, mode string, in []byte) []byte {
		t.Helper()
		cmd := exec.Command(ref, mode)
		cmd.Stdin = bytes.NewReader(in)
		out, err := cmd.Output()
		if err != nil {
			t.Fatalf("%s %s: %v", ref, mode, err)
		}
		return out
	}
	pcmBytes := func(s []int16) []byte {
		b := make([]byte, 2*len(s))
		for i, v := range s {
			binary.LittleEndian.PutUint16(b[2*i:], uint16(v))
		}
		return b
	}
	bytesPCM := func(b []byte) []int16 {
		s := make([]int16, len(b)/2)
		for i := range s {
			s[i] = int16(binary.LittleEndian.Uint16(b[2*i:]))
		}
		return s
	}

	rng := rand.New(rand.NewPCG(722, 64))
	const n = 16000 * 10
	signals := map[string][]int16{}
	for _, gain := range []float64{0.01, 0.3, 1, 4} {
		s := speechLike(n)
		for i, v := range s {
			s[i] = int16(max(-32768, min(32767, math.Round(float64(v)*gain))))
		}
		signals["speech-like-x"+strconv.FormatFloat(gain, 'g', -1, 64)] = s
	}
	for _, amp := range []float64{30, 3000, 40000} {
		s := make([]int16, n)
		for i := range s {
			s[i] = int16(max(-32768, min(32767, math.Round(amp*rng.NormFloat64()))))
		}
		signals["noise-"+strconv.FormatFloat(amp, 'g', -1, 64)] = s
	}
	sweep := make([]int16, n)
	for i := range sweep {
		f := 20 + 7980*float64(i)/n
		sweep[i] = int16(32767 * math.Sin(math.Pi*f*float64(i)/16000))
	}
	signals["full-scale-sweep"] = sweep
	bursts := make([]int16, n)
	for i := range bursts {
		switch (i / 97) % 5 {
		case 0:
			bursts[i] = 32767
		case 1:
			bursts[i] = -32768
		case 2:
			bursts[i] = int16(rng.IntN(65536) - 32768)
		}
	}
	signals["rail-bursts"] = bursts

	for name, pcm := range signals {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			raw := pcmBytes(pcm)
			want := run(t, "enc", raw)
			got := NewEncoder().Encode(nil, pcm)
			if !bytes.Equal(got, want) {
				t.Fatalf("encoding differs from spandsp at byte %d", firstByteDiff(got, want))
			}
			checkDecoded(t, NewDecoder().Decode(nil, want), bytesPCM(run(t, "dec", want)))

			e := NewEncoder()
			codes := make([]byte, len(pcm))
			for i, a := range pcm {
				codes[i] = e.encodeBands(int32(a)>>1, int32(a)>>1)
			}
			if want := run(t, "enctest", raw); !bytes.Equal(codes, want) {
				t.Fatalf("QMF-bypassed codes differ from spandsp at %d", firstByteDiff(codes, want))
			}
		})
	}
	t.Run("random-codes", func(t *testing.T) {
		t.Parallel()
		codes := make([]byte, n)
		for i := range codes {
			codes[i] = byte(rng.Uint32())
		}
		checkDecoded(t, NewDecoder().Decode(nil, codes), bytesPCM(run(t, "dec", codes)))
		d := NewDecoder()
		got := make([]int16, 0, 2*len(codes))
		for _, c := range codes {
			rl, rh := d.decodeBands(c)
			got = append(got, int16(rl<<1), int16(rh<<1))
		}
		want := bytesPCM(run(t, "dectest", codes))
		if i := firstSampleDiff(got, want); i < len(got) || len(got) != len(want) {
			t.Fatalf("QMF-bypassed decoding differs from spandsp at %d", i)
		}
	})
}
