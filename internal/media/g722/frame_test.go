package g722

import (
	"math/rand/v2"
	"slices"
	"testing"
)

// TestMatchesReference feeds the current codec and the reference one (the
// code before the table-driven rewrite) the same random and speech-like
// input in uneven chunks and requires the same bytes and samples: any change
// of the arithmetic would show here long before it showed in a listening
// test.
func TestMatchesReference(t *testing.T) {
	rng := rand.New(rand.NewPCG(7, 11))
	inputs := map[string][]int16{"speech": speechLike(48000), "tone": tone(1000, 30000, 16000)}
	noise := make([]int16, 48000)
	for i := range noise {
		noise[i] = int16(rng.Uint32())
	}
	inputs["noise"] = noise
	loud := make([]int16, 16000)
	for i := range loud {
		loud[i] = []int16{32767, -32768}[(i/7)%2]
	}
	inputs["square"] = loud
	for name, pcm := range inputs {
		e, re := NewEncoder(), refNewEncoder()
		var got, want []byte
		for off := 0; off < len(pcm); {
			n := min(1+rng.IntN(400), len(pcm)-off)
			got = e.Encode(got, pcm[off:off+n])
			want = re.Encode(want, pcm[off:off+n])
			off += n
		}
		if !slices.Equal(got, want) {
			i := firstByteDiff(got, want)
			t.Fatalf("%s: encoded byte %d differs from the reference", name, i)
		}
		// Decode random bytes as well as the encoded stream: every code is
		// valid, and random codes drive the predictor to its limits.
		codes := slices.Clone(got)
		for i := range codes[:len(codes)/2] {
			codes[i] = byte(rng.Uint32())
		}
		d, rd := NewDecoder(), refNewDecoder()
		gotPCM := d.Decode(nil, codes)
		wantPCM := rd.Decode(nil, codes)
		if !slices.Equal(gotPCM, wantPCM) {
			i := firstSampleDiff(gotPCM, wantPCM)
			t.Fatalf("%s: decoded sample %d differs from the reference", name, i)
		}
	}
}

// The frame benchmarks code one 20 ms frame (320 samples, 160 bytes) per op,
// what a call leg does 50 times a second in each direction; "ref" is the
// code before the rewrite, run in the same process for a like-for-like
// comparison.

func BenchmarkFrame(b *testing.B) {
	pcm := speechLike(16000)
	data := NewEncoder().Encode(nil, pcm)
	b.Run("encode", func(b *testing.B) {
		e := NewEncoder()
		buf := make([]byte, 0, 160)
		b.ReportAllocs()
		i := 0
		for b.Loop() {
			buf = e.Encode(buf[:0], pcm[i*320:i*320+320])
			i = (i + 1) % 50
		}
	})
	b.Run("encode-ref", func(b *testing.B) {
		e := refNewEncoder()
		buf := make([]byte, 0, 160)
		b.ReportAllocs()
		i := 0
		for b.Loop() {
			buf = e.Encode(buf[:0], pcm[i*320:i*320+320])
			i = (i + 1) % 50
		}
	})
	b.Run("decode", func(b *testing.B) {
		d := NewDecoder()
		out := make([]int16, 0, 320)
		b.ReportAllocs()
		i := 0
		for b.Loop() {
			out = d.Decode(out[:0], data[i*160:i*160+160])
			i = (i + 1) % 50
		}
	})
	b.Run("decode-ref", func(b *testing.B) {
		d := refNewDecoder()
		out := make([]int16, 0, 320)
		b.ReportAllocs()
		i := 0
		for b.Loop() {
			out = d.Decode(out[:0], data[i*160:i*160+160])
			i = (i + 1) % 50
		}
	})
}
