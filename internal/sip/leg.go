package sip

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"reflect"
	"sync"
	"sync/atomic"
	"time"

	"github.com/emiago/diago"
	dmedia "github.com/emiago/diago/media"
	"github.com/emiago/diago/media/sdp"
	"github.com/minivoice/minivoice/internal/media/dtmf"
	"github.com/minivoice/minivoice/internal/media/rtpaudio"
	"github.com/minivoice/minivoice/internal/obs"
	"github.com/minivoice/minivoice/internal/recording"
	"github.com/minivoice/minivoice/internal/voice"
	"github.com/pion/rtp"
	"github.com/prometheus/client_golang/prometheus"
)

// frameDur is the packet time of every codec the platform speaks.
const frameDur = 20 * time.Millisecond

// leg is the media side of one answered call leg. What the platform sends
// goes out in 20 ms frames encoded to the negotiated codec, paced by the
// shared media clock (clock.go): a sender hands the leg a sendJob and the
// clock's goroutine sends one frame of it per tick. What the leg receives is
// read continuously by the leg's own goroutine, decoded, and handed to
// whoever listens (the call recorder, a voicemail recorder, the other side of
// a bridge), while RFC 4733 and SIP INFO key presses are queued on digits.
//
// The hooks into the media paths: playUntil (and play, silence,
// silenceFrame) send PCM; runJob sends from a pull function every tick (the
// bridge's pump); addRecorder sees both directions; setFarTap sees every
// decoded received frame.
type leg struct {
	media *diago.DialogMedia
	codec dmedia.Codec
	rate  int // PCM sample rate: 16000 for G.722, 8000 for G.711
	name  string

	writeMu sync.Mutex // one sender at a time: prompts never interleave

	// The send side, used by the media clock's tick under jobMu: the job
	// being sent (nil: the leg is quiet), diago's packetiser (its own ticker
	// stopped; the clock paces it) and the encoder.
	jobMu    sync.Mutex
	job      *sendJob
	shard    *clockShard
	rtpw     *dmedia.RTPPacketWriter
	tsStep   uint32               // RTP timestamp units per frame
	sentAny  bool                 // the first packet carries the marker bit
	closed   bool                 // close has run: nothing more is sent
	out      rawOut               // rtpw's writer while the clock runs the leg's RTCP
	enc      *rtpaudio.AudioCodec // encodes into the shard's buffers (shardRx)
	lastSend time.Time            // when the previous frame went out
	rtcp     *rtcpState           // the leg's RTCP when the clock runs it (rtcp.go); nil: diago's monitor does
	jitter   prometheus.Observer  // send-interval deviation, nil to skip

	digits chan rune // key presses, oldest first; full means dropped
	zero   []int16   // one frame of silence, shared (silentFrame): read only

	// recv is the receive side (receive.go): under jobMu when the media
	// clock reads the socket, owned by the reader goroutine otherwise.
	recv legReceiver

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
	// farPayload receives every received audio payload as it arrived,
	// before decoding (a bridge between legs of the same codec), if set.
	// The slice is the reader's buffer: copy what is kept.
	farPayload atomic.Pointer[func([]byte)]
	// nearDec decodes passed-through payloads for the leg's recorders and
	// taps (tick, under jobMu); made on first use.
	nearDec *rtpaudio.AudioCodec
	// taps are the live media streams' view of the leg (stream.go): both
	// directions' audio and the key presses. Copy-on-write like recorders.
	tapMu sync.Mutex
	taps  atomic.Pointer[[]mediaTap]

	cancel context.CancelFunc
	done   chan struct{}
}

// closedChan is a closed channel, the done of every leg without a reader
// goroutine (one channel less for each call).
var closedChan = func() chan struct{} {
	c := make(chan struct{})
	close(c)
	return c
}()

// silentSamples is the longest frame of silence; nothing writes to it.
var silentSamples [maxFrameSamples]int16

// maxFrameSamples is the samples in a 20 ms frame at 16 kHz (G.722).
const maxFrameSamples = 320

// silentFrame is n samples of silence, shared by every leg (a leg's own
// would cost each call 320 or 640 bytes); its capacity is n, so an append
// to it copies rather than writes into the shared array.
func silentFrame(n int) []int16 {
	if n > maxFrameSamples {
		return make([]int16, n)
	}
	return silentSamples[:n:n]
}

// newLeg wraps answered media and starts reading it; close stops the reader.
func newLeg(ctx context.Context, m *diago.DialogMedia, now time.Time, met *obs.Metrics) (*leg, error) {
	var jitter prometheus.Observer
	if met != nil {
		jitter = met.RTPSendJitter
	}
	if _, err := m.AudioWriter(); err != nil {
		return nil, fmt.Errorf("audio writer: %w", err)
	}
	rtpw := m.RTPPacketWriter
	// The shared clock paces this leg; diago's per-writer ticker would only
	// wake for nothing.
	rtpw.ClockDisable()
	codec := dmedia.CodecAudioFromSession(m.MediaSession())
	enc, err := rtpaudio.NewAudioCodec(codec)
	if err != nil {
		return nil, err
	}
	dec, _ := rtpaudio.NewAudioCodec(codec)
	l := &leg{media: m, codec: codec, rate: rtpaudio.PCMRate(codec), name: rtpaudio.CodecName(codec), rtpw: rtpw, enc: enc,
		tsStep: codec.SampleTimestamp(), jitter: jitter, digits: make(chan rune, 64)}
	l.zero = silentFrame(l.frameSamples())
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
	l.recv = legReceiver{r: r, session: m.MediaSession, dec: dec, audioPT: int(codec.PayloadTypeRecv()), dtmfPT: dtmfPT,
		det: dtmf.NewDetector(), hdr: &m.RTPPacketReader.PacketHeader}
	// The media clock reads the leg's socket on its ticks (receive.go)
	// where the platform can reach the socket; elsewhere a goroutine of the
	// leg's own waits for each packet.
	l.recv.ms = m.MediaSession()
	if l.recv.conn = clockConn(l.recv.ms); l.recv.conn == nil {
		rctx, cancel := context.WithCancel(ctx)
		l.cancel = cancel
		l.done = make(chan struct{})
		l.recv.buf = make([]byte, dmedia.RTPBufSize)
		go func() {
			defer close(l.done)
			l.readLoop(rctx)
		}()
	} else {
		l.cancel = func() {}
		l.done = closedChan // no reader goroutine to wait for
		// The clock reads the socket, so it can do the RTCP too.
		l.rtcp = takeOverRTCP(m.RTPSession(), m.MediaSession())
		l.out.init(l)
	}
	l.shard = sendClock.add(l)
	return l, nil
}

// close closes the media and waits for the reader to stop (the media
// clock's reading stops with closed, under jobMu); after it returns no
// recorder or tap is fed any more. Closing twice is harmless.
func (l *leg) close() {
	l.cancel()
	if l.shard != nil {
		l.shard.remove(l)
		l.jobMu.Lock()
		l.closed = true
		if j := l.job; j != nil {
			l.job = nil
			j.finish(errLegClosed)
		}
		l.jobMu.Unlock()
	}
	if l.media == nil {
		return // a leg without media (the engine's unit tests)
	}
	_ = l.media.Close() // unblocks the reader's socket read
	<-l.done
}

// errLegClosed ends a send that was under way when the leg closed, or
// whose socket was closed under it.
var errLegClosed = errors.New("call media closed")

// hungUp reports whether err, from sending on a leg under ctx, means the
// call is ending rather than that something failed: ctx ended, or the media
// was closed (a BYE closes it a moment before the call's context ends).
func hungUp(ctx context.Context, err error) bool {
	return ctx.Err() != nil || errors.Is(err, errLegClosed)
}

// frameSamples is one 20 ms frame's sample count.
func (l *leg) frameSamples() int { return l.rate / 50 }

// wantsFarPCM reports whether anything takes the leg's decoded far audio.
func (l *leg) wantsFarPCM() bool {
	if rs := l.recorders.Load(); rs != nil && len(*rs) > 0 {
		return true
	}
	if ts := l.taps.Load(); ts != nil && len(*ts) > 0 {
		return true
	}
	return l.farTap.Load() != nil
}

// wantsNearPCM reports whether anything takes the audio the leg sends.
func (l *leg) wantsNearPCM() bool {
	if rs := l.recorders.Load(); rs != nil && len(*rs) > 0 {
		return true
	}
	ts := l.taps.Load()
	return ts != nil && len(*ts) > 0
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

// sendJob is what a leg sends, one frame per tick of the media clock: the
// samples of a prompt (or n frames of silence), or whatever pull puts in
// each frame until the sender's context ends.
type sendJob struct {
	samples []int16                 // PCM at the leg's rate; nil with frames set: silence
	encoded *rtpaudio.EncodedPrompt // samples already encoded (the prompt cache), or nil
	frames  int                     // frames to send; 0 with pull: until withdrawn
	pull    func(frame []int16)     // fills each frame (a bridge direction)
	// pullPayload appends the next frame's payload, already in the leg's
	// codec, to dst, or returns nil when there is none (a bridge direction
	// passing payloads through): a frame of silence goes out then.
	pullPayload func(dst []byte) []byte
	stop        <-chan rune // barge-in: something here ends the job
	pos         int         // frames sent
	done        chan error  // the outcome, once (buffered)
}

func (j *sendJob) finish(err error) { j.done <- err }

// clockTick is the media clock's visit to the leg every 20 ms: it handles
// what arrived on the leg's socket, then sends due frames of the current job
// (more than one when the clock is catching up), under one hold of jobMu.
// It runs on a shard's goroutine, so nothing in it waits: the socket reads
// do not wait for packets, and the UDP writes do not wait for the network.
func (l *leg) clockTick(due int, rx *shardRx) {
	l.jobMu.Lock()
	defer l.jobMu.Unlock()
	l.receive(rx)
	l.rtcpTick(due, rx.buf)
	for range due {
		if l.job == nil {
			return
		}
		l.sendNext(rx)
	}
}

// sendNext sends the current job's next frame, under jobMu, built in the
// shard's buffers (rx): the frame's PCM, its payload and the packet.
func (l *leg) sendNext(rx *shardRx) {
	j := l.job
	if j == nil {
		return
	}
	if len(j.stop) > 0 {
		l.job = nil
		j.finish(errBargeIn)
		return
	}
	per := l.frameSamples()
	frame := rx.frame[:per]
	var payload []byte
	switch {
	case j.pullPayload != nil:
		payload = j.pullPayload(rx.payload[:0])
		if payload != nil {
			rx.payload = payload // keep the buffer's capacity
		}
		switch {
		case payload == nil:
			frame = l.zero
		case l.wantsNearPCM():
			if l.nearDec == nil {
				l.nearDec, _ = rtpaudio.NewAudioCodec(l.codec)
			}
			frame = l.nearDec.Decode(frame[:0], payload)
		default:
			frame = nil // nobody takes the PCM of what is sent
		}
	case j.pull != nil:
		j.pull(frame)
	case j.samples == nil:
		frame = l.zero
	default:
		off := j.pos * per
		n := copy(frame, j.samples[off:min(off+per, len(j.samples))])
		clear(frame[n:])
		if j.encoded != nil {
			payload = j.encoded.Frames[j.pos]
		}
	}
	if payload == nil {
		rx.payload = l.enc.Encode(rx.payload[:0], frame)
		payload = rx.payload
	}
	if err := l.sendPayload(payload, frame, rx.buf); err != nil {
		if errors.Is(err, net.ErrClosed) {
			// The media was closed under the job: the far end's BYE
			// closes it before the call's context hears of the BYE.
			err = errLegClosed
		}
		l.job = nil
		j.finish(err)
		return
	}
	j.pos++
	if j.pull == nil && j.pullPayload == nil && j.pos >= j.frames {
		if j.encoded != nil {
			l.enc.Continue(j.encoded)
		}
		l.job = nil
		j.finish(nil)
	}
}

// sendPayload sends one encoded frame (frame is its PCM, for the
// recorders), under jobMu.
func (l *leg) sendPayload(payload []byte, frame []int16, pkt []byte) error {
	l.out.buf = pkt
	_, err := l.rtpw.WriteSamples(payload, l.tsStep, !l.sentAny, l.codec.PayloadType)
	l.out.buf = nil
	if err != nil {
		return fmt.Errorf("send audio: %w", err)
	}
	l.sentAny = true
	if l.rtcp != nil {
		l.rtcp.sent(len(payload), l.rtpw.PacketHeader.Timestamp)
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

// rawOut writes the RTP packets of diago's packetiser (rtpw) itself,
// building each in the media clock's shard buffer and sending it with the
// session's raw write, which sends it where diago would (the address
// learned from the far end's RTP, with RTP NAT on). diago's own path
// builds packets in a buffer of the session's, 1.5 KiB of every call, and
// counts them for diago's RTCP, which the clock runs instead.
//
// It is installed only for plain RTP whose RTCP the clock took over; the
// packetiser keeps its sequence numbers and timestamps. A re-INVITE gives
// the packetiser diago's new RTP session back as its writer (and diago its
// RTCP), so sending goes through diago again from then on.
type rawOut struct {
	ms     *dmedia.MediaSession
	buf    []byte // the shard's buffer, during a write (sendPayload)
	noSend bool   // the session's direction forbids sending (see init)
}

// init installs o as l's packetiser's writer where it can be.
func (o *rawOut) init(l *leg) {
	ms := l.recv.ms
	if l.rtcp == nil || ms == nil {
		return
	}
	// diago keeps what was negotiated unexported: the session's SRTP
	// context (SecureRTP says only what the transport may offer), and its
	// direction, for which diago drops every packet of a session that may
	// only receive (the far end holds the call); so does rawOut. Found by
	// name: TestRawOut fails if a newer diago moves them.
	v := reflect.ValueOf(ms).Elem()
	mode, srtp := v.FieldByName("mode"), v.FieldByName("localCtxSRTP")
	if mode.Kind() != reflect.String || srtp.Kind() != reflect.Pointer || !srtp.IsNil() {
		return
	}
	o.ms, o.noSend = ms, mode.String() == sdp.ModeRecvonly
	l.rtpw.UpdateWriter(o, l.codec)
	l.rtpw.ClockDisable() // UpdateWriter starts diago's ticker again
}

// WriteRTP sends p, built in the shard's buffer.
func (o *rawOut) WriteRTP(p *rtp.Packet) error {
	if o.noSend {
		return nil
	}
	if o.buf == nil {
		return errors.New("rtp: written outside the media clock's tick")
	}
	n, err := p.MarshalTo(o.buf)
	if err != nil {
		return fmt.Errorf("rtp: %w", err)
	}
	w, err := o.ms.WriteRTPRaw(o.buf[:n])
	if err == nil && w != n {
		err = io.ErrShortWrite
	}
	return err
}

// runJob hands j to the media clock and waits until it is sent, fails, is
// stopped by a key press, or ctx ends (then it is withdrawn, and no frame of
// it is sent after runJob returns). Senders take writeMu first, so jobs
// never interleave.
func (l *leg) runJob(ctx context.Context, j *sendJob) error {
	if l.shard == nil {
		return errors.New("send audio: the leg has no media")
	}
	j.done = make(chan error, 1)
	l.jobMu.Lock()
	if l.closed {
		l.jobMu.Unlock()
		return errLegClosed
	}
	l.job = j
	l.jobMu.Unlock()
	select {
	case err := <-j.done:
		return err
	case <-ctx.Done():
		l.jobMu.Lock()
		if l.job == j {
			l.job = nil
		}
		l.jobMu.Unlock()
		return ctx.Err()
	}
}

// promptCache holds prompts encoded per codec for every leg in the process
// (rtpaudio.PromptCache): the same greeting played on a thousand calls is
// encoded once per codec.
var promptCache = rtpaudio.NewPromptCache(32 << 20)

// minCachedFrames is the shortest prompt worth caching: below it, hashing
// and the cache's lock cost about what encoding does.
const minCachedFrames = 10

// play sends samples (mono PCM16 at the leg's rate) in 20 ms frames; it
// stops early when ctx ends.
func (l *leg) play(ctx context.Context, samples []int16) error {
	return l.playUntil(ctx, samples, nil)
}

// playUntil is play that also stops, returning errBargeIn, when stop has
// something (a key press for barge-in). A nil stop never fires.
func (l *leg) playUntil(ctx context.Context, samples []int16, stop <-chan rune) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if len(samples) == 0 {
		return nil
	}
	l.writeMu.Lock()
	defer l.writeMu.Unlock()
	per := l.frameSamples()
	j := &sendJob{samples: samples, frames: (len(samples) + per - 1) / per, stop: stop}
	if j.frames >= minCachedFrames && l.enc != nil {
		j.encoded = promptCache.Encoded(l.enc, samples, per)
	}
	return l.runJob(ctx, j)
}

// errBargeIn is a prompt stopped by a key press.
var errBargeIn = errors.New("barge-in")

// silence sends d of silence: keeping RTP flowing avoids dead air and keeps
// NAT bindings and the far end's media timers alive.
func (l *leg) silence(ctx context.Context, d time.Duration) error {
	n := int(d / frameDur)
	if n == 0 {
		return nil
	}
	// No defer: this frame stays on the call's stack through every pause,
	// and runJob does not panic.
	l.writeMu.Lock()
	err := l.runJob(ctx, &sendJob{frames: n})
	l.writeMu.Unlock()
	return err
}

// silenceFrame sends one frame of silence, returning once it is sent: its
// callers pace their own loops with it.
func (l *leg) silenceFrame() error {
	l.writeMu.Lock()
	defer l.writeMu.Unlock()
	return l.runJob(context.Background(), &sendJob{frames: 1})
}
