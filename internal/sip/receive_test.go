package sip

import (
	"runtime"
	"slices"
	"sync"
	"testing"
	"time"

	dmedia "github.com/emiago/diago/media"
	"github.com/minivoice/minivoice/internal/media/dtmf"
	"github.com/minivoice/minivoice/internal/media/rtpaudio"
	"github.com/pion/rtp"
)

// TestLegReadsOnTheClock has a far end send a leg's socket good packets
// among the ones diago's reader skips or refuses (an unknown payload type,
// an empty payload, a datagram too short for RTP) and checks that the media
// clock, reading the socket on its ticks without a goroutine of the leg's
// own, hands on exactly the good ones, in order: the peek drops what diago
// would skip before diago reads it, and diago's refusal of the short one
// drops only that datagram.
func TestLegReadsOnTheClock(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("the media clock reads legs' sockets on Linux only")
	}
	t.Parallel()
	codec := dmedia.CodecAudioUlaw
	ms, far, lRTP := loopbackSession(t, codec, dmedia.CodecTelephoneEvent8000)
	conn := clockConn(ms)
	if conn == nil {
		t.Fatal("clockConn found no socket in diago's media session: the pinned diago changed; see receive_linux.go")
	}
	reader := dmedia.NewRTPPacketReaderSession(dmedia.NewRTPSession(ms))
	dec, _ := rtpaudio.NewAudioCodec(codec)
	l := &leg{codec: codec, rate: 8000, digits: make(chan rune, 64), cancel: func() {}}
	l.recv = legReceiver{r: reader, session: func() *dmedia.MediaSession { return ms }, hdr: &reader.PacketHeader, dec: dec,
		audioPT: int(codec.PayloadType), dtmfPT: int(dmedia.CodecTelephoneEvent8000.PayloadType),
		det: dtmf.NewDetector(), conn: conn, ms: ms}
	var (
		mu  sync.Mutex
		got [][]byte
	)
	tap := func(p []byte) {
		mu.Lock()
		defer mu.Unlock()
		got = append(got, slices.Clone(p))
	}
	l.farPayload.Store(&tap)
	l.shard = sendClock.add(l)
	t.Cleanup(l.close)

	packet := func(pt uint8, seq uint16, payload []byte) []byte {
		b, err := (&rtp.Packet{Header: rtp.Header{Version: 2, PayloadType: pt, SequenceNumber: seq, Timestamp: uint32(seq) * 160, SSRC: 7},
			Payload: payload}).Marshal()
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	frame := func(b byte) []byte { return slices.Repeat([]byte{b}, 160) }
	to := lRTP.LocalAddr()
	for _, b := range [][]byte{
		packet(0, 1, frame(1)),
		packet(99, 2, frame(9)), // a payload type the session does not receive: dropped by the peek
		packet(0, 3, frame(3)),
		packet(0, 4, nil),  // no payload: dropped by the peek
		{0x80, 0x00, 0x01}, // too short for RTP: diago's read refuses it
		packet(0, 5, frame(5)),
	} {
		if _, err := far.WriteTo(b, to); err != nil {
			t.Fatal(err)
		}
	}
	want := [][]byte{frame(1), frame(3), frame(5)}
	deadline := time.Now().Add(10 * time.Second)
	for {
		mu.Lock()
		n := len(got)
		mu.Unlock()
		if n >= len(want) || time.Now().After(deadline) {
			break
		}
		time.Sleep(5 * time.Millisecond)
	}
	mu.Lock()
	defer mu.Unlock()
	if !slices.EqualFunc(got, want, slices.Equal[[]byte]) {
		t.Fatalf("the far tap got %d payloads starting %v, want the 3 good ones in order", len(got), firstBytes(got))
	}
	if n := l.received.Load(); n != 3 {
		t.Fatalf("received %d packets, want 3", n)
	}
	if l.silentFor(time.Now()) > 10*time.Second {
		t.Fatal("lastRTP not updated")
	}
}

func firstBytes(ps [][]byte) []byte {
	var out []byte
	for _, p := range ps {
		if len(p) > 0 {
			out = append(out, p[0])
		}
	}
	return out
}

// TestPassesAudioOn: the legs the clock reads again halfway between ticks
// are those whose received audio goes on at once (a bridge's payloads or
// PCM, a live media stream), not those that only record it.
func TestPassesAudioOn(t *testing.T) {
	t.Parallel()
	l := &leg{}
	if l.passesAudioOn() {
		t.Fatal("a bare leg passes audio on")
	}
	push := func([]byte) {}
	l.farPayload.Store(&push)
	if !l.passesAudioOn() {
		t.Fatal("a bridge's payload tap does not count")
	}
	l.farPayload.Store(nil)
	l.setFarTap(func([]int16) {})
	if !l.passesAudioOn() {
		t.Fatal("a PCM tap does not count")
	}
	l.setFarTap(nil)
	l.taps.Store(&[]mediaTap{nil})
	if !l.passesAudioOn() {
		t.Fatal("a media stream does not count")
	}
	l.taps.Store(&[]mediaTap{})
	if l.passesAudioOn() {
		t.Fatal("an empty stream list counts")
	}
}
