package mediastream

import (
	"encoding/base64"
	"encoding/json"
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

// TestAppendMediaMatchesJSON: the hand-written media message is byte for
// byte what encoding/json writes, omitted fields included.
func TestAppendMediaMatchesJSON(t *testing.T) {
	payload := []byte{0, 1, 2, 0xfe, 0xff, 'x'}
	for _, tc := range []struct {
		seq, chunk, ts  int64
		streamID, track string
	}{
		{7, 3, 1200, "str_01jabc", TrackInbound},
		{1, 1, 0, "str_x", TrackOutbound},
		{0, 0, 0, "", ""},
		{12, 0, 5, "str_<&>", "in\"bound"},
	} {
		want, err := json.Marshal(&Message{Event: EventMedia, SequenceNumber: tc.seq, StreamID: tc.streamID,
			Media: &Media{Track: tc.track, Chunk: tc.chunk, Timestamp: tc.ts, Payload: base64.StdEncoding.EncodeToString(payload)}})
		if err != nil {
			t.Fatal(err)
		}
		if got := AppendMedia([]byte("x"), tc.seq, tc.streamID, tc.track, tc.chunk, tc.ts, payload); string(got[1:]) != string(want) || got[0] != 'x' {
			t.Errorf("%+v:\n got %s\nwant %s", tc, got, want)
		}
	}
}

// BenchmarkMediaMessage: one 20 ms mu-law media message, through
// encoding/json and base64 strings (before) and AppendMedia (now).
func BenchmarkMediaMessage(b *testing.B) {
	payload := make([]byte, 160)
	b.Run("json", func(b *testing.B) {
		b.ReportAllocs()
		for i := range b.N {
			_, _ = json.Marshal(&Message{Event: EventMedia, SequenceNumber: int64(i), StreamID: "str_01jabcdefghijklmnopqrstuv",
				Media: &Media{Track: TrackInbound, Chunk: int64(i), Timestamp: int64(20 * i), Payload: base64.StdEncoding.EncodeToString(payload)}})
		}
	})
	b.Run("append", func(b *testing.B) {
		b.ReportAllocs()
		var buf []byte
		for i := range b.N {
			buf = AppendMedia(buf[:0], int64(i), "str_01jabcdefghijklmnopqrstuv", TrackInbound, int64(i), int64(20*i), payload)
		}
	})
}
