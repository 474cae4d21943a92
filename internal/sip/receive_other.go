//go:build !linux

package sip

import (
	"syscall"
	"time"

	dmedia "github.com/emiago/diago/media"
)

// rtpSocket is nil outside Linux: each leg reads with a goroutine of its
// own (receive.go).
func rtpSocket(*dmedia.MediaSession) syscall.RawConn { return nil }

func peekDatagram(syscall.RawConn, []byte) (int, bool) { return 0, false }

func dropDatagram(syscall.RawConn, []byte) {}

// takeOverRTCP leaves RTCP to diago's monitor outside Linux.
func takeOverRTCP(*dmedia.RTPSession, *dmedia.MediaSession) *rtcpState { return nil }

func peekArrival(syscall.RawConn, []byte) (time.Time, bool) { return time.Time{}, false }
