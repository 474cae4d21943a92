package sip

import (
	"context"
	"net"
	"reflect"
	"runtime"
	"slices"
	"testing"
	"time"
	"unsafe"

	"github.com/emiago/diago"
	dmedia "github.com/emiago/diago/media"
	"github.com/emiago/diago/media/sdp"
	"github.com/minivoice/minivoice/internal/media/dtmf"
	"github.com/minivoice/minivoice/internal/media/rtpaudio"
	"github.com/pion/rtcp"
	"github.com/pion/rtp"
)

// TestRxStats checks the reception report block against RFC 3550's
// appendix A: the extended highest sequence number across a wrap, the
// cumulative and interval loss, late and repeated packets, a new source,
// the jitter of a steady stream, and the delay since the last SR.
func TestRxStats(t *testing.T) {
	t.Parallel()
	var r rxStats
	now := time.Unix(1000, 0)
	// 65530 .. 65535, 0 .. 9 with 2 and 5 lost, every packet 160 units
	// apart and arriving exactly so: no jitter.
	var seq uint16 = 65530
	for i := 0; i < 16; i++ {
		if seq != 2 && seq != 5 {
			r.packet(7, seq, uint32(i)*160, 5000+uint32(i)*160, true)
		}
		seq++
	}
	b := r.block(0, time.Time{}, now)
	if b.SSRC != 7 || b.LastSequenceNumber != 1<<16+9 || b.TotalLost != 2 || b.Jitter != 0 || b.Delay != 0 || b.LastSenderReport != 0 {
		t.Fatalf("first block %+v", b)
	}
	if want := uint8(2 * 256 / 16); b.FractionLost != want {
		t.Fatalf("fraction lost %d, want %d", b.FractionLost, want)
	}
	// A late packet and a repeated one count as received but move nothing;
	// a key press's packet counts without moving the jitter.
	r.packet(7, 3, 9*160, 5000+9*160, true) // late, in transit as long as the others
	r.packet(7, 9, 15*160, 9999, false)
	b = r.block(0, time.Time{}, now)
	if b.LastSequenceNumber != 1<<16+9 || b.TotalLost != 0 || b.FractionLost != 0 {
		t.Fatalf("after late and repeated packets %+v", b)
	}
	// The next interval: ten more, every other one 80 units late.
	for i := 0; i < 10; i++ {
		arr := 5000 + uint32(16+i)*160
		if i%2 == 1 {
			arr += 80
		}
		r.packet(7, uint16(10+i), uint32(16+i)*160, arr, true)
	}
	at := now.Add(-1500 * time.Millisecond)
	b = r.block(0xabcd1234, at, now)
	if b.LastSequenceNumber != 1<<16+19 || b.FractionLost != 0 || b.LastSenderReport != 0xabcd1234 {
		t.Fatalf("second block %+v", b)
	}
	if b.Delay != 65536*3/2 {
		t.Fatalf("DLSR %d, want 1.5 s in 1/65536 s", b.Delay)
	}
	if b.Jitter == 0 || b.Jitter > 80 {
		t.Fatalf("jitter %d units for packets alternately 80 late", b.Jitter)
	}
	// A new source starts over.
	r.packet(8, 100, 0, 0, true)
	if b = r.block(0, time.Time{}, now); b.SSRC != 8 || b.LastSequenceNumber != 100 || b.TotalLost != 0 {
		t.Fatalf("new source %+v", b)
	}
}

// TestLegRTCPOnTheClock runs a leg's RTCP on the media clock in place of
// diago's monitor, over real sockets: the far end sends RTP (one packet
// lost) and a sender report, the leg sends five frames, and the report the
// leg then sends is a sender report with the leg's counts and a reception
// report block for the far end's stream, whose LSR is the far end's SR
// and whose DLSR the time since the kernel received it.
func TestLegRTCPOnTheClock(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("the media clock runs RTCP on Linux only")
	}
	t.Parallel()
	l, farRTP, farRTCP, lRTP, lRTCP := rtcpLeg(t, dmedia.CodecAudioUlaw)
	w := l.rtpw

	for seq := uint16(1); seq <= 10; seq++ {
		if seq == 4 {
			continue
		}
		b, _ := (&rtp.Packet{Header: rtp.Header{Version: 2, PayloadType: 0, SequenceNumber: seq, Timestamp: uint32(seq) * 160, SSRC: 7},
			Payload: slices.Repeat([]byte{0xff}, 160)}).Marshal()
		if _, err := farRTP.WriteTo(b, lRTP); err != nil {
			t.Fatal(err)
		}
	}
	if err := l.silence(context.Background(), 5*frameDur); err != nil {
		t.Fatal(err)
	}
	for deadline := time.Now().Add(10 * time.Second); l.received.Load() < 9 && time.Now().Before(deadline); {
		time.Sleep(5 * time.Millisecond)
	}
	if n := l.received.Load(); n != 9 {
		t.Fatalf("received %d RTP packets, want 9", n)
	}
	ntp := dmedia.NTPTimestamp(time.Now())
	b, _ := (&rtcp.SenderReport{SSRC: 7, NTPTime: ntp, RTPTime: 1600, PacketCount: 9, OctetCount: 1440}).Marshal()
	if _, err := farRTCP.WriteTo(b, lRTCP); err != nil {
		t.Fatal(err)
	}
	sentAt := time.Now()
	// Wait past a poll for the SR, then ask for the report on the next tick.
	time.Sleep(3 * rtcpPollTicks * frameDur)
	l.jobMu.Lock()
	l.rtcp.reportIn = 1
	l.jobMu.Unlock()

	_ = farRTCP.SetReadDeadline(time.Now().Add(10 * time.Second))
	buf := make([]byte, 1500)
	n, err := farRTCP.Read(buf)
	if err != nil {
		t.Fatalf("no report from the leg: %v", err)
	}
	pkts, err := rtcp.Unmarshal(buf[:n])
	if err != nil || len(pkts) != 1 {
		t.Fatalf("report %v: %v", pkts, err)
	}
	sr, ok := pkts[0].(*rtcp.SenderReport)
	if !ok {
		t.Fatalf("report is %T, want a sender report", pkts[0])
	}
	if sr.SSRC != w.SSRC || sr.PacketCount != 5 || sr.OctetCount != 5*160 {
		t.Fatalf("sender info %+v, want SSRC %d, 5 packets, 800 octets", sr, w.SSRC)
	}
	if len(sr.Reports) != 1 {
		t.Fatalf("%d reception report blocks, want 1", len(sr.Reports))
	}
	rr := sr.Reports[0]
	if rr.SSRC != 7 || rr.LastSequenceNumber != 10 || rr.TotalLost != 1 || rr.LastSenderReport != uint32(ntp>>16) {
		t.Fatalf("reception report %+v", rr)
	}
	if dlsr := time.Duration(rr.Delay) * time.Second / 65536; dlsr <= 0 || dlsr > time.Since(sentAt)+time.Millisecond {
		t.Fatalf("DLSR %v, the SR was sent %v ago", dlsr, time.Since(sentAt))
	}

	// A re-INVITE gives the dialog another RTP session, which diago
	// monitors: the clock stops reading and reporting for the leg.
	l.jobMu.Lock()
	l.media = &diago.DialogMedia{} // its RTPSession is not the one taken over
	l.done = make(chan struct{})
	close(l.done) // no reader goroutine to wait for at close
	l.rtcp.reportIn = 1
	l.jobMu.Unlock()
	_ = farRTCP.SetReadDeadline(time.Now().Add(20 * rtcpPollTicks * frameDur))
	if n, err := farRTCP.Read(buf); err == nil {
		t.Fatalf("a report (%d bytes) after the session was replaced", n)
	}
	l.jobMu.Lock()
	stopped := l.rtcp.stopped
	l.jobMu.Unlock()
	if !stopped {
		t.Fatal("the clock still runs the RTCP of a replaced session")
	}
}

// TestRawOut checks the clock's own RTP writer (rawOut) on a session that
// negotiated plain RTP on a transport that may offer SRTP: the packets are
// the packetiser's (marker, sequence numbers, timestamps, SSRC), diago's
// write buffer is never made, a session that may only receive sends
// nothing, and after a re-INVITE diago's writer takes over with the
// sequence and timestamps going on.
func TestRawOut(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("the media clock runs RTCP, and so writes RTP itself, on Linux only")
	}
	t.Parallel()
	l, farRTP, _, _, _ := rtcpLeg(t, dmedia.CodecAudioUlaw)
	if l.rtpw.Writer() != &l.out {
		t.Fatal("the packetiser does not write through rawOut")
	}
	ms := l.recv.ms
	mode := reflect.ValueOf(ms).Elem().FieldByName("mode")
	buf := reflect.ValueOf(ms).Elem().FieldByName("writeRTPBuf")
	if !mode.IsValid() || !buf.IsValid() || !reflect.ValueOf(ms).Elem().FieldByName("localCtxSRTP").IsValid() {
		t.Fatal("diago's media session has no mode, localCtxSRTP or writeRTPBuf field: the pinned diago changed; see rawOut in leg.go")
	}
	silence := func(frames int) {
		t.Helper()
		if err := l.silence(context.Background(), time.Duration(frames)*frameDur); err != nil {
			t.Fatal(err)
		}
	}
	silence(5)
	got := readPackets(t, farRTP, 5)
	for i, p := range got {
		if p.Marker != (i == 0) || p.SSRC != l.rtpw.SSRC || p.PayloadType != 0 || len(p.Payload) != 160 {
			t.Errorf("packet %d: marker %v SSRC %d (want %d) PT %d, %d bytes", i, p.Marker, p.SSRC, l.rtpw.SSRC, p.PayloadType, len(p.Payload))
		}
		if i > 0 && (p.SequenceNumber != got[i-1].SequenceNumber+1 || p.Timestamp != got[i-1].Timestamp+160) {
			t.Errorf("packet %d: seq %d ts %d after seq %d ts %d", i, p.SequenceNumber, p.Timestamp, got[i-1].SequenceNumber, got[i-1].Timestamp)
		}
	}
	if !buf.IsNil() {
		t.Fatal("diago made its write buffer")
	}

	// The far end holds the call (it may only send): nothing goes out.
	reflect.NewAt(mode.Type(), unsafe.Pointer(mode.UnsafeAddr())).Elem().SetString(sdp.ModeRecvonly)
	l.jobMu.Lock()
	l.out.init(l)
	l.jobMu.Unlock()
	silence(3)
	_ = farRTP.SetReadDeadline(time.Now().Add(10 * frameDur))
	if n, err := farRTP.Read(make([]byte, 1500)); err == nil {
		t.Fatalf("a packet (%d bytes) on hold", n)
	}
	_ = farRTP.SetReadDeadline(time.Time{})

	// A re-INVITE: diago's new RTP session writes from now on.
	fork := ms.Fork()
	fork.Raddr = ms.Raddr
	l.rtpw.UpdateRTPSession(dmedia.NewRTPSession(fork))
	l.rtpw.ClockDisable()
	silence(2)
	last := got[len(got)-1]
	for _, p := range readPackets(t, farRTP, 2) {
		steps := uint32(uint16(p.SequenceNumber - last.SequenceNumber))
		if steps == 0 || p.Timestamp-last.Timestamp != 160*steps || p.SSRC != last.SSRC {
			t.Fatalf("after the re-INVITE: seq %d ts %d SSRC %d after seq %d ts %d SSRC %d", p.SequenceNumber, p.Timestamp, p.SSRC,
				last.SequenceNumber, last.Timestamp, last.SSRC)
		}
		last = p
	}
}

// rtcpLeg is a leg on the media clock as newLeg makes it on Linux: the
// clock reads its RTP socket and runs its RTCP (the far end is a pair of
// plain sockets, farRTP and farRTCP), and writes its RTP with rawOut.
func rtcpLeg(t *testing.T, codec dmedia.Codec) (l *leg, farRTP, farRTCP *net.UDPConn, lRTP, lRTCP net.Addr) {
	t.Helper()
	ms, farRTP, farRTCP, lRTP, lRTCP := rtcpSession(t, codec)
	// As the platform's transports set it up: SDES may be offered, and
	// this session negotiated plain RTP (no SRTP context).
	ms.SecureRTP = 1
	sess := dmedia.NewRTPSession(ms)
	reader := dmedia.NewRTPPacketReaderSession(sess)
	w := dmedia.NewRTPPacketWriterSession(sess)
	w.ClockDisable()
	if err := sess.MonitorBackground(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = sess.Close() })
	enc, _ := rtpaudio.NewAudioCodec(codec)
	dec, _ := rtpaudio.NewAudioCodec(codec)
	l = &leg{codec: codec, rate: rtpaudio.PCMRate(codec), rtpw: w, enc: enc, tsStep: codec.SampleTimestamp(), digits: make(chan rune, 64), cancel: func() {}}
	l.zero = make([]int16, l.frameSamples())
	l.recv = legReceiver{r: reader, session: func() *dmedia.MediaSession { return ms }, hdr: &reader.PacketHeader, dec: dec,
		audioPT: int(codec.PayloadType), dtmfPT: -1, det: dtmf.NewDetector(), conn: clockConn(ms), ms: ms}
	if l.rtcp = takeOverRTCP(sess, ms); l.rtcp == nil {
		t.Fatal("takeOverRTCP found no RTCP socket in diago's media session: the pinned diago changed; see receive_linux.go")
	}
	l.out.init(l)
	l.shard = sendClock.add(l)
	t.Cleanup(l.close)
	return l, farRTP, farRTCP, lRTP, lRTCP
}

// rtcpSession is a diago media session on loopback sockets of its own whose
// far end is a pair of plain sockets on adjacent ports (RTP, and RTCP on
// the next port, where diago sends it).
func rtcpSession(t *testing.T, codecs ...dmedia.Codec) (ms *dmedia.MediaSession, farRTP, farRTCP *net.UDPConn, lRTP, lRTCP net.Addr) {
	t.Helper()
	listen := func(port int) (*net.UDPConn, error) {
		return net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1), Port: port})
	}
	for range 50 {
		a, err := listen(0)
		if err != nil {
			t.Fatal(err)
		}
		b, err := listen(a.LocalAddr().(*net.UDPAddr).Port + 1)
		if err != nil {
			a.Close()
			continue
		}
		farRTP, farRTCP = a, b
		break
	}
	if farRTP == nil {
		t.Fatal("no two adjacent free UDP ports on loopback")
	}
	rtpConn, err := listen(0)
	if err != nil {
		t.Fatal(err)
	}
	rtcpConn, err := listen(0)
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []*net.UDPConn{farRTP, farRTCP, rtpConn, rtcpConn} {
		t.Cleanup(func() { c.Close() })
	}
	ms = &dmedia.MediaSession{Codecs: codecs}
	ms.InitWithListeners(rtpConn, rtcpConn, farRTP.LocalAddr().(*net.UDPAddr))
	return ms, farRTP, farRTCP, rtpConn.LocalAddr(), rtcpConn.LocalAddr()
}
