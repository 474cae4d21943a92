package sip

import (
	"context"
	"crypto/x509"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/emiago/diago"
	dmedia "github.com/emiago/diago/media"
	"github.com/emiago/sipgo"
	sipmsg "github.com/emiago/sipgo/sip"
	"github.com/minivoice/minivoice/internal/billing"
	"github.com/minivoice/minivoice/internal/callctl"
	"github.com/minivoice/minivoice/internal/certs"
	"github.com/minivoice/minivoice/internal/media"
	"github.com/minivoice/minivoice/internal/media/rtpaudio"
	"github.com/minivoice/minivoice/internal/netguard"
	"github.com/minivoice/minivoice/internal/obs"
	"github.com/minivoice/minivoice/internal/recording"
	"github.com/minivoice/minivoice/internal/sipnet"
	"github.com/minivoice/minivoice/internal/voice"
	"github.com/prometheus/client_golang/prometheus"
)

// Speaker renders text to speech at a sample rate (the flite engine).
type Speaker interface {
	Render(ctx context.Context, voice, text string, rate int) (*media.PCM, error)
}

// ActionFetcher fetches action lists from an application's URLs.
type ActionFetcher interface {
	Fetch(ctx context.Context, req callctl.FetchRequest) (*callctl.FetchResult, error)
}

// Config configures an Engine.
type Config struct {
	// Listen is the SIP address, UDP and TCP on the same port; port 0 picks one.
	Listen string
	// PublicIP is written into SDP and Contact; default the listen address.
	PublicIP string
	// RTPPortMin and RTPPortMax bound the RTP ports (0 = any).
	RTPPortMin, RTPPortMax int
	Store                  Store
	Fetcher                ActionFetcher
	Speaker                Speaker
	// MediaDir is where file:// play URLs may point (DATA/media); empty disables them.
	MediaDir string
	// AllowPrivateURLs are the SSRF guard's exceptions, for play URLs.
	AllowPrivateURLs []netip.Prefix
	Logger           *slog.Logger
	Metrics          *obs.Metrics
	// Now is the clock; default time.Now.
	Now func() time.Time
	// MediaTimeout ends a call after this long without RTP; default 30 s.
	MediaTimeout time.Duration
	// Recordings stores recording files; nil makes every recording fail
	// (the call itself goes on).
	Recordings recording.BlobStore
	// Gate admits and prices calls (billing.md); nil leaves calls unpriced
	// and unlimited (tests of the engine alone).
	Gate *billing.Gate
	// Refusals bounds the records refused INVITEs leave; zero values take
	// the defaults.
	Refusals RefusalConfig
	// Edge bounds what strangers may cost: TCP connection timeouts and
	// caps, stateless answers to unknown sources; zero values take the
	// defaults.
	Edge EdgeConfig
	// TLSListen is the SIP over TLS address (docs/tls.md); empty: none.
	TLSListen string
	// TLSCert is the TLS listener's certificate; required with TLSListen.
	TLSCert *certs.Reloader
	// TrunkRoots are the CAs trusted for trunks with transport tls; nil:
	// the system's.
	TrunkRoots *x509.CertPool
	// Recognizer hears spoken answers to speech gathers; nil: they end
	// with speech_error "unavailable".
	Recognizer SpeechRecognizer
	// TrustedProxies are the SIP proxies (deploy/kamailio) whose
	// X-MiniVoice-Source header names the caller's address for trunk ACLs
	// and the edge (proxy.go); from anywhere else the header is ignored.
	TrustedProxies []netip.Prefix
	// FinalWriteTimeout is how long a call's goroutine retries writing the
	// call's end (status, charge, call.completed) before handing it to
	// background retries; default 1 minute.
	FinalWriteTimeout time.Duration
	// FinalWriteRetry is the first pause between those retries (doubling
	// up to 5 s); default 100 ms. The background retries run every 5 s.
	FinalWriteRetry time.Duration
	// MaxCallSetups bounds the inbound calls being admitted at once
	// (overload.go); more are refused with 503. 0: no limit.
	MaxCallSetups int
}

// Engine is the running SIP/RTP side of the platform.
type Engine struct {
	store        Store
	fetcher      ActionFetcher
	speaker      Speaker
	recognizer   SpeechRecognizer
	log          *slog.Logger
	metrics      *obs.Metrics
	now          func() time.Time
	httpClient   *http.Client
	streams      streamRegistry // live media streams (stream.go)
	mediaTimeout time.Duration
	watchTick    time.Duration // how often the watchdog checks the media
	mediaDir     string

	ua     *sipgo.UserAgent
	server *sipgo.Server
	dg     *diago.Diago
	udp    net.PacketConn
	tcp    *sipnet.StreamListener
	addr   netip.AddrPort
	tls    *tlsListener // nil without a TLS listener

	edge      *edge // screens INVITEs from unknown sources
	lmu       sync.Mutex
	listeners []*listenerState
	udpState  *listenerState
	tcpState  *listenerState

	ctx      context.Context // lives until Close; every call goroutine derives from it
	cancel   context.CancelFunc
	calls    sync.WaitGroup
	draining atomic.Bool
	setups   setupGate // inbound calls being admitted (overload.go)

	digest *diago.DigestAuthServer

	legMu sync.Mutex
	legs  map[string][]dialogLeg // answered legs by SIP Call-ID, for INFO

	blobs recording.BlobStore // where recordings go; nil: recording fails
	gate  *billing.Gate       // admission and rating; nil: unpriced

	refusals *refusals // what refused INVITEs may write

	trustedProxies []netip.Prefix // whose X-MiniVoice-Source is believed (proxy.go)

	finals   *finalWrites  // retries of calls' final writes
	channels trunkChannels // outbound trunks' channels and INVITE rate
	bg       sync.WaitGroup

	mu     sync.Mutex
	live   map[string]*liveCall
	closed bool // set under mu by Close: no call starts after it
}

// begin registers a call goroutine unless the engine is closing; a WaitGroup
// must not gain members while Close waits on it.
func (e *Engine) begin() bool {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.closed {
		return false
	}
	e.calls.Add(1)
	return true
}

// New binds the SIP listeners and returns a ready engine; Serve starts answering.
func New(cfg Config) (*Engine, error) {
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Metrics == nil {
		cfg.Metrics = obs.NewMetrics()
	}
	if cfg.MediaTimeout == 0 {
		cfg.MediaTimeout = 30 * time.Second
	}
	if cfg.RTPPortMin > 0 {
		// diago keeps the RTP port range in package variables.
		dmedia.RTPPortStart, dmedia.RTPPortEnd = cfg.RTPPortMin, cfg.RTPPortMax
	}
	e := &Engine{store: cfg.Store, fetcher: cfg.Fetcher, speaker: cfg.Speaker, recognizer: cfg.Recognizer, log: cfg.Logger, metrics: cfg.Metrics,
		now: cfg.Now, mediaTimeout: cfg.MediaTimeout, mediaDir: cfg.MediaDir, live: map[string]*liveCall{}, watchTick: time.Second,
		legs: map[string][]dialogLeg{}, blobs: cfg.Recordings, gate: cfg.Gate, refusals: newRefusals(cfg.Refusals),
		trustedProxies: cfg.TrustedProxies, httpClient: netguard.NewClient(netguard.ClientConfig{Allow: cfg.AllowPrivateURLs, Timeout: 30 * time.Second})}
	e.setups.limit = int64(max(cfg.MaxCallSetups, 0))
	// How close the node is to refusing with 503 (overload.go). A second
	// engine on the same registry (tests) keeps the first one's.
	if cfg.Metrics.Registry != nil {
		_ = cfg.Metrics.Registry.Register(prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "minivoice_call_setups_in_progress",
			Help: "Inbound calls being admitted now (routing, credit check, call record); at --max-call-setups further INVITEs get 503."},
			func() float64 { return float64(e.setups.n.Load()) }))
	}
	e.edge = newEdge(cfg.Edge, func(ctx context.Context) ([]*voice.Trunk, error) {
		return e.store.ActiveTrunks(ctx, voice.DirectionInbound)
	})
	if cfg.Edge.Stream.Logger == nil {
		cfg.Edge.Stream.Logger = cfg.Logger
	}
	if err := e.listen(cfg.Listen, cfg.Edge.Stream); err != nil {
		return nil, err
	}
	if err := e.listenTLS(cfg, cfg.Edge.Stream); err != nil {
		e.closeListeners()
		return nil, err
	}
	host := e.addr.Addr().String()
	public := cfg.PublicIP
	if public == "" {
		public = host
	}
	// The SIP stack's own logs (parse failures of garbage, mostly) go to our
	// logger at its level, not to the process's default logger.
	ua, err := sipgo.NewUA(sipgo.WithUserAgent("MiniVoice"), sipgo.WithUserAgentHostname(public), sipgo.WithUserAgenTLSConfig(clientTLSConfig(cfg)),
		sipgo.WithUserAgentTransportLayerOptions(sipmsg.WithTransportLayerLogger(cfg.Logger),
			sipmsg.WithTransportLayerReadFilter(newScreen(e.udp, cfg.Logger, cfg.Now).filter), // malformed.go
			// TCP and TLS never dial for a response (dialguard.go). These two
			// transports log through sipgo's default logger, which
			// the minivoice command sets (cmd/minivoice).
			sipmsg.WithTransportLayerTransports(guardedStreamTransports())),
		sipgo.WithUserAgentTransactionLayerOptions(sipmsg.WithTransactionLayerLogger(cfg.Logger)))
	if err != nil {
		e.closeListeners()
		return nil, fmt.Errorf("sip user agent: %w", err)
	}
	srv, err := sipgo.NewServer(ua, sipgo.WithServerLogger(cfg.Logger))
	if err != nil {
		e.closeListeners()
		return nil, fmt.Errorf("sip server: %w", err)
	}
	e.ua, e.server = ua, srv
	port := int(e.addr.Port())
	opts := []diago.DiagoOption{diago.WithServer(srv), diago.WithLogger(cfg.Logger), diago.WithServerRequestMiddleware(func(next sipgo.RequestHandler) sipgo.RequestHandler {
		// The edge first: a stranger's INVITE, malformed or not, gets the edge's
		// one rate-limited 403 (or nothing with --sip-drop-unknown).
		return e.edgeGuard(rejectMalformed(next))
	}),
		diago.WithMediaConfig(diago.MediaConfig{Codecs: rtpaudio.MediaCodecs})}
	opts = append(opts, e.diagoTransports(host, public, port)...)
	e.dg = diago.NewDiago(ua, opts...)
	srv.OnInfo(rejectMalformed(e.onInfo))       // after diago, which registers its own (406 to all)
	srv.OnOptions(rejectMalformed(e.onOptions)) // after diago, whose own answers 200 even while draining
	srv.OnNoRoute(rejectMalformed(unroutable(srv)))
	e.digest = diago.NewDigestServer()
	// Marked so the engine's own requests may open SIP connections (dialguard.go).
	e.ctx, e.cancel = context.WithCancel(context.WithValue(context.Background(), dialAllowed{}, true))
	e.finals = newFinalWrites(e, cfg.FinalWriteTimeout, cfg.FinalWriteRetry)
	e.bg.Add(1)
	go func() {
		defer e.bg.Done()
		e.finals.run(e.ctx, 5*time.Second)
	}()
	return e, nil
}

// listen binds the SIP sockets; TCP connections are bounded by stream.
func (e *Engine) listen(addr string, stream sipnet.StreamConfig) error {
	udp, tcp, ap, err := sipnet.Listen(addr)
	if err != nil {
		return fmt.Errorf("sip %w", err)
	}
	e.udp, e.tcp, e.addr = udp, sipnet.NewStreamListener(tcp, stream), ap
	e.udpState = e.addListener("sip_udp", nil)
	e.tcpState = e.addListener("sip_tcp", e.tcp.Err)
	return nil
}

func (e *Engine) closeListeners() {
	if e.udp != nil {
		e.udp.Close()
	}
	if e.tcp != nil {
		e.tcp.Close()
	}
	e.closeTLS()
}

// Addr is the bound SIP address.
func (e *Engine) Addr() netip.AddrPort { return e.addr }

// Serve answers SIP until Close.
func (e *Engine) Serve() {
	e.dg.HandleFunc(e.handleInbound)
	go func() {
		err := e.server.ServeUDP(e.udp)
		if err == nil {
			err = errors.New("returned")
		}
		e.udpState.stopped.Store(err)
		// sipgo returns nil or net.ErrClosed once Close closed the socket:
		// only a stop before that is an error worth a line.
		if !errors.Is(err, net.ErrClosed) && e.ctx.Err() == nil {
			e.log.Error("sip udp stopped", slog.Any("error", err))
		}
	}()
	go func() {
		// The stream listener retries failed accepts itself, so this returns
		// only once the listener is closed.
		err := e.server.ServeTCP(e.tcp)
		e.tcpState.stopped.Store(err)
		if !errors.Is(err, net.ErrClosed) && e.ctx.Err() == nil {
			e.log.Error("sip tcp stopped", slog.Any("error", err))
		}
	}()
	e.serveTLS()
}

// Accepting reports whether new calls are taken (false while draining).
func (e *Engine) Accepting() bool { return !e.draining.Load() }

// Ready is the readiness check for /readyz: not while draining, nor while a
// listener is down (Listeners says which).
func (e *Engine) Ready(context.Context) error {
	if e.draining.Load() {
		return errors.New("draining")
	}
	return e.listenersErr()
}

func (e *Engine) clock() time.Time { return e.now().UTC().Truncate(time.Millisecond) }

// Drain refuses new INVITEs (503) and waits for live calls to end until ctx
// ends; then it hangs the rest up with system_shutdown.
func (e *Engine) Drain(ctx context.Context) {
	e.draining.Store(true)
	done := make(chan struct{})
	go func() { e.calls.Wait(); close(done) }()
	select {
	case <-done:
		return
	case <-ctx.Done():
	}
	e.hangupAll(SourceSystem)
	<-done
}

// Close stops listening and ends every call goroutine.
func (e *Engine) Close() error {
	e.draining.Store(true)
	e.mu.Lock()
	e.closed = true
	e.mu.Unlock()
	e.cancel()
	e.calls.Wait()
	e.bg.Wait()
	e.closeListeners()
	e.digest.Close()
	return errors.Join(e.server.Close(), e.ua.Close())
}

func itoa(n int) string { return strconv.Itoa(n) }
