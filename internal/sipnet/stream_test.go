package sipnet

import (
	"errors"
	"io"
	"net"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// serveEcho accepts on l until it is closed, reading each connection to its
// end the way sipgo's read loop does, and reports each Read's final error.
func serveEcho(t *testing.T, l net.Listener) <-chan error {
	t.Helper()
	ends := make(chan error, 1000)
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			wg.Add(1)
			go func() {
				defer wg.Done()
				defer c.Close()
				buf := make([]byte, 4096)
				for {
					if _, err := c.Read(buf); err != nil {
						ends <- err
						return
					}
				}
			}()
		}
	}()
	t.Cleanup(func() { l.Close(); wg.Wait() })
	return ends
}

func listen(t *testing.T, cfg StreamConfig) *StreamListener {
	t.Helper()
	raw, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	return NewStreamListener(raw, cfg)
}

func dial(t *testing.T, addr string) net.Conn {
	t.Helper()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// waitClosed reads from the client side until the server closes it; the
// bound is a hang guard, not a timing assertion.
func waitClosed(t *testing.T, c net.Conn) {
	t.Helper()
	_ = c.SetReadDeadline(time.Now().Add(20 * time.Second))
	if _, err := io.Copy(io.Discard, c); err != nil {
		t.Fatalf("connection not closed by the server: %v", err)
	}
}

const invite = "INVITE sip:1@x SIP/2.0\r\nVia: SIP/2.0/TCP a\r\nContent-Length: 4\r\n\r\nv=0\n"

func TestStreamIdleAndHalfSentConnectionsClosed(t *testing.T) {
	t.Parallel()
	l := listen(t, StreamConfig{IdleTimeout: 300 * time.Millisecond, HeaderTimeout: 200 * time.Millisecond})
	ends := serveEcho(t, l)
	idle := dial(t, l.Addr().String())
	waitClosed(t, idle)
	if err := <-ends; !errors.Is(err, ErrUnfinish) || !errors.Is(err, io.EOF) {
		t.Fatalf("silent new connection ended with %v, want ErrUnfinish (no first message)", err)
	}

	// A complete message, then silence: closed for idleness.
	c := dial(t, l.Addr().String())
	if _, err := io.WriteString(c, invite); err != nil {
		t.Fatal(err)
	}
	waitClosed(t, c)
	if err := <-ends; !errors.Is(err, ErrIdle) {
		t.Fatalf("idle connection ended with %v, want ErrIdle", err)
	}

	// A message whose headers never end, a byte at a time.
	half := dial(t, l.Addr().String())
	if _, err := io.WriteString(half, invite); err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		for range 100 {
			if _, err := io.WriteString(half, "X"); err != nil {
				return
			}
			time.Sleep(20 * time.Millisecond)
		}
	}()
	waitClosed(t, half)
	<-done
	if err := <-ends; !errors.Is(err, ErrUnfinish) {
		t.Fatalf("half-sent connection ended with %v, want ErrUnfinish", err)
	}
	st := l.Stats()
	if st.ClosedIdle != 1 || st.ClosedHeader != 2 || st.Open != 0 || st.Accepted != 3 {
		t.Fatalf("stats %+v", st)
	}
}

func TestStreamCapsPerSourceAndTotal(t *testing.T) {
	t.Parallel()
	l := listen(t, StreamConfig{MaxConnsPerSource: 3, MaxConns: 5})
	serveEcho(t, l)
	var kept []net.Conn
	for range 3 {
		kept = append(kept, dial(t, l.Addr().String()))
	}
	// The fourth from 127.0.0.1 is closed at once.
	waitClosed(t, dial(t, l.Addr().String()))
	// Two more from another loopback address fit the total; the next does not.
	other := func() net.Conn {
		d := net.Dialer{LocalAddr: &net.TCPAddr{IP: net.IPv4(127, 0, 0, 2)}}
		c, err := d.Dial("tcp", l.Addr().String())
		if err != nil {
			t.Skipf("no second loopback address: %v", err)
		}
		t.Cleanup(func() { c.Close() })
		return c
	}
	kept = append(kept, other(), other())
	waitClosed(t, other())
	// Closing one gives its place back.
	kept[0].Close()
	for l.Stats().Open != 4 {
		time.Sleep(5 * time.Millisecond)
	}
	c := dial(t, l.Addr().String())
	if _, err := io.WriteString(c, invite); err != nil {
		t.Fatal(err)
	}
	for l.Stats().Open != 5 {
		time.Sleep(5 * time.Millisecond)
	}
	st := l.Stats()
	if st.RefusedPerSource != 1 || st.RefusedTotal != 1 || st.Accepted != 6 {
		t.Fatalf("stats %+v", st)
	}
}

// flakyListener fails its first n accepts with err.
type flakyListener struct {
	net.Listener
	mu  sync.Mutex
	n   int
	err error
}

func (f *flakyListener) Accept() (net.Conn, error) {
	f.mu.Lock()
	if f.n > 0 {
		f.n--
		f.mu.Unlock()
		return nil, f.err
	}
	f.mu.Unlock()
	return f.Listener.Accept()
}

func TestStreamAcceptErrorsRetried(t *testing.T) {
	t.Parallel()
	raw, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	emfile := &net.OpError{Op: "accept", Net: "tcp", Err: &osSyscallError{syscall.EMFILE}}
	l := NewStreamListener(&flakyListener{Listener: raw, n: 6, err: emfile}, StreamConfig{})
	accepted := make(chan net.Conn)
	go func() {
		c, err := l.Accept()
		if err != nil {
			t.Error(err)
			close(accepted)
			return
		}
		accepted <- c
	}()
	c := dial(t, raw.Addr().String())
	s := <-accepted
	if s == nil {
		t.FailNow()
	}
	defer s.Close()
	if _, err := io.WriteString(c, invite); err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, len(invite))
	if _, err := io.ReadFull(s, buf); err != nil || string(buf) != invite {
		t.Fatalf("read %q %v", buf, err)
	}
	st := l.Stats()
	if st.AcceptErrors != 6 || st.AcceptErrorsNow || l.Err() != nil || !strings.Contains(st.LastAcceptFailure, "too many open files") {
		t.Fatalf("stats %+v err %v", st, l.Err())
	}
	l.Close()
	if _, err := l.Accept(); !errors.Is(err, net.ErrClosed) {
		t.Fatalf("Accept after Close: %v", err)
	}
	if l.Err() == nil {
		t.Fatal("a closed listener reads as ready")
	}
}

func TestStreamErrWhileFailing(t *testing.T) {
	t.Parallel()
	raw, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	f := &flakyListener{Listener: raw, n: 1 << 30, err: errors.New("accept4: too many open files")}
	l := NewStreamListener(f, StreamConfig{})
	done := make(chan error)
	go func() { _, err := l.Accept(); done <- err }()
	for l.Err() == nil {
		time.Sleep(5 * time.Millisecond)
	}
	if !strings.Contains(l.Err().Error(), "too many open files") {
		t.Fatalf("Err %v", l.Err())
	}
	l.Close()
	if err := <-done; !errors.Is(err, net.ErrClosed) {
		t.Fatalf("Accept ended with %v", err)
	}
}

type osSyscallError struct{ errno syscall.Errno }

func (e *osSyscallError) Error() string { return e.errno.Error() }
func (e *osSyscallError) Unwrap() error { return e.errno }

// TestStreamFraming follows messages across reads: keep-alives, bodies,
// several messages in one read, LF-only endings, and oversize.
func TestStreamFraming(t *testing.T) {
	t.Parallel()
	cfg := StreamConfig{MaxMessageBytes: 200}
	cfg.defaults()
	now := time.Unix(1000, 0)
	c := &streamConn{cfg: &cfg}
	if !c.started.IsZero() {
		t.Fatal("started")
	}
	step := func(s string, inMessage bool) {
		t.Helper()
		if err := c.frame([]byte(s), now); err != nil {
			t.Fatalf("frame(%q): %v", s, err)
		}
		if got := !c.started.IsZero(); got != inMessage {
			t.Fatalf("after %q in message = %v, want %v", s, got, inMessage)
		}
	}
	step("\r\n\r\n", false)
	step("INVITE sip:a SIP/2.0\r\nl: 3\r", true)
	step("\n\r", true)
	step("\nab", true)
	step("c", false)
	step("OPTIONS sip:a SIP/2.0\r\n\r\nBYE sip:a SIP/2.0\r\nContent-Length: 2\r\n\r\nxy\r\n", false)
	step("ACK sip:a SIP/2.0\nContent-Length: 0\n\nINFO", true)
	step(" sip:a SIP/2.0\r\n\r\n", false)
	if err := c.frame([]byte("INVITE sip:a SIP/2.0\r\nContent-Length: 500\r\n\r\n"), now); !errors.Is(err, ErrFraming) {
		t.Fatalf("oversize body: %v", err)
	}
	c = &streamConn{cfg: &cfg}
	if err := c.frame([]byte("INVITE sip:a SIP/2.0\r\nX: "+strings.Repeat("a", 300)), now); !errors.Is(err, ErrFraming) {
		t.Fatalf("oversize headers: %v", err)
	}
	c = &streamConn{cfg: &cfg}
	if err := c.frame([]byte("INVITE sip:a SIP/2.0\r\nContent-Length: x\r\n\r\n"), now); !errors.Is(err, ErrFraming) {
		t.Fatalf("bad Content-Length: %v", err)
	}
}
