package sip

import (
	"math/rand/v2"
	"net"
	"syscall"
	"time"

	dmedia "github.com/emiago/diago/media"
	"github.com/pion/rtcp"
)

// RTCP on the media clock. diago runs two goroutines per media session for
// RTCP (RFC 3550): one blocked reading the RTCP socket, one waking every 5 s
// to send the session's report. Measured at 500 held calls they were two of
// a call's three goroutines and 8 of its 24 KiB of goroutine stacks, besides
// a read buffer, a ticker and their garbage. Where the platform can reach
// the RTCP socket (Linux, receive_linux.go), newLeg stops diago's monitor
// and the media clock does the same work on the ticks it makes anyway:
//
//   - every rtcpPollTicks ticks it takes what has arrived on the RTCP socket,
//     without waiting, and keeps the time the kernel received each sender
//     report (SO_TIMESTAMPNS), so the delay since the last SR (DLSR) that
//     the far end uses for its round-trip time is exact however late the
//     clock reads the report;
//   - every 5 s on average, randomised between 2.5 and 7.5 s as RFC 3550
//     6.2 asks, it sends the leg's report: a sender report once the leg has
//     sent audio, else a receiver report, with one reception report block
//     for the far end's stream once audio has arrived (rxStats).
//
// A re-INVITE that gives the call a new RTP session starts diago's monitor
// for that session again; the clock then leaves that call's RTCP to diago.
// Where the socket cannot be reached, diago's monitor stays.

// rtcpPollTicks is how often, in ticks, the clock looks at a leg's RTCP
// socket: every 200 ms. Reports arrive every few seconds, and their arrival
// time comes from the kernel, so looking more often would only cost system
// calls.
const rtcpPollTicks = 10

// rtcpInterval is the mean interval between a leg's reports (diago's too).
const rtcpInterval = 5 * time.Second

// maxRTCPPerPoll bounds the datagrams one poll reads from a leg's RTCP
// socket; a flood stays in (and overflows) the socket's buffer.
const maxRTCPPerPoll = 4

// rtcpState is a leg's RTCP when the media clock runs it, used only by the
// clock under the leg's jobMu.
type rtcpState struct {
	sess *dmedia.RTPSession // the session whose monitor the clock replaced
	conn net.PacketConn     // its RTCP socket
	sock syscall.RawConn
	// pollIn and reportIn count the ticks to the next poll and report.
	pollIn, reportIn int
	// lsr and lsrAt are the middle 32 bits of the NTP time of the last
	// sender report received, and when the kernel received it.
	lsr   uint32
	lsrAt time.Time
	// sentPackets and sentOctets count the RTP the leg sent (its SR's
	// counts); lastTS is the RTP timestamp of the last packet, sent at
	// the leg's lastSend.
	sentPackets, sentOctets uint32
	lastTS                  uint32
	// stopped: a re-INVITE replaced the session; diago runs RTCP again.
	stopped bool
}

// newRTCPState is the clock's RTCP for a session whose monitor it took
// over, with its first poll and report spread at random so that the legs
// of a shard do not all read and report on the same tick.
func newRTCPState(sess *dmedia.RTPSession, conn net.PacketConn, sock syscall.RawConn) *rtcpState {
	return &rtcpState{sess: sess, conn: conn, sock: sock, pollIn: 1 + rand.IntN(rtcpPollTicks), reportIn: nextReportTicks()}
}

// nextReportTicks is the interval to a leg's next report, in ticks: uniform
// between half and one and a half times rtcpInterval (RFC 3550 6.2).
func nextReportTicks() int {
	n := int(rtcpInterval / frameDur)
	return n/2 + rand.IntN(n+1)
}

// readBackstop bounds a read of the leg's RTCP socket that its peek said
// would not wait; it only ends one the peek did not foresee.
const readBackstop = 5 * time.Millisecond

// rtcpTick is the leg's RTCP work on a media clock tick that stands for due
// frame times, reading into the shard's buffer buf; under jobMu.
func (l *leg) rtcpTick(due int, buf []byte) {
	s := l.rtcp
	if s == nil || s.stopped || l.closed {
		return
	}
	s.pollIn -= due
	s.reportIn -= due
	if s.pollIn > 0 && s.reportIn > 0 {
		return
	}
	if l.media != nil && l.media.RTPSession() != s.sess {
		// A re-INVITE replaced the session and diago monitors the new
		// one, reading the same socket: the clock keeps off it.
		s.stopped = true
		return
	}
	if s.pollIn <= 0 {
		s.pollIn = rtcpPollTicks
		l.readRTCP(buf)
	}
	if s.reportIn <= 0 {
		s.reportIn = nextReportTicks()
		if p := l.rtcpReport(time.Now()); p != nil {
			_ = l.rtcpSession().WriteRTCP(p)
		}
	}
}

// rtcpSession is the media session the leg's RTCP goes through.
func (l *leg) rtcpSession() *dmedia.MediaSession { return l.rtcp.sess.Sess }

// readRTCP takes what has arrived on the leg's RTCP socket, without
// waiting, into buf, and keeps the last sender report's time for the leg's
// reports.
func (l *leg) readRTCP(buf []byte) {
	s := l.rtcp
	var pkts [5]rtcp.Packet
	for range maxRTCPPerPoll {
		at, ok := peekArrival(s.sock, buf)
		if !ok {
			return
		}
		// The peek saw a datagram, so this read does not wait; the
		// deadline is a backstop.
		_ = s.conn.SetReadDeadline(time.Now().Add(readBackstop))
		n, err := l.rtcpSession().ReadRTCP(buf, pkts[:])
		if err != nil {
			if isTimeout(err) {
				return
			}
			continue // a datagram diago refused (SRTCP authentication, not RTCP): dropped
		}
		for _, p := range pkts[:n] {
			if sr, ok := p.(*rtcp.SenderReport); ok {
				s.lsr, s.lsrAt = uint32(sr.NTPTime>>16), at
			}
		}
		clear(pkts[:])
	}
}

// sent counts an RTP packet with payloadLen bytes and timestamp ts for the
// leg's sender reports; under jobMu.
func (s *rtcpState) sent(payloadLen int, ts uint32) {
	s.sentPackets++
	s.sentOctets += uint32(payloadLen)
	s.lastTS = ts
}

// rtcpReport is the leg's report at now: nil before anything was sent or
// received (diago sends none then either).
func (l *leg) rtcpReport(now time.Time) rtcp.Packet {
	s := l.rtcp
	var blocks []rtcp.ReceptionReport
	if rx := &l.recv.stats; rx.started {
		blocks = []rtcp.ReceptionReport{rx.block(s.lsr, s.lsrAt, now)}
	}
	ssrc := l.rtpw.SSRC
	if s.sentPackets == 0 {
		if blocks == nil {
			return nil
		}
		return &rtcp.ReceiverReport{SSRC: ssrc, Reports: blocks}
	}
	// The RTP time that corresponds to now (RFC 3550 6.4.1): the last
	// packet's timestamp advanced by the time since it went out.
	since := now.Sub(l.lastSend)
	return &rtcp.SenderReport{SSRC: ssrc, NTPTime: dmedia.NTPTimestamp(now),
		RTPTime:     s.lastTS + uint32(since.Seconds()*float64(l.codec.SampleRate)),
		PacketCount: s.sentPackets, OctetCount: s.sentOctets, Reports: blocks}
}

// rxStats are the receive statistics of the far end's stream for the
// reception report block (RFC 3550 6.4.1 and appendix A.1, A.3, A.8),
// updated by handlePacket for each packet of the stream.
type rxStats struct {
	started  bool
	ssrc     uint32
	baseSeq  uint32 // the first sequence number
	maxSeq   uint16 // the highest sequence number
	cycles   uint32 // sequence number wraps, times 65536
	received uint32
	// expectedPrior and receivedPrior are the counts at the last report,
	// for the fraction lost since.
	expectedPrior, receivedPrior uint32
	// jitter is the interarrival jitter in RTP timestamp units, times 16
	// (appendix A.8); transit is the last packet's relative transit time.
	jitter  uint32
	transit int32
}

// maxDropout is how far the sequence number may jump ahead and still be
// taken as the same stream (RFC 3550 A.1): beyond it, behind, the packet
// is late or repeated and changes nothing but the count.
const maxDropout = 3000

// packet counts a packet of the far end's stream with header fields seq,
// ts and ssrc that arrived at arrival (in RTP timestamp units of the
// stream's clock). Only audio packets move the jitter: a key press's
// packets all carry the timestamp of the event's start.
func (r *rxStats) packet(ssrc uint32, seq uint16, ts uint32, arrival uint32, audio bool) {
	if !r.started || ssrc != r.ssrc {
		*r = rxStats{started: true, ssrc: ssrc, baseSeq: uint32(seq), maxSeq: seq, transit: int32(arrival - ts), received: 1}
		return
	}
	if delta := seq - r.maxSeq; delta < maxDropout {
		if seq < r.maxSeq {
			r.cycles += 1 << 16
		}
		r.maxSeq = seq
	}
	r.received++
	if !audio {
		return
	}
	transit := int32(arrival - ts)
	d := transit - r.transit
	r.transit = transit
	if d < 0 {
		d = -d
	}
	r.jitter += uint32(d) - ((r.jitter + 8) >> 4)
}

// rtpClock is the time t in units of an RTP clock of rate Hz, counted from
// clockEpoch (only differences between two such times mean anything).
func rtpClock(t time.Time, rate uint32) uint32 {
	return uint32(t.Sub(clockEpoch).Microseconds() * int64(rate) / 1e6)
}

// block is the reception report block at now, given the last sender report
// received (lsr, at lsrAt; zero when none was). It starts the next interval
// for the fraction lost.
func (r *rxStats) block(lsr uint32, lsrAt, now time.Time) rtcp.ReceptionReport {
	extMax := r.cycles + uint32(r.maxSeq)
	expected := extMax - r.baseSeq + 1
	lost := int64(expected) - int64(r.received)
	// The cumulative count is a signed 24-bit number; pion takes its low
	// 24 bits, so a negative one (repeated packets) is sent as RFC 3550 A.3
	// clamps it.
	lost = min(max(lost, -0x800000), 0x7fffff)
	expInterval := expected - r.expectedPrior
	recvInterval := r.received - r.receivedPrior
	r.expectedPrior, r.receivedPrior = expected, r.received
	var fraction uint8
	if lostInterval := int64(expInterval) - int64(recvInterval); expInterval > 0 && lostInterval > 0 {
		fraction = uint8(min(lostInterval<<8/int64(expInterval), 255))
	}
	var dlsr uint32
	if lsr != 0 && !lsrAt.IsZero() {
		// In units of 1/65536 s.
		dlsr = uint32(max(now.Sub(lsrAt), 0) * 65536 / time.Second)
	}
	return rtcp.ReceptionReport{SSRC: r.ssrc, FractionLost: fraction, TotalLost: uint32(lost) & 0xffffff,
		LastSequenceNumber: extMax, Jitter: r.jitter >> 4, LastSenderReport: lsr, Delay: dlsr}
}
