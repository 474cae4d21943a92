package sip

import (
	"context"
	"errors"
	"fmt"
	"io"
	"sync"
	"sync/atomic"
	"time"

	"github.com/emiago/diago"
	dmedia "github.com/emiago/diago/media"
	"github.com/minivoice/minivoice/internal/media/dtmf"
	"github.com/minivoice/minivoice/internal/media/rtpaudio"
	"github.com/minivoice/minivoice/internal/obs"
	"github.com/minivoice/minivoice/internal/recording"
	"github.com/minivoice/minivoice/internal/voice"
	"github.com/prometheus/client_golang/prometheus"
)

// frameDur is the packet time of every codec the platform speaks.
const frameDur = 20 * time.Millisecond

// leg is the media side of one answered call leg. What the platform sends
// goes out in paced 20 ms frames encoded to the negotiated codec; what it
// receives is read continuously by the leg's own goroutine, decoded, and
// handed to whoever listens (the call recorder, a voicemail recorder, the
// other side of a bridge), while RFC 4733 and SIP INFO key presses are queued
// on digits.
type leg struct {
	media *diago.DialogMedia
	codec dmedia.Codec
	rate  int // PCM sample rate: 16000 for G.722, 8000 for G.711
	name  string

	writeMu  sync.Mutex // one sender at a time: prompts never interleave
	w        io.Writer  // the RTP payload writer; each Write waits for the 20 ms clock
	enc      *rtpaudio.AudioCodec
	payload  []byte
	lastSend time.Time           // when the previous frame went out (under writeMu)
	jitter   prometheus.Observer // send-interval deviation, nil to skip

	digits chan rune // key presses, oldest first; full means dropped
	zero   []int16   // one frame of silence

	lastRTP  atomic.Int64 // unix nanos of the last packet received
	received atomic.Int64 // packets received

	// rx, tx and lost feed /metrics (RTP packets and loss); nil to skip.
	rx, tx, lost prometheus.Counter

	// recorders take both directions of the leg: the whole-call recording
	// (record: true) and a dial's recording of the bridge. Copy-on-write, so
	// the media paths read it without a lock.
	recMu     sync.Mutex
	recorders atomic.Pointer[[]*recording.Recorder]
	// farTap receives every decoded frame from the far end (a voicemail
	// recorder, a bridge), if set.
	farTap atomic.Pointer[func([]int16)]
	// taps are the live media streams' view of the leg (stream.go): both
	// directions' audio and the key presses. Copy-on-write like recorders.
	tapMu sync.Mutex
	taps  atomic.Pointer[[]mediaTap]

	cancel context.CancelFunc
	done   chan struct{}
}

// newLeg wraps answered media and starts reading it; close stops the reader.
func newLeg(ctx context.Context, m *diago.DialogMedia, now time.Time, met *obs.Metrics) (*leg, error) {
	var jitter prometheus.Observer
	if met != nil {
		jitter = met.RTPSendJitter
	}
	w, err := m.AudioWriter()
	if err != nil {
		return nil, fmt.Errorf("audio writer: %w", err)
	}
	codec := dmedia.CodecAudioFromSession(m.MediaSession())
	enc, err := rtpaudio.NewAudioCodec(codec)
	if err != nil {
		return nil, err
	}
	dec, _ := rtpaudio.NewAudioCodec(codec)
	l := &leg{media: m, codec: codec, rate: rtpaudio.PCMRate(codec), name: rtpaudio.CodecName(codec), w: w, enc: enc,
		jitter: jitter, digits: make(chan rune, 64), done: make(chan struct{})}
	l.zero = make([]int16, l.frameSamples())
	if met != nil {
		l.rx, l.tx, l.lost = met.RTPPackets.WithLabelValues("rx"), met.RTPPackets.WithLabelValues("tx"), met.RTPLost
	}
	l.lastRTP.Store(now.UnixNano())
	r, err := m.AudioReader()
	if err != nil {
		return nil, fmt.Errorf("audio reader: %w", err)
	}
	dtmfPT := -1
	for _, c := range m.MediaSession().CommonCodecs() {
		if c.Matches(dmedia.CodecTelephoneEvent8000) {
			dtmfPT = int(c.PayloadTypeRecv())
			break
		}
	}
	rctx, cancel := context.WithCancel(ctx)
	l.cancel = cancel
	go func() {
		defer close(l.done)
		l.readLoop(rctx, r, dec, int(codec.PayloadTypeRecv()), dtmfPT)
	}()
	return l, nil
}

// close closes the media and waits for the reader to stop; after it
// returns no recorder or tap is fed any more. Closing twice is harmless.
func (l *leg) close() {
	l.cancel()
	if l.media == nil {
		return // a leg without media (the engine's unit tests)
	}
	_ = l.media.Close() // unblocks the reader's socket read
	<-l.done
}

// frameSamples is one 20 ms frame's sample count.
func (l *leg) frameSamples() int { return l.rate / 50 }

// readLoop decodes received audio and detects DTMF until ctx ends or the
// media closes.
func (l *leg) readLoop(ctx context.Context, r io.Reader, dec *rtpaudio.AudioCodec, audioPT, dtmfPT int) {
	buf := make([]byte, dmedia.RTPBufSize)
	pcm := make([]int16, 0, 2*dmedia.RTPBufSize)
	det := dtmf.NewDetector()
	hdr := &l.media.RTPPacketReader.PacketHeader
	var lastSeq uint16
	var lastSSRC uint32
	seen := false
	for ctx.Err() == nil {
		n, err := r.Read(buf)
		if err != nil {
			if errors.Is(err, io.EOF) || errors.Is(err, context.Canceled) || ctx.Err() != nil {
				return
			}
			var ne interface{ Timeout() bool }
			if errors.As(err, &ne) && ne.Timeout() {
				continue
			}
			return
		}
		l.received.Add(1)
		l.lastRTP.Store(time.Now().UnixNano())
		if l.rx != nil {
			l.rx.Inc()
		}
		if n == 0 {
			continue
		}
		if int(hdr.PayloadType) == audioPT {
			// A forward jump in the audio stream's sequence numbers is
			// loss; a reordered or repeated packet is not counted.
			if gap := hdr.SequenceNumber - lastSeq; seen && hdr.SSRC == lastSSRC && gap > 1 && gap < 1000 && l.lost != nil {
				l.lost.Add(float64(gap - 1))
			}
			if !seen || hdr.SSRC != lastSSRC || hdr.SequenceNumber-lastSeq < 1000 {
				lastSeq, lastSSRC, seen = hdr.SequenceNumber, hdr.SSRC, true
			}
		}
		switch int(hdr.PayloadType) {
		case dtmfPT:
			if ev, ok := det.Packet(hdr.Timestamp, hdr.Marker, buf[:n]); ok {
				l.pushDigit(ev.Digit)
			}
		case audioPT:
			pcm = dec.Decode(pcm[:0], buf[:n])
			if rs := l.recorders.Load(); rs != nil {
				for _, rec := range *rs {
					rec.WriteFar(pcm)
				}
			}
			if tap := l.farTap.Load(); tap != nil {
				(*tap)(pcm)
			}
			if ts := l.taps.Load(); ts != nil {
				for _, t := range *ts {
					t.farAudio(pcm)
				}
			}
		}
	}
}

// addRecorder starts feeding r with both directions of the leg.
func (l *leg) addRecorder(r *recording.Recorder) {
	l.recMu.Lock()
	defer l.recMu.Unlock()
	var next []*recording.Recorder
	if cur := l.recorders.Load(); cur != nil {
		next = append(next, *cur...)
	}
	next = append(next, r)
	l.recorders.Store(&next)
}

// note begins n on every recording of the leg and returns what ends it:
// the recorders place it on their own clocks of the samples sent.
func (l *leg) note(n voice.SpeechNote) (end func()) {
	rs := l.recorders.Load()
	if rs == nil || len(*rs) == 0 {
		return func() {}
	}
	recs := *rs
	for _, r := range recs {
		r.BeginNote(n)
	}
	return func() {
		for _, r := range recs {
			r.EndNote()
		}
	}
}

// removeRecorder stops feeding r.
func (l *leg) removeRecorder(r *recording.Recorder) {
	l.recMu.Lock()
	defer l.recMu.Unlock()
	cur := l.recorders.Load()
	if cur == nil {
		return
	}
	var next []*recording.Recorder
	for _, x := range *cur {
		if x != r {
			next = append(next, x)
		}
	}
	l.recorders.Store(&next)
}

// setFarTap routes the far end's decoded audio to fn (nil stops it). fn runs
// on the media reader and must not keep the slice.
func (l *leg) setFarTap(fn func([]int16)) {
	if fn == nil {
		l.farTap.Store(nil)
		return
	}
	l.farTap.Store(&fn)
}

// pushDigit queues a key press; a full queue (nobody collecting 64 presses)
// drops it rather than blocking the media reader.
func (l *leg) pushDigit(d rune) {
	if ts := l.taps.Load(); ts != nil {
		for _, t := range *ts {
			t.digit(d)
		}
	}
	select {
	case l.digits <- d:
	default:
	}
}

// drainDigits discards queued presses.
func (l *leg) drainDigits() {
	for {
		select {
		case <-l.digits:
		default:
			return
		}
	}
}

// silentFor is how long nothing has been received.
func (l *leg) silentFor(now time.Time) time.Duration {
	return now.Sub(time.Unix(0, l.lastRTP.Load()))
}

// sendFrame encodes and sends one frame; it returns on the RTP writer's next
// 20 ms clock tick, which paces every sender.
func (l *leg) sendFrame(frame []int16) error {
	l.payload = l.enc.Encode(l.payload[:0], frame)
	if _, err := l.w.Write(l.payload); err != nil {
		return fmt.Errorf("send audio: %w", err)
	}
	if l.tx != nil {
		l.tx.Inc()
	}
	if rs := l.recorders.Load(); rs != nil {
		for _, rec := range *rs {
			rec.WriteNear(frame)
		}
	}
	if ts := l.taps.Load(); ts != nil {
		for _, t := range *ts {
			t.nearAudio(frame)
		}
	}
	// How far the interval between sends strays from 20 ms is the send jitter
	// the far end sees. A gap longer than 100 ms is a pause in sending.
	now := time.Now()
	if d := now.Sub(l.lastSend); l.jitter != nil && d < 100*time.Millisecond {
		d -= frameDur
		l.jitter.Observe(max(d, -d).Seconds())
	}
	l.lastSend = now
	return nil
}

// play sends samples (mono PCM16 at the leg's rate) in 20 ms frames; it
// stops early when ctx ends.
func (l *leg) play(ctx context.Context, samples []int16) error {
	return l.playUntil(ctx, samples, nil)
}

// playUntil is play that also stops, returning errBargeIn, when stop has
// something (a key press for barge-in). A nil stop never fires.
func (l *leg) playUntil(ctx context.Context, samples []int16, stop <-chan rune) error {
	l.writeMu.Lock()
	defer l.writeMu.Unlock()
	per := l.frameSamples()
	frame := make([]int16, per)
	for off := 0; off < len(samples); off += per {
		if err := ctx.Err(); err != nil {
			return err
		}
		if len(stop) > 0 {
			return errBargeIn
		}
		n := copy(frame, samples[off:min(off+per, len(samples))])
		clear(frame[n:])
		if err := l.sendFrame(frame); err != nil {
			return err
		}
	}
	return nil
}

// errBargeIn is a prompt stopped by a key press.
var errBargeIn = errors.New("barge-in")

// silence sends d of silence: keeping RTP flowing avoids dead air and keeps
// NAT bindings and the far end's media timers alive.
func (l *leg) silence(ctx context.Context, d time.Duration) error {
	return l.play(ctx, make([]int16, int(d/frameDur)*l.frameSamples()))
}

// silenceFrame sends one frame of silence.
func (l *leg) silenceFrame() error {
	l.writeMu.Lock()
	defer l.writeMu.Unlock()
	return l.sendFrame(l.zero)
}
