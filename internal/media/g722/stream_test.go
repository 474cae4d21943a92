package g722

import (
	"bytes"
	"slices"
	"testing"
)

// TestSilence is the hand-traced known answer. From the reset state (det 32,
// everything else 0) a zero input gives a zero difference. The lower-band
// decision levels q6[i]*32>>12 are 0 for i = 1..3 and 1 for i = 4, so the
// difference falls in interval 4 and the code is ilp[4] = 58 (0b111010). In
// the higher band 0 < 564*8>>12 = 1 gives mih = 1 and code ihp[1] = 3. Byte:
// 3<<6 | 58 = 0xFA. The 4-bit inverse quantiser turns 58 into
// QQ4(14)*32>>15 = 1200*32>>15 = 1, whose class RIL(14) = 1 has WL = -30, so
// nb stays clamped at 0 and det at 32: the same byte repeats while the
// predictor estimate s is 0.
//
// It does not stay 0: each +1 difference has the same sign as the last, so
// UPPOL1 and UPZERO walk a1 and the b coefficients up by 192 and 128 a step,
// and after 44 bytes the predictor's estimate reaches 1 and the codes start to
// vary. Silence thus becomes a low-level idle pattern, not one constant byte;
// spandsp produces the identical stream (silence.g722). Decoded, the first
// bytes give rl = QQ6(58)*32>>15 = 1040*32>>15 = 1 and rh = 0, DC 2 after the
// receive QMF (gain 2 from 15 to 16 bits), and the idle pattern never goes
// past 4 (measured -88 dBFS RMS).
func TestSilence(t *testing.T) {
	t.Parallel()
	const constantBytes = 44
	got := NewEncoder().Encode(nil, make([]int16, 16000))
	if want := bytes.Repeat([]byte{0xfa}, constantBytes); !bytes.Equal(got[:constantBytes], want) {
		t.Fatalf("silence encodes to % x..., want %d bytes fa", got[:constantBytes], constantBytes)
	}
	if got[constantBytes] == 0xfa {
		t.Errorf("byte %d of silence is still fa; the predictor should have moved", constantBytes)
	}
	if want := readVector(t, "silence.g722"); !bytes.Equal(got, want) {
		t.Fatalf("silence encoding differs from spandsp at byte %d", firstByteDiff(got, want))
	}
	out := NewDecoder().Decode(nil, got)
	checkDecoded(t, out, readPCM(t, "silence.dec"))
	for i, v := range out {
		if v < -4 || v > 4 {
			t.Fatalf("decoded silence has %d at sample %d, want |x| <= 4", v, i)
		}
	}
	if tail := out[30 : 2*constantBytes]; slices.ContainsFunc(tail, func(v int16) bool { return v != 2 }) {
		t.Errorf("decoded silence before the predictor moves is %v, want DC 2", tail)
	}
}

// TestEncoderDecoderSync checks the property that makes ADPCM work without
// side information: after every byte the decoder's adaptive state of both
// bands (predictor, coefficients, scale factor) equals the encoder's.
func TestEncoderDecoderSync(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name string
		pcm  []int16
	}{
		{"speech-like", speechLike(16000)},
		{"spandsp-noise", readPCM(t, "noise.pcm")},
		{"6kHz", tone(6000, 25000, 4000)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			e, d := NewEncoder(), NewDecoder()
			var code []byte
			for i := 0; i+1 < len(tc.pcm); i += 2 {
				code = e.Encode(code[:0], tc.pcm[i:i+2])
				d.Decode(nil, code)
				if e.low != d.low || e.high != d.high {
					t.Fatalf("state diverged after byte %d:\nencoder low %+v\ndecoder low %+v\nencoder high %+v\ndecoder high %+v",
						i/2, e.low, d.low, e.high, d.high)
				}
			}
		})
	}
}

// TestChunking checks that the stream, not the call boundaries, determines
// the output: RTP senders encode 20 ms frames, tests and files other sizes,
// and odd chunk sizes must carry their last sample over.
func TestChunking(t *testing.T) {
	t.Parallel()
	pcm := speechLike(8000)
	whole := NewEncoder().Encode(nil, pcm)
	wholePCM := NewDecoder().Decode(nil, whole)
	for _, tc := range []struct {
		name   string
		chunks []int // sample counts, cycled
	}{
		{"20ms", []int{320}},
		{"160-then-7-pairs", []int{320, 14}},
		{"odd", []int{1, 3, 5, 7, 320, 321}},
		{"single-samples", []int{1}},
		{"with-empty", []int{0, 2, 0, 999}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			e := NewEncoder()
			var got []byte
			for i, k := 0, 0; i < len(pcm); k++ {
				n := min(tc.chunks[k%len(tc.chunks)], len(pcm)-i)
				got = e.Encode(got, pcm[i:i+n])
				i += n
			}
			if !bytes.Equal(got, whole) {
				t.Fatalf("chunked encoding differs at byte %d", firstByteDiff(got, whole))
			}
			d := NewDecoder()
			var gotPCM []int16
			for i, k := 0, 0; i < len(whole); k++ {
				n := min((tc.chunks[k%len(tc.chunks)]+1)/2, len(whole)-i)
				gotPCM = d.Decode(gotPCM, whole[i:i+n])
				i += n
			}
			if i := firstSampleDiff(gotPCM, wholePCM); i < len(wholePCM) || len(gotPCM) != len(wholePCM) {
				t.Fatalf("chunked decoding differs at sample %d", i)
			}
		})
	}
}

func TestOddTrailingSample(t *testing.T) {
	t.Parallel()
	e := NewEncoder()
	if got := e.Encode(nil, []int16{100, 200, 300}); len(got) != 1 {
		t.Fatalf("3 samples gave %d bytes, want 1 (the third waits for its pair)", len(got))
	}
	if got := e.Encode(nil, []int16{400}); len(got) != 1 {
		t.Fatalf("the pending sample and 1 more gave %d bytes, want 1", len(got))
	}
	want := NewEncoder().Encode(nil, []int16{100, 200, 300, 400})
	e.Reset()
	got := e.Encode(nil, []int16{100, 200, 300, 400})
	if !bytes.Equal(got, want) {
		t.Fatalf("after Reset % x, want % x", got, want)
	}
	// Reset must also drop a pending sample.
	e.Encode(nil, []int16{5})
	e.Reset()
	if got := e.Encode(nil, []int16{100, 200, 300, 400}); !bytes.Equal(got, want) {
		t.Fatalf("Reset kept the pending sample: % x, want % x", got, want)
	}
}

func TestReset(t *testing.T) {
	t.Parallel()
	pcm := speechLike(4000)
	e, d := NewEncoder(), NewDecoder()
	first := e.Encode(nil, pcm)
	firstPCM := d.Decode(nil, first)
	e.Reset()
	d.Reset()
	if *e != *NewEncoder() || *d != *NewDecoder() {
		t.Fatal("Reset does not restore the initial state")
	}
	if again := e.Encode(nil, pcm); !bytes.Equal(again, first) {
		t.Fatal("encoding after Reset differs")
	}
	if again := d.Decode(nil, first); !slices.Equal(again, firstPCM) {
		t.Fatal("decoding after Reset differs")
	}
}

// TestAppend checks the append contract: existing contents are kept, and
// the output lands after them.
func TestAppend(t *testing.T) {
	t.Parallel()
	pcm := tone(1000, 8000, 320)
	want := NewEncoder().Encode(nil, pcm)
	got := NewEncoder().Encode([]byte{1, 2, 3}, pcm)
	if !bytes.Equal(got[:3], []byte{1, 2, 3}) || !bytes.Equal(got[3:], want) || len(got) != 163 {
		t.Fatalf("Encode did not append: len %d", len(got))
	}
	wantPCM := NewDecoder().Decode(nil, want)
	gotPCM := NewDecoder().Decode([]int16{-7}, want)
	if gotPCM[0] != -7 || !slices.Equal(gotPCM[1:], wantPCM) || len(wantPCM) != 320 {
		t.Fatalf("Decode did not append: len %d", len(gotPCM))
	}
}

func TestNoAllocs(t *testing.T) {
	pcm := speechLike(320)
	e, d := NewEncoder(), NewDecoder()
	buf := make([]byte, 0, 160)
	out := make([]int16, 0, 320)
	if n := testing.AllocsPerRun(100, func() {
		buf = e.Encode(buf[:0], pcm)
		out = d.Decode(out[:0], buf)
	}); n != 0 {
		t.Fatalf("%v allocations per 20 ms frame, want 0", n)
	}
}
