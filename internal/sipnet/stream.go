package sipnet

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/netip"
	"strconv"
	"sync"
	"sync/atomic"
	"time"
)

// StreamConfig bounds what the connections of a stream listener (SIP over
// TCP or TLS) may cost. Zero values take the defaults.
type StreamConfig struct {
	// IdleTimeout closes a connection that has received nothing at all for
	// this long between messages. Any byte counts, so RFC 5626 CRLF
	// keep-alives keep a connection open. Default 60 s.
	IdleTimeout time.Duration
	// HeaderTimeout closes a connection whose message is not complete this
	// long after its first byte, and a new connection whose first message
	// is not complete this long after it was accepted (for TLS this
	// includes the handshake). It ends half-sent messages, however slowly
	// they trickle in. Default 20 s.
	HeaderTimeout time.Duration
	// WriteTimeout ends a write the peer does not take (it stopped reading)
	// after this long, which closes the connection. Default 10 s.
	WriteTimeout time.Duration
	// MaxMessageBytes closes a connection that sends a message (headers
	// plus Content-Length) larger than this. Default 128 KiB.
	MaxMessageBytes int
	// MaxConnsPerSource is how many connections one source IP address may
	// hold open; more are closed as soon as they are accepted. Default 100.
	MaxConnsPerSource int
	// MaxConns is how many connections the listener holds open in total;
	// more are closed as soon as they are accepted. Default 10000, or half
	// the process's open-file limit when that is lower, so that sockets
	// alone cannot exhaust file descriptors.
	MaxConns int
	// Logger receives a line per accept-failure episode and per refused
	// burst; default discard.
	Logger *slog.Logger
	// Now is the clock; default time.Now.
	Now func() time.Time
}

// Defaults for StreamConfig.
const (
	DefaultIdleTimeout       = 60 * time.Second
	DefaultHeaderTimeout     = 20 * time.Second
	DefaultWriteTimeout      = 10 * time.Second
	DefaultMaxMessageBytes   = 128 << 10
	DefaultMaxConnsPerSource = 100
	DefaultMaxConns          = 10000
)

func (c *StreamConfig) defaults() {
	if c.IdleTimeout <= 0 {
		c.IdleTimeout = DefaultIdleTimeout
	}
	if c.HeaderTimeout <= 0 {
		c.HeaderTimeout = DefaultHeaderTimeout
	}
	if c.WriteTimeout <= 0 {
		c.WriteTimeout = DefaultWriteTimeout
	}
	if c.MaxMessageBytes <= 0 {
		c.MaxMessageBytes = DefaultMaxMessageBytes
	}
	if c.MaxConnsPerSource <= 0 {
		c.MaxConnsPerSource = DefaultMaxConnsPerSource
	}
	if c.MaxConns <= 0 {
		c.MaxConns = DefaultMaxConns
		if lim := openFileLimit(); lim > 0 && lim/2 < c.MaxConns {
			c.MaxConns = max(1, lim/2)
		}
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	if c.Now == nil {
		c.Now = time.Now
	}
}

// StreamStats counts what a stream listener did since it started.
type StreamStats struct {
	Open              int64 // connections open now
	Accepted          int64 // connections accepted and kept
	RefusedPerSource  int64 // closed at accept: the source held MaxConnsPerSource
	RefusedTotal      int64 // closed at accept: the listener held MaxConns
	ClosedIdle        int64 // closed after IdleTimeout without a byte
	ClosedHeader      int64 // closed with a message (or the first) unfinished after HeaderTimeout
	ClosedOversize    int64 // closed for a message over MaxMessageBytes
	AcceptErrors      int64 // failed accepts, each retried after a pause
	AcceptErrorsNow   bool  // the last accept failed and the listener is backing off
	LastAcceptFailure string
}

// StreamListener wraps the net.Listener of a stream transport (SIP over TCP,
// or over TLS: wrap the listener tls.NewListener returns, so that the
// deadlines see SIP bytes and the handshake counts against HeaderTimeout) so
// that no peer can hold its connections, goroutines or file descriptors
// forever:
//
//   - each connection is closed after IdleTimeout without a byte, and when a
//     message (or a new connection's first message) is not complete within
//     HeaderTimeout; a deadline set before every read enforces both, so the
//     SIP stack's read loop needs no change;
//   - connections beyond MaxConnsPerSource from one IP address, or beyond
//     MaxConns in all, are closed as soon as they are accepted;
//   - a failed Accept (EMFILE, ENFILE, ECONNABORTED, ...) is retried after a
//     pause that doubles from 5 ms to 1 s instead of being returned: sipgo's
//     Serve loops return on the first Accept error, which would stop the
//     listener for good. Accept returns an error only once the listener is
//     closed.
//
// Err reports the listener's state for readiness checks.
type StreamListener struct {
	net.Listener
	cfg StreamConfig

	mu       sync.Mutex
	bySource map[netip.Addr]int
	open     int

	closed    chan struct{}
	closeOnce sync.Once

	failing   atomic.Bool
	lastFail  atomic.Value // string
	stats     streamCounters
	refuseLog atomic.Int64 // unix second of the last refusal log line
}

type streamCounters struct {
	accepted, refusedSource, refusedTotal, closedIdle, closedHeader, closedOversize, acceptErrors atomic.Int64
}

// NewStreamListener wraps l (see StreamListener).
func NewStreamListener(l net.Listener, cfg StreamConfig) *StreamListener {
	cfg.defaults()
	return &StreamListener{Listener: l, cfg: cfg, bySource: map[netip.Addr]int{}, closed: make(chan struct{})}
}

// Config is the configuration in force, defaults filled in.
func (l *StreamListener) Config() StreamConfig { return l.cfg }

// Close stops accepting; connections already accepted stay open.
func (l *StreamListener) Close() error {
	l.closeOnce.Do(func() { close(l.closed) })
	return l.Listener.Close()
}

// Err is nil while the listener accepts connections. It is an error while
// accepts are failing (the listener retries them) and once it is closed.
func (l *StreamListener) Err() error {
	select {
	case <-l.closed:
		return errors.New("closed")
	default:
	}
	if l.failing.Load() {
		msg, _ := l.lastFail.Load().(string)
		return fmt.Errorf("accept failing, retrying: %s", msg)
	}
	return nil
}

// Stats is a snapshot of the listener's counters.
func (l *StreamListener) Stats() StreamStats {
	l.mu.Lock()
	open := l.open
	l.mu.Unlock()
	msg, _ := l.lastFail.Load().(string)
	return StreamStats{Open: int64(open), Accepted: l.stats.accepted.Load(), RefusedPerSource: l.stats.refusedSource.Load(),
		RefusedTotal: l.stats.refusedTotal.Load(), ClosedIdle: l.stats.closedIdle.Load(),
		ClosedHeader: l.stats.closedHeader.Load(), ClosedOversize: l.stats.closedOversize.Load(),
		AcceptErrors: l.stats.acceptErrors.Load(), AcceptErrorsNow: l.failing.Load(), LastAcceptFailure: msg}
}

// Accept returns the next connection within the caps, retrying failed
// accepts until the listener is closed.
func (l *StreamListener) Accept() (net.Conn, error) {
	var pause time.Duration
	for {
		c, err := l.Listener.Accept()
		if err != nil {
			select {
			case <-l.closed:
				return nil, fmt.Errorf("sip stream listener: %w", net.ErrClosed)
			default:
			}
			if errors.Is(err, net.ErrClosed) {
				return nil, err
			}
			l.stats.acceptErrors.Add(1)
			l.lastFail.Store(err.Error())
			if !l.failing.Swap(true) {
				l.cfg.Logger.Error("sip accept failing; retrying with backoff", slog.String("listener", l.Addr().String()),
					slog.Any("error", err))
			}
			if pause == 0 {
				pause = 5 * time.Millisecond
			} else {
				pause = min(2*pause, time.Second)
			}
			t := time.NewTimer(pause)
			select {
			case <-l.closed:
				t.Stop()
				return nil, fmt.Errorf("sip stream listener: %w", net.ErrClosed)
			case <-t.C:
			}
			continue
		}
		if l.failing.Swap(false) {
			l.cfg.Logger.Warn("sip accept recovered", slog.String("listener", l.Addr().String()))
		}
		pause = 0
		src := remoteIP(c)
		if reason := l.admit(src); reason != "" {
			_ = c.Close()
			l.logRefusal(reason, src)
			continue
		}
		l.stats.accepted.Add(1)
		now := l.cfg.Now()
		return &streamConn{Conn: c, l: l, src: src, started: now, cfg: &l.cfg}, nil
	}
}

// admit counts a new connection from src unless a cap is reached; it
// returns why not.
func (l *StreamListener) admit(src netip.Addr) string {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.open >= l.cfg.MaxConns {
		l.stats.refusedTotal.Add(1)
		return "total"
	}
	if l.bySource[src] >= l.cfg.MaxConnsPerSource {
		l.stats.refusedSource.Add(1)
		return "per_source"
	}
	l.open++
	l.bySource[src]++
	return ""
}

func (l *StreamListener) release(src netip.Addr) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.open--
	if n := l.bySource[src] - 1; n > 0 {
		l.bySource[src] = n
	} else {
		delete(l.bySource, src)
	}
}

// logRefusal logs at most one refused connection a second: a flood of them
// must not become a flood of log lines.
func (l *StreamListener) logRefusal(reason string, src netip.Addr) {
	sec := l.cfg.Now().Unix()
	if last := l.refuseLog.Load(); last == sec || !l.refuseLog.CompareAndSwap(last, sec) {
		return
	}
	l.cfg.Logger.Warn("sip connection refused: cap reached", slog.String("cap", reason), slog.String("source", src.String()),
		slog.Int("max_conns", l.cfg.MaxConns), slog.Int("max_conns_per_source", l.cfg.MaxConnsPerSource))
}

func remoteIP(c net.Conn) netip.Addr {
	if a, ok := c.RemoteAddr().(*net.TCPAddr); ok {
		return a.AddrPort().Addr().Unmap()
	}
	if ap, err := netip.ParseAddrPort(c.RemoteAddr().String()); err == nil {
		return ap.Addr().Unmap()
	}
	return netip.Addr{}
}

// Errors a stream connection's Read ends with. Each matches io.EOF under
// errors.Is, which the SIP stack takes for a connection its peer closed (a
// debug line rather than an error line per connection: a flood of them is
// what an attack looks like).
var (
	ErrIdle      error = eofError("sip connection idle too long")
	ErrUnfinish  error = eofError("sip message not complete in time")
	ErrFraming   error = eofError("sip message too large or its Content-Length unreadable")
	crlfcrlf           = []byte("\r\n\r\n")
	lflf               = []byte("\n\n")
	contentLenHd       = []byte("content-length")
)

type eofError string

func (e eofError) Error() string        { return string(e) }
func (e eofError) Is(target error) bool { return target == io.EOF }

// streamConn is one accepted connection. It follows SIP's framing (RFC 3261
// 18.3: headers up to an empty line, then Content-Length bytes of body) just
// far enough to know whether a message is in progress, which picks the read
// deadline: HeaderTimeout from the message's first byte, or IdleTimeout from
// now between messages.
type streamConn struct {
	net.Conn
	l   *StreamListener
	cfg *StreamConfig
	src netip.Addr

	mu      sync.Mutex // Read is called by one goroutine, Close by any
	started time.Time  // first byte of the message in progress (accept time for the first); zero between messages
	inBody  bool
	header  []byte // the message's header bytes so far (bounded by MaxMessageBytes)
	body    int    // body bytes still to come

	closeOnce sync.Once
}

// Read reads with the deadline the framing state calls for.
func (c *streamConn) Read(b []byte) (int, error) {
	now := c.cfg.Now()
	c.mu.Lock()
	deadline := now.Add(c.cfg.IdleTimeout)
	inMessage := !c.started.IsZero()
	if inMessage {
		deadline = c.started.Add(c.cfg.HeaderTimeout)
	}
	c.mu.Unlock()
	if err := c.Conn.SetReadDeadline(deadline); err != nil {
		return 0, fmt.Errorf("sip connection deadline: %w", err)
	}
	n, err := c.Conn.Read(b)
	if n > 0 {
		if ferr := c.frame(b[:n], c.cfg.Now()); ferr != nil {
			c.l.stats.closedOversize.Add(1)
			_ = c.Close()
			return 0, ferr
		}
	}
	var ne net.Error
	if err != nil && errors.As(err, &ne) && ne.Timeout() {
		_ = c.Close()
		if inMessage {
			c.l.stats.closedHeader.Add(1)
			return n, ErrUnfinish
		}
		c.l.stats.closedIdle.Add(1)
		return n, ErrIdle
	}
	return n, err
}

// frame advances the framing state over p.
func (c *streamConn) frame(p []byte, now time.Time) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	for len(p) > 0 {
		if c.inBody {
			k := min(c.body, len(p))
			c.body -= k
			p = p[k:]
			if c.body == 0 {
				c.endMessage()
			}
			continue
		}
		if len(c.header) == 0 {
			// Between messages: CR and LF are keep-alives (RFC 5626 3.5.1).
			i := 0
			for i < len(p) && (p[i] == '\r' || p[i] == '\n') {
				i++
			}
			p = p[i:]
			if len(p) == 0 {
				break
			}
			if c.started.IsZero() {
				c.started = now
			}
		}
		// In the headers: look for the empty line, which may straddle reads.
		from := max(0, len(c.header)-3)
		c.header = append(c.header, p...)
		end := -1
		if i := bytes.Index(c.header[from:], crlfcrlf); i >= 0 {
			end = from + i + 4
		}
		if i := bytes.Index(c.header[from:], lflf); i >= 0 && (end < 0 || from+i+2 < end) {
			end = from + i + 2
		}
		if end < 0 {
			if len(c.header) > c.cfg.MaxMessageBytes {
				return fmt.Errorf("%w: headers over %d bytes", ErrFraming, c.cfg.MaxMessageBytes)
			}
			break
		}
		rest := c.header[end:]
		n := contentLength(c.header[:end])
		if n < 0 || end+n > c.cfg.MaxMessageBytes {
			return fmt.Errorf("%w: Content-Length %d over %d bytes", ErrFraming, n, c.cfg.MaxMessageBytes)
		}
		p = append([]byte(nil), rest...) // what follows the headers: body, then maybe more messages
		c.header = c.header[:0]
		c.body = n
		c.inBody = true
		if n == 0 {
			c.endMessage()
		}
	}
	return nil
}

func (c *streamConn) endMessage() {
	c.inBody = false
	c.started = time.Time{}
	c.header = c.header[:0]
	if cap(c.header) > 4096 {
		c.header = nil // a large message's buffer is not kept for an idle connection
	}
}

// contentLength reads the Content-Length (or its compact form "l") of a
// message's headers; 0 when absent, -1 when not a number.
func contentLength(h []byte) int {
	for len(h) > 0 {
		line := h
		if i := bytes.IndexByte(h, '\n'); i >= 0 {
			line, h = h[:i], h[i+1:]
		} else {
			h = nil
		}
		colon := bytes.IndexByte(line, ':')
		if colon < 0 {
			continue
		}
		name := bytes.TrimSpace(line[:colon])
		if !bytes.EqualFold(name, contentLenHd) && !bytes.EqualFold(name, []byte("l")) {
			continue
		}
		n, err := strconv.Atoi(string(bytes.TrimSpace(line[colon+1:])))
		if err != nil || n < 0 {
			return -1
		}
		return n
	}
	return 0
}

// Write ends after WriteTimeout if the peer does not read.
func (c *streamConn) Write(b []byte) (int, error) {
	if err := c.Conn.SetWriteDeadline(c.cfg.Now().Add(c.cfg.WriteTimeout)); err != nil {
		return 0, fmt.Errorf("sip connection deadline: %w", err)
	}
	return c.Conn.Write(b)
}

// Close closes the connection and gives its place back to the caps. Only
// the first call does anything: Read closes a connection it ends for a
// timeout, and the SIP stack closes it again when its read loop ends, which
// must not read as a failure (a warning per connection in a flood).
func (c *streamConn) Close() error {
	var err error
	c.closeOnce.Do(func() {
		err = c.Conn.Close()
		c.l.release(c.src)
	})
	return err
}
