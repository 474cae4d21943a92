package media

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"sync"
	"time"
)

// MaxDataBytes is the default bound on a WAV data chunk that ReadWAV accepts:
// 64 MiB is about 35 minutes of 16 kHz mono, far more than any prompt, and it
// keeps a hostile or mistaken upload from exhausting memory.
const MaxDataBytes = 64 << 20

// maxSkipBytes bounds the bytes of non-audio chunks (LIST, bext, junk...)
// ReadWAV reads through before the data chunk, so a file cannot make the
// reader drain an endless stream looking for audio.
const maxSkipBytes = 16 << 20

// Rate bounds ReadWAV accepts: telephone-band to studio rate covers every real
// speech file, and refusing the rest keeps the resampler's filters bounded.
const (
	MinRate = 8000
	MaxRate = 48000
)

// Errors ReadWAV and RepairWAV wrap, so callers can tell a bad upload (reject
// with a 4xx) from an I/O failure.
var (
	// ErrMalformedWAV means the bytes are not a well-formed RIFF/WAVE file.
	ErrMalformedWAV = errors.New("media: malformed WAV")
	// ErrUnsupportedWAV means a well-formed WAV in an encoding, channel count
	// or sample rate MiniVoice does not play.
	ErrUnsupportedWAV = errors.New("media: unsupported WAV")
	// ErrWAVTooLarge means the audio exceeds the reader's or writer's limit.
	ErrWAVTooLarge = errors.New("media: WAV too large")
)

// WAVE format tags (mmreg.h). Extensible files carry the real tag in the first
// two bytes of their sub-format GUID.
const (
	formatPCM        = 0x0001
	formatFloat      = 0x0003
	formatALaw       = 0x0006
	formatMuLaw      = 0x0007
	formatExtensible = 0xFFFE
)

// ksGUIDSuffix is the constant tail of KSDATAFORMAT_SUBTYPE_* GUIDs; anything
// else in an extensible header is a vendor format we cannot decode.
var ksGUIDSuffix = []byte{0x00, 0x00, 0x00, 0x00, 0x10, 0x00, 0x80, 0x00, 0x00, 0xAA, 0x00, 0x38, 0x9B, 0x71}

// wavFormat is the decoded, validated fmt chunk.
type wavFormat struct {
	tag      uint16 // one of formatPCM, formatFloat, formatALaw, formatMuLaw
	channels int
	rate     int
	bits     int // container bits per sample
}

func (f *wavFormat) frameBytes() int { return f.channels * f.bits / 8 }

func malformed(format string, args ...any) error {
	return fmt.Errorf("%w: %s", ErrMalformedWAV, fmt.Sprintf(format, args...))
}

func unsupported(format string, args ...any) error {
	return fmt.Errorf("%w: %s", ErrUnsupportedWAV, fmt.Sprintf(format, args...))
}

// ReadWAV reads a whole RIFF/WAVE file and returns it as mono PCM at the
// file's own rate, averaging stereo to mono. It accepts what people actually
// upload: 8-bit unsigned, 16/24/32-bit signed and 32/64-bit float PCM, G.711
// A-law and mu-law, plain or WAVE_FORMAT_EXTENSIBLE headers, 1 or 2 channels,
// MinRate..MaxRate Hz, with unknown chunks (LIST, bext, ...) skipped.
//
// It reads at most MaxDataBytes of audio and fails with ErrWAVTooLarge beyond
// that; broken headers fail with ErrMalformedWAV and other encodings with
// ErrUnsupportedWAV. A data chunk cut short (an interrupted download) yields
// the complete frames present, as most players do. Use ReadWAVChannels to keep
// channels apart or to choose another limit.
func ReadWAV(r io.Reader) (*PCM, error) {
	chans, err := ReadWAVChannels(r, MaxDataBytes)
	if err != nil {
		return nil, err
	}
	if len(chans) == 1 {
		return chans[0], nil
	}
	// Average rather than sum: summing correlated channels would clip.
	l, rr := chans[0].Samples, chans[1].Samples
	out := make([]int16, len(l))
	for i := range l {
		out[i] = int16((int32(l[i]) + int32(rr[i])) / 2)
	}
	return &PCM{Rate: chans[0].Rate, Samples: out}, nil
}

// ReadWAVChannels is ReadWAV without the downmix: it returns one PCM per
// channel (1 or 2), which the insights pipeline needs to transcribe each side
// of a two-channel recording separately. maxDataBytes bounds the data chunk;
// zero or less means MaxDataBytes.
func ReadWAVChannels(r io.Reader, maxDataBytes int64) ([]*PCM, error) {
	if maxDataBytes <= 0 {
		maxDataBytes = MaxDataBytes
	}
	f, data, err := readWAVData(r, maxDataBytes)
	if err != nil {
		return nil, err
	}
	inter := f.decode(data)
	frames := len(inter) / f.channels
	chans := make([]*PCM, f.channels)
	for c := range chans {
		s := make([]int16, frames)
		for i := range s {
			s[i] = inter[i*f.channels+c]
		}
		chans[c] = &PCM{Rate: f.rate, Samples: s}
	}
	return chans, nil
}

// DecodeWAV reads a WAV file and converts it to mono PCM at rate, the one call
// `play` and TTS need to get any upload into a call's codec rate.
func DecodeWAV(r io.Reader, rate int) (*PCM, error) {
	if rate <= 0 {
		return nil, fmt.Errorf("media: decode WAV: invalid target rate %d", rate)
	}
	p, err := ReadWAV(r)
	if err != nil {
		return nil, err
	}
	return Resample(p, rate), nil
}

// readWAVData walks the RIFF chunks up to the first data chunk and returns the
// parsed format and the data bytes, trimmed to whole frames.
func readWAVData(r io.Reader, maxDataBytes int64) (*wavFormat, []byte, error) {
	f, size, err := readWAVHeader(r)
	if err != nil {
		return nil, nil, err
	}
	data, err := readData(r, size, maxDataBytes)
	if err != nil {
		return nil, nil, err
	}
	fb := f.frameBytes()
	return f, data[:len(data)/fb*fb], nil
}

// readWAVHeader walks the RIFF chunks up to the first data chunk and returns
// the parsed format and the data chunk's declared size, leaving r at the
// first data byte.
func readWAVHeader(r io.Reader) (*wavFormat, uint32, error) {
	var hdr [12]byte
	if _, err := io.ReadFull(r, hdr[:]); err != nil {
		return nil, 0, malformed("reading RIFF header: %v", err)
	}
	switch {
	case string(hdr[0:4]) == "RIFX" || string(hdr[0:4]) == "RF64":
		return nil, 0, unsupported("%q container", hdr[0:4])
	case string(hdr[0:4]) != "RIFF" || string(hdr[8:12]) != "WAVE":
		return nil, 0, malformed("not a RIFF/WAVE file")
	}
	var f *wavFormat
	var skipped int64
	for {
		var ch [8]byte
		if _, err := io.ReadFull(r, ch[:]); err != nil {
			if f == nil {
				return nil, 0, malformed("no fmt chunk: %v", err)
			}
			return nil, 0, malformed("no data chunk: %v", err)
		}
		id := string(ch[:4])
		size := binary.LittleEndian.Uint32(ch[4:])
		switch id {
		case "fmt ":
			if f != nil {
				return nil, 0, malformed("duplicate fmt chunk")
			}
			// 16 is the classic PCMWAVEFORMAT, 40 the extensible one; real
			// files stay well under 1 KiB, so a huge fmt is an attack or junk.
			if size < 16 || size > 1024 {
				return nil, 0, malformed("fmt chunk size %d", size)
			}
			buf := make([]byte, size)
			if _, err := io.ReadFull(r, buf); err != nil {
				return nil, 0, malformed("reading fmt chunk: %v", err)
			}
			var err error
			if f, err = parseFormat(buf); err != nil {
				return nil, 0, err
			}
			if size%2 == 1 {
				// RIFF pads odd chunks to even length; a missing pad at EOF
				// surfaces as "no data chunk" on the next header read.
				_, _ = io.CopyN(io.Discard, r, 1)
			}
		case "data":
			if f == nil {
				return nil, 0, malformed("data chunk before fmt chunk")
			}
			return f, size, nil
		default:
			n := int64(size) + int64(size%2)
			skipped += n
			if skipped > maxSkipBytes {
				return nil, 0, malformed("more than %d bytes of non-audio chunks", maxSkipBytes)
			}
			if _, err := io.CopyN(io.Discard, r, n); err != nil {
				return nil, 0, malformed("truncated %q chunk: %v", id, err)
			}
		}
	}
}

// Peaks is a waveform overview of a WAV file: for each channel, the lowest
// and highest sample of each of Buckets equal stretches of the audio.
type Peaks struct {
	Rate     int
	Duration float64 // seconds
	// Min and Max hold one slice per channel, each Buckets long.
	Min, Max [][]int16
}

// WAVPeaks reads a WAV file once, in bounded memory whatever its length,
// and returns its waveform in buckets stretches per channel (for drawing a
// recording's waveform). A data chunk whose size is unknown (0xFFFFFFFF)
// is not supported: the stretches need the length up front.
func WAVPeaks(r io.Reader, buckets int) (*Peaks, error) {
	if buckets < 1 {
		return nil, errors.New("media: WAVPeaks needs at least one bucket")
	}
	f, size, err := readWAVHeader(r)
	if err != nil {
		return nil, err
	}
	if size == math.MaxUint32 {
		return nil, unsupported("data chunk of unknown length")
	}
	fb := f.frameBytes()
	frames := int64(size) / int64(fb)
	p := &Peaks{Rate: f.rate, Duration: float64(frames) / float64(f.rate),
		Min: make([][]int16, f.channels), Max: make([][]int16, f.channels)}
	for c := range f.channels {
		p.Min[c], p.Max[c] = make([]int16, buckets), make([]int16, buckets)
	}
	if frames == 0 {
		return p, nil
	}
	buf := make([]byte, 4096*fb)
	var frame int64
	for frame < frames {
		n, err := io.ReadFull(r, buf[:min(int64(len(buf)), (frames-frame)*int64(fb))])
		samples := f.decode(buf[:n/fb*fb])
		for i := 0; i+f.channels <= len(samples); i += f.channels {
			b := int(frame * int64(buckets) / frames)
			for c := range f.channels {
				v := samples[i+c]
				p.Min[c][b] = min(p.Min[c][b], v)
				p.Max[c][b] = max(p.Max[c][b], v)
			}
			frame++
		}
		if err != nil {
			break // a file shorter than its header says: draw what is there
		}
	}
	return p, nil
}

// readData reads a data chunk of the declared size. 0xFFFFFFFF is what
// streaming writers (ffmpeg to a pipe, sox) leave when they cannot seek back,
// so it means "until EOF".
func readData(r io.Reader, size uint32, limit int64) ([]byte, error) {
	want := int64(size)
	if size == math.MaxUint32 {
		want = limit + 1
	} else if want > limit {
		return nil, fmt.Errorf("%w: data chunk of %d bytes exceeds limit %d", ErrWAVTooLarge, want, limit)
	}
	// ReadAll grows with what actually arrives, so a tiny file that merely
	// claims a large chunk costs no memory.
	data, err := io.ReadAll(io.LimitReader(r, want))
	if err != nil {
		return nil, fmt.Errorf("media: reading WAV data: %w", err)
	}
	if int64(len(data)) > limit {
		return nil, fmt.Errorf("%w: data exceeds limit %d bytes", ErrWAVTooLarge, limit)
	}
	return data, nil
}

// parseFormat validates a fmt chunk body and reduces extensible headers to
// their base format tag.
func parseFormat(b []byte) (*wavFormat, error) {
	le := binary.LittleEndian
	f := &wavFormat{
		tag:      le.Uint16(b[0:]),
		channels: int(le.Uint16(b[2:])),
		rate:     int(le.Uint32(b[4:])),
		bits:     int(le.Uint16(b[14:])),
	}
	if f.tag == formatExtensible {
		if len(b) < 40 || le.Uint16(b[16:]) < 22 {
			return nil, malformed("short WAVE_FORMAT_EXTENSIBLE fmt chunk")
		}
		guid := b[24:40]
		if !bytes.Equal(guid[2:], ksGUIDSuffix) {
			return nil, unsupported("extensible sub-format %x", guid)
		}
		f.tag = le.Uint16(guid[0:])
	}
	ok := false
	switch f.tag {
	case formatPCM:
		ok = f.bits == 8 || f.bits == 16 || f.bits == 24 || f.bits == 32
	case formatFloat:
		ok = f.bits == 32 || f.bits == 64
	case formatALaw, formatMuLaw:
		ok = f.bits == 8
	default:
		return nil, unsupported("format tag 0x%04x (compressed audio; convert to PCM)", f.tag)
	}
	if !ok {
		return nil, unsupported("%d bits per sample for format tag 0x%04x", f.bits, f.tag)
	}
	if f.channels < 1 || f.channels > 2 {
		return nil, unsupported("%d channels (want 1 or 2)", f.channels)
	}
	if f.rate < MinRate || f.rate > MaxRate {
		return nil, unsupported("sample rate %d Hz (want %d..%d)", f.rate, MinRate, MaxRate)
	}
	return f, nil
}

// decode converts whole frames of data to interleaved 16-bit samples. Wider
// integer formats keep their top 16 bits: the extra precision is inaudible on
// a phone line.
func (f *wavFormat) decode(data []byte) []int16 {
	bps := f.bits / 8
	out := make([]int16, len(data)/bps)
	le := binary.LittleEndian
	for i := range out {
		b := data[i*bps : (i+1)*bps]
		switch {
		case f.tag == formatPCM && bps == 1:
			out[i] = (int16(b[0]) - 128) << 8
		case f.tag == formatPCM && bps == 2:
			out[i] = int16(le.Uint16(b))
		case f.tag == formatPCM:
			out[i] = int16(le.Uint16(b[bps-2:]))
		case f.tag == formatFloat && bps == 4:
			out[i] = floatTo16(float64(math.Float32frombits(le.Uint32(b))))
		case f.tag == formatFloat:
			out[i] = floatTo16(math.Float64frombits(le.Uint64(b)))
		case f.tag == formatALaw:
			out[i] = alawTable[b[0]]
		default: // formatMuLaw
			out[i] = ulawTable[b[0]]
		}
	}
	return out
}

// floatTo16 maps [-1, 1] to int16, clipping out-of-range values (float WAVs
// may legally exceed full scale) and silencing NaN.
func floatTo16(v float64) int16 {
	v = math.Round(v * 32768)
	switch {
	case v != v: // NaN
		return 0
	case v > math.MaxInt16:
		return math.MaxInt16
	case v < math.MinInt16:
		return math.MinInt16
	}
	return int16(v)
}

// G.711 expansion tables (ITU-T G.711), built once. Only decoding is needed
// here; RTP encoding/decoding lives in github.com/emiago/diago/audio.
var ulawTable, alawTable = func() (u, a [256]int16) {
	for i := range 256 {
		u[i] = ulawDecode(byte(i))
		a[i] = alawDecode(byte(i))
	}
	return u, a
}()

func ulawDecode(u byte) int16 {
	u = ^u
	t := (int32(u&0x0F) << 3) + 0x84
	t <<= (u & 0x70) >> 4
	if u&0x80 != 0 {
		return int16(0x84 - t)
	}
	return int16(t - 0x84)
}

func alawDecode(a byte) int16 {
	a ^= 0x55
	t := int32(a&0x0F) << 4
	switch seg := (a & 0x70) >> 4; seg {
	case 0:
		t += 8
	case 1:
		t += 0x108
	default:
		t += 0x108
		t <<= seg - 1
	}
	if a&0x80 != 0 {
		return int16(t)
	}
	return int16(-t)
}

// wavHeaderSize is the canonical 44-byte PCM header the writers produce, with
// the data chunk last so sizes can be fixed up from the file length.
const wavHeaderSize = 44

// maxWriteData is the largest data chunk whose RIFF size (36 + data) still
// fits the 32-bit field.
const maxWriteData = math.MaxUint32 - (wavHeaderSize - 8)

func wavHeader(rate, channels int, dataBytes uint32) []byte {
	h := make([]byte, wavHeaderSize)
	le := binary.LittleEndian
	copy(h[0:], "RIFF")
	le.PutUint32(h[4:], dataBytes+wavHeaderSize-8)
	copy(h[8:], "WAVEfmt ")
	le.PutUint32(h[16:], 16)
	le.PutUint16(h[20:], formatPCM)
	le.PutUint16(h[22:], uint16(channels))
	le.PutUint32(h[24:], uint32(rate))
	le.PutUint32(h[28:], uint32(rate*channels*2))
	le.PutUint16(h[32:], uint16(channels*2))
	le.PutUint16(h[34:], 16)
	copy(h[36:], "data")
	le.PutUint32(h[40:], dataBytes)
	return h
}

// WriteWAV writes p as a complete mono 16-bit PCM WAV file, for buffers that
// are already whole (rendered prompts, test fixtures).
func WriteWAV(w io.Writer, p *PCM) error {
	if p.Rate <= 0 || p.Rate > math.MaxInt32/2 {
		return fmt.Errorf("media: write WAV: invalid rate %d", p.Rate)
	}
	n := int64(len(p.Samples)) * 2
	if n > maxWriteData {
		return fmt.Errorf("%w: %d bytes of samples", ErrWAVTooLarge, n)
	}
	bw := bufio.NewWriter(w)
	if _, err := bw.Write(wavHeader(p.Rate, 1, uint32(n))); err != nil {
		return fmt.Errorf("media: write WAV header: %w", err)
	}
	buf := make([]byte, 0, 8<<10)
	for s := p.Samples; len(s) > 0; {
		n := min(len(s), cap(buf)/2)
		buf = buf[:2*n]
		for i, v := range s[:n] {
			binary.LittleEndian.PutUint16(buf[2*i:], uint16(v))
		}
		if _, err := bw.Write(buf); err != nil {
			return fmt.Errorf("media: write WAV data: %w", err)
		}
		s = s[n:]
	}
	if err := bw.Flush(); err != nil {
		return fmt.Errorf("media: write WAV data: %w", err)
	}
	return nil
}

// WAVWriter writes a 16-bit PCM WAV file incrementally, for recordings. The
// data chunk is the last thing in the file, so after a crash the sizes can be
// recomputed from the file length (RepairWAV); and Flush rewrites the sizes in
// place, so between flushes the file on disk is always a valid WAV holding at
// least everything written before the last Flush.
//
// A WAVWriter is safe for concurrent use, so a ticker goroutine may Flush
// while the media goroutine writes.
type WAVWriter struct {
	mu        sync.Mutex
	f         *os.File
	bw        *bufio.Writer
	rate      int
	channels  int
	dataBytes int64 // bytes accepted by Write, flushed or not
	buf       []byte
	err       error // sticky: a writer that failed once stays failed
}

// errWriterClosed is returned by a WAVWriter used after Close.
var errWriterClosed = errors.New("media: WAV writer closed")

// NewWAVWriter starts a WAV file of 16-bit samples with the given rate and
// channel count (1 or 2) in f, replacing anything f held, and writes a valid
// header for zero samples. f must be writable, seekable and not opened with
// O_APPEND (the header is rewritten in place). The writer owns f from now on
// and closes it in Close.
func NewWAVWriter(f *os.File, rate, channels int) (*WAVWriter, error) {
	if rate <= 0 || rate > math.MaxInt32/4 {
		return nil, fmt.Errorf("media: new WAV writer: invalid rate %d", rate)
	}
	if channels < 1 || channels > 2 {
		return nil, fmt.Errorf("media: new WAV writer: invalid channel count %d", channels)
	}
	if err := f.Truncate(0); err != nil {
		return nil, fmt.Errorf("media: new WAV writer: %w", err)
	}
	if _, err := f.WriteAt(wavHeader(rate, channels, 0), 0); err != nil {
		return nil, fmt.Errorf("media: new WAV writer: header: %w", err)
	}
	if _, err := f.Seek(wavHeaderSize, io.SeekStart); err != nil {
		return nil, fmt.Errorf("media: new WAV writer: %w", err)
	}
	return &WAVWriter{f: f, bw: bufio.NewWriterSize(f, 32<<10), rate: rate, channels: channels}, nil
}

// Write appends interleaved samples (L R L R ... for stereo); its length must
// be a multiple of the channel count so frames never split. The samples reach
// the file when the internal buffer fills or at Flush.
func (w *WAVWriter) Write(interleaved []int16) error {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.err != nil {
		return w.err
	}
	if len(interleaved)%w.channels != 0 {
		return fmt.Errorf("media: WAV write: %d samples is not a whole number of %d-channel frames", len(interleaved), w.channels)
	}
	n := int64(len(interleaved)) * 2
	if w.dataBytes+n > maxWriteData {
		return fmt.Errorf("%w: recording exceeds the 4 GiB WAV limit", ErrWAVTooLarge)
	}
	if cap(w.buf) < int(n) {
		w.buf = make([]byte, n)
	}
	b := w.buf[:n]
	for i, s := range interleaved {
		binary.LittleEndian.PutUint16(b[2*i:], uint16(s))
	}
	if _, err := w.bw.Write(b); err != nil {
		w.err = fmt.Errorf("media: WAV write: %w", err)
		return w.err
	}
	w.dataBytes += n
	return nil
}

// Flush writes buffered samples and then fixes the RIFF and data sizes in the
// header, in that order, so a crash at any point leaves a header that covers
// only data that is really in the file. Call it about once a second: that is
// how much a crash may lose. It does not fsync (see Sync), because surviving a
// process crash needs only the kernel to have the bytes.
func (w *WAVWriter) Flush() error {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.flushLocked()
}

func (w *WAVWriter) flushLocked() error {
	if w.err != nil {
		return w.err
	}
	if err := w.bw.Flush(); err != nil {
		w.err = fmt.Errorf("media: WAV flush: %w", err)
		return w.err
	}
	if err := writeSizes(w.f, wavHeaderSize, w.dataBytes, 0); err != nil {
		w.err = fmt.Errorf("media: WAV flush: %w", err)
		return w.err
	}
	return nil
}

// Sync is Flush followed by fsync, for callers that want a recording to
// survive power loss and not only a process crash.
func (w *WAVWriter) Sync() error {
	w.mu.Lock()
	defer w.mu.Unlock()
	if err := w.flushLocked(); err != nil {
		return err
	}
	if err := w.f.Sync(); err != nil {
		w.err = fmt.Errorf("media: WAV sync: %w", err)
		return w.err
	}
	return nil
}

// Close writes the final sizes, fsyncs so a recording announced as completed
// is durable, and closes the file. The writer is unusable afterwards.
func (w *WAVWriter) Close() error {
	w.mu.Lock()
	defer w.mu.Unlock()
	if errors.Is(w.err, errWriterClosed) {
		return w.err
	}
	err := w.flushLocked()
	if err == nil {
		if serr := w.f.Sync(); serr != nil {
			err = fmt.Errorf("media: WAV close: %w", serr)
		}
	}
	if cerr := w.f.Close(); cerr != nil && err == nil {
		err = fmt.Errorf("media: WAV close: %w", cerr)
	}
	w.err = errWriterClosed
	return err
}

// Duration is how much audio has been written so far, flushed or not, which
// is what a recording's `duration` reports.
func (w *WAVWriter) Duration() time.Duration {
	w.mu.Lock()
	defer w.mu.Unlock()
	return samplesDuration(int(w.dataBytes/int64(2*w.channels)), w.rate)
}

// writeSizes rewrites the RIFF size and the data chunk size of a file whose
// data chunk body starts at dataOff and is the last chunk.
func writeSizes(f *os.File, dataOff, dataBytes, pad int64) error {
	var b [4]byte
	binary.LittleEndian.PutUint32(b[:], uint32(dataOff-8+dataBytes+pad))
	if _, err := f.WriteAt(b[:], 4); err != nil {
		return err
	}
	binary.LittleEndian.PutUint32(b[:], uint32(dataBytes))
	if _, err := f.WriteAt(b[:], dataOff-4); err != nil {
		return err
	}
	return nil
}

// RepairWAV fixes the header of a WAV file whose writer died before Close,
// which is what start-up recovery runs on recordings left in progress. The
// data chunk must be the file's last chunk (true for WAVWriter output); its
// size is recomputed from the file length, and a trailing partial frame is cut
// off. Repairing a healthy WAVWriter file leaves it unchanged. A file too short to hold
// its header fails with ErrMalformedWAV: it holds no audio and can be deleted.
func RepairWAV(path string) error {
	f, err := os.OpenFile(path, os.O_RDWR, 0)
	if err != nil {
		return fmt.Errorf("media: repair WAV: %w", err)
	}
	err = repairWAV(f)
	if cerr := f.Close(); cerr != nil && err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("media: repair WAV %s: %w", path, err)
	}
	return nil
}

func repairWAV(f *os.File) error {
	fi, err := f.Stat()
	if err != nil {
		return err
	}
	size := fi.Size()
	r := io.NewSectionReader(f, 0, size)
	var hdr [12]byte
	if _, err := io.ReadFull(r, hdr[:]); err != nil || string(hdr[0:4]) != "RIFF" || string(hdr[8:12]) != "WAVE" {
		return malformed("no RIFF/WAVE header")
	}
	frame := 0
	for {
		var ch [8]byte
		if _, err := io.ReadFull(r, ch[:]); err != nil {
			return malformed("no data chunk header")
		}
		csize := int64(binary.LittleEndian.Uint32(ch[4:]))
		switch string(ch[:4]) {
		case "fmt ":
			var fb [16]byte
			if csize < 16 {
				return malformed("fmt chunk size %d", csize)
			}
			if _, err := io.ReadFull(r, fb[:]); err != nil {
				return malformed("truncated fmt chunk")
			}
			// Block align is the frame size; fall back to computing it for
			// writers that left it zero.
			frame = int(binary.LittleEndian.Uint16(fb[12:]))
			if frame == 0 {
				frame = int(binary.LittleEndian.Uint16(fb[2:])) * int(binary.LittleEndian.Uint16(fb[14:])) / 8
			}
			if _, err := r.Seek(csize-16+csize%2, io.SeekCurrent); err != nil {
				return err
			}
		case "data":
			if frame <= 0 {
				return malformed("data chunk before a usable fmt chunk")
			}
			dataOff, _ := r.Seek(0, io.SeekCurrent)
			data := size - dataOff
			data -= data % int64(frame)
			pad := data % 2
			if data+pad > maxWriteData-(dataOff-wavHeaderSize) {
				return fmt.Errorf("%w: %d data bytes", ErrWAVTooLarge, data)
			}
			if err := f.Truncate(dataOff + data); err != nil {
				return err
			}
			if pad == 1 {
				// RIFF wants odd chunks padded; add the byte rather than
				// dropping a sample.
				if _, err := f.WriteAt([]byte{0}, dataOff+data); err != nil {
					return err
				}
			}
			if err := writeSizes(f, dataOff, data, pad); err != nil {
				return err
			}
			return f.Sync()
		default:
			if _, err := r.Seek(csize+csize%2, io.SeekCurrent); err != nil {
				return err
			}
		}
	}
}
