//go:build !linux

package sip

import (
	"net"
	"syscall"
	"time"

	dmedia "github.com/emiago/diago/media"
)

// clockConn is nil outside Linux: each leg reads with a goroutine of its
// own (receive.go).
func clockConn(*dmedia.MediaSession) *stagedConn { return nil }

// rxBatch is empty outside Linux, where the clock reads no RTP.
type rxBatch struct{}

func newRxBatch() *rxBatch { return nil }

func (*rxBatch) recv(syscall.RawConn) (int, error) { return 0, nil }

func (*rxBatch) datagram(int) []byte { return nil }

func (*rxBatch) from(int, *legReceiver) net.Addr { return nil }

// takeOverRTCP leaves RTCP to diago's monitor outside Linux.
func takeOverRTCP(*dmedia.RTPSession, *dmedia.MediaSession) *rtcpState { return nil }

func peekArrival(syscall.RawConn, []byte) (time.Time, bool) { return time.Time{}, false }
