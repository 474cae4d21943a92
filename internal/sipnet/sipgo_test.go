package sipnet

import (
	"bufio"
	"errors"
	"fmt"
	"net"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/emiago/sipgo"
	"github.com/emiago/sipgo/sip"
)

// TestStreamListenerUnderSipgo: sipgo's ServeTCP, which returns on the first
// Accept error, keeps serving through a StreamListener whose accepts fail
// with EMFILE several times, and answers a request on the connection that
// follows; a connection the stack reads nothing from is closed by the
// header timeout.
func TestStreamListenerUnderSipgo(t *testing.T) {
	t.Parallel()
	ua, err := sipgo.NewUA()
	if err != nil {
		t.Fatal(err)
	}
	defer ua.Close()
	srv, err := sipgo.NewServer(ua)
	if err != nil {
		t.Fatal(err)
	}
	srv.OnOptions(func(req *sip.Request, tx sip.ServerTransaction) {
		_ = tx.Respond(sip.NewResponseFromRequest(req, 200, "OK", nil))
	})
	raw, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	emfile := &net.OpError{Op: "accept", Net: "tcp", Err: &osSyscallError{syscall.EMFILE}}
	l := NewStreamListener(&flakyListener{Listener: raw, n: 5, err: emfile}, StreamConfig{HeaderTimeout: 300 * time.Millisecond})
	served := make(chan error, 1)
	go func() { served <- srv.ServeTCP(l) }()

	c, err := net.Dial("tcp", raw.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	addr := raw.Addr().String()
	fmt.Fprintf(c, "OPTIONS sip:%[1]s SIP/2.0\r\nVia: SIP/2.0/TCP %[2]s;branch=z9hG4bK-1\r\nFrom: <sip:t@%[2]s>;tag=1\r\n"+
		"To: <sip:%[1]s>\r\nCall-ID: sipnet-1\r\nCSeq: 1 OPTIONS\r\nMax-Forwards: 70\r\nContent-Length: 0\r\n\r\n", addr, c.LocalAddr())
	_ = c.SetReadDeadline(time.Now().Add(20 * time.Second))
	line, err := bufio.NewReader(c).ReadString('\n')
	if err != nil || !strings.HasPrefix(line, "SIP/2.0 200") {
		t.Fatalf("answer %q %v", line, err)
	}
	if st := l.Stats(); st.AcceptErrors != 5 || l.Err() != nil {
		t.Fatalf("stats %+v err %v", st, l.Err())
	}

	// A silent connection: closed by the header timeout, and the stack's
	// pool lets go of it.
	silent, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer silent.Close()
	waitClosed(t, silent)
	for l.Stats().ClosedHeader != 1 {
		time.Sleep(5 * time.Millisecond)
	}

	l.Close()
	if err := <-served; !errors.Is(err, net.ErrClosed) {
		t.Fatalf("ServeTCP ended with %v", err)
	}
}
