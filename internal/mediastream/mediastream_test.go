package mediastream

import (
	"math"
	"strings"
	"testing"
)

// TestMulawRoundTrip: every mu-law byte decodes to a sample that encodes
// back to the same byte (except the duplicate zero 0x7f), and samples come
// back within the codec's step.
func TestMulawRoundTrip(t *testing.T) {
	for b := 0; b < 256; b++ {
		if b == 0x7f {
			continue // negative zero encodes as positive zero (0xff)
		}
		if got := MulawEncode(MulawDecode(byte(b))); got != byte(b) {
			t.Errorf("byte %#x decodes to %d, which encodes to %#x", b, MulawDecode(byte(b)), got)
		}
	}
	for _, s := range []int16{0, 1, -1, 100, -100, 1000, 8000, -8000, 32767, -32768} {
		d := MulawDecode(MulawEncode(s))
		step := max(math.Abs(float64(s))/16, 8)
		if math.Abs(float64(d)-float64(s)) > step {
			t.Errorf("%d -> %d", s, d)
		}
	}
}

// TestL16IsBigEndian: audio/l16 is network byte order (RFC 3551).
func TestL16IsBigEndian(t *testing.T) {
	c, err := NewCodec(Format{Encoding: EncodingL16, SampleRate: 16000})
	if err != nil {
		t.Fatal(err)
	}
	b := c.Encode(nil, []int16{0x0102, -2})
	if string(b) != "\x01\x02\xff\xfe" {
		t.Errorf("encoded % x", b)
	}
	if got := c.Decode(nil, b); got[0] != 0x0102 || got[1] != -2 {
		t.Errorf("decoded %v", got)
	}
	if _, err := NewCodec(Format{Encoding: EncodingMulaw, SampleRate: 16000}); err == nil {
		t.Error("mu-law at 16 kHz accepted")
	}
}

// TestRate: 8 <-> 16 kHz keeps length ratios and a tone's level.
func TestRate(t *testing.T) {
	in := make([]int16, 160)
	for i := range in {
		in[i] = int16(8000 * math.Sin(2*math.Pi*440*float64(i)/8000))
	}
	up := NewRate(8000, 16000).Convert(nil, in)
	if len(up) != 320 {
		t.Fatalf("upsampled %d samples", len(up))
	}
	down := NewRate(16000, 8000).Convert(nil, up)
	if len(down) != 160 {
		t.Fatalf("downsampled %d samples", len(down))
	}
	var e1, e2 float64
	for i := range in {
		e1 += float64(in[i]) * float64(in[i])
		e2 += float64(down[i]) * float64(down[i])
	}
	if r := e2 / e1; r < 0.8 || r > 1.1 {
		t.Errorf("energy ratio after a round trip %.2f", r)
	}
}

// TestParseAppMessage: what the application may send, and what is refused
// with a reason.
func TestParseAppMessage(t *testing.T) {
	for _, ok := range []string{
		`{"event":"media","media":{"payload":"AAAA"}}`,
		`{"event":"mark","mark":{"name":"x"}}`,
		`{"event":"clear"}`,
		`{"event":"clear","stream_id":"str_1","sequence_number":4}`,
	} {
		if _, err := ParseAppMessage([]byte(ok)); err != nil {
			t.Errorf("%s: %v", ok, err)
		}
	}
	for bad, want := range map[string]string{
		`nope`:                       "not a JSON object",
		`{"event":"media"}`:          "no media.payload",
		`{"event":"mark","mark":{}}`: "mark.name",
		`{"event":"start"}`:          "unknown event",
		`{"event":"mark","mark":{"name":"` + strings.Repeat("m", 300) + `"}}`: "mark.name",
	} {
		if _, err := ParseAppMessage([]byte(bad)); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%.40s: %v, want %q", bad, err, want)
		}
	}
}
