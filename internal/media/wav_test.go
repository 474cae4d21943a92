package media_test

import (
	"bytes"
	"encoding/binary"
	"errors"
	"io"
	"math"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/minivoice/minivoice/internal/media"
)

// chunk is one RIFF chunk for building test files by hand.
type chunk struct {
	id   string
	body []byte
	size uint32 // declared size; 0 means len(body)
}

// riff assembles a RIFF/WAVE file, padding odd chunks as the format demands.
func riff(chunks ...chunk) []byte {
	var b bytes.Buffer
	b.WriteString("RIFF")
	_ = binary.Write(&b, binary.LittleEndian, uint32(0)) // readers must not rely on it
	b.WriteString("WAVE")
	for _, c := range chunks {
		b.WriteString(c.id)
		size := c.size
		if size == 0 {
			size = uint32(len(c.body))
		}
		_ = binary.Write(&b, binary.LittleEndian, size)
		b.Write(c.body)
		if len(c.body)%2 == 1 {
			b.WriteByte(0)
		}
	}
	out := b.Bytes()
	binary.LittleEndian.PutUint32(out[4:], uint32(len(out)-8))
	return out
}

// fmtBody is a classic 16-byte fmt chunk.
func fmtBody(tag uint16, channels, rate, bits int) []byte {
	b := make([]byte, 16)
	le := binary.LittleEndian
	le.PutUint16(b[0:], tag)
	le.PutUint16(b[2:], uint16(channels))
	le.PutUint32(b[4:], uint32(rate))
	le.PutUint32(b[8:], uint32(rate*channels*bits/8))
	le.PutUint16(b[12:], uint16(channels*bits/8))
	le.PutUint16(b[14:], uint16(bits))
	return b
}

// extBody is a 40-byte WAVE_FORMAT_EXTENSIBLE fmt chunk with sub-format sub.
func extBody(sub uint16, channels, rate, bits int) []byte {
	b := append(fmtBody(0xFFFE, channels, rate, bits), make([]byte, 24)...)
	le := binary.LittleEndian
	le.PutUint16(b[16:], 22)
	le.PutUint16(b[18:], uint16(bits))
	le.PutUint32(b[20:], 0x4) // front centre
	le.PutUint16(b[24:], sub)
	copy(b[26:], []byte{0x00, 0x00, 0x00, 0x00, 0x10, 0x00, 0x80, 0x00, 0x00, 0xAA, 0x00, 0x38, 0x9B, 0x71})
	return b
}

// trim drops n bytes from the end, e.g. the pad riff adds after an odd chunk.
func trim(b []byte, n int) []byte { return b[:len(b)-n] }

func le16(v ...int16) []byte {
	b := make([]byte, 2*len(v))
	for i, s := range v {
		binary.LittleEndian.PutUint16(b[2*i:], uint16(s))
	}
	return b
}

func f32(v ...float32) []byte {
	b := make([]byte, 4*len(v))
	for i, s := range v {
		binary.LittleEndian.PutUint32(b[4*i:], math.Float32bits(s))
	}
	return b
}

func f64(v ...float64) []byte {
	b := make([]byte, 8*len(v))
	for i, s := range v {
		binary.LittleEndian.PutUint64(b[8*i:], math.Float64bits(s))
	}
	return b
}

func TestReadWAVFormats(t *testing.T) {
	t.Parallel()
	list := chunk{id: "LIST", body: []byte("INFOISFT\x05\x00\x00\x00Lavf\x00")} // odd size: 17
	tests := []struct {
		name string
		file []byte
		rate int
		want []int16
	}{
		{"pcm16 mono", riff(chunk{id: "fmt ", body: fmtBody(1, 1, 8000, 16)}, chunk{id: "data", body: le16(0, 1000, -1000, 32767, -32768)}),
			8000, []int16{0, 1000, -1000, 32767, -32768}},
		{"pcm8 unsigned", riff(chunk{id: "fmt ", body: fmtBody(1, 1, 11025, 8)}, chunk{id: "data", body: []byte{128, 255, 0, 129, 127}}),
			11025, []int16{0, 127 << 8, -32768, 256, -256}},
		{"pcm24", riff(chunk{id: "fmt ", body: fmtBody(1, 1, 48000, 24)}, chunk{id: "data", body: []byte{0xFF, 0x34, 0x12, 0x00, 0x00, 0x80}}),
			48000, []int16{0x1234, -32768}},
		{"pcm32", riff(chunk{id: "fmt ", body: fmtBody(1, 1, 16000, 32)}, chunk{id: "data", body: []byte{0xFF, 0xFF, 0x34, 0x12, 0, 0, 0xFF, 0x7F}}),
			16000, []int16{0x1234, 32767}},
		{"float32 with clipping and NaN", riff(chunk{id: "fmt ", body: fmtBody(3, 1, 22050, 32)}, chunk{id: "data", body: f32(0, 0.5, -0.5, 2, -2, float32(math.NaN()))}),
			22050, []int16{0, 16384, -16384, 32767, -32768, 0}},
		{"float64", riff(chunk{id: "fmt ", body: fmtBody(3, 1, 44100, 64)}, chunk{id: "data", body: f64(0.25, -1)}),
			44100, []int16{8192, -32768}},
		{"mu-law", riff(chunk{id: "fmt ", body: fmtBody(7, 1, 8000, 8)}, chunk{id: "data", body: []byte{0xFF, 0x7F, 0x80, 0x00}}),
			8000, []int16{0, 0, 32124, -32124}},
		{"a-law", riff(chunk{id: "fmt ", body: fmtBody(6, 1, 8000, 8)}, chunk{id: "data", body: []byte{0xD5, 0x55, 0xAA, 0x2A}}),
			8000, []int16{8, -8, 32256, -32256}},
		{"stereo averaged", riff(chunk{id: "fmt ", body: fmtBody(1, 2, 16000, 16)}, chunk{id: "data", body: le16(100, 300, -32768, -32768, 32767, -32768)}),
			16000, []int16{200, -32768, 0}},
		{"extensible pcm", riff(chunk{id: "fmt ", body: extBody(1, 1, 16000, 16)}, chunk{id: "data", body: le16(7, -7)}),
			16000, []int16{7, -7}},
		{"extensible float", riff(chunk{id: "fmt ", body: extBody(3, 1, 16000, 32)}, chunk{id: "data", body: f32(-0.25)}),
			16000, []int16{-8192}},
		{"LIST chunks with odd padding before and after fmt", riff(list, chunk{id: "fmt ", body: fmtBody(1, 1, 8000, 16)}, list, chunk{id: "data", body: le16(5)}),
			8000, []int16{5}},
		{"odd fmt chunk size", riff(chunk{id: "fmt ", body: append(fmtBody(1, 1, 8000, 16), 0, 0, 0)}, chunk{id: "data", body: le16(9)}),
			8000, []int16{9}},
		{"streaming data size 0xFFFFFFFF", riff(chunk{id: "fmt ", body: fmtBody(1, 1, 8000, 16)}, chunk{id: "data", body: le16(1, 2, 3), size: math.MaxUint32}),
			8000, []int16{1, 2, 3}},
		{"data cut short keeps whole frames", trim(riff(chunk{id: "fmt ", body: fmtBody(1, 1, 8000, 16)}, chunk{id: "data", body: []byte{1, 0, 2, 0, 3}, size: 100}), 1),
			8000, []int16{1, 2}},
		{"empty data", riff(chunk{id: "fmt ", body: fmtBody(1, 1, 8000, 16)}, chunk{id: "data"}),
			8000, []int16{}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			p, err := media.ReadWAV(bytes.NewReader(tt.file))
			if err != nil {
				t.Fatalf("ReadWAV: %v", err)
			}
			if p.Rate != tt.rate || !slices.Equal(p.Samples, tt.want) {
				t.Errorf("got rate %d samples %v, want %d %v", p.Rate, p.Samples, tt.rate, tt.want)
			}
		})
	}
}

func TestReadWAVErrors(t *testing.T) {
	t.Parallel()
	pcm := chunk{id: "fmt ", body: fmtBody(1, 1, 8000, 16)}
	data := chunk{id: "data", body: le16(1, 2)}
	badGUID := extBody(1, 1, 8000, 16)
	badGUID[30] = 0x42
	tests := []struct {
		name string
		file []byte
		want error
	}{
		{"empty", nil, media.ErrMalformedWAV},
		{"short RIFF header", []byte("RIFF\x00\x00"), media.ErrMalformedWAV},
		{"not RIFF", []byte("OggS\x00\x00\x00\x00WAVEfmt "), media.ErrMalformedWAV},
		{"RIFF but not WAVE", []byte("RIFF\x04\x00\x00\x00AVI "), media.ErrMalformedWAV},
		{"big-endian RIFX", []byte("RIFX\x04\x00\x00\x00WAVE"), media.ErrUnsupportedWAV},
		{"no chunks", riff(), media.ErrMalformedWAV},
		{"no data chunk", riff(pcm), media.ErrMalformedWAV},
		{"data before fmt", riff(data, pcm), media.ErrMalformedWAV},
		{"duplicate fmt", riff(pcm, pcm, data), media.ErrMalformedWAV},
		{"fmt too short", riff(chunk{id: "fmt ", body: make([]byte, 14)}, data), media.ErrMalformedWAV},
		{"fmt huge", riff(chunk{id: "fmt ", body: fmtBody(1, 1, 8000, 16), size: 1 << 30}), media.ErrMalformedWAV},
		{"fmt truncated", riff(pcm)[:30], media.ErrMalformedWAV},
		{"chunk header truncated", riff(pcm, data)[:40], media.ErrMalformedWAV},
		{"unknown chunk truncated", riff(pcm, chunk{id: "junk", body: []byte{1, 2}, size: 1000}), media.ErrMalformedWAV},
		{"unknown chunks too large", riff(pcm, chunk{id: "junk", size: 1 << 30}), media.ErrMalformedWAV},
		{"extensible too short", riff(chunk{id: "fmt ", body: extBody(1, 1, 8000, 16)[:24]}, data), media.ErrMalformedWAV},
		{"extensible vendor GUID", riff(chunk{id: "fmt ", body: badGUID}, data), media.ErrUnsupportedWAV},
		{"mp3", riff(chunk{id: "fmt ", body: fmtBody(0x55, 1, 8000, 0)}, data), media.ErrUnsupportedWAV},
		{"ima adpcm", riff(chunk{id: "fmt ", body: fmtBody(0x11, 1, 8000, 4)}, data), media.ErrUnsupportedWAV},
		{"12-bit pcm", riff(chunk{id: "fmt ", body: fmtBody(1, 1, 8000, 12)}, data), media.ErrUnsupportedWAV},
		{"16-bit mu-law", riff(chunk{id: "fmt ", body: fmtBody(7, 1, 8000, 16)}, data), media.ErrUnsupportedWAV},
		{"zero channels", riff(chunk{id: "fmt ", body: fmtBody(1, 0, 8000, 16)}, data), media.ErrUnsupportedWAV},
		{"three channels", riff(chunk{id: "fmt ", body: fmtBody(1, 3, 8000, 16)}, data), media.ErrUnsupportedWAV},
		{"rate too low", riff(chunk{id: "fmt ", body: fmtBody(1, 1, 4000, 16)}, data), media.ErrUnsupportedWAV},
		{"rate too high", riff(chunk{id: "fmt ", body: fmtBody(1, 1, 96000, 16)}, data), media.ErrUnsupportedWAV},
		{"declared data over limit", riff(pcm, chunk{id: "data", body: le16(1), size: media.MaxDataBytes + 2}), media.ErrWAVTooLarge},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			p, err := media.ReadWAV(bytes.NewReader(tt.file))
			if !errors.Is(err, tt.want) {
				t.Fatalf("ReadWAV = %v, %v; want error %v", p, err, tt.want)
			}
		})
	}
}

func TestReadWAVChannelsLimit(t *testing.T) {
	t.Parallel()
	file := riff(chunk{id: "fmt ", body: fmtBody(1, 2, 8000, 16)}, chunk{id: "data", body: le16(1, -1, 2, -2, 3, -3)})
	chans, err := media.ReadWAVChannels(bytes.NewReader(file), 0)
	if err != nil {
		t.Fatal(err)
	}
	if len(chans) != 2 || !slices.Equal(chans[0].Samples, []int16{1, 2, 3}) || !slices.Equal(chans[1].Samples, []int16{-1, -2, -3}) {
		t.Fatalf("channels = %v %v", chans[0], chans[1])
	}
	// Both a declared size and an undeclared stream over the limit fail.
	if _, err := media.ReadWAVChannels(bytes.NewReader(file), 8); !errors.Is(err, media.ErrWAVTooLarge) {
		t.Errorf("declared size over limit: %v", err)
	}
	stream := riff(chunk{id: "fmt ", body: fmtBody(1, 1, 8000, 16)}, chunk{id: "data", body: le16(1, 2, 3, 4, 5), size: math.MaxUint32})
	if _, err := media.ReadWAVChannels(bytes.NewReader(stream), 8); !errors.Is(err, media.ErrWAVTooLarge) {
		t.Errorf("streamed size over limit: %v", err)
	}
}

// errReader fails after its bytes, like a connection reset mid-download.
type errReader struct{ r io.Reader }

var errReset = errors.New("connection reset")

func (e errReader) Read(p []byte) (int, error) {
	n, err := e.r.Read(p)
	if err == io.EOF {
		return n, errReset
	}
	return n, err
}

func TestReadWAVPropagatesIOError(t *testing.T) {
	t.Parallel()
	file := riff(chunk{id: "fmt ", body: fmtBody(1, 1, 8000, 16)}, chunk{id: "data", body: le16(1, 2, 3), size: 100})
	if _, err := media.ReadWAV(errReader{bytes.NewReader(file)}); !errors.Is(err, errReset) {
		t.Fatalf("ReadWAV = %v, want the reader's error wrapped", err)
	}
}

func TestDecodeWAV(t *testing.T) {
	t.Parallel()
	var buf bytes.Buffer
	if err := media.WriteWAV(&buf, sine(44100, 1000, 0.5, time.Second)); err != nil {
		t.Fatal(err)
	}
	p, err := media.DecodeWAV(bytes.NewReader(buf.Bytes()), 8000)
	if err != nil {
		t.Fatal(err)
	}
	if p.Rate != 8000 || len(p.Samples) != 8000 {
		t.Fatalf("got %d Hz, %d samples", p.Rate, len(p.Samples))
	}
	if _, err := media.DecodeWAV(bytes.NewReader(buf.Bytes()), 0); err == nil {
		t.Error("rate 0 accepted")
	}
	if _, err := media.DecodeWAV(bytes.NewReader(nil), 8000); !errors.Is(err, media.ErrMalformedWAV) {
		t.Errorf("empty input: %v", err)
	}
}

func TestWriteWAVRoundTrip(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		pcm  *media.PCM
	}{
		{"empty", &media.PCM{Rate: 8000}},
		{"one sample", &media.PCM{Rate: 16000, Samples: []int16{-32768}}},
		{"tone longer than a write buffer", sine(16000, 440, 0.8, 2*time.Second)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			var buf bytes.Buffer
			if err := media.WriteWAV(&buf, tt.pcm); err != nil {
				t.Fatal(err)
			}
			if buf.Len() != 44+2*len(tt.pcm.Samples) {
				t.Errorf("file is %d bytes", buf.Len())
			}
			got, err := media.ReadWAV(&buf)
			if err != nil {
				t.Fatal(err)
			}
			if got.Rate != tt.pcm.Rate || !slices.Equal(got.Samples, tt.pcm.Samples) {
				t.Errorf("round trip changed the audio: rate %d, %d samples", got.Rate, len(got.Samples))
			}
		})
	}
	if err := media.WriteWAV(io.Discard, &media.PCM{}); err == nil {
		t.Error("rate 0 accepted")
	}
}

func newWAVFile(t *testing.T) (string, *os.File) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "rec.wav")
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	return path, f
}

func readFile(t *testing.T, path string) *media.PCM {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	chans, err := media.ReadWAVChannels(f, 0)
	if err != nil {
		t.Fatalf("reading %s: %v", path, err)
	}
	return interleave(chans)
}

// interleave turns channels back into one interleaved buffer for comparing
// with what was written.
func interleave(chans []*media.PCM) *media.PCM {
	out := &media.PCM{Rate: chans[0].Rate}
	for i := range chans[0].Samples {
		for _, c := range chans {
			out.Samples = append(out.Samples, c.Samples[i])
		}
	}
	return out
}

func ramp(n int) []int16 {
	s := make([]int16, n)
	for i := range s {
		s[i] = int16(i*7 - 30000)
	}
	return s
}

func TestWAVWriterRoundTrip(t *testing.T) {
	t.Parallel()
	for _, channels := range []int{1, 2} {
		path, f := newWAVFile(t)
		w, err := media.NewWAVWriter(f, 16000, channels)
		if err != nil {
			t.Fatal(err)
		}
		want := ramp(16000 * channels) // one second
		for s := want; len(s) > 0; s = s[320*channels:] {
			if err := w.Write(s[:320*channels]); err != nil {
				t.Fatal(err)
			}
		}
		if d := w.Duration(); d != time.Second {
			t.Errorf("Duration = %v", d)
		}
		if err := w.Close(); err != nil {
			t.Fatal(err)
		}
		if err := w.Close(); err == nil {
			t.Error("second Close succeeded")
		}
		if err := w.Write([]int16{1, 1}); err == nil {
			t.Error("Write after Close succeeded")
		}
		got := readFile(t, path)
		if got.Rate != 16000 || !slices.Equal(got.Samples, want) {
			t.Errorf("%d channels: read back %d samples at %d Hz", channels, len(got.Samples), got.Rate)
		}
	}
}

func TestWAVWriterValidAfterEveryFlush(t *testing.T) {
	t.Parallel()
	path, f := newWAVFile(t)
	w, err := media.NewWAVWriter(f, 8000, 1)
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	if got := readFile(t, path); len(got.Samples) != 0 {
		t.Fatalf("fresh file has %d samples", len(got.Samples))
	}
	var want []int16
	for i := range 3 {
		chunk := ramp(8000 + i)
		want = append(want, chunk...)
		if err := w.Write(chunk); err != nil {
			t.Fatal(err)
		}
		if err := w.Flush(); err != nil {
			t.Fatal(err)
		}
		if got := readFile(t, path); !slices.Equal(got.Samples, want) {
			t.Fatalf("after flush %d: file has %d samples, want %d", i, len(got.Samples), len(want))
		}
	}
	if err := w.Sync(); err != nil {
		t.Fatal(err)
	}
}

func TestWAVWriterRejectsBadInput(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct{ rate, channels int }{{0, 1}, {-8000, 1}, {8000, 0}, {8000, 3}} {
		_, f := newWAVFile(t)
		if _, err := media.NewWAVWriter(f, tc.rate, tc.channels); err == nil {
			t.Errorf("NewWAVWriter(%d, %d) accepted", tc.rate, tc.channels)
		}
		f.Close()
	}
	_, f := newWAVFile(t)
	w, err := media.NewWAVWriter(f, 8000, 2)
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	if err := w.Write([]int16{1, 2, 3}); err == nil {
		t.Error("half a stereo frame accepted")
	}
}

// TestRepairAfterCrash simulates a writer that dies mid-recording: some audio
// flushed, more written (part of it reaching the file as the buffer fills) but
// never flushed, the process gone before Close, and the last frame torn.
func TestRepairAfterCrash(t *testing.T) {
	t.Parallel()
	for _, channels := range []int{1, 2} {
		path, f := newWAVFile(t)
		w, err := media.NewWAVWriter(f, 8000, channels)
		if err != nil {
			t.Fatal(err)
		}
		flushed := ramp(8000 * channels)
		if err := w.Write(flushed); err != nil {
			t.Fatal(err)
		}
		if err := w.Flush(); err != nil {
			t.Fatal(err)
		}
		// 40000 more frames overflow the writer's 32 KiB buffer, so most of
		// them reach the file even though the sizes in the header do not
		// cover them.
		unflushed := ramp(40000 * channels)
		if err := w.Write(unflushed); err != nil {
			t.Fatal(err)
		}
		// The writer dies: no Flush, no Close. Closing the descriptor leaves
		// the file exactly as a killed process would.
		f.Close()
		// Tear the last frame, as a crash between two write syscalls can.
		fi, err := os.Stat(path)
		if err != nil {
			t.Fatal(err)
		}
		if err := os.Truncate(path, fi.Size()-1); err != nil {
			t.Fatal(err)
		}
		onDisk := int(fi.Size()-44) / 2 / channels // whole frames before the tear
		wantFrames := onDisk - 1

		// Before repair the header still describes the last flush.
		if got := readFile(t, path); len(got.Samples) != len(flushed) {
			t.Fatalf("before repair: %d samples, want the %d flushed", len(got.Samples), len(flushed))
		}
		if err := media.RepairWAV(path); err != nil {
			t.Fatal(err)
		}
		got := readFile(t, path)
		want := append(slices.Clone(flushed), unflushed...)[:wantFrames*channels]
		if wantFrames <= 8000 || !slices.Equal(got.Samples, want) {
			t.Fatalf("%d channels: after repair %d samples, want %d (all complete frames)", channels, len(got.Samples), len(want))
		}
		fi, err = os.Stat(path)
		if err != nil {
			t.Fatal(err)
		}
		if fi.Size() != int64(44+2*len(want)) {
			t.Errorf("torn frame not dropped: file is %d bytes", fi.Size())
		}
		// Repair is idempotent.
		if err := media.RepairWAV(path); err != nil {
			t.Fatal(err)
		}
		if got2 := readFile(t, path); !slices.Equal(got2.Samples, want) {
			t.Error("second repair changed the file")
		}
	}
}

func TestRepairWAVErrors(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	tests := []struct {
		name string
		data []byte
	}{
		{"empty", nil},
		{"header cut", riff(chunk{id: "fmt ", body: fmtBody(1, 1, 8000, 16)})[:30]},
		{"not WAV", []byte("hello, this is not a wave file at all........")},
		{"no fmt", riff(chunk{id: "data", body: le16(1)})},
	}
	for _, tt := range tests {
		path := filepath.Join(dir, tt.name+".wav")
		if err := os.WriteFile(path, tt.data, 0o600); err != nil {
			t.Fatal(err)
		}
		if err := media.RepairWAV(path); !errors.Is(err, media.ErrMalformedWAV) {
			t.Errorf("%s: RepairWAV = %v", tt.name, err)
		}
	}
	if err := media.RepairWAV(filepath.Join(dir, "missing.wav")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("missing file: %v", err)
	}
}

// FuzzReadWAV checks that no input makes ReadWAV panic or break its promises:
// on success the rate is in range and the audio survives a write/read round
// trip unchanged.
func FuzzReadWAV(f *testing.F) {
	f.Add(riff(chunk{id: "fmt ", body: fmtBody(1, 1, 8000, 16)}, chunk{id: "data", body: le16(1, -1, 300)}))
	f.Add(riff(chunk{id: "fmt ", body: extBody(3, 2, 48000, 32)}, chunk{id: "data", body: f32(0.1, -0.1)}))
	f.Add(riff(chunk{id: "LIST", body: []byte("INFO")}, chunk{id: "fmt ", body: fmtBody(7, 1, 8000, 8)}, chunk{id: "data", body: []byte{1, 2, 3}, size: math.MaxUint32}))
	f.Fuzz(func(t *testing.T, data []byte) {
		p, err := media.ReadWAV(bytes.NewReader(data))
		if err != nil {
			if !errors.Is(err, media.ErrMalformedWAV) && !errors.Is(err, media.ErrUnsupportedWAV) && !errors.Is(err, media.ErrWAVTooLarge) {
				t.Fatalf("error outside the documented set: %v", err)
			}
			return
		}
		if p.Rate < media.MinRate || p.Rate > media.MaxRate {
			t.Fatalf("rate %d out of range", p.Rate)
		}
		var buf bytes.Buffer
		if err := media.WriteWAV(&buf, p); err != nil {
			t.Fatal(err)
		}
		q, err := media.ReadWAV(&buf)
		if err != nil || q.Rate != p.Rate || !slices.Equal(q.Samples, p.Samples) {
			t.Fatalf("round trip: %v", err)
		}
	})
}
