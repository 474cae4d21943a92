//go:build !linux

package sip

import (
	"syscall"

	dmedia "github.com/emiago/diago/media"
)

// rtpSocket is nil outside Linux: each leg reads with a goroutine of its
// own (receive.go).
func rtpSocket(*dmedia.MediaSession) syscall.RawConn { return nil }

func peekDatagram(syscall.RawConn, []byte) (int, bool) { return 0, false }

func dropDatagram(syscall.RawConn, []byte) {}
