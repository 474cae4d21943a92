package sipnet_test

import (
	"testing"

	"github.com/minivoice/minivoice/internal/sipnet"
)

func TestListenBindsBothOnOnePort(t *testing.T) {
	t.Parallel()
	udp, tcp, addr, err := sipnet.Listen("127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer udp.Close()
	defer tcp.Close()
	if addr.Port() == 0 || tcp.Addr().String() != addr.String() || udp.LocalAddr().String() != addr.String() {
		t.Fatalf("udp %s tcp %s addr %s", udp.LocalAddr(), tcp.Addr(), addr)
	}
	// The same port again is taken.
	if _, _, _, err := sipnet.Listen(addr.String()); err == nil {
		t.Fatal("a bound port was bound twice")
	}
	for _, bad := range []string{"nope", "127.0.0.1:x", "127.0.0.1:70000"} {
		if _, _, _, err := sipnet.Listen(bad); err == nil {
			t.Errorf("Listen(%q) accepted", bad)
		}
	}
}
