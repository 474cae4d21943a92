package recording

import (
	"errors"
	"fmt"
	"math"
	"os"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/minivoice/minivoice/internal/media"
	"github.com/minivoice/minivoice/internal/voice"
)

// Alignment tuning. These are constants, not Config fields, because they
// describe networks and RTP pacing rather than anything an operator chooses.
const (
	// arrivalSlack is how far behind the clock a stream may be when data
	// arrives and still have that data appended where the stream ends.
	// Normal network jitter and RTP pacing stay well within 80 ms; a larger
	// gap means the stream really stopped (hold, VAD, nothing to play), so
	// the gap is filled with silence and the data is placed ending now.
	arrivalSlack = 80 * time.Millisecond
	// lagBound is how far a stream that sends nothing may fall behind the
	// clock while the other stream has data, before it is padded with
	// silence so the other stream's data can be written out. It bounds
	// memory: nothing is buffered for longer than this (plus the stream's
	// largest chunk, so callers that write big chunks are not padded
	// between chunks).
	lagBound = 200 * time.Millisecond
	// maxLead is how far a stream may run ahead of the clock beyond the
	// chunk being written. A stream gets ahead when a burst of delayed
	// packets arrives at once after a gap was already filled, or when a
	// sender's clock runs fast; the excess, oldest first, is dropped so the
	// channel catches up with real time and memory stays bounded.
	maxLead = 100 * time.Millisecond
	// padChunk bounds the silence appended in one step, so that filling an
	// hour-long gap never allocates an hour of samples.
	padChunk = 4096
	// writeChunk bounds the interleaving scratch buffer.
	writeChunk = 4096
)

// DefaultFlushEvery is how often a Recorder flushes the file by default, and
// so how much audio a crash may lose.
const DefaultFlushEvery = time.Second

// Config describes one recording to make.
type Config struct {
	// File is where the WAV is written, normally from BlobStore.Create. The
	// Recorder owns it from NewRecorder on and closes it in Close.
	File *os.File
	// Rate is the sample rate in Hz: the call's codec rate.
	Rate int
	// Channels is voice.ChannelsDual or voice.ChannelsMono; "" means dual,
	// the documented default.
	Channels string
	// Now is the clock that places audio in time; nil means time.Now. Tests
	// replace it to simulate hours of call in milliseconds.
	Now func() time.Time
	// FlushEvery is how often, on Now's clock, the write calls flush the
	// file, and so about how much audio a crash may lose (plus the few
	// hundred milliseconds an unaligned stream may hold); zero means
	// DefaultFlushEvery. Flushing happens inside WriteFar/WriteNear, not on a
	// timer: while neither side sends, there is nothing new to lose.
	FlushEvery time.Duration
}

// Result is what Close learned about the finished file.
type Result struct {
	// Duration is the audio's length.
	Duration time.Duration
	// SizeBytes is the file's size, header included.
	SizeBytes int64
	// SHA256 is the lowercase hex SHA-256 of the whole file, so customers can
	// check the download they got is the file that was recorded.
	SHA256 string
}

// Streams, also the channel order of a dual file.
const (
	far  = 0
	near = 1
)

// Recorder writes one recording incrementally from two live audio streams:
// the far end's (WriteFar) and the platform's own (WriteNear). It is safe for
// concurrent use; the two streams normally come from two goroutines.
//
// The file follows the wall clock, measured from NewRecorder in samples ("now"):
//
//   - Data is appended where its stream ends, unless the stream ends more than
//     80 ms (arrivalSlack) before now minus the data's length. Then the
//     stream had stopped: the gap is filled with silence and the data is
//     placed ending at now, i.e. as if it had just been captured.
//   - Whenever data arrives on one stream, the other stream is padded with
//     silence up to 200 ms (lagBound) plus its largest chunk behind now, if
//     it is further behind. Frames are written out as soon as both streams
//     cover them, so neither stream is buffered for longer than that and a
//     stream that never sends costs no memory.
//   - A stream may run at most its current chunk plus 100 ms (maxLead)
//     ahead of now; older samples of the chunk beyond that are dropped.
//   - Late data is never placed back into the past: a span already padded
//     is final (it may already be on disk), so data arriving after its
//     stream was padded is placed at the stream's end, or ending at now
//     after a real gap. Its offset is then off by its lateness, at most
//     lagBound plus the slack, instead of being lost.
//
// Both channels therefore stay within a few packets of wall-clock time, and
// a 3-second pause on one side leaves 3 seconds of silence on that side.
// Close pads the shorter stream to the longer one.
type Recorder struct {
	mu         sync.Mutex
	w          *media.WAVWriter
	f          *os.File
	rate       int
	mono       bool
	now        func() time.Time
	start      time.Time
	flushEvery time.Duration
	lastFlush  time.Time

	// Alignment bounds in samples.
	slack, lag, lead int64

	clock    int64      // newest "now" seen, in samples since start; never goes back
	written  int64      // frames handed to the WAV writer
	bufs     [2][]int16 // per stream, samples from frame `written` on
	maxChunk [2]int64   // per stream, the largest chunk written, in samples
	scratch  []int16    // interleaving buffer
	zeros    []int16    // padChunk samples of silence
	err      error      // first write error; sticky
	full     bool       // hit the 4 GiB WAV limit: the rest is not recorded
	closed   bool
	result   Result
	closeErr error

	// notes are the say/play notes of the near stream (BeginNote); open is
	// the index of the one playing now, -1 for none, and started whether
	// its first sample has been placed yet.
	notes   []noteSpan
	open    int
	started bool
}

// noteSpan is a note with its span in samples of the near stream.
type noteSpan struct {
	note       voice.SpeechNote
	start, end int64
}

// NewRecorder starts a recording in cfg.File, writing a valid empty WAV
// header at once so even a recording that dies immediately is a readable
// file.
func NewRecorder(cfg Config) (*Recorder, error) {
	if cfg.File == nil {
		return nil, errors.New("recording: new recorder: no file")
	}
	channels := 2
	switch cfg.Channels {
	case voice.ChannelsDual, "":
	case voice.ChannelsMono:
		channels = 1
	default:
		return nil, fmt.Errorf("recording: new recorder: channels %q (want %q or %q)", cfg.Channels,
			voice.ChannelsDual, voice.ChannelsMono)
	}
	if cfg.Rate < media.MinRate || cfg.Rate > media.MaxRate {
		return nil, fmt.Errorf("recording: new recorder: rate %d Hz (want %d..%d)", cfg.Rate, media.MinRate, media.MaxRate)
	}
	w, err := media.NewWAVWriter(cfg.File, cfg.Rate, channels)
	if err != nil {
		return nil, fmt.Errorf("recording: %w", err)
	}
	now := cfg.Now
	if now == nil {
		now = time.Now
	}
	every := cfg.FlushEvery
	if every <= 0 {
		every = DefaultFlushEvery
	}
	start := now()
	return &Recorder{
		w: w, f: cfg.File, rate: cfg.Rate, mono: channels == 1, now: now, start: start,
		flushEvery: every, lastFlush: start,
		slack: durSamples(arrivalSlack, cfg.Rate), lag: durSamples(lagBound, cfg.Rate),
		lead: durSamples(maxLead, cfg.Rate), zeros: make([]int16, padChunk), open: -1,
	}, nil
}

// WriteFar records audio received from the far end of the leg: the left
// channel of a dual recording. Ignored after Close or a write error.
func (r *Recorder) WriteFar(samples []int16) { r.write(far, samples) }

// WriteNear records audio the platform sent to the far end: the right
// channel of a dual recording. Ignored after Close or a write error.
func (r *Recorder) WriteNear(samples []int16) { r.write(near, samples) }

// Duration is how much audio the recording holds so far, written or still
// buffered: what the file will hold if it is closed now.
func (r *Recorder) Duration() time.Duration {
	r.mu.Lock()
	defer r.mu.Unlock()
	return samplesDuration(max(r.end(far), r.end(near)), r.rate)
}

// Close pads the shorter stream to the longer, writes everything buffered,
// fixes the header, fsyncs and closes the file, then reports the file's
// length, size and hash (read back from the file itself, so they describe
// exactly what was stored). Calling it again returns the same answer.
func (r *Recorder) Close() (Result, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.closed {
		return r.result, r.closeErr
	}
	if r.active() {
		end := max(r.end(far), r.end(near))
		r.padTo([2]int64{end, end})
	}
	r.closed = true
	err := r.err
	if err == nil {
		// Flush then measure, then Close: Close only rewrites the same header
		// and fsyncs, so the bytes hashed are the bytes made durable.
		if err = r.w.Flush(); err == nil {
			r.result, err = fileResult(r.f)
		}
	}
	if cerr := r.w.Close(); cerr != nil && err == nil {
		err = fmt.Errorf("recording: %w", cerr)
	}
	if err != nil {
		r.result = Result{}
	}
	r.bufs = [2][]int16{}
	r.closeErr = err
	return r.result, err
}

// BeginNote notes that the platform starts sending n (a say or a play) on
// the near stream; EndNote marks where it stopped. n's Start and End are
// ignored: they are taken from the near stream's own samples, the start
// where the next near chunk lands, the end where the stream is when EndNote
// is called, so they are on the recording's clock whatever the network
// did. A note begun while another is open ends that one first. Text and URL
// are clipped to voice.MaxSpeechNoteText bytes; notes past
// voice.MaxSpeechNotes are not kept.
func (r *Recorder) BeginNote(n voice.SpeechNote) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.endNote()
	if r.closed || len(r.notes) >= voice.MaxSpeechNotes {
		return
	}
	n.Text, n.URL = clip(n.Text, voice.MaxSpeechNoteText), clip(n.URL, voice.MaxSpeechNoteText)
	n.Start, n.End = 0, 0
	r.notes = append(r.notes, noteSpan{note: n})
	r.open, r.started = len(r.notes)-1, false
}

// EndNote ends the open note, if any.
func (r *Recorder) EndNote() {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.endNote()
}

func (r *Recorder) endNote() {
	if r.open < 0 {
		return
	}
	sp := &r.notes[r.open]
	end := r.end(near)
	if !r.started {
		// Nothing of it was sent (a barge-in before the first frame, a
		// hang-up): an empty span where the stream stands.
		sp.start = end
	}
	sp.end = max(end, sp.start)
	r.open = -1
}

// Notes returns the notes so far, with their start and end in seconds from
// the start of the recording (rounded to milliseconds); an open note ends
// where the near stream stands now.
func (r *Recorder) Notes() []voice.SpeechNote {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := make([]voice.SpeechNote, len(r.notes))
	for i, sp := range r.notes {
		if i == r.open {
			if !r.started {
				sp.start = r.end(near)
			}
			sp.end = max(r.end(near), sp.start)
		}
		n := sp.note
		n.Start = math.Round(samplesDuration(sp.start, r.rate).Seconds()*1000) / 1000
		n.End = math.Round(samplesDuration(sp.end, r.rate).Seconds()*1000) / 1000
		out[i] = n
	}
	return out
}

// clip cuts s to at most n bytes without splitting a UTF-8 sequence.
func clip(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n]
}

// active reports whether writes still go to the file.
func (r *Recorder) active() bool { return !r.closed && r.err == nil && !r.full }

// end is the frame just after stream s's last sample.
func (r *Recorder) end(s int) int64 { return r.written + int64(len(r.bufs[s])) }

// bufferedSamples is how many samples each stream holds in memory, for tests
// of the memory bound.
func (r *Recorder) bufferedSamples() (farN, nearN int) {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.bufs[far]), len(r.bufs[near])
}

func (r *Recorder) write(s int, samples []int16) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if !r.active() || len(samples) == 0 {
		return
	}
	now := r.now()
	clock := max(r.clock, durSamples(now.Sub(r.start), r.rate))
	r.clock = clock
	n := int64(len(samples))
	r.maxChunk[s] = max(r.maxChunk[s], n)

	at := r.end(s)
	if at < clock-n-r.slack {
		// The stream stopped for a while: what arrives now was captured
		// just now.
		at = clock - n
	}
	if drop := at - (clock + r.lead); drop > 0 {
		// Running ahead of the clock: drop the oldest part of the chunk to
		// catch up with real time.
		if drop >= n {
			r.maybeFlush(now)
			return
		}
		samples = samples[drop:]
	}
	if s == near && r.open >= 0 && !r.started {
		// The note starts where its first sample lands, which is only
		// known now: after a pause in sending it is placed ending at now.
		r.notes[r.open].start, r.started = at, true
	}
	var target [2]int64
	target[s] = at
	o := 1 - s
	target[o] = max(r.end(o), clock-r.lag-r.maxChunk[o])
	r.padTo(target)
	if !r.active() {
		return
	}
	r.bufs[s] = append(r.bufs[s], samples...)
	r.drain()
	r.maybeFlush(now)
}

// padTo appends silence until each stream reaches its target, in steps of at
// most padChunk with frames written out between steps, so a long gap on both
// streams costs no more memory than a short one.
func (r *Recorder) padTo(target [2]int64) {
	for r.active() {
		more := false
		for s := range r.bufs {
			if need := target[s] - r.end(s); need > 0 {
				r.bufs[s] = append(r.bufs[s], r.zeros[:min(need, padChunk)]...)
				more = true
			}
		}
		r.drain()
		if !more {
			return
		}
	}
}

// drain writes out the frames both streams cover: interleaved far/near for
// dual, their saturating sum for mono.
func (r *Recorder) drain() {
	k := min(len(r.bufs[far]), len(r.bufs[near]))
	if k == 0 {
		return
	}
	ch := 2
	if r.mono {
		ch = 1
	}
	if cap(r.scratch) < writeChunk*ch {
		r.scratch = make([]int16, writeChunk*ch)
	}
	a, b := r.bufs[far][:k], r.bufs[near][:k]
	for len(a) > 0 {
		c := min(len(a), writeChunk)
		out := r.scratch[:c*ch]
		if r.mono {
			for i := range c {
				out[i] = mix(a[i], b[i])
			}
		} else {
			for i := range c {
				out[2*i], out[2*i+1] = a[i], b[i]
			}
		}
		if err := r.w.Write(out); err != nil {
			r.fail(err)
			return
		}
		r.written += int64(c)
		a, b = a[c:], b[c:]
	}
	for s := range r.bufs {
		r.bufs[s] = r.bufs[s][:copy(r.bufs[s], r.bufs[s][k:])]
	}
}

// fail stops recording after a write error. Hitting the WAV size limit (about
// 18 hours of 16 kHz dual) only ends the recording early; anything else
// (disk full, I/O error) makes Close report the error.
func (r *Recorder) fail(err error) {
	if errors.Is(err, media.ErrWAVTooLarge) {
		r.full = true
	} else {
		r.err = fmt.Errorf("recording: %w", err)
	}
	r.bufs = [2][]int16{}
}

// maybeFlush flushes the writer when FlushEvery has passed, from the write
// path rather than a ticker goroutine: a recording that receives no audio has
// nothing new to flush anyway.
func (r *Recorder) maybeFlush(now time.Time) {
	if !r.active() || now.Sub(r.lastFlush) < r.flushEvery {
		return
	}
	r.lastFlush = now
	if err := r.w.Flush(); err != nil {
		r.fail(err)
	}
}

// mix adds two samples, saturating instead of wrapping around, which would
// turn loud double-talk into loud clicks.
func mix(a, b int16) int16 {
	s := int32(a) + int32(b)
	return int16(min(max(s, math.MinInt16), math.MaxInt16))
}

// durSamples converts a duration to whole samples without overflowing for
// any call length; negative durations (a clock that went back) count as 0.
func durSamples(d time.Duration, rate int) int64 {
	if d <= 0 {
		return 0
	}
	return int64(d/time.Second)*int64(rate) + int64(d%time.Second)*int64(rate)/int64(time.Second)
}

// samplesDuration converts a sample count to a duration without overflow.
func samplesDuration(n int64, rate int) time.Duration {
	return time.Duration(n/int64(rate))*time.Second + time.Duration(n%int64(rate))*time.Second/time.Duration(rate)
}
