package sip

import (
	"encoding/binary"
	"net"
	"reflect"
	"syscall"
	"time"
	"unsafe"

	dmedia "github.com/emiago/diago/media"
)

// rtpSocket is the UDP socket diago reads the session's RTP from, for the
// media clock to peek at. diago keeps it in an unexported field and offers
// no accessor, so it is read by reflection; the version of diago is pinned
// in go.mod and TestLegReadsOnTheClock fails if the field moves. nil (the
// leg then reads with a goroutine of its own) if it is not there.
func rtpSocket(ms *dmedia.MediaSession) syscall.RawConn {
	_, raw := sessionConn(ms, "rtpConn")
	return raw
}

// sessionConn is the media session's socket in the unexported field name
// (rtpConn or rtcpConn), and its raw connection; nil if it is not there.
func sessionConn(ms *dmedia.MediaSession, name string) (net.PacketConn, syscall.RawConn) {
	if ms == nil {
		return nil, nil
	}
	f := reflect.ValueOf(ms).Elem().FieldByName(name)
	if !f.IsValid() || f.Type() != reflect.TypeFor[net.PacketConn]() {
		return nil, nil
	}
	pc, _ := reflect.NewAt(f.Type(), unsafe.Pointer(f.UnsafeAddr())).Elem().Interface().(net.PacketConn)
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

// peekDatagram copies the datagram queued first on sock into buf without
// taking it off the queue and without waiting; ok is false when none is
// queued (or the socket is closed).
func peekDatagram(sock syscall.RawConn, buf []byte) (n int, ok bool) {
	return recvNoWait(sock, buf, syscall.MSG_PEEK)
}

// dropDatagram takes the first queued datagram off sock and discards it.
func dropDatagram(sock syscall.RawConn, buf []byte) {
	_, _ = recvNoWait(sock, buf, 0)
}

// recvNoWait is recvfrom(2) on sock with MSG_DONTWAIT and flags, into buf;
// ok is false when nothing was queued or the call failed. It calls the
// system directly, without a source address, because syscall.Recvfrom
// allocates one per call.
func recvNoWait(sock syscall.RawConn, buf []byte, flags int) (n int, ok bool) {
	err := sock.Control(func(fd uintptr) {
		r, _, errno := syscall.Syscall6(syscall.SYS_RECVFROM, fd, uintptr(unsafe.Pointer(&buf[0])), uintptr(len(buf)),
			uintptr(flags|syscall.MSG_DONTWAIT), 0, 0)
		if errno == 0 {
			n, ok = int(r), true
		}
	})
	return n, ok && err == nil
}
