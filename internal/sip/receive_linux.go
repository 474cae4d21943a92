package sip

import (
	"net"
	"reflect"
	"syscall"
	"unsafe"

	dmedia "github.com/emiago/diago/media"
)

// rtpSocket is the UDP socket diago reads the session's RTP from, for the
// media clock to peek at. diago keeps it in an unexported field and offers
// no accessor, so it is read by reflection; the version of diago is pinned
// in go.mod and TestLegReadsOnTheClock fails if the field moves. nil (the
// leg then reads with a goroutine of its own) if it is not there.
func rtpSocket(ms *dmedia.MediaSession) syscall.RawConn {
	if ms == nil {
		return nil
	}
	f := reflect.ValueOf(ms).Elem().FieldByName("rtpConn")
	if !f.IsValid() || f.Type() != reflect.TypeFor[net.PacketConn]() {
		return nil
	}
	conn, _ := reflect.NewAt(f.Type(), unsafe.Pointer(f.UnsafeAddr())).Elem().Interface().(syscall.Conn)
	if conn == nil {
		return nil
	}
	raw, err := conn.SyscallConn()
	if err != nil {
		return nil
	}
	return raw
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
