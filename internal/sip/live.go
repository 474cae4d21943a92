package sip

import (
	"context"
	"sync"
	"sync/atomic"
	"time"

	"github.com/minivoice/minivoice/internal/callctl"
	"github.com/minivoice/minivoice/internal/voice"
)

// Store is what the engine reads and writes: routing data (trunks, numbers,
// customers, applications), its calls with their events and charges,
// recordings, and the refusals log. A narrow interface, so the engine's
// paths, a failing database included, are tested against a small fake.
type Store interface {
	ActiveTrunks(ctx context.Context, direction string) ([]*voice.Trunk, error)
	NumberByE164(ctx context.Context, e164 string) (*voice.Number, error)
	Customer(ctx context.Context, scope voice.Scope, id string) (*voice.Customer, error)
	Application(ctx context.Context, scope voice.Scope, id string) (*voice.Application, error)

	CreateCallWithEvents(ctx context.Context, c *voice.Call, events ...*voice.Event) error
	UpdateCallWithEvents(ctx context.Context, c *voice.Call, events ...*voice.Event) error
	UpdateCallWithCharge(ctx context.Context, c *voice.Call, charge *voice.LedgerEntry, events ...*voice.Event) error
	UnfinishedCalls(ctx context.Context) ([]*voice.Call, error)

	CreateRecording(ctx context.Context, r *voice.Recording) error
	UpdateRecordingWithEvents(ctx context.Context, r *voice.Recording, events ...*voice.Event) error

	AddSIPRefusal(ctx context.Context, r *voice.SIPRefusal, keep int) error
}

// liveCall is a call the engine holds, from its record's creation to its
// end: what the API reaches (hang it up, replace its actions) and what the
// trunk limits count. Inbound calls, outbound calls and dial legs are all
// one.
type liveCall struct {
	rec *callRecord
	// ctx ends when the call is hung up: by hangup (the API, a drain), by
	// the far end (the caller hooks its dialog's end to cancel), or when
	// the engine closes.
	ctx    context.Context
	cancel context.CancelFunc
	// replace takes an action list the API sends to an answered call; the
	// call's action runner reads it (dial legs have none).
	replace *callctl.Replacer

	once   sync.Once
	source atomic.Pointer[voice.HangupSource]
	// trunkID is the outbound trunk carrying the call, once it is chosen
	// (trunk limits count it).
	trunkID atomic.Pointer[string]

	// release runs once when the call leaves the engine (its admission
	// ticket, its trunk channel).
	releaseMu sync.Mutex
	release   []func()
}

// hangup ends the call on behalf of source, once: a second hang-up, from
// whoever, changes nothing.
func (lc *liveCall) hangup(source voice.HangupSource) {
	lc.once.Do(func() {
		lc.source.Store(&source)
		lc.cancel()
	})
}

// hungUpBy is who hung the call up through hangup ("" when nobody did: the
// far end left, or it ended by itself).
func (lc *liveCall) hungUpBy() voice.HangupSource {
	if s := lc.source.Load(); s != nil {
		return *s
	}
	return ""
}

// onRelease adds f to what runs when the call leaves the engine.
func (lc *liveCall) onRelease(f func()) {
	lc.releaseMu.Lock()
	lc.release = append(lc.release, f)
	lc.releaseMu.Unlock()
}

// open registers a live call for rec, its context derived from parent (the
// engine's, or a dial's parent call's); close removes it. withActions gives
// it a replace channel for the API's action lists.
func (e *Engine) open(parent context.Context, rec *callRecord, withActions bool) *liveCall {
	lc := &liveCall{rec: rec}
	lc.ctx, lc.cancel = context.WithCancel(parent)
	if withActions {
		lc.replace = callctl.NewReplacer()
	}
	e.mu.Lock()
	e.live[rec.id()] = lc
	e.mu.Unlock()
	e.metrics.ActiveCalls.Inc()
	return lc
}

// close removes the call from the engine and runs its releases.
func (e *Engine) close(lc *liveCall) {
	e.mu.Lock()
	_, ok := e.live[lc.rec.id()]
	delete(e.live, lc.rec.id())
	e.mu.Unlock()
	lc.cancel()
	if !ok {
		return
	}
	e.metrics.ActiveCalls.Dec()
	lc.releaseMu.Lock()
	release := lc.release
	lc.release = nil
	lc.releaseMu.Unlock()
	for i := len(release) - 1; i >= 0; i-- {
		release[i]()
	}
}

// lookup is the live call with the id, or nil.
func (e *Engine) lookup(id string) *liveCall {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.live[id]
}

// ActiveCalls is the number of live calls.
func (e *Engine) ActiveCalls() int {
	e.mu.Lock()
	defer e.mu.Unlock()
	return len(e.live)
}

// Hangup ends a live call on the API's request (CANCEL before answer, BYE
// after); false when this engine does not hold the call.
func (e *Engine) Hangup(callID string) bool {
	lc := e.lookup(callID)
	if lc == nil {
		return false
	}
	lc.hangup(SourceAPI)
	return true
}

// ReplaceActions interrupts a live call's current action and runs actions
// instead; false when this engine does not hold an answered call with that
// id taking actions.
func (e *Engine) ReplaceActions(ctx context.Context, callID string, actions []callctl.Action) bool {
	lc := e.lookup(callID)
	if lc == nil || lc.replace == nil || lc.ctx.Err() != nil {
		return false
	}
	return lc.replace.Replace(actions)
}

// hangupAll hangs every live call up on behalf of source.
func (e *Engine) hangupAll(source voice.HangupSource) {
	e.mu.Lock()
	live := make([]*liveCall, 0, len(e.live))
	for _, lc := range e.live {
		live = append(live, lc)
	}
	e.mu.Unlock()
	for _, lc := range live {
		lc.hangup(source)
	}
}

// trunkChannels counts the engine's live calls on each outbound trunk.
type trunkChannels struct {
	mu    sync.Mutex
	calls map[string]int
	// sent holds each trunk's INVITE times within the last second, for
	// max_cps.
	sent map[string][]time.Time
}

// take occupies one of t's channels (and one of its INVITEs this second)
// for lc, unless t is at max_channels or max_cps; the channel is freed when
// lc leaves the engine or moves to another trunk (the returned release).
// why says which limit refused it.
func (tc *trunkChannels) take(t *voice.Trunk, now time.Time) (release func(), why string) {
	tc.mu.Lock()
	defer tc.mu.Unlock()
	if tc.calls == nil {
		tc.calls, tc.sent = map[string]int{}, map[string][]time.Time{}
	}
	if t.MaxChannels > 0 && tc.calls[t.ID] >= t.MaxChannels {
		return nil, "max_channels"
	}
	if t.MaxCPS > 0 {
		recent := tc.sent[t.ID][:0]
		for _, at := range tc.sent[t.ID] {
			if now.Sub(at) < time.Second {
				recent = append(recent, at)
			}
		}
		tc.sent[t.ID] = recent
		if len(recent) >= t.MaxCPS {
			return nil, "max_cps"
		}
		tc.sent[t.ID] = append(recent, now)
	}
	tc.calls[t.ID]++
	var once sync.Once
	return func() {
		once.Do(func() {
			tc.mu.Lock()
			tc.calls[t.ID]--
			if tc.calls[t.ID] == 0 {
				delete(tc.calls, t.ID)
			}
			tc.mu.Unlock()
		})
	}, ""
}
