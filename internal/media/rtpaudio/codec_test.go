package rtpaudio

import (
	"encoding/binary"
	"math"
	"slices"
	"testing"

	"github.com/emiago/diago/audio"
	dmedia "github.com/emiago/diago/media"
)

// TestG711MatchesDiago checks the table-driven G.711 against diago's
// converters on every 16-bit sample and every code.
func TestG711MatchesDiago(t *testing.T) {
	pcm := make([]int16, 1<<16)
	lpcm := make([]byte, 2<<16)
	for i := range pcm {
		pcm[i] = int16(i)
		binary.LittleEndian.PutUint16(lpcm[2*i:], uint16(i))
	}
	codes := make([]byte, 256)
	for i := range codes {
		codes[i] = byte(i)
	}
	for _, c := range []struct {
		codec  dmedia.Codec
		encode func([]byte, []byte) (int, error)
		decode func([]byte, []byte) (int, error)
	}{
		{dmedia.CodecAudioUlaw, audio.EncodeUlawTo, audio.DecodeUlawTo},
		{dmedia.CodecAudioAlaw, audio.EncodeAlawTo, audio.DecodeAlawTo},
	} {
		a, err := NewAudioCodec(c.codec)
		if err != nil {
			t.Fatal(err)
		}
		want := make([]byte, len(pcm))
		if _, err := c.encode(want, lpcm); err != nil {
			t.Fatal(err)
		}
		if got := a.Encode(nil, pcm); !slices.Equal(got, want) {
			t.Fatalf("%s: encoding differs from diago's", c.codec.Name)
		}
		raw := make([]byte, 512)
		if _, err := c.decode(raw, codes); err != nil {
			t.Fatal(err)
		}
		got := a.Decode(nil, codes)
		for i := range codes {
			if w := int16(binary.LittleEndian.Uint16(raw[2*i:])); got[i] != w {
				t.Fatalf("%s: code %#x decodes to %d, diago %d", c.codec.Name, i, got[i], w)
			}
		}
	}
}

func sine(n int) []int16 {
	s := make([]int16, n)
	for i := range s {
		s[i] = int16(8000 * math.Sin(float64(i)/7))
	}
	return s
}

// TestPromptCache checks that a cached prompt is the bytes a leg's own
// encoder would have sent from a fresh stream, that the same audio hits the
// cache and other audio does not, and that the bound evicts.
func TestPromptCache(t *testing.T) {
	for _, codec := range []dmedia.Codec{dmedia.CodecAudioUlaw, dmedia.CodecAudioAlaw, CodecG722} {
		per := PCMRate(codec) / 50
		samples := sine(per*10 + 17) // a partial last frame
		c := NewPromptCache(1 << 20)
		a, _ := NewAudioCodec(codec)
		p := c.Encoded(a, samples, per)
		if len(p.Frames) != 11 {
			t.Fatalf("%s: %d frames, want 11", codec.Name, len(p.Frames))
		}
		ref, _ := NewAudioCodec(codec)
		padded := append(slices.Clone(samples), make([]int16, 11*per-len(samples))...)
		want := ref.Encode(nil, padded)
		if got := slices.Concat(p.Frames...); !slices.Equal(got, want) {
			t.Fatalf("%s: cached frames differ from a fresh encoding", codec.Name)
		}
		if again := c.Encoded(a, slices.Clone(samples), per); again != p {
			t.Fatalf("%s: the same audio was encoded again", codec.Name)
		}
		other := slices.Clone(samples)
		other[3]++
		if c.Encoded(a, other, per) == p || c.Len() != 2 {
			t.Fatalf("%s: different audio shared an entry (%d entries)", codec.Name, c.Len())
		}
		// After the prompt a leg continues the stream the far end decoded.
		a.Continue(p)
		tail := sine(per)
		if got, w := a.Encode(nil, tail), ref.Encode(nil, tail); !slices.Equal(got, w) {
			t.Fatalf("%s: the encoder did not continue from the prompt's end", codec.Name)
		}
	}
	small := NewPromptCache(3000)
	a, _ := NewAudioCodec(dmedia.CodecAudioUlaw)
	for i := range 5 {
		s := sine(1600)
		s[0] = int16(i)
		small.Encoded(a, s, 160)
	}
	if small.Len() != 1 {
		t.Fatalf("%d entries under a 3000-byte bound, want 1", small.Len())
	}
}

func BenchmarkFrame(b *testing.B) {
	for _, codec := range []dmedia.Codec{dmedia.CodecAudioUlaw, CodecG722} {
		per := PCMRate(codec) / 50
		pcm := sine(per)
		a, _ := NewAudioCodec(codec)
		payload := a.Encode(nil, pcm)
		b.Run(CodecName(codec)+"/encode", func(b *testing.B) {
			buf := make([]byte, 0, per)
			b.ReportAllocs()
			for b.Loop() {
				buf = a.Encode(buf[:0], pcm)
			}
		})
		b.Run(CodecName(codec)+"/decode", func(b *testing.B) {
			out := make([]int16, 0, per)
			b.ReportAllocs()
			for b.Loop() {
				out = a.Decode(out[:0], payload)
			}
		})
	}
	// What the codec cost before the tables: PCM to little-endian bytes,
	// then diago's converter, in the same process for comparison.
	pcm := sine(160)
	b.Run("PCMU/encode-diago", func(b *testing.B) {
		raw := make([]byte, 0, 320)
		out := make([]byte, 160)
		b.ReportAllocs()
		for b.Loop() {
			raw = raw[:0]
			for _, s := range pcm {
				raw = binary.LittleEndian.AppendUint16(raw, uint16(s))
			}
			_, _ = audio.EncodeUlawTo(out, raw)
		}
	})
	b.Run("PCMU/decode-diago", func(b *testing.B) {
		payload := make([]byte, 160)
		raw := make([]byte, 320)
		out := make([]int16, 0, 160)
		b.ReportAllocs()
		for b.Loop() {
			_, _ = audio.DecodeUlawTo(raw, payload)
			out = out[:0]
			for i := 0; i+1 < len(raw); i += 2 {
				out = append(out, int16(binary.LittleEndian.Uint16(raw[i:])))
			}
		}
	})
}
