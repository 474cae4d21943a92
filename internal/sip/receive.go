package sip

import (
	"context"
	"errors"
	"io"
	"net"
	"syscall"
	"time"

	dmedia "github.com/emiago/diago/media"
	"github.com/minivoice/minivoice/internal/media/dtmf"
	"github.com/minivoice/minivoice/internal/media/rtpaudio"
	"github.com/pion/rtp"
)

// Receiving. A goroutine per leg blocked in a read on the leg's socket costs
// a wake-up of the Go scheduler (often of an idle OS thread) for every packet
// that arrives: with 500 two-way calls that is 25 000 wake-ups a second, and
// measured it made a received packet cost more CPU than a sent one. The
// media clock already wakes every 20 ms for each leg it sends for, so on
// each tick it also takes whatever has arrived on the leg's socket since the
// last one, without waiting (and halfway between ticks too, for legs whose
// audio goes on live: clock.go): one recvmmsg(2) with MSG_DONTWAIT takes
// every queued datagram at once (rxBatch), and each goes through diago's
// reader chain (SRTP, RTCP receive statistics, RTP parsing) by way of the
// stagedConn that stands in for the session's socket, so diago's read costs
// no system call. A packet waits at most 10 ms in the socket's buffer when
// a bridge or a media stream takes it at once, and at most a tick (20 ms)
// otherwise: the recorders place audio by arrival with 80 ms of slack, and
// key presses last far longer.

// maxPacketsPerTick bounds what one leg's socket may take of a tick: 16
// packets is 320 ms of 20 ms audio, far more than a tick brings; a flood
// beyond it stays in (and overflows) the socket's own buffer instead of
// delaying the other legs on the shard.
const maxPacketsPerTick = 16

// stagedConn stands in for a media session's RTP socket where the media
// clock reads it. The clock takes the datagrams off the socket itself and
// stages each in turn for diago's reader chain, whose read of the socket
// this ReadFrom answers with the staged datagram; a read while the clock is
// inside diago's reader with nothing staged (diago skipping a datagram and
// reading on) ends at once as a timeout, instead of waiting for the next
// packet. Reads by anyone else, writes, deadlines and Close go to the
// socket. Only the clock, under the leg's jobMu, stages and reads.
type stagedConn struct {
	net.PacketConn
	raw     syscall.RawConn
	data    []byte   // the staged datagram (in the shard's batch)
	from    net.Addr // its source
	staged  bool
	reading bool // the clock is inside diago's reader
}

func (c *stagedConn) ReadFrom(b []byte) (int, net.Addr, error) {
	if c.staged {
		c.staged = false
		return copy(b, c.data), c.from, nil
	}
	if c.reading {
		return 0, nil, errNothingStaged{}
	}
	return c.PacketConn.ReadFrom(b)
}

// SyscallConn is the socket's, for the clock's reads.
func (c *stagedConn) SyscallConn() (syscall.RawConn, error) { return c.raw, nil }

// read has diago's reader r read the datagram b from from, into buf.
func (c *stagedConn) read(r io.Reader, b []byte, from net.Addr, buf []byte) (int, error) {
	c.data, c.from, c.staged, c.reading = b, from, true, true
	n, err := r.Read(buf)
	c.data, c.from, c.staged, c.reading = nil, nil, false, false
	return n, err
}

// errNothingStaged is a stagedConn's read with nothing staged: a timeout,
// as a read past its deadline would be.
type errNothingStaged struct{}

func (errNothingStaged) Error() string   { return "no datagram staged" }
func (errNothingStaged) Timeout() bool   { return true }
func (errNothingStaged) Temporary() bool { return true }

// shardRx is a clock shard's buffers, for what it receives and sends: a
// batch for RTP (nil where the clock does not read sockets), one
// datagram's buffer for diago's reader, the RTCP peek and the packet being
// sent, and the PCM frame and payload being sent. A leg's tick uses them
// one after the other, so the shard's legs share them rather than each
// keeping its own (a kilobyte or two of every call).
type shardRx struct {
	batch   *rxBatch
	buf     []byte
	frame   []int16
	payload []byte
}

// legReceiver is a leg's receive side: diago's audio reader and what the
// platform does with each packet (loss count, key presses, decoding for the
// recorders, taps and streams).
type legReceiver struct {
	r       io.Reader
	session func() *dmedia.MediaSession // the leg's media session now (a re-INVITE may change it)
	hdr     *rtp.Header                 // diago's header of the packet just read
	dec     *rtpaudio.AudioCodec
	audioPT int
	dtmfPT  int
	buf     []byte  // readLoop's buffer; the media clock reads into its shard's
	pcm     []int16 // grown by Decode to the largest packet seen
	det     *dtmf.Detector

	lastSeq  uint16
	seen     bool
	ended    bool // the socket was closed: nothing more to read
	lastSSRC uint32
	stats    rxStats // for the leg's RTCP reports (rtcp.go)

	// conn stands in for the leg's RTP socket when the media clock reads
	// it (receive_linux.go); nil when a goroutine reads instead. ms is the
	// session it was found on: a re-INVITE's new session gets it too.
	conn   *stagedConn
	ms     *dmedia.MediaSession
	peeked rtp.Packet // the header of the datagram being looked at
	// from is the source of the last datagram the clock read, fromName
	// its socket address, given again while it does not change.
	from     net.Addr
	fromName [28]byte
	fromLen  int
}

// readLoop is the leg's reader goroutine where the clock cannot read the
// socket: it handles every packet until ctx ends or the media closes.
func (l *leg) readLoop(ctx context.Context) {
	rc := &l.recv
	for ctx.Err() == nil {
		n, err := rc.r.Read(rc.buf)
		if err != nil {
			if errors.Is(err, io.EOF) || errors.Is(err, context.Canceled) || ctx.Err() != nil {
				return
			}
			if isTimeout(err) {
				continue
			}
			return
		}
		l.handlePacket(rc.buf[:n])
	}
}

// receive reads, without waiting, what has arrived on the leg's socket
// since the last tick and handles it, reading into the clock shard's
// buffers rx. The media clock calls it under jobMu.
func (l *leg) receive(rx *shardRx) {
	rc := &l.recv
	if rc.conn == nil || rc.ended || l.closed || rx.batch == nil {
		return
	}
	n, err := rx.batch.recv(rc.conn.raw)
	if err != nil {
		rc.ended = errors.Is(err, net.ErrClosed)
		return
	}
	if n == 0 {
		return
	}
	// The session and its codecs, once per tick that has packets: a
	// re-INVITE may change them between ticks, and a new session (diago's
	// fork of the old one) must answer diago's reads with the clock's.
	ms := rc.session()
	if ms != rc.ms {
		if c := clockConn(ms); c != nil {
			rc.conn, rc.ms = c, ms
		}
	}
	for i := range n {
		b := rx.batch.datagram(i)
		if !l.readable(ms, b) {
			continue // what diago would skip, and read on
		}
		k, err := rc.conn.read(rc.r, b, rx.batch.from(i, rc), rx.buf)
		if err != nil {
			if errors.Is(err, io.EOF) || errors.Is(err, net.ErrClosed) {
				rc.ended = true
				return
			}
			continue // a datagram diago refused (SRTP authentication, a bad header): dropped
		}
		l.handlePacket(rx.buf[:k])
	}
}

// midTick is the media clock's wake-up between two ticks: it reads the
// leg's socket if the leg passes its received audio on live (into the
// shard's buffer rx).
func (l *leg) midTick(rx *shardRx) {
	if !l.passesAudioOn() {
		return
	}
	l.jobMu.Lock()
	defer l.jobMu.Unlock()
	l.receive(rx)
}

// passesAudioOn reports whether what the leg receives goes on at once to
// someone waiting for it (the other leg of a bridge, a live media stream),
// rather than only to recorders and detectors, which take it by arrival
// time whatever the delay.
func (l *leg) passesAudioOn() bool {
	if l.farPayload.Load() != nil || l.farTap.Load() != nil {
		return true
	}
	ts := l.taps.Load()
	return ts != nil && len(*ts) > 0
}

// readable reports whether diago's reader will pass the datagram b up
// rather than skip it and read again: RTP version 2, a payload, and a
// payload type the session receives. A datagram that does not parse is
// readable: diago returns its error.
func (l *leg) readable(ms *dmedia.MediaSession, b []byte) bool {
	p := &l.recv.peeked
	if err := p.Unmarshal(b); err != nil {
		return true
	}
	if p.Version == 0 || len(p.Payload) == 0 {
		return false
	}
	codecs := ms.CommonCodecs()
	if len(codecs) == 0 {
		codecs = ms.Codecs
	}
	for _, c := range codecs {
		if c.PayloadTypeRecv() == p.PayloadType {
			return true
		}
	}
	return false
}

// isTimeout reports whether err is a read deadline passing.
func isTimeout(err error) bool {
	var ne interface{ Timeout() bool }
	return errors.As(err, &ne) && ne.Timeout()
}

// handlePacket takes the packet diago's reader just read, its payload in
// payload (the reader's buffer) and its header in recv.hdr.
func (l *leg) handlePacket(payload []byte) {
	rc := &l.recv
	hdr := rc.hdr
	l.received.Add(1)
	now := time.Now()
	l.lastRTP.Store(now.UnixNano())
	if l.rtcp != nil {
		rc.stats.packet(hdr.SSRC, hdr.SequenceNumber, hdr.Timestamp, rtpClock(now, l.codec.SampleRate), int(hdr.PayloadType) == rc.audioPT)
	}
	if l.rx != nil {
		l.rx.Inc()
	}
	if len(payload) == 0 {
		return
	}
	if int(hdr.PayloadType) == rc.audioPT {
		// A forward jump in the audio stream's sequence numbers is
		// loss; a reordered or repeated packet is not counted.
		if gap := hdr.SequenceNumber - rc.lastSeq; rc.seen && hdr.SSRC == rc.lastSSRC && gap > 1 && gap < 1000 && l.lost != nil {
			l.lost.Add(float64(gap - 1))
		}
		if !rc.seen || hdr.SSRC != rc.lastSSRC || hdr.SequenceNumber-rc.lastSeq < 1000 {
			rc.lastSeq, rc.lastSSRC, rc.seen = hdr.SequenceNumber, hdr.SSRC, true
		}
	}
	switch int(hdr.PayloadType) {
	case rc.dtmfPT:
		if ev, ok := rc.det.Packet(hdr.Timestamp, hdr.Marker, payload); ok {
			l.pushDigit(ev.Digit)
		}
	case rc.audioPT:
		if tap := l.farPayload.Load(); tap != nil {
			(*tap)(payload)
		}
		// Decoding is skipped when nobody takes the audio (a bridge
		// passing payloads through, with no recording or stream).
		if !l.wantsFarPCM() {
			return
		}
		rc.pcm = rc.dec.Decode(rc.pcm[:0], payload)
		pcm := rc.pcm
		if rs := l.recorders.Load(); rs != nil {
			for _, rec := range *rs {
				rec.WriteFar(pcm)
			}
		}
		if tap := l.farTap.Load(); tap != nil {
			(*tap)(pcm)
		}
		if ts := l.taps.Load(); ts != nil {
			for _, t := range *ts {
				t.farAudio(pcm)
			}
		}
	}
}
