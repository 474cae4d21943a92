package sip

import (
	"errors"
	"net"
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
// own, hands on exactly the good ones, in order: what diago would skip is
// left out before diago reads it, and diago's refusal of the short one
// drops only that datagram. The six arrive together, so the clock takes
// several in one batch.
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
		packet(99, 2, frame(9)), // a payload type the session does not receive: left out
		packet(0, 3, frame(3)),
		packet(0, 4, nil),  // no payload: left out
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

// onLinuxLoopbacks runs fn in parallel over IPv4 and IPv6 loopback, on
// Linux, where the media clock reads legs' sockets itself.
func onLinuxLoopbacks(t *testing.T, fn func(t *testing.T, host string)) {
	t.Helper()
	if runtime.GOOS != "linux" {
		t.Skip("the media clock reads legs' sockets on Linux only")
	}
	t.Parallel()
	for _, host := range []string{"127.0.0.1", "::1"} {
		t.Run(host, func(t *testing.T) {
			t.Parallel()
			fn(t, host)
		})
	}
}

// TestRxBatch reads datagrams queued on a socket in one batch, over IPv4
// and IPv6: each as sent, with its source as a read would give it, the
// same address value while the source does not change; nothing queued is
// none, and a closed socket says so. A stagedConn answers a read with the
// staged datagram, ends a read with nothing staged at once while the clock
// reads, and otherwise reads the socket.
func TestRxBatch(t *testing.T) {
	onLinuxLoopbacks(t, func(t *testing.T, host string) {
		sock, far, other := loopbackUDP(t, host), loopbackUDP(t, host), loopbackUDP(t, host)
		raw, err := sock.SyscallConn()
		if err != nil {
			t.Fatal(err)
		}
		b := newRxBatch()
		if n, err := b.recv(raw); n != 0 || err != nil {
			t.Fatalf("took %d datagrams from an empty socket (%v)", n, err)
		}
		sent := [][]byte{[]byte("one"), []byte("two"), []byte("three")}
		for i, d := range sent {
			from := far
			if i == 2 {
				from = other
			}
			if _, err := from.WriteTo(d, sock.LocalAddr()); err != nil {
				t.Fatal(err)
			}
		}
		var n int
		for deadline := time.Now().Add(5 * time.Second); n < len(sent) && time.Now().Before(deadline); {
			time.Sleep(5 * time.Millisecond)
			if n, err = b.recv(raw); err != nil {
				t.Fatal(err)
			}
			if n > 0 && n < len(sent) {
				t.Fatalf("took %d datagrams, want all %d queued", n, len(sent))
			}
		}
		if n != len(sent) {
			t.Fatalf("took %d datagrams, want %d", n, len(sent))
		}
		var rc legReceiver
		var froms []net.Addr
		for i := range n {
			if got := b.datagram(i); string(got) != string(sent[i]) {
				t.Fatalf("datagram %d is %q, want %q", i, got, sent[i])
			}
			froms = append(froms, b.from(i, &rc))
		}
		for i, want := range []net.Addr{far.LocalAddr(), far.LocalAddr(), other.LocalAddr()} {
			if froms[i] == nil || froms[i].String() != want.String() {
				t.Fatalf("source %d is %v, want %v", i, froms[i], want)
			}
		}
		if froms[0] != froms[1] {
			t.Fatal("the same source gave a new address value")
		}

		c := &stagedConn{PacketConn: sock, raw: raw}
		buf := make([]byte, 64)
		n, err = c.read(readerFunc(func(p []byte) (int, error) {
			n, _, err := c.ReadFrom(p)
			if err != nil {
				return n, err
			}
			_, _, err = c.ReadFrom(p) // diago reading on: nothing staged
			if !isTimeout(err) {
				t.Errorf("a second read inside the clock's read gave %v, want a timeout", err)
			}
			return n, nil
		}), []byte("staged"), froms[0], buf)
		if err != nil || string(buf[:n]) != "staged" {
			t.Fatalf("read %q, %v; want the staged datagram", buf[:n], err)
		}
		if _, err := far.WriteTo([]byte("direct"), sock.LocalAddr()); err != nil {
			t.Fatal(err)
		}
		_ = sock.SetReadDeadline(time.Now().Add(5 * time.Second))
		n, src, err := c.ReadFrom(buf)
		if err != nil || string(buf[:n]) != "direct" || src.String() != far.LocalAddr().String() {
			t.Fatalf("a read outside the clock's gave %q from %v, %v; want the socket's datagram", buf[:n], src, err)
		}
		_ = sock.Close()
		if n, err := b.recv(raw); n != 0 || !errors.Is(err, net.ErrClosed) {
			t.Fatalf("a closed socket gave %d datagrams, %v; want net.ErrClosed", n, err)
		}
	})
}

type readerFunc func([]byte) (int, error)

func (f readerFunc) Read(p []byte) (int, error) { return f(p) }

// TestOffPoller takes a socket off the poller as the media clock does: the
// original connection is closed, the socket lives on; writes reach the far
// end, a read finds what is queued and ends at once when nothing is, and
// after Close both say net.ErrClosed.
func TestOffPoller(t *testing.T) {
	onLinuxLoopbacks(t, func(t *testing.T, host string) {
		orig, far := loopbackUDP(t, host), loopbackUDP(t, host)
		laddr := orig.LocalAddr()
		o := takeOffPoller(orig)
		if o == nil {
			t.Fatal("takeOffPoller failed")
		}
		if _, _, err := orig.ReadFrom(make([]byte, 8)); !errors.Is(err, net.ErrClosed) {
			t.Fatalf("the original connection still reads (%v); want it closed", err)
		}
		if o.LocalAddr().String() != laddr.String() {
			t.Fatalf("local address %v, want %v", o.LocalAddr(), laddr)
		}
		buf := make([]byte, 64)
		if _, _, err := o.ReadFrom(buf); !isTimeout(err) {
			t.Fatalf("a read with nothing queued gave %v, want a timeout at once", err)
		}
		for i := range 2 { // the second write reuses the destination's address
			if n, err := o.WriteTo([]byte("to far"), far.LocalAddr()); err != nil || n != 6 {
				t.Fatalf("write %d: %d, %v", i, n, err)
			}
			_ = far.SetReadDeadline(time.Now().Add(5 * time.Second))
			n, from, err := far.ReadFrom(buf)
			if err != nil || string(buf[:n]) != "to far" || from.String() != laddr.String() {
				t.Fatalf("the far end read %q from %v, %v; want %q from %v", buf[:n], from, err, "to far", laddr)
			}
		}
		if _, err := far.WriteTo([]byte("to us"), laddr); err != nil {
			t.Fatal(err)
		}
		var n int
		var from net.Addr
		var err error
		for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline); time.Sleep(5 * time.Millisecond) {
			if n, from, err = o.ReadFrom(buf); !isTimeout(err) {
				break
			}
		}
		if err != nil || string(buf[:n]) != "to us" || from.String() != far.LocalAddr().String() {
			t.Fatalf("read %q from %v, %v; want %q from %v", buf[:n], from, err, "to us", far.LocalAddr())
		}
		if err := o.Close(); err != nil {
			t.Fatal(err)
		}
		if _, err := o.WriteTo([]byte("x"), far.LocalAddr()); !errors.Is(err, net.ErrClosed) {
			t.Fatalf("a write after Close gave %v, want net.ErrClosed", err)
		}
		if err := o.Control(func(uintptr) {}); !errors.Is(err, net.ErrClosed) {
			t.Fatalf("Control after Close gave %v, want net.ErrClosed", err)
		}
	})
}

// loopbackUDP is a UDP socket on host, closed with the test; the test is
// skipped where the host has no such address.
func loopbackUDP(t *testing.T, host string) *net.UDPConn {
	t.Helper()
	c, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.ParseIP(host)})
	if err != nil {
		t.Skipf("no %s here: %v", host, err)
	}
	t.Cleanup(func() { _ = c.Close() })
	return c
}
