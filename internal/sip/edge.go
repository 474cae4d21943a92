package sip

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/netip"
	"sort"
	"sync"
	"sync/atomic"
	"time"

	"github.com/emiago/diago"
	"github.com/emiago/sipgo"
	sipmsg "github.com/emiago/sipgo/sip"
	"github.com/minivoice/minivoice/internal/sipnet"
	"github.com/minivoice/minivoice/internal/voice"
)

// EdgeConfig is what the SIP edge allows strangers (telephony.md, The SIP
// edge). Zero values take the defaults.
type EdgeConfig struct {
	// Stream bounds SIP over TCP connections: idle and header timeouts,
	// caps per source and in total (sipnet.StreamConfig has the defaults).
	Stream sipnet.StreamConfig
	// DropUnknown sends nothing at all to an INVITE from a source that
	// matches no inbound trunk, instead of 403 (--sip-drop-unknown).
	DropUnknown bool
	// RefusalRate and RefusalBurst are the token bucket of 403 answers to
	// unknown sources, per source IP address: RefusalBurst at once, then
	// RefusalRate a second. What they turn away is dropped without an
	// answer. Default 2/s, 10.
	RefusalRate  float64
	RefusalBurst int
	// RefusalRateTotal and RefusalBurstTotal bound the same answers, and
	// the 401 digest challenges, over all sources, since UDP sources can be
	// forged at will. Default 200/s, 400.
	RefusalRateTotal  float64
	RefusalBurstTotal int
	// MaxSources bounds how many source addresses the per-source buckets
	// remember. Default 10000.
	MaxSources int
}

func (c *EdgeConfig) defaults() {
	if c.RefusalRate <= 0 {
		c.RefusalRate = 2
	}
	if c.RefusalBurst <= 0 {
		c.RefusalBurst = 10
	}
	if c.RefusalRateTotal <= 0 {
		c.RefusalRateTotal = 200
	}
	if c.RefusalBurstTotal <= 0 {
		c.RefusalBurstTotal = 400
	}
	if c.MaxSources <= 0 {
		c.MaxSources = 10000
	}
}

// EdgeStats counts what the edge did with INVITEs from unknown sources
// since the engine started.
type EdgeStats struct {
	Answered    int64 // answered statelessly: 403, or a 401 digest challenge
	RateLimited int64 // dropped: the source's or the total answer rate was spent
	Dropped     int64 // dropped: DropUnknown
}

// edge screens new INVITEs before a call is set up for them.
type edge struct {
	cfg    EdgeConfig
	total  *tokenBucket
	mu     sync.Mutex
	bySrc  map[netip.Addr]*tokenBucket
	trunks trunkReader

	answered, rateLimited, dropped atomic.Int64
}

func newEdge(cfg EdgeConfig, load func(context.Context) ([]*voice.Trunk, error)) *edge {
	cfg.defaults()
	return &edge{cfg: cfg, total: newBucket(cfg.RefusalRateTotal, cfg.RefusalBurstTotal), bySrc: map[netip.Addr]*tokenBucket{},
		trunks: trunkReader{load: load}}
}

// allow takes a token for an answer to src from its bucket and the total.
func (g *edge) allow(src netip.Addr, now time.Time) bool {
	g.mu.Lock()
	b := g.bySrc[src]
	if b == nil {
		if len(g.bySrc) >= g.cfg.MaxSources {
			g.sweep(now)
		}
		if len(g.bySrc) < g.cfg.MaxSources {
			b = newBucket(g.cfg.RefusalRate, g.cfg.RefusalBurst)
			g.bySrc[src] = b
		}
	}
	g.mu.Unlock()
	if b != nil && !b.allow(now) {
		return false
	}
	// A source the map had no room for is bounded by the total alone.
	return g.total.allow(now)
}

// sweep forgets sources whose bucket has refilled: forgetting them loses
// nothing. Called with mu held, only when the map is full.
func (g *edge) sweep(now time.Time) {
	for src, b := range g.bySrc {
		b.mu.Lock()
		full := b.tokens+now.Sub(b.last).Seconds()*b.rate >= b.burst
		b.mu.Unlock()
		if full {
			delete(g.bySrc, src)
		}
	}
}

// trunkReader reads the active inbound trunks for the edge, sharing reads
// between concurrent INVITEs: at most one read runs at a time, and an INVITE
// that arrives while one runs waits for the next, which starts after it
// arrived, so the edge never decides on trunks older than the INVITE. A
// flood costs one database read at a time, not one per INVITE.
type trunkReader struct {
	load              func(context.Context) ([]*voice.Trunk, error)
	mu                sync.Mutex
	inflight, pending *trunkRead
	joined            int // gets waiting on pending (tests watch it)
}

type trunkRead struct {
	done   chan struct{}
	trunks []*voice.Trunk
	err    error
}

func (t *trunkReader) get(ctx context.Context) ([]*voice.Trunk, error) {
	return t.getWaiting(ctx, ctx)
}

// getWaiting is get where the read runs under runCtx (the engine's: a read
// others join must not end with the call that started it) and the caller
// waits under waitCtx.
func (t *trunkReader) getWaiting(runCtx, waitCtx context.Context) ([]*voice.Trunk, error) {
	t.mu.Lock()
	var r *trunkRead
	if t.inflight == nil {
		r = &trunkRead{done: make(chan struct{})}
		t.inflight = r
		go t.run(runCtx, r)
	} else {
		if t.pending == nil {
			t.pending = &trunkRead{done: make(chan struct{})}
		}
		t.joined++
		r = t.pending
	}
	t.mu.Unlock()
	select {
	case <-r.done:
		return r.trunks, r.err
	case <-waitCtx.Done():
		return nil, fmt.Errorf("inbound trunks: %w", waitCtx.Err())
	}
}

// run performs r, then the pending read if one gathered meanwhile.
func (t *trunkReader) run(ctx context.Context, r *trunkRead) {
	for r != nil {
		rctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		r.trunks, r.err = t.load(rctx)
		cancel()
		close(r.done)
		t.mu.Lock()
		r, t.pending = t.pending, nil
		t.inflight, t.joined = r, 0
		t.mu.Unlock()
	}
}

// verdict is what the edge does with a new INVITE.
type verdict int

const (
	pass      verdict = iota // a trunk may claim it: the full inbound path decides
	refuse                   // 403: no trunk matches the source, or an unknown digest user
	challenge                // 401: digest trunks exist and the INVITE has no credentials
)

// screen decides on a new INVITE from the trunks alone.
func (g *edge) screen(ctx context.Context, req *sipmsg.Request, src netip.Addr) (verdict, string) {
	trunks, err := g.trunks.get(ctx)
	if err != nil {
		return pass, "" // the full path reads again and answers 500 if it must
	}
	digestUsers := map[string]bool{}
	for _, t := range trunks {
		for _, c := range t.AllowedCIDRs {
			if p, err := netip.ParsePrefix(c); err == nil && p.Contains(src) {
				return pass, ""
			}
		}
		if t.Username != "" && t.Password != "" {
			digestUsers[t.Username] = true
		}
	}
	if len(digestUsers) == 0 {
		return refuse, "source " + src.String() + " matches no inbound trunk"
	}
	h := req.GetHeader("Authorization")
	if h == nil {
		return challenge, "digest challenge sent"
	}
	if user := digestUsername(h.Value()); !digestUsers[user] {
		return refuse, "unknown digest user " + user
	}
	return pass, ""
}

// edgeGuard answers INVITEs that no trunk can claim without keeping a
// transaction for them: the answer is written straight to the transport,
// once (no retransmission: a forged source gets one response per INVITE,
// never ten), and the transaction sipgo opened ends when the handler
// returns, not 32 s later. Answers are rate limited per source and in
// total; DropUnknown answers 403s with silence.
func (e *Engine) edgeGuard(next sipgo.RequestHandler) sipgo.RequestHandler {
	return func(req *sipmsg.Request, tx sipmsg.ServerTransaction) {
		// The guard's work is in edgeAnswer: this function's frame stays
		// on the stack of every call it lets through, as long as the call
		// lasts.
		if !e.edgeAnswer(req) {
			next(req, tx)
		}
	}
}

// edgeAnswer answers or drops req if the edge decides it (edgeGuard) and
// reports whether it did; false passes it on.
func (e *Engine) edgeAnswer(req *sipmsg.Request) bool {
	if !req.IsInvite() || e.draining.Load() {
		return false
	}
	if to := req.To(); to != nil {
		if _, inDialog := to.Params.Get("tag"); inDialog {
			return false // a re-INVITE: its dialog decides
		}
	}
	ap, err := e.callerSource(req) // the caller's, also behind a trusted proxy (proxy.go)
	if err != nil {
		return false
	}
	src := ap.Addr().Unmap()
	v, why := e.edge.screen(e.ctx, req, src)
	if v == pass {
		return false
	}
	g := e.edge
	if v == refuse && g.cfg.DropUnknown {
		g.dropped.Add(1)
		e.metrics.SIPEdge.WithLabelValues("dropped").Inc()
		return true
	}
	// A digest challenge is how every call of a trunk that authenticates
	// by password begins, from wherever it comes: only the total bounds
	// challenges, so a busy carrier is not throttled like a scanner.
	allowed := v == challenge && g.total.allow(e.now()) || v == refuse && g.allow(src, e.now())
	if !allowed {
		g.rateLimited.Add(1)
		e.metrics.SIPEdge.WithLabelValues("rate_limited").Inc()
		return true
	}
	var res *sipmsg.Response
	switch v {
	case challenge:
		trunks, _ := g.trunks.get(e.ctx)
		t := firstDigestTrunk(trunks)
		if t == nil {
			return false // the trunks changed under us: let the full path decide
		}
		res, _ = e.digest.AuthorizeRequest(req, diago.DigestAuth{Username: t.Username, Password: t.Password, Realm: digestRealm})
	default:
		res = sipmsg.NewResponseFromRequest(req, 403, "Forbidden", nil)
	}
	if err := e.server.WriteResponse(res); err != nil {
		e.log.Debug("sip edge answer", slog.Any("error", err))
	}
	g.answered.Add(1)
	e.metrics.SIPEdge.WithLabelValues("answered").Inc()
	if v == refuse {
		e.metrics.InboundRefused.WithLabelValues("403").Inc()
		e.logRefusal(req, &Refusal{Code: 403, Reason: "Forbidden", Why: why})
	}
	e.log.Debug("sip edge answered", slog.Int("sip_code", res.StatusCode), slog.String("why", why),
		slog.String("source", e.sourceText(req)))
	return true
}

func firstDigestTrunk(trunks []*voice.Trunk) *voice.Trunk {
	for _, t := range trunks {
		if t.Username != "" && t.Password != "" {
			return t
		}
	}
	return nil
}

// EdgeStats is what the edge did with INVITEs from unknown sources.
func (e *Engine) EdgeStats() EdgeStats {
	return EdgeStats{Answered: e.edge.answered.Load(), RateLimited: e.edge.rateLimited.Load(), Dropped: e.edge.dropped.Load()}
}

// StreamStats is the TCP listener's connection counters.
func (e *Engine) StreamStats() sipnet.StreamStats { return e.tcp.Stats() }

// listenerState is one SIP listener's state for readiness.
type listenerState struct {
	name    string
	stopped atomic.Value // error: the Serve loop returned
	err     func() error // the listener's own state (nil for UDP)
}

func (s *listenerState) check() error {
	if err, _ := s.stopped.Load().(error); err != nil {
		return fmt.Errorf("stopped: %w", err)
	}
	if s.err != nil {
		return s.err()
	}
	return nil
}

// addListener registers a listener for Listeners and Ready.
func (e *Engine) addListener(name string, state func() error) *listenerState {
	s := &listenerState{name: name, err: state}
	e.lmu.Lock()
	e.listeners = append(e.listeners, s)
	e.lmu.Unlock()
	return s
}

// Listeners is each SIP listener's state by name (sip_udp, sip_tcp, ...):
// nil while it takes traffic, else why not. Readiness checks report them.
func (e *Engine) Listeners() map[string]func(context.Context) error {
	e.lmu.Lock()
	defer e.lmu.Unlock()
	out := make(map[string]func(context.Context) error, len(e.listeners))
	for _, s := range e.listeners {
		out[s.name] = func(context.Context) error { return s.check() }
	}
	return out
}

// listenersErr names the listeners that are down.
func (e *Engine) listenersErr() error {
	e.lmu.Lock()
	states := append([]*listenerState(nil), e.listeners...)
	e.lmu.Unlock()
	var errs []error
	for _, s := range states {
		if err := s.check(); err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", s.name, err))
		}
	}
	sort.Slice(errs, func(i, j int) bool { return errs[i].Error() < errs[j].Error() })
	return errors.Join(errs...)
}
