package sip

import (
	"encoding/binary"
	"errors"
	"net"
	"reflect"
	"slices"
	"strconv"
	"sync"
	"syscall"
	"time"
	"unsafe"

	dmedia "github.com/emiago/diago/media"
	"golang.org/x/sys/unix"
)

// clockConn puts a stagedConn in place of the socket diago reads ms's RTP
// from, for the media clock to read, and returns it (the one already there
// on a session that has it, as a re-INVITE's fork of the session does).
// The socket is taken off Go's network poller on the way (offPoller): the
// clock reads it without waiting, so nothing ever waits on it there, and a
// socket on the poller wakes the poller for every datagram that arrives
// (25 000 a second at 500 two-way calls; measured, a third of the
// platform's system calls while holding). diago keeps the socket in an
// unexported field and offers no accessor, so it is read and replaced by
// reflection; the version of diago is pinned in go.mod and
// TestLegReadsOnTheClock fails if the field moves. nil (the leg then reads
// with a goroutine of its own) if it is not there.
func clockConn(ms *dmedia.MediaSession) *stagedConn {
	f := sessionField(ms, "rtpConn")
	if f == nil {
		return nil
	}
	pc := *f
	if c, ok := pc.(*stagedConn); ok {
		return c
	}
	off := takeOffPoller(pc)
	if off == nil {
		return nil
	}
	c := &stagedConn{PacketConn: off, raw: off}
	*f = c
	return c
}

// offPoller is a UDP socket off Go's network poller: a duplicate of a
// net.PacketConn's descriptor, whose original is closed (which takes it off
// the poller; the socket lives on in the duplicate). It never waits: a read
// with nothing queued ends at once as a timeout, and a datagram the socket
// has no room for is dropped, as the network would drop it, instead of
// holding up the media clock. Deadlines are therefore no-ops. The lock
// keeps Close from freeing the descriptor number while a read or a write
// uses it.
type offPoller struct {
	mu     sync.RWMutex
	fd     int
	closed bool
	laddr  net.Addr
	// to is the destination of the last write and sa its socket address,
	// given again while the destination does not change.
	toMu sync.Mutex
	to   net.UDPAddr
	sa   unix.Sockaddr
}

// takeOffPoller moves pc's socket off the poller; nil (pc untouched) if it
// cannot.
func takeOffPoller(pc net.PacketConn) *offPoller {
	raw := rawConn(pc)
	if raw == nil {
		return nil
	}
	fd := -1
	var derr error
	if err := raw.Control(func(s uintptr) { fd, derr = unix.FcntlInt(s, unix.F_DUPFD_CLOEXEC, 0) }); err != nil || derr != nil {
		return nil
	}
	// The duplicate shares the socket's flags, O_NONBLOCK among them.
	o := &offPoller{fd: fd, laddr: pc.LocalAddr()}
	_ = pc.Close()
	return o
}

func (o *offPoller) ReadFrom(b []byte) (int, net.Addr, error) {
	o.mu.RLock()
	defer o.mu.RUnlock()
	if o.closed {
		return 0, nil, net.ErrClosed
	}
	n, from, err := unix.Recvfrom(o.fd, b, unix.MSG_DONTWAIT)
	if err != nil {
		if errors.Is(err, unix.EAGAIN) {
			return 0, nil, errNothingStaged{}
		}
		return 0, nil, &net.OpError{Op: "read", Net: "udp", Source: o.laddr, Err: err}
	}
	var addr *net.UDPAddr
	switch sa := from.(type) {
	case *unix.SockaddrInet4:
		addr = &net.UDPAddr{IP: net.IP(sa.Addr[:]).To16(), Port: sa.Port}
	case *unix.SockaddrInet6:
		addr = &net.UDPAddr{IP: slices.Clone(sa.Addr[:]), Port: sa.Port}
	}
	return n, addr, nil
}

func (o *offPoller) WriteTo(b []byte, addr net.Addr) (int, error) {
	ua, ok := addr.(*net.UDPAddr)
	if !ok {
		return 0, &net.OpError{Op: "write", Net: "udp", Source: o.laddr, Addr: addr, Err: syscall.EINVAL}
	}
	sa := o.sockaddr(ua)
	if sa == nil {
		return 0, &net.OpError{Op: "write", Net: "udp", Source: o.laddr, Addr: addr, Err: syscall.EAFNOSUPPORT}
	}
	o.mu.RLock()
	defer o.mu.RUnlock()
	if o.closed {
		return 0, net.ErrClosed
	}
	switch err := unix.Sendto(o.fd, b, 0, sa); {
	case err == nil, errors.Is(err, unix.EAGAIN), errors.Is(err, unix.ENOBUFS):
		return len(b), nil // a full socket buffer drops the datagram, as a full network would
	default:
		return 0, &net.OpError{Op: "write", Net: "udp", Source: o.laddr, Addr: addr, Err: err}
	}
}

// sockaddr is ua's socket address for the socket's family (an IPv4
// destination of an IPv6 socket as a mapped address), from the last write's
// while ua does not change; nil if the socket cannot reach it.
func (o *offPoller) sockaddr(ua *net.UDPAddr) unix.Sockaddr {
	o.toMu.Lock()
	defer o.toMu.Unlock()
	if o.sa != nil && o.to.Port == ua.Port && o.to.IP.Equal(ua.IP) && o.to.Zone == ua.Zone {
		return o.sa
	}
	local, _ := o.laddr.(*net.UDPAddr)
	var sa unix.Sockaddr
	if ip4 := ua.IP.To4(); ip4 != nil && (local == nil || local.IP.To4() != nil) {
		s := &unix.SockaddrInet4{Port: ua.Port}
		copy(s.Addr[:], ip4)
		sa = s
	} else if ip16 := ua.IP.To16(); ip16 != nil {
		s := &unix.SockaddrInet6{Port: ua.Port}
		copy(s.Addr[:], ip16)
		if ua.Zone != "" {
			if ifi, err := net.InterfaceByName(ua.Zone); err == nil {
				s.ZoneId = uint32(ifi.Index)
			} else if id, err := strconv.ParseUint(ua.Zone, 10, 32); err == nil {
				s.ZoneId = uint32(id)
			}
		}
		sa = s
	}
	if sa != nil {
		o.to = net.UDPAddr{IP: slices.Clone(ua.IP), Port: ua.Port, Zone: ua.Zone}
		o.sa = sa
	}
	return sa
}

func (o *offPoller) Close() error {
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.closed {
		return net.ErrClosed
	}
	o.closed = true
	return unix.Close(o.fd)
}

func (o *offPoller) LocalAddr() net.Addr { return o.laddr }

// SetDeadline and its kin do nothing: no read or write waits.
func (o *offPoller) SetDeadline(time.Time) error      { return nil }
func (o *offPoller) SetReadDeadline(time.Time) error  { return nil }
func (o *offPoller) SetWriteDeadline(time.Time) error { return nil }

// Control runs f on the descriptor, for the clock's batched reads
// (syscall.RawConn).
func (o *offPoller) Control(f func(fd uintptr)) error {
	o.mu.RLock()
	defer o.mu.RUnlock()
	if o.closed {
		return net.ErrClosed
	}
	f(uintptr(o.fd))
	return nil
}

// Read and Write of syscall.RawConn are not used: nothing waits on the
// socket.
func (o *offPoller) Read(func(fd uintptr) bool) error  { return errors.ErrUnsupported }
func (o *offPoller) Write(func(fd uintptr) bool) error { return errors.ErrUnsupported }

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
	raw := rawConn(pc)
	if raw == nil {
		return nil, nil
	}
	return pc, raw
}

// rawConn is pc's raw connection, nil if it has none.
func rawConn(pc net.PacketConn) syscall.RawConn {
	conn, _ := pc.(syscall.Conn)
	if conn == nil {
		return nil
	}
	raw, err := conn.SyscallConn()
	if err != nil {
		return nil
	}
	return raw
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
