package sip

import (
	"runtime"
	"sync"
	"sync/atomic"
	"time"

	dmedia "github.com/emiago/diago/media"
)

// The media clock paces every leg's sending. Instead of one ticker (and one
// goroutine waking every 20 ms) per leg, each leg is placed on one of a
// fixed number of shards, a few per CPU, and each shard's single goroutine
// sends the due frame of every leg it holds on its 20 ms tick, after taking
// what arrived on the leg's socket since the last one (receive.go). A
// sender (a prompt, a pause, a bridge direction) hands the leg a send job
// and waits once for the job's end, not once per frame. A shard's goroutine
// runs only while it holds legs: it starts with the first and stops at the
// first tick after the last one has closed, so nothing outlives the calls.

// mediaClock is the set of shards.
type mediaClock struct {
	shards []*clockShard
	next   atomic.Uint32
}

// sendClock paces the legs of every engine in the process: one set of
// pacing goroutines per process is the point. It has shardsPerCPU shards
// per CPU rather than one: Go's scheduler gives every runnable goroutine
// its turn alike, so on a CPU-starved machine a single shard goroutine
// carrying hundreds of legs' encoding waits as long for its turn as each
// of the legs' receive goroutines carrying one; a few shards per CPU keep
// that share fair while still waking a handful of goroutines per tick, not
// one per leg.
var sendClock = newMediaClock(shardsPerCPU * runtime.GOMAXPROCS(0))

// shardsPerCPU is how many pacing goroutines run per CPU (see sendClock).
const shardsPerCPU = 4

func newMediaClock(n int) *mediaClock {
	c := &mediaClock{shards: make([]*clockShard, max(n, 1))}
	for i := range c.shards {
		c.shards[i] = &clockShard{phase: time.Duration(i) * frameDur / time.Duration(len(c.shards))}
	}
	return c
}

// clockEpoch is what the shards' phases count from.
var clockEpoch = time.Now()

// firstTick is the shard's first tick after now: at least a frame away,
// on the shard's phase. The shards' ticks are spread evenly over the 20 ms
// (shard i of n at i*20/n ms past each multiple of 20 ms from clockEpoch)
// rather than falling wherever each shard happened to start: shards that
// tick at the same moment queue for the CPUs, and the last of them sends
// its frames late.
func (s *clockShard) firstTick(now time.Time) time.Time {
	since := now.Add(frameDur).Sub(clockEpoch)
	wait := (s.phase - since%frameDur + frameDur) % frameDur
	return now.Add(frameDur + wait)
}

// add places l on the next shard, round robin, and starts that shard's
// goroutine if it was idle.
func (c *mediaClock) add(l *leg) *clockShard {
	s := c.shards[int(c.next.Add(1))%len(c.shards)]
	s.mu.Lock()
	defer s.mu.Unlock()
	s.legs = append(s.legs, l)
	if !s.running {
		s.running = true
		go s.run()
	}
	return s
}

// clockShard is one pacing goroutine and the legs it sends for.
type clockShard struct {
	phase   time.Duration // where in each 20 ms the shard ticks (firstTick)
	mu      sync.Mutex
	legs    []*leg
	running bool
}

// remove takes l off the shard; after it returns the shard does not start
// another tick for l (one already under way may still finish its frame).
func (s *clockShard) remove(l *leg) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for i, x := range s.legs {
		if x == l {
			last := len(s.legs) - 1
			s.legs[i] = s.legs[last]
			s.legs[last] = nil
			s.legs = s.legs[:last]
			return
		}
	}
}

// maxCatchUp bounds how many frames per leg a late shard sends at once to
// make up for ticks it missed: up to 100 ms of audio goes out late (the far
// end's jitter buffer absorbs it) rather than being lost; a shard further
// behind than that skips ahead, since audio that late is worse than a gap.
const maxCatchUp = 5

// run sends a frame for each of its legs every 20 ms until the shard is
// empty. It keeps an absolute schedule rather than a time.Ticker's: when
// the shard gets the CPU late (the machine was busy), it sends the frames
// that fell due meanwhile, so a late frame is sent late instead of dropped.
// While a leg on the shard passes its received audio on live (a bridge, a
// media stream), the shard also wakes halfway between two ticks to read
// those legs' sockets, so a packet waits at most 10 ms there, not 20.
func (s *clockShard) run() {
	now := time.Now()
	next := s.firstTick(now)
	t := time.NewTimer(next.Sub(now))
	defer t.Stop()
	var batch []*leg
	// The shard's buffers, shared by its legs' ticks (shardRx).
	rx := &shardRx{batch: newRxBatch(), buf: make([]byte, dmedia.RTPBufSize), frame: make([]int16, maxFrameSamples),
		payload: make([]byte, 0, maxFrameSamples)}
	half := false // this wake-up is the one between two ticks
	for range t.C {
		s.mu.Lock()
		if len(s.legs) == 0 {
			s.running = false
			s.mu.Unlock()
			return
		}
		batch = append(batch[:0], s.legs...)
		s.mu.Unlock()
		if half {
			for _, l := range batch {
				l.midTick(rx)
			}
			clear(batch)
			half = false
			t.Reset(time.Until(next))
			continue
		}
		now := time.Now()
		due := 1 + int(now.Sub(next)/frameDur)
		if due > maxCatchUp {
			// Too far behind: skip ahead, back onto the shard's phase.
			due = 1
			next = s.firstTick(now).Add(-frameDur)
		}
		live := false
		for _, l := range batch {
			l.clockTick(due, rx)
			live = live || l.passesAudioOn()
		}
		clear(batch) // do not keep closed legs reachable until the next tick
		next = next.Add(time.Duration(due) * frameDur)
		if live {
			half = true
			t.Reset(time.Until(next.Add(-frameDur / 2)))
		} else {
			t.Reset(time.Until(next))
		}
	}
}
