package g722

import (
	"bytes"
	"encoding/binary"
	"slices"
	"testing"
)

// FuzzDecode feeds arbitrary bytes to the decoder: every byte is a valid
// code, so nothing may panic, the output is always two samples per byte, and
// decoding in two pieces equals decoding at once. Seeds are in
// testdata/fuzz/FuzzDecode.
func FuzzDecode(f *testing.F) {
	f.Add([]byte{})
	f.Add(bytes.Repeat([]byte{0xfa}, 160))
	f.Add(bytes.Repeat([]byte{0x00, 0xff}, 80))
	f.Fuzz(func(t *testing.T, data []byte) {
		out := NewDecoder().Decode(nil, data)
		if len(out) != 2*len(data) {
			t.Fatalf("%d bytes decoded to %d samples, want %d", len(data), len(out), 2*len(data))
		}
		split := len(data) / 3
		d := NewDecoder()
		again := d.Decode(d.Decode(nil, data[:split]), data[split:])
		if !slices.Equal(out, again) {
			t.Fatalf("decoding split at %d differs", split)
		}
	})
}

// FuzzEncode reads the input as little-endian samples: the encoder must
// produce one byte per pair, the same bytes however the input is split, and
// its state must match a decoder fed its output.
func FuzzEncode(f *testing.F) {
	f.Add([]byte{}, uint16(0))
	f.Add([]byte{0xff, 0x7f, 0x00, 0x80, 0xff, 0x7f, 0x00, 0x80}, uint16(3))
	f.Add(bytes.Repeat([]byte{0x10, 0x27, 0xf0, 0xd8}, 200), uint16(101))
	f.Fuzz(func(t *testing.T, raw []byte, split uint16) {
		pcm := make([]int16, len(raw)/2)
		for i := range pcm {
			pcm[i] = int16(binary.LittleEndian.Uint16(raw[2*i:]))
		}
		e := NewEncoder()
		out := e.Encode(nil, pcm)
		if len(out) != len(pcm)/2 {
			t.Fatalf("%d samples encoded to %d bytes, want %d", len(pcm), len(out), len(pcm)/2)
		}
		k := int(split) % (len(pcm) + 1)
		e2 := NewEncoder()
		again := e2.Encode(e2.Encode(nil, pcm[:k]), pcm[k:])
		if !bytes.Equal(out, again) {
			t.Fatalf("encoding split at sample %d differs", k)
		}
		d := NewDecoder()
		d.Decode(nil, out)
		if e.low != d.low || e.high != d.high {
			t.Fatal("decoder state diverged from encoder state")
		}
	})
}
