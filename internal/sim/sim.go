// Package sim is the network simulator (`minivoice sim`, telephony.md): a real
// SIP/RTP user agent that plays the operator's carrier (it answers the
// platform's outbound INVITEs with behaviour picked by the called number) and
// the phone network (it places calls into the platform's DIDs). It records
// what it heard on every answered call, so tests can check that the
// platform's prompts really arrived as audio, not just as packets.
package sim

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/emiago/diago"
	dmedia "github.com/emiago/diago/media"
	"github.com/emiago/sipgo"
	sipmsg "github.com/emiago/sipgo/sip"
	"github.com/minivoice/minivoice/internal/media"
	"github.com/minivoice/minivoice/internal/media/rtpaudio"
	"github.com/minivoice/minivoice/internal/sipnet"
)

// Speaker renders text to speech at a sample rate. The platform's flite
// engine (internal/tts) satisfies it, so the simulator speaks with
// the same voice a production call does.
type Speaker interface {
	Render(ctx context.Context, voice, text string, rate int) (*media.PCM, error)
}

// Defaults for Config and CallOptions fields left zero.
const (
	DefaultAnswerDelay = time.Second
	DefaultVoice       = "slt"
	DefaultMaxDuration = 2 * time.Minute
)

// stragglerDelay is how long Close lets sipgo finish handling messages read
// just before the sockets closed.
const stragglerDelay = 50 * time.Millisecond

// maxReports bounds the call history a long-running simulator keeps; the
// oldest ended calls are forgotten first.
const maxReports = 1000

// Direction values of CallReport.Direction.
const (
	DirectionInbound  = "inbound"  // the simulator received the INVITE (it is the carrier)
	DirectionOutbound = "outbound" // the simulator placed the call (it is the phone network)
)

// EndedBy values of CallReport.EndedBy.
const (
	EndedLocal  = "local"  // the simulator refused, cancelled or hung up
	EndedRemote = "remote" // the far end refused, cancelled or hung up
)

// ErrClosed is returned by Call once Close has begun.
var ErrClosed = errors.New("sim: closed")

// Config configures a Sim.
type Config struct {
	// Listen is the SIP address, UDP and TCP on one port; port 0 picks a
	// free one. Default 127.0.0.1:5080.
	Listen string
	// Scripts maps E.164 numbers to steps ("say TEXT", "wait SECONDS",
	// "dtmf DIGITS", "hangup"); a scripted number answers whatever its suffix
	// and runs its steps. Validated by New.
	Scripts map[string][]string
	// RecordDir receives one WAV per answered call (<Call-ID>.wav, mono
	// PCM16 at the codec rate) of what the simulator heard. Empty: a
	// temporary directory that Close removes.
	RecordDir string
	// Speaker renders "say" steps. Nil: a tone as long as the text would
	// take to speak, so the simulator still sends audible audio without flite.
	Speaker Speaker
	// Voice is the TTS voice. Default DefaultVoice.
	Voice string
	// Logger receives call and SIP stack logs. Default: discarded.
	Logger *slog.Logger
	// AnswerDelay is how long an answering number rings before 200 OK.
	// Zero means DefaultAnswerDelay (telephony.md's "answers after 1 s");
	// negative answers at once.
	AnswerDelay time.Duration
	// Codecs are offered and accepted in order of preference, by SDP name:
	// "G722", "PCMU", "PCMA" (telephone-event is always added). Default
	// G722, PCMU, PCMA, as telephony.md has the simulator offer wideband first.
	Codecs []string
}

// CallReport is what the simulator observed of one call, for tests and for
// `minivoice sim call`'s outcome line.
type CallReport struct {
	CallID    string // the SIP Call-ID
	From, To  string
	Direction string // DirectionInbound or DirectionOutbound
	Behaviour string // a Behaviour* name
	// SIPStatus is the final status the simulator sent (inbound) or received
	// (outbound): 200, 486, 487 after CANCEL, ...; 0 when there was none.
	SIPStatus int
	SIPReason string
	// Provisional is the highest 1xx sent or received: 180 once it rang.
	// (Highest, not last: sipgo may deliver a 100 after the 180.)
	Provisional int
	Answered    bool
	// HeardPath is the WAV of what arrived; empty when the call was not
	// answered.
	HeardPath     string
	HeardDuration time.Duration // length of the recording
	HeardActive   time.Duration // media.ActiveDuration at -40 dBFS: speech, not silence
	// HeardSpans are where the recording had sound (media.ActiveSpans at
	// -40 dBFS, pauses under HeardSpanGap joined), as offsets into the
	// recording (the audio received, packet after packet): a prompt and an
	// echo of the caller are two spans.
	HeardSpans []media.Span
	HeardRMS   float64 // media.RMS of the whole recording
	DTMFSent   string  // RFC 4733 digits the simulator pressed
	DTMFHeard  string  // RFC 4733 digits the far end pressed
	Codec      string  // negotiated audio codec, e.g. "PCMU"
	// EndedBy is EndedLocal or EndedRemote: who refused, cancelled or hung up.
	EndedBy            string
	StartedAt, EndedAt time.Time
	AnsweredAt         time.Time // zero when not answered
	// FirstPacket is how long after AnsweredAt the first RTP packet of any
	// kind arrived, and FirstAudio the first audible one (a frame above the
	// -40 dBFS HeardActive counts): the post-answer delay before a caller
	// hears the first prompt. Zero when none arrived. For calls the
	// simulator places, AnsweredAt is when the 200 OK was received.
	FirstPacket, FirstAudio time.Duration
	Err                     string // a failure the simulator hit (media setup, transport), if any
}

// Duration is how long the call was connected (0 when not answered).
func (r CallReport) Duration() time.Duration {
	if r.AnsweredAt.IsZero() || r.EndedAt.IsZero() {
		return 0
	}
	return r.EndedAt.Sub(r.AnsweredAt)
}

// callState is one call's report while it is being written.
type callState struct {
	to, from string // digits of the numbers, fixed at creation, for WaitCall

	mu     sync.Mutex
	report CallReport
	done   chan struct{} // closed when the call is over and report final
}

func (c *callState) update(f func(r *CallReport)) {
	c.mu.Lock()
	f(&c.report)
	c.mu.Unlock()
}

func (c *callState) snapshot() CallReport {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.report
}

// Sim is a running simulator. All methods are safe for concurrent use.
type Sim struct {
	log         *slog.Logger
	speaker     Speaker
	voice       string
	recordDir   string
	ownDir      bool // recordDir is a temp dir Close removes
	answerDelay time.Duration
	scripts     map[string][]step
	fromHost    string

	ua     *sipgo.UserAgent
	server *sipgo.Server
	dg     *diago.Diago
	udp    net.PacketConn
	tcp    net.Listener
	addr   netip.AddrPort

	ctx    context.Context // lives until Close; every call derives from it
	cancel context.CancelFunc

	serveOnce sync.Once
	serveWG   sync.WaitGroup // the UDP and TCP serve loops
	calls     sync.WaitGroup // call goroutines (inbound handlers and Call)
	closeOnce sync.Once
	closeErr  error

	mu      sync.Mutex
	closed  bool
	reports []*callState
	changed chan struct{} // closed and replaced whenever a call starts or ends
}

// New validates cfg, binds the SIP listeners and returns a simulator ready to
// Serve.
func New(cfg Config) (*Sim, error) {
	if cfg.Listen == "" {
		cfg.Listen = "127.0.0.1:5080"
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.Voice == "" {
		cfg.Voice = DefaultVoice
	}
	if cfg.AnswerDelay == 0 {
		cfg.AnswerDelay = DefaultAnswerDelay
	}
	scripts, err := compileScripts(cfg.Scripts)
	if err != nil {
		return nil, err
	}
	codecs, err := codecsFor(cfg.Codecs)
	if err != nil {
		return nil, err
	}
	s := &Sim{log: cfg.Logger, speaker: cfg.Speaker, voice: cfg.Voice, recordDir: cfg.RecordDir,
		answerDelay: max(cfg.AnswerDelay, 0), scripts: scripts, changed: make(chan struct{})}
	if s.recordDir == "" {
		if s.recordDir, err = os.MkdirTemp("", "minivoice-sim-"); err != nil {
			return nil, fmt.Errorf("sim: recording directory: %w", err)
		}
		s.ownDir = true
	} else if err := os.MkdirAll(s.recordDir, 0o750); err != nil {
		return nil, fmt.Errorf("sim: recording directory: %w", err)
	}
	if err := s.listen(cfg.Listen); err != nil {
		s.removeOwnDir()
		return nil, err
	}
	host := s.addr.Addr()
	s.fromHost = host.String()
	if host.IsUnspecified() {
		// A From of sip:+1555@0.0.0.0 is useless to the platform; name the
		// interface the media will use instead.
		if ip, _, err := sipmsg.ResolveInterfacesIP("ip4", nil); err == nil {
			s.fromHost = ip.String()
		}
	}
	ua, err := sipgo.NewUA(sipgo.WithUserAgent("MiniVoice-sim"), sipgo.WithUserAgentHostname(s.fromHost))
	if err != nil {
		s.closeListeners()
		s.removeOwnDir()
		return nil, fmt.Errorf("sim: sip user agent: %w", err)
	}
	srv, err := sipgo.NewServer(ua, sipgo.WithServerLogger(cfg.Logger))
	if err != nil {
		_ = ua.Close()
		s.closeListeners()
		s.removeOwnDir()
		return nil, fmt.Errorf("sim: sip server: %w", err)
	}
	s.ua, s.server = ua, srv
	port := int(s.addr.Port())
	opts := []diago.DiagoOption{diago.WithServer(srv), diago.WithLogger(cfg.Logger),
		diago.WithMediaConfig(diago.MediaConfig{Codecs: codecs}), diago.WithServerRequestMiddleware(s.track)}
	for _, network := range []string{"udp", "tcp"} {
		t := diago.Transport{Transport: network, BindHost: host.String(), BindPort: port}
		if !host.IsUnspecified() {
			t.ExternalHost, t.ExternalPort = host.String(), port
		}
		opts = append(opts, diago.WithTransport(t))
	}
	s.dg = diago.NewDiago(ua, opts...)
	s.dg.HandleFunc(s.handleInvite)
	s.ctx, s.cancel = context.WithCancel(context.Background())
	return s, nil
}

// codecsFor maps codec names to diago codecs, telephone-event last.
func codecsFor(names []string) ([]dmedia.Codec, error) {
	if len(names) == 0 {
		names = []string{"G722", "PCMU", "PCMA"}
	}
	var out []dmedia.Codec
	for _, n := range names {
		switch strings.ToUpper(strings.TrimSpace(n)) {
		case "G722", "G.722":
			out = append(out, rtpaudio.CodecG722)
		case "PCMU":
			out = append(out, dmedia.CodecAudioUlaw)
		case "PCMA":
			out = append(out, dmedia.CodecAudioAlaw)
		default:
			return nil, fmt.Errorf("sim: codec %q is not supported (have G722, PCMU, PCMA)", n)
		}
	}
	return append(out, dmedia.CodecTelephoneEvent8000), nil
}

// listen binds the simulator's SIP sockets, UDP and TCP on one port.
func (s *Sim) listen(addr string) error {
	udp, tcp, ap, err := sipnet.Listen(addr)
	if err != nil {
		return fmt.Errorf("sim: %w", err)
	}
	s.udp, s.tcp, s.addr = udp, tcp, ap
	return nil
}

func (s *Sim) closeListeners() {
	if s.udp != nil {
		_ = s.udp.Close()
	}
	if s.tcp != nil {
		_ = s.tcp.Close()
	}
}

func (s *Sim) removeOwnDir() {
	if s.ownDir {
		_ = os.RemoveAll(s.recordDir)
	}
}

// Addr is the bound SIP address (UDP and TCP), which is what the platform's
// trunk must point at.
func (s *Sim) Addr() netip.AddrPort { return s.addr }

// RecordDir is where the recordings go (a temporary directory when Config
// left it empty).
func (s *Sim) RecordDir() string { return s.recordDir }

// Serve starts answering SIP in the background and returns. Calling it more
// than once is harmless; Call calls it itself, because replies to the
// simulator's own INVITEs arrive on the same sockets.
func (s *Sim) Serve() {
	s.serveOnce.Do(func() {
		s.serveWG.Add(2)
		go func() {
			defer s.serveWG.Done()
			if err := s.server.ServeUDP(s.udp); err != nil && !errors.Is(err, net.ErrClosed) && s.ctx.Err() == nil {
				s.log.Error("sim: sip udp stopped", slog.Any("error", err))
			}
		}()
		go func() {
			defer s.serveWG.Done()
			if err := s.server.ServeTCP(s.tcp); !errors.Is(err, net.ErrClosed) && s.ctx.Err() == nil {
				s.log.Error("sim: sip tcp stopped", slog.Any("error", err))
			}
		}()
		// Outbound UDP requests reuse the listening socket only once sipgo
		// has registered it; before that they would try to bind the same
		// port again and fail.
		tl := s.ua.TransportLayer()
		local := s.udp.LocalAddr().String()
		for i := 0; i < 2000; i++ {
			if _, err := tl.GetConnection("udp", local); err == nil {
				return
			}
			time.Sleep(time.Millisecond)
		}
	})
}

// Close ends every call (BYE for answered ones, 480 for ringing ones), waits
// for their goroutines, and closes the sockets. Recordings stay, unless they
// were in the temporary directory New made.
func (s *Sim) Close() error {
	s.closeOnce.Do(func() {
		s.mu.Lock()
		s.closed = true
		s.mu.Unlock()
		s.cancel()
		s.calls.Wait()
		s.closeListeners() // nothing new is read from here on
		err := s.ua.Close()
		s.serveWG.Wait()
		// sipgo handles each message it read in a goroutine of its own; one
		// read just before the close (typically the ACK of a 487) finds its
		// transaction gone and opens a fresh socket to answer from, which
		// nothing would ever close. Give such stragglers a moment, then
		// close whatever they opened.
		time.Sleep(stragglerDelay)
		tl := s.ua.TransportLayer()
		for _, network := range []string{"udp", "tcp"} {
			if p := tl.Pool(network); p != nil {
				_ = p.Clear()
			}
		}
		s.removeOwnDir()
		if err != nil {
			s.closeErr = fmt.Errorf("sim: close: %w", err)
		}
	})
	return s.closeErr
}

// track wraps every incoming request's handling, diago's own clean-up after
// the INVITE handler included, in the calls wait group: Close must not close
// the transport while a handler may still respond, or sipgo opens a fresh
// socket to send that response and nothing ever closes it.
func (s *Sim) track(next sipgo.RequestHandler) sipgo.RequestHandler {
	return func(req *sipmsg.Request, tx sipmsg.ServerTransaction) {
		if !s.begin() {
			if req.IsInvite() {
				_ = tx.Respond(sipmsg.NewResponseFromRequest(req, 503, "Service Unavailable", nil))
				return
			}
			// Closing: the calls being torn down still need their ACKs and
			// BYEs (an answer waiting for its ACK would otherwise hold Close
			// for 32 s). These are quick; the straggler sweep in Close
			// covers one that answers after the sockets closed.
			next(req, tx)
			return
		}
		defer s.calls.Done()
		next(req, tx)
	}
}

// begin registers a call goroutine unless the simulator is closing.
func (s *Sim) begin() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return false
	}
	s.calls.Add(1)
	return true
}

// addCall records a new call and wakes WaitCall.
func (s *Sim) addCall(r CallReport) *callState {
	r.StartedAt = time.Now()
	c := &callState{to: digitsOnly(r.To), from: digitsOnly(r.From), report: r, done: make(chan struct{})}
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.reports) >= maxReports {
		for i, old := range s.reports {
			select {
			case <-old.done:
				s.reports = append(s.reports[:i], s.reports[i+1:]...)
			default:
				continue
			}
			break
		}
	}
	s.reports = append(s.reports, c)
	s.notifyLocked()
	return c
}

// finish marks a call over and wakes WaitCall.
func (s *Sim) finish(c *callState) {
	c.update(func(r *CallReport) {
		if r.EndedAt.IsZero() {
			r.EndedAt = time.Now()
		}
	})
	s.mu.Lock()
	defer s.mu.Unlock()
	close(c.done)
	s.notifyLocked()
}

func (s *Sim) notifyLocked() {
	close(s.changed)
	s.changed = make(chan struct{})
}

// Calls is a snapshot of every call so far (oldest first), ended or not.
func (s *Sim) Calls() []CallReport {
	s.mu.Lock()
	cs := append([]*callState(nil), s.reports...)
	s.mu.Unlock()
	out := make([]CallReport, len(cs))
	for i, c := range cs {
		out[i] = c.snapshot()
	}
	return out
}

// WaitCall waits for the most recent call to or from number (digits compared,
// so "+15550000000" matches "15550000000") to end and returns its report. If
// no such call exists yet it waits for one to start and end. It fails only
// when ctx ends.
func (s *Sim) WaitCall(ctx context.Context, number string) (CallReport, error) {
	want := digitsOnly(number)
	for {
		s.mu.Lock()
		changed := s.changed
		var found *callState
		for i := len(s.reports) - 1; i >= 0; i-- {
			c := s.reports[i]
			if c.to == want || c.from == want {
				found = c
				break
			}
		}
		s.mu.Unlock()
		var done <-chan struct{}
		if found != nil {
			done = found.done
		}
		select {
		case <-done:
			return found.snapshot(), nil
		case <-changed:
		case <-ctx.Done():
			return CallReport{}, fmt.Errorf("sim: waiting for a call with %s: %w", number, ctx.Err())
		}
	}
}
