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

// bridge connects two answered legs both ways until ctx ends: each leg's far
// audio is queued for the other, and each leg's sender sends a frame every
// 20 ms from its queue (silence when it is empty). It returns when ctx ends
// or a send fails (that leg's media is gone).
func bridge(ctx context.Context, a, b *leg) {
	toB := newSampleQueue(a.rate, b.rate)
	toA := newSampleQueue(b.rate, a.rate)
	a.setFarTap(toB.push)
	b.setFarTap(toA.push)
	defer a.setFarTap(nil)
	defer b.setFarTap(nil)
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		defer cancel()
		pump(ctx, b, toB)
	}()
	pump(ctx, a, toA)
	cancel()
	wg.Wait()
}

// pump sends q to l, a frame per tick of the media clock, until ctx ends.
func pump(ctx context.Context, l *leg, q *sampleQueue) {
	l.writeMu.Lock()
	defer l.writeMu.Unlock()
	_ = l.runJob(ctx, &sendJob{pull: func(frame []int16) { q.pop(frame) }})
}
