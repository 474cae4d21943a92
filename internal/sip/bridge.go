package sip

import (
	"context"
	"sync"
	"time"
)

// maxQueued bounds a bridge direction's backlog: audio older than this is
// late enough that dropping it beats adding delay to the conversation.
const maxQueued = 200 * time.Millisecond

// sampleQueue carries one direction of a bridge: the media reader of one leg
// pushes decoded audio (converted to the other leg's rate), the other leg's
// sender pops a frame every 20 ms.
type sampleQueue struct {
	mu      sync.Mutex
	buf     []int16
	max     int
	conv    rateConverter
	scratch []int16
}

func newSampleQueue(fromRate, toRate int) *sampleQueue {
	return &sampleQueue{max: toRate * int(maxQueued/time.Millisecond) / 1000, conv: newRateConverter(fromRate, toRate)}
}

// push appends pcm (at the source rate); it runs on the media reader.
func (q *sampleQueue) push(pcm []int16) {
	q.mu.Lock()
	defer q.mu.Unlock()
	q.scratch = q.conv.convert(q.scratch[:0], pcm)
	q.buf = append(q.buf, q.scratch...)
	if over := len(q.buf) - q.max; over > 0 {
		q.buf = append(q.buf[:0], q.buf[over:]...)
	}
}

// pop fills frame from the queue, or with silence when it runs dry (the
// other side's packet is late or lost): it reports whether audio was there.
func (q *sampleQueue) pop(frame []int16) bool {
	q.mu.Lock()
	defer q.mu.Unlock()
	if len(q.buf) < len(frame) {
		clear(frame)
		return false
	}
	copy(frame, q.buf)
	q.buf = append(q.buf[:0], q.buf[len(frame):]...)
	return true
}

// rateConverter converts a stream between 8 and 16 kHz (the only rates the
// platform's codecs use), keeping state across frames so frame edges do not
// click.
type rateConverter struct {
	up, down bool
	last     int32 // previous input sample (upsampling) or FIR history
	hist     [2]int32
}

func newRateConverter(from, to int) rateConverter {
	return rateConverter{up: to > from, down: to < from}
}

func (c *rateConverter) convert(dst, in []int16) []int16 {
	switch {
	case c.up:
		// Linear interpolation: each input sample is preceded by the
		// midpoint from the previous one.
		for _, s := range in {
			v := int32(s)
			dst = append(dst, int16((c.last+v)/2), s)
			c.last = v
		}
	case c.down:
		// A [1 2 1]/4 low-pass before keeping every other sample takes the
		// worst of the 4-8 kHz band out so it does not fold back as noise.
		for i, s := range in {
			v := int32(s)
			if i%2 == 1 {
				dst = append(dst, int16((c.hist[1]+2*c.hist[0]+v)/4))
			}
			c.hist[1], c.hist[0] = c.hist[0], v
		}
	default:
		dst = append(dst, in...)
	}
	return dst
}

// payloadQueue carries one direction of a bridge between two legs of the
// same codec: the received payloads, unchanged. G.711 and G.722 payloads
// are byte streams at a fixed 8000 bytes a second (one byte per sample, or
// per pair of 16 kHz samples), so the queue holds bytes and hands out
// 20 ms (160-byte) frames whatever packet size the far end sends.
type payloadQueue struct {
	mu  sync.Mutex
	buf []byte
}

// payloadFrame is one 20 ms frame of G.711 or G.722, and payloadMax the
// backlog kept (maxQueued).
const (
	payloadFrame = 160
	payloadMax   = 8000 * int(maxQueued/time.Millisecond) / 1000
)

// push appends a received payload; it runs on the media reader.
func (q *payloadQueue) push(p []byte) {
	q.mu.Lock()
	defer q.mu.Unlock()
	q.buf = append(q.buf, p...)
	if over := len(q.buf) - payloadMax; over > 0 {
		q.buf = append(q.buf[:0], q.buf[over:]...)
	}
}

// pop appends the next frame to dst, or returns nil when less than a frame
// is queued (the far end's packet is late or lost).
func (q *payloadQueue) pop(dst []byte) []byte {
	q.mu.Lock()
	defer q.mu.Unlock()
	if len(q.buf) < payloadFrame {
		return nil
	}
	dst = append(dst, q.buf[:payloadFrame]...)
	q.buf = append(q.buf[:0], q.buf[payloadFrame:]...)
	return dst
}

// samePayloads reports whether a's received payloads can be sent to b as
// they are: the same codec, by payload type and clock.
func samePayloads(a, b *leg) bool {
	return a.codec.PayloadType == b.codec.PayloadType && a.codec.SampleRate == b.codec.SampleRate &&
		a.rate == b.rate
}

// bridge connects two answered legs both ways until ctx ends. When both
// legs use the same codec, each leg's received payloads are queued for the
// other and sent unchanged: nothing is decoded or encoded unless a
// recording or a stream wants the audio (the leg then decodes what it
// receives, and what it sends, for them). Otherwise each leg's far audio is
// decoded, converted to the other leg's rate and queued, and the other leg
// encodes it. Either way each leg sends a frame every 20 ms from its queue
// (silence when it is empty). It returns when ctx ends or a send fails
// (that leg's media is gone).
//
// Passing G.722 through means the far decoder of each leg follows the other
// leg's far encoder rather than this leg's: at the start of the bridge, and
// after a frame of silence filled a gap, its adaptive state converges on
// the new codes within a few frames.
func bridge(ctx context.Context, a, b *leg) {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var toA, toB func(ctx context.Context)
	if samePayloads(a, b) {
		qa, qb := &payloadQueue{}, &payloadQueue{}
		pushB, pushA := qb.push, qa.push
		a.farPayload.Store(&pushB)
		b.farPayload.Store(&pushA)
		defer a.farPayload.Store(nil)
		defer b.farPayload.Store(nil)
		toA = func(ctx context.Context) { pumpPayloads(ctx, a, qa) }
		toB = func(ctx context.Context) { pumpPayloads(ctx, b, qb) }
	} else {
		qb := newSampleQueue(a.rate, b.rate)
		qa := newSampleQueue(b.rate, a.rate)
		a.setFarTap(qb.push)
		b.setFarTap(qa.push)
		defer a.setFarTap(nil)
		defer b.setFarTap(nil)
		toA = func(ctx context.Context) { pump(ctx, a, qa) }
		toB = func(ctx context.Context) { pump(ctx, b, qb) }
	}
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		defer cancel()
		toB(ctx)
	}()
	toA(ctx)
	cancel()
	wg.Wait()
}

// pump sends q to l, a frame per tick of the media clock, until ctx ends.
func pump(ctx context.Context, l *leg, q *sampleQueue) {
	l.writeMu.Lock()
	defer l.writeMu.Unlock()
	_ = l.runJob(ctx, &sendJob{pull: func(frame []int16) { q.pop(frame) }})
}

// pumpPayloads sends q's payloads to l unchanged, a frame per tick, until
// ctx ends.
func pumpPayloads(ctx context.Context, l *leg, q *payloadQueue) {
	l.writeMu.Lock()
	defer l.writeMu.Unlock()
	_ = l.runJob(ctx, &sendJob{pullPayload: q.pop})
}
