package e2e

import (
	"net"
	"testing"
)

// freeUDPPort returns a UDP port free on 127.0.0.1 at the time of asking.
func freeUDPPort(t *testing.T) int {
	t.Helper()
	c, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	return c.LocalAddr().(*net.UDPAddr).Port
}
