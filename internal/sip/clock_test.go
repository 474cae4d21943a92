package sip

import (
	"context"
	"errors"
	"net"
	"slices"
	"sync"
	"testing"
	"time"

	dmedia "github.com/emiago/diago/media"
	"github.com/minivoice/minivoice/internal/media/rtpaudio"
	"github.com/pion/rtp"
)

// clockLeg is a leg whose sending is real (diago's packetiser over a
// loopback UDP socket, paced by the shared clock) and whose far end is a
// plain socket the test reads, without the SIP dialog around it.
func clockLeg(t *testing.T, codec dmedia.Codec) (*leg, *net.UDPConn) {
	t.Helper()
	ms, far, _ := loopbackSession(t, codec)
	w := dmedia.NewRTPPacketWriterSession(dmedia.NewRTPSession(ms))
	w.ClockDisable()
	enc, err := rtpaudio.NewAudioCodec(codec)
	if err != nil {
		t.Fatal(err)
	}
	l := &leg{codec: codec, rate: rtpaudio.PCMRate(codec), name: rtpaudio.CodecName(codec), rtpw: w, enc: enc,
		tsStep: codec.SampleTimestamp(), digits: make(chan rune, 64), cancel: func() {}}
	l.zero = make([]int16, l.frameSamples())
	l.shard = sendClock.add(l)
	t.Cleanup(l.close)
	return l, far
}

// loopbackSession is a diago media session on loopback sockets of its own
// (lRTP is its RTP socket) whose far end is the plain socket far.
func loopbackSession(t *testing.T, codecs ...dmedia.Codec) (ms *dmedia.MediaSession, far, lRTP *net.UDPConn) {
	t.Helper()
	listen := func() *net.UDPConn {
		c, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { c.Close() })
		return c
	}
	far, lRTP = listen(), listen()
	ms = &dmedia.MediaSession{Codecs: codecs}
	ms.InitWithListeners(lRTP, listen(), far.LocalAddr().(*net.UDPAddr))
	return ms, far, lRTP
}

func readPackets(t *testing.T, c *net.UDPConn, n int) []rtp.Packet {
	t.Helper()
	var out []rtp.Packet
	buf := make([]byte, 1500)
	for len(out) < n {
		k, err := c.Read(buf)
		if err != nil {
			t.Fatal(err)
		}
		var p rtp.Packet
		if err := p.Unmarshal(buf[:k]); err != nil {
			t.Fatal(err)
		}
		p.Payload = slices.Clone(p.Payload)
		out = append(out, p)
	}
	return out
}

func ramp(n int) []int16 {
	s := make([]int16, n)
	for i := range s {
		s[i] = int16(i*37%20000 - 10000)
	}
	return s
}

// TestClockPlaysPrompt plays a prompt through the clock and checks what the
// far end receives: every frame once, in order, the payloads a fresh
// encoder gives (the prompt came from the cache), the marker on the first
// packet only, and sequence numbers and timestamps that advance by one
// frame.
func TestClockPlaysPrompt(t *testing.T) {
	for _, codec := range []dmedia.Codec{dmedia.CodecAudioUlaw, rtpaudio.CodecG722} {
		t.Run(codec.Name, func(t *testing.T) {
			t.Parallel()
			l, far := clockLeg(t, codec)
			per := l.frameSamples()
			samples := ramp(per*minCachedFrames + per/2)
			if err := l.play(context.Background(), samples); err != nil {
				t.Fatal(err)
			}
			frames := minCachedFrames + 1
			got := readPackets(t, far, frames)
			ref, _ := rtpaudio.NewAudioCodec(codec)
			want := ref.Encode(nil, append(slices.Clone(samples), make([]int16, frames*per-len(samples))...))
			var payload []byte
			for i, p := range got {
				payload = append(payload, p.Payload...)
				if p.Marker != (i == 0) {
					t.Errorf("packet %d: marker %v", i, p.Marker)
				}
				if i > 0 && (p.SequenceNumber != got[i-1].SequenceNumber+1 || p.Timestamp != got[i-1].Timestamp+l.tsStep) {
					t.Errorf("packet %d: seq %d ts %d after seq %d ts %d", i, p.SequenceNumber, p.Timestamp, got[i-1].SequenceNumber, got[i-1].Timestamp)
				}
				if p.PayloadType != codec.PayloadType {
					t.Errorf("packet %d: payload type %d", i, p.PayloadType)
				}
			}
			if !slices.Equal(payload, want) {
				t.Fatal("payloads differ from the prompt's encoding")
			}
			// A second play of the same audio is the cached entry.
			if p := promptCache.Encoded(l.enc, samples, per); !slices.Equal(slices.Concat(p.Frames...), want) {
				t.Fatal("cache entry differs")
			}
			// Silence after the prompt goes out as live-encoded frames.
			if err := l.silenceFrame(); err != nil {
				t.Fatal(err)
			}
			if p := readPackets(t, far, 1)[0]; p.SequenceNumber != got[frames-1].SequenceNumber+1 {
				t.Fatalf("silence frame seq %d", p.SequenceNumber)
			}
		})
	}
}

// TestClockStops checks the three ways a send ends early: a key press
// (barge-in), the sender's context, and the leg closing.
func TestClockStops(t *testing.T) {
	t.Parallel()
	l, far := clockLeg(t, dmedia.CodecAudioUlaw)
	stop := make(chan rune, 1)
	stop <- '5'
	if err := l.playUntil(context.Background(), ramp(8000), stop); !errors.Is(err, errBargeIn) {
		t.Fatalf("barge-in: %v", err)
	}

	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- l.silence(ctx, 3600e9) }()
	readPackets(t, far, 3) // it is sending
	cancel()
	if err := <-done; !errors.Is(err, context.Canceled) {
		t.Fatalf("cancelled: %v", err)
	}
	l.jobMu.Lock()
	withdrawn := l.job == nil
	l.jobMu.Unlock()
	if !withdrawn {
		t.Fatal("the cancelled job is still on the leg")
	}

	go func() { done <- l.silence(context.Background(), 3600e9) }()
	readPackets(t, far, 1)
	l.close()
	if err := <-done; !errors.Is(err, errLegClosed) {
		t.Fatalf("closed: %v", err)
	}
	if err := l.silenceFrame(); !errors.Is(err, errLegClosed) {
		t.Fatalf("send after close: %v", err)
	}
}

// TestClockManyLegs runs many legs' sends at once on the shared shards, a
// bridge-style pull on each too, under -race; every leg gets exactly its
// frames.
func TestClockManyLegs(t *testing.T) {
	if testing.Short() {
		t.Skip("200 legs on loopback: skipped under -short")
	}
	const legs, frames = 200, 5
	var wg sync.WaitGroup
	errs := make(chan error, legs)
	fars := make([]*net.UDPConn, legs)
	for i := range legs {
		l, far := clockLeg(t, dmedia.CodecAudioUlaw)
		fars[i] = far
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := l.silence(context.Background(), frames*frameDur); err != nil {
				errs <- err
				return
			}
			ctx, cancel := context.WithCancel(context.Background())
			pulled := 0
			q := func(f []int16) {
				pulled++
				if pulled == 3 {
					cancel() // the bridge ends after its third frame
				}
				copy(f, ramp(len(f)))
			}
			l.writeMu.Lock()
			err := l.runJob(ctx, &sendJob{pull: q})
			l.writeMu.Unlock()
			if !errors.Is(err, context.Canceled) {
				errs <- err
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	for _, far := range fars {
		readPackets(t, far, frames+3)
	}
}

// TestBridgePassesPayloads checks the same-codec bridge direction: the
// received payloads go out byte for byte in 20 ms frames, whatever size the
// far end's packets had, and a frame of silence fills a gap.
func TestBridgePassesPayloads(t *testing.T) {
	t.Parallel()
	l, far := clockLeg(t, rtpaudio.CodecG722)
	q := &payloadQueue{}
	in := make([]byte, 3*payloadFrame)
	for i := range in {
		in[i] = byte(i*7 + 1)
	}
	// 30 ms and 10 ms packets: 480 bytes, three 20 ms frames.
	q.push(in[:240])
	q.push(in[240:320])
	q.push(in[320:])
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		l.writeMu.Lock()
		defer l.writeMu.Unlock()
		done <- l.runJob(ctx, &sendJob{pullPayload: q.pop})
	}()
	got := readPackets(t, far, 4)
	cancel()
	if err := <-done; !errors.Is(err, context.Canceled) {
		t.Fatal(err)
	}
	var sent []byte
	for _, p := range got[:3] {
		sent = append(sent, p.Payload...)
	}
	if !slices.Equal(sent, in) {
		t.Fatal("the payloads were not passed through unchanged")
	}
	// The queue ran dry: the fourth frame is the leg's own silence.
	if len(got[3].Payload) != payloadFrame || slices.Equal(got[3].Payload, in[:payloadFrame]) {
		t.Fatalf("fill frame %d bytes", len(got[3].Payload))
	}
	// The backlog is bounded.
	for range 100 {
		q.push(in)
	}
	if len(q.buf) != payloadMax {
		t.Fatalf("backlog %d bytes, want %d", len(q.buf), payloadMax)
	}
}

// TestShardPhases: the shards' first ticks are a frame or more away and
// fall on their own phases, spread evenly over the 20 ms.
func TestShardPhases(t *testing.T) {
	t.Parallel()
	c := newMediaClock(8)
	now := clockEpoch.Add(123456789 * time.Nanosecond)
	for i, s := range c.shards {
		at := s.firstTick(now)
		if d := at.Sub(now); d < frameDur || d >= 2*frameDur {
			t.Errorf("shard %d: first tick %v away, want [20 ms, 40 ms)", i, d)
		}
		if got, want := at.Sub(clockEpoch)%frameDur, time.Duration(i)*frameDur/8; got != want {
			t.Errorf("shard %d: phase %v, want %v", i, got, want)
		}
	}
}

// TestSendOnClosedMedia: a send whose socket is closed under it (the far
// end's BYE closes the media a moment before the call's context ends) ends
// with errLegClosed, which the actions take for the call ending, not for a
// failure the application caused.
func TestSendOnClosedMedia(t *testing.T) {
	t.Parallel()
	codec := dmedia.CodecAudioUlaw
	ms, _, lRTP := loopbackSession(t, codec)
	w := dmedia.NewRTPPacketWriterSession(dmedia.NewRTPSession(ms))
	w.ClockDisable()
	enc, _ := rtpaudio.NewAudioCodec(codec)
	l := &leg{codec: codec, rate: 8000, rtpw: w, enc: enc, tsStep: codec.SampleTimestamp(), digits: make(chan rune, 64), cancel: func() {}}
	l.zero = silentFrame(l.frameSamples())
	l.shard = sendClock.add(l)
	t.Cleanup(l.close)
	lRTP.Close()
	err := l.silenceFrame()
	if !errors.Is(err, errLegClosed) {
		t.Fatalf("send on a closed socket: %v, want errLegClosed", err)
	}
	if !hungUp(context.Background(), err) {
		t.Fatal("hungUp does not take a closed leg for the call ending")
	}
}
