package sip

import (
	"context"
	"log/slog"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	sipmsg "github.com/emiago/sipgo/sip"
	"github.com/minivoice/minivoice/internal/voice"
)

// RefusalConfig bounds what refused INVITEs may write. Refusals are cheap
// for whoever sends them (one UDP datagram each) and every one would cost a
// database write, so both places they land are bounded: the operator's log
// (GET /v1/sip/refusals) by a row count and a write rate, a customer's
// refused calls by a write rate per customer. What the rates turn away is
// still answered, logged at debug level and counted, but not stored.
type RefusalConfig struct {
	// LogMax is how many refusals the operator's log keeps; each write drops
	// the oldest beyond it. Default 10000.
	LogMax int
	// LogRate and LogBurst are the token bucket of operator-log writes, per
	// process: LogBurst at once, then LogRate a second. Default 10/s, 100.
	LogRate  float64
	LogBurst int
	// CallRate and CallBurst are the token bucket of refused-call records
	// of one customer, per process. Default 5/s, 50.
	CallRate  float64
	CallBurst int
}

func (c *RefusalConfig) defaults() {
	if c.LogMax <= 0 {
		c.LogMax = 10000
	}
	if c.LogRate <= 0 {
		c.LogRate = 10
	}
	if c.LogBurst <= 0 {
		c.LogBurst = 100
	}
	if c.CallRate <= 0 {
		c.CallRate = 5
	}
	if c.CallBurst <= 0 {
		c.CallBurst = 50
	}
}

// tokenBucket allows burst events at once and rate a second after that.
type tokenBucket struct {
	mu     sync.Mutex
	rate   float64
	burst  float64
	tokens float64
	last   time.Time
}

func newBucket(rate float64, burst int) *tokenBucket {
	return &tokenBucket{rate: rate, burst: float64(burst), tokens: float64(burst)}
}

// allow takes a token if there is one at now.
func (b *tokenBucket) allow(now time.Time) bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	if !b.last.IsZero() && now.After(b.last) {
		b.tokens = min(b.burst, b.tokens+now.Sub(b.last).Seconds()*b.rate)
	}
	if now.After(b.last) {
		b.last = now
	}
	if b.tokens < 1 {
		return false
	}
	b.tokens--
	return true
}

// refusals is the engine's bookkeeping of refused INVITEs.
type refusals struct {
	cfg     RefusalConfig
	log     *tokenBucket
	mu      sync.Mutex
	calls   map[string]*tokenBucket // by customer id; as many as customers
	dropped atomic.Int64            // operator-log refusals not stored
}

func newRefusals(cfg RefusalConfig) *refusals {
	cfg.defaults()
	return &refusals{cfg: cfg, log: newBucket(cfg.LogRate, cfg.LogBurst), calls: map[string]*tokenBucket{}}
}

func (r *refusals) callBucket(customerID string) *tokenBucket {
	r.mu.Lock()
	defer r.mu.Unlock()
	b := r.calls[customerID]
	if b == nil {
		b = newBucket(r.cfg.CallRate, r.cfg.CallBurst)
		r.calls[customerID] = b
	}
	return b
}

// RefusalsDropped is how many refusals this process left out of the
// operator's log since it started because they came faster than its write
// rate allows.
func (e *Engine) RefusalsDropped() int64 { return e.refusals.dropped.Load() }

// maxRefusalField bounds each caller-supplied text stored in the log.
const maxRefusalField = 256

func clip(s string) string {
	if len(s) <= maxRefusalField {
		return s
	}
	return strings.ToValidUTF8(s[:maxRefusalField], "")
}

// logRefusal writes an INVITE refused before it could be tied to a
// customer to the operator's log, unless the log's write rate is spent.
func (e *Engine) logRefusal(req *sipmsg.Request, r *Refusal) {
	now := e.clock()
	if !e.refusals.log.allow(now) {
		e.refusals.dropped.Add(1)
		e.metrics.SIPRefusalsDropped.WithLabelValues("operator_log").Inc()
		return
	}
	from := ""
	if f := req.From(); f != nil {
		from = f.Address.User
	}
	callID := ""
	if h := req.CallID(); h != nil {
		callID = h.Value()
	}
	entry := &voice.SIPRefusal{ID: voice.NewID(voice.PrefixSIPRefusal, now), CreatedAt: now, Source: e.sourceText(req),
		Transport: strings.ToLower(req.Transport()), From: clip(from), To: clip(req.Recipient.User), SIPCode: r.Code,
		Reason: r.Reason, Why: clip(r.Why), CallID: clip(callID)}
	ctx, cancel := context.WithTimeout(context.WithoutCancel(e.ctx), 5*time.Second)
	defer cancel()
	if err := e.store.AddSIPRefusal(ctx, entry, e.refusals.cfg.LogMax); err != nil {
		e.log.Warn("sip refusal log", slog.Any("error", err))
	}
}

// recordRefusedCall writes an INVITE refused for a known DID as a failed
// call of the number's customer, with call.completed (sent to the
// application's webhook when the number points at an active application),
// unless the customer's refused-call write rate is spent.
func (e *Engine) recordRefusedCall(req *sipmsg.Request, route *inboundRoute, r *Refusal) {
	now := e.clock()
	if !e.refusals.callBucket(route.cust.ID).allow(now) {
		e.metrics.SIPRefusalsDropped.WithLabelValues("customer_call").Inc()
		e.log.Debug("refused call not recorded: write rate spent", slog.String("customer_id", route.cust.ID))
		return
	}
	numberID, trunkID := route.number.ID, route.trunk.ID
	cause, source, code, reason := CauseCallRejected, SourceSystem, r.Code, r.Reason
	c := &voice.Call{ID: voice.NewID(voice.PrefixCall, now), CustomerID: route.cust.ID, Status: voice.CallFailed,
		Direction: voice.DirectionInbound, From: callerNumber(req), To: route.did, NumberID: &numberID, TrunkID: &trunkID,
		RecordingChannels: voice.ChannelsDual, Timeout: 30, TimeLimit: 14400, Variables: map[string]string{},
		Currency: route.cust.Currency, RecordingIDs: []string{}, CreatedAt: now, UpdatedAt: now, EndedAt: &now,
		HangupCause: &cause, HangupSource: &source, SIPCode: &code, SIPReason: &reason, Error: r.Err}
	var app *voice.Application
	if route.app != nil {
		c.ApplicationID = route.app.ID
		if route.app.Status == voice.ApplicationActive {
			app = route.app // an inactive application gets no webhooks
		}
	}
	rec := e.newRecord(c, app)
	if err := rec.refused(e.ctx); err != nil {
		e.log.Warn("refused call record", slog.Any("error", err))
		return
	}
	e.metrics.CallsByStatus.WithLabelValues(voice.DirectionInbound, voice.CallFailed).Inc()
}
