package sip

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"sync"
	"sync/atomic"
	"time"

	"github.com/emiago/diago"
	"github.com/emiago/diago/audio"
	dmedia "github.com/emiago/diago/media"
	"github.com/prometheus/client_golang/prometheus"
)

// leg is the media side of one call: what the platform sends (paced 20 ms
// frames, encoded to the negotiated codec) and what it receives (read
// continuously, so the far end's RTP is drained and its silence noticed).
type leg struct {
	media *diago.DialogMedia
	codec dmedia.Codec
	rate  int

	writeMu sync.Mutex // one sender at a time: prompts never interleave
	enc     *audio.PCMEncoderWriter
	frame   []byte // one 20 ms frame of little-endian PCM16

	lastRTP  atomic.Int64 // unix nanos of the last packet received
	received atomic.Int64 // packets received

	jitter   prometheus.Observer // send-interval deviation, nil to skip
	lastSend time.Time           // when the previous frame went out (under writeMu)
}

// newLeg wraps answered media.
func newLeg(m *diago.DialogMedia, now time.Time, jitter prometheus.Observer) (*leg, error) {
	w, err := m.AudioWriter()
	if err != nil {
		return nil, fmt.Errorf("audio writer: %w", err)
	}
	codec := dmedia.CodecAudioFromSession(m.MediaSession())
	enc := &audio.PCMEncoderWriter{}
	if err := enc.Init(codec, w); err != nil {
		return nil, fmt.Errorf("encoder for %s: %w", codec.Name, err)
	}
	rate := int(codec.SampleRate)
	l := &leg{media: m, codec: codec, rate: rate, enc: enc, frame: make([]byte, rate/50*2), jitter: jitter}
	l.lastRTP.Store(now.UnixNano())
	return l, nil
}

// codecName is the SDP name of the negotiated codec, as the call object shows it.
func (l *leg) codecName() string {
	switch l.codec.PayloadType {
	case 0:
		return "PCMU"
	case 8:
		return "PCMA"
	}
	return l.codec.Name
}

// readLoop drains received audio until ctx ends or the media closes.
func (l *leg) readLoop(ctx context.Context) {
	r, err := l.media.AudioReader()
	if err != nil {
		return
	}
	buf := make([]byte, dmedia.RTPBufSize)
	for ctx.Err() == nil {
		if _, err := r.Read(buf); err != nil {
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
	}
}

// silentFor is how long nothing has been received.
func (l *leg) silentFor(now time.Time) time.Duration {
	return now.Sub(time.Unix(0, l.lastRTP.Load()))
}

// play sends samples (mono PCM16 at the leg's rate) in 20 ms frames, paced by
// the RTP writer's clock; it stops early when ctx ends.
func (l *leg) play(ctx context.Context, samples []int16) error {
	l.writeMu.Lock()
	defer l.writeMu.Unlock()
	per := len(l.frame) / 2
	for off := 0; off < len(samples); off += per {
		if err := ctx.Err(); err != nil {
			return err
		}
		end := min(off+per, len(samples))
		for i := range per {
			var s int16
			if off+i < end {
				s = samples[off+i]
			}
			binary.LittleEndian.PutUint16(l.frame[2*i:], uint16(s))
		}
		if _, err := l.enc.Write(l.frame); err != nil {
			return fmt.Errorf("send audio: %w", err)
		}
		// The writer returns on its 20 ms clock tick; how far the interval
		// between sends strays from 20 ms is the send jitter the far end sees.
		// Frames sent back to back (a prompt, silence) are measured; a gap
		// between two sends longer than 100 ms is a pause in sending, not jitter.
		now := time.Now()
		if d := now.Sub(l.lastSend); l.jitter != nil && d < 100*time.Millisecond {
			d -= 20 * time.Millisecond
			l.jitter.Observe(max(d, -d).Seconds())
		}
		l.lastSend = now
	}
	return nil
}

// silence sends d of silence: keeping RTP flowing avoids dead air and keeps
// NAT bindings and the far end's media timers alive.
func (l *leg) silence(ctx context.Context, d time.Duration) error {
	frames := int(d / (20 * time.Millisecond))
	zero := make([]int16, len(l.frame)/2)
	for i := 0; i < frames; i++ {
		if err := l.play(ctx, zero); err != nil {
			return err
		}
	}
	return nil
}
