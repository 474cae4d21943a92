package sip

import (
	"bufio"
	"bytes"
	"fmt"
	"net"
	"sync/atomic"
	"testing"
	"time"
)

// A request whose TCP connection is gone before its answer never makes the
// engine connect to the address in its Via: the sender chose that address,
// and it may be inside the operator's network. Before the guard, mcl01's
// trailing garbage (the connection is closed by the parser before the
// transaction exists) made sipgo dial the Via's host and port.
func TestResponsesNeverOpenConnections(t *testing.T) {
	t.Parallel()
	trap, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer trap.Close()
	var dialled atomic.Int32
	go func() {
		for {
			c, err := trap.Accept()
			if err != nil {
				return
			}
			dialled.Add(1)
			_ = c.Close()
		}
	}()
	trapVia := fmt.Sprintf("Via: SIP/2.0/TCP %s;", trap.Addr())

	db := tortureStore(t, "sqlite")
	addr := startTortureEngine(t, db)
	send := func(msg []byte) {
		conn, err := net.Dial("tcp", addr.String())
		if err != nil {
			t.Fatalf("dial: %v", err)
		}
		_, _ = conn.Write(msg)
		_ = conn.Close()
	}
	mcl01 := bytes.Replace(rfc4475Message(t, "mcl01"), []byte("Via: SIP/2.0/UDP host5.example.net;"), []byte(trapVia), 1)
	options := func(i int) []byte {
		return []byte(fmt.Sprintf("OPTIONS sip:%s SIP/2.0\r\n%sbranch=z9hG4bK-guard-%d\r\nMax-Forwards: 70\r\n"+
			"From: <sip:a@example.com>;tag=%d\r\nTo: <sip:%s>\r\nCall-ID: guard-%d@example.com\r\nCSeq: 1 OPTIONS\r\nContent-Length: 0\r\n\r\n",
			addr, trapVia, i, i, addr, i))
	}
	for i := range 10 {
		send(mcl01)
		send(options(i)) // closed right after sending
	}

	// The engine is still answering (and has had the time the requests
	// above needed): an OPTIONS on a connection kept open gets its 200.
	conn, err := net.Dial("tcp", addr.String())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	_ = conn.SetDeadline(time.Now().Add(20 * time.Second)) // failsafe
	live := bytes.Replace(options(99), []byte(trapVia), []byte(fmt.Sprintf("Via: SIP/2.0/TCP %s;", conn.LocalAddr())), 1)
	if _, err := conn.Write(live); err != nil {
		t.Fatal(err)
	}
	line, err := bufio.NewReader(conn).ReadString('\n')
	if err != nil || !bytes.HasPrefix([]byte(line), []byte("SIP/2.0 200")) {
		t.Fatalf("live OPTIONS: %q %v", line, err)
	}
	time.Sleep(500 * time.Millisecond) // let any stray dial land
	if n := dialled.Load(); n != 0 {
		t.Fatalf("the engine opened %d connections to the address in a Via", n)
	}
}
