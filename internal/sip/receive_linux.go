package sip

import (
	"encoding/binary"
	"net"
	"reflect"
	"slices"
	"strconv"
	"syscall"
	"time"
	"unsafe"

	dmedia "github.com/emiago/diago/media"
	"golang.org/x/sys/unix"
)

// clockConn puts a stagedConn in place of the socket diago reads ms's RTP
// from, for the media clock to read, and returns it (the one already there
// on a session that has it, as a re-INVITE's fork of the session does).
// diago keeps the socket in an unexported field and offers no accessor, so
// it is read and replaced by reflection; the version of diago is pinned in
// go.mod and TestLegReadsOnTheClock fails if the field moves. nil (the leg
// then reads with a goroutine of its own) if it is not there.
func clockConn(ms *dmedia.MediaSession) *stagedConn {
	f := sessionField(ms, "rtpConn")
	if f == nil {
		return nil
	}
	pc := *f
	if c, ok := pc.(*stagedConn); ok {
		return c
	}
	conn, _ := pc.(syscall.Conn)
	if conn == nil {
		return nil
	}
	raw, err := conn.SyscallConn()
	if err != nil {
		return nil
	}
	c := &stagedConn{PacketConn: pc, raw: raw}
	*f = c
	return c
}

// sessionField is the media session's socket field name (rtpConn or
// rtcpConn), nil if it is not there.
func sessionField(ms *dmedia.MediaSession, name string) *net.PacketConn {
	if ms == nil {
		return nil
	}
	f := reflect.ValueOf(ms).Elem().FieldByName(name)
	if !f.IsValid() || f.Type() != reflect.TypeFor[net.PacketConn]() {
		return nil
	}
	return (*net.PacketConn)(unsafe.Pointer(f.UnsafeAddr()))
}

// sessionConn is the media session's socket in the unexported field name
// (rtpConn or rtcpConn), and its raw connection; nil if it is not there.
func sessionConn(ms *dmedia.MediaSession, name string) (net.PacketConn, syscall.RawConn) {
	f := sessionField(ms, name)
	if f == nil {
		return nil, nil
	}
	pc := *f
	conn, _ := pc.(syscall.Conn)
	if conn == nil {
		return nil, nil
	}
	raw, err := conn.SyscallConn()
	if err != nil {
		return nil, nil
	}
	return pc, raw
}

// takeOverRTCP stops diago's RTCP monitor of sess (its two goroutines) and
// returns the state with which the media clock runs the session's RTCP
// instead (rtcp.go); nil, with diago's monitor left running, if the RTCP
// socket cannot be reached or made to time its datagrams.
func takeOverRTCP(sess *dmedia.RTPSession, ms *dmedia.MediaSession) *rtcpState {
	if sess == nil || sess.Sess != ms {
		return nil
	}
	conn, raw := sessionConn(ms, "rtcpConn")
	if raw == nil {
		return nil
	}
	// The kernel stamps each datagram with its arrival time, which the
	// peek returns: the clock reads reports late, but knows when they came.
	var serr error
	if err := raw.Control(func(fd uintptr) {
		serr = syscall.SetsockoptInt(int(fd), syscall.SOL_SOCKET, syscall.SO_TIMESTAMPNS, 1)
	}); err != nil || serr != nil {
		return nil
	}
	// MonitorClose waits for both goroutines to end; it ends the reader
	// by putting the socket's deadlines in the past, which are cleared
	// here for the clock's reads and reports.
	_ = sess.MonitorClose()
	_ = conn.SetDeadline(time.Time{})
	return newRTCPState(sess, conn, raw)
}

// peekArrival looks at the datagram queued first on sock, copying it into
// buf without taking it off the queue and without waiting, and returns
// the time the kernel received it; ok is false when none is queued.
func peekArrival(sock syscall.RawConn, buf []byte) (at time.Time, ok bool) {
	var oob [64]byte
	var oobn int
	err := sock.Control(func(fd uintptr) {
		var rerr error
		_, oobn, _, _, rerr = syscall.Recvmsg(int(fd), buf, oob[:], syscall.MSG_PEEK|syscall.MSG_DONTWAIT)
		ok = rerr == nil
	})
	if err != nil || !ok {
		return time.Time{}, false
	}
	at = time.Now()
	msgs, _ := syscall.ParseSocketControlMessage(oob[:oobn])
	for _, m := range msgs {
		// A struct timespec: seconds and nanoseconds, 64 bits each here.
		if m.Header.Level == syscall.SOL_SOCKET && m.Header.Type == syscall.SCM_TIMESTAMPNS && len(m.Data) >= 16 && unsafe.Sizeof(uintptr(0)) == 8 {
			at = time.Unix(int64(binary.NativeEndian.Uint64(m.Data)), int64(binary.NativeEndian.Uint64(m.Data[8:])))
		}
	}
	return at, true
}

// rxBatch is the buffers a clock shard reads its legs' RTP into: one
// recvmmsg(2) takes every datagram queued on a leg's socket, up to
// maxPacketsPerTick, in one system call that does not wait. A datagram
// read one at a time cost a peek, a read and a last peek that found
// nothing: three calls where this makes one.
type rxBatch struct {
	hdrs  [maxPacketsPerTick]unix.Mmsghdr
	iovs  [maxPacketsPerTick]unix.Iovec
	names [maxPacketsPerTick]unix.RawSockaddrInet6
	bufs  [maxPacketsPerTick][rtpBufSize]byte
}

// rtpBufSize is diago's buffer for one RTP datagram (dmedia.RTPBufSize, a
// variable), as a constant for the batch's arrays.
const rtpBufSize = 1500

func newRxBatch() *rxBatch {
	b := &rxBatch{}
	for i := range b.hdrs {
		b.iovs[i].Base = &b.bufs[i][0]
		b.iovs[i].SetLen(len(b.bufs[i]))
		b.hdrs[i].Hdr.Iov = &b.iovs[i]
		b.hdrs[i].Hdr.SetIovlen(1)
		b.hdrs[i].Hdr.Name = (*byte)(unsafe.Pointer(&b.names[i]))
	}
	return b
}

// recv reads what is queued on sock, without waiting, and returns how many
// datagrams it took (0 when none was queued); the error is the socket's
// (net.ErrClosed once it is closed), not a read's.
func (b *rxBatch) recv(sock syscall.RawConn) (int, error) {
	for i := range b.hdrs {
		b.hdrs[i].Hdr.Namelen = uint32(unsafe.Sizeof(b.names[i]))
		b.hdrs[i].Hdr.Flags = 0
	}
	var n int
	err := sock.Control(func(fd uintptr) {
		r, _, errno := unix.Syscall6(unix.SYS_RECVMMSG, fd, uintptr(unsafe.Pointer(&b.hdrs[0])), uintptr(len(b.hdrs)),
			unix.MSG_DONTWAIT, 0, 0)
		if errno == 0 {
			n = int(r)
		}
	})
	if err != nil {
		return 0, err
	}
	return n, nil
}

// datagram is the i-th datagram recv took. One longer than the buffer
// (MSG_TRUNC) is cut to it, as a read would cut it.
func (b *rxBatch) datagram(i int) []byte {
	return b.bufs[i][:min(int(b.hdrs[i].Len), len(b.bufs[i]))]
}

// from is the i-th datagram's source, as a read would return it. The
// leg's last source is kept and given again while it does not change, so
// the steady stream of one far end allocates nothing.
func (b *rxBatch) from(i int, rc *legReceiver) net.Addr {
	name := unsafe.Slice((*byte)(unsafe.Pointer(&b.names[i])), min(b.hdrs[i].Hdr.Namelen, uint32(unsafe.Sizeof(b.names[i]))))
	if rc.from != nil && string(name) == string(rc.fromName[:rc.fromLen]) {
		return rc.from
	}
	var a *net.UDPAddr
	switch sa := &b.names[i]; sa.Family {
	case unix.AF_INET:
		sa4 := (*unix.RawSockaddrInet4)(unsafe.Pointer(sa))
		a = &net.UDPAddr{IP: net.IP(sa4.Addr[:]).To16(), Port: int(binary.BigEndian.Uint16((*[2]byte)(unsafe.Pointer(&sa4.Port))[:]))}
	case unix.AF_INET6:
		a = &net.UDPAddr{IP: slices.Clone(sa.Addr[:]), Port: int(binary.BigEndian.Uint16((*[2]byte)(unsafe.Pointer(&sa.Port))[:]))}
		if sa.Scope_id != 0 {
			a.Zone = strconv.FormatUint(uint64(sa.Scope_id), 10)
		}
	default:
		return nil
	}
	rc.fromLen = copy(rc.fromName[:], name)
	rc.from = a
	return a
}
