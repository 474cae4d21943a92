package sip

import (
	"context"
	"fmt"
	"log/slog"
	"maps"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/minivoice/minivoice/internal/billing"
	"github.com/minivoice/minivoice/internal/callctl"
	"github.com/minivoice/minivoice/internal/voice"
)

// writeTimeout bounds one database write of a call's state: a stuck database
// holds up that call's own goroutine, never anyone else's.
const writeTimeout = 10 * time.Second

// callRecord is one call's persistent state as the engine changes it. Every
// change goes through it so that the call row and the events describing the
// change are written together, and call.completed is written exactly once.
//
// Two locks, so that no lock anyone else needs is held across I/O: writing
// serializes this call's own writes (only the call's goroutines take it),
// and mu guards the in-memory state for readers (the API's hangup, INFO,
// snapshots) and is never held while the database is written.
type callRecord struct {
	e   *Engine
	app *voice.Application
	// callID is the call's id, which never changes (call is replaced on
	// every write; this is read without a lock).
	callID string

	// rate prices the call (set at admission, nil when unpriced).
	rate *voice.Rate
	// meter is the answered call's running reservation (watchBalance); the
	// charge never bills beyond what it reserved.
	meter atomic.Pointer[billing.Meter]

	writing sync.Mutex

	mu    sync.Mutex
	call  *voice.Call
	ended bool
	// lastEvent is the newest event's time. Events are listed and delivered
	// in created_at order at millisecond precision, so two events of one call
	// in the same millisecond get consecutive milliseconds instead of an
	// order decided by their ids' random bits.
	lastEvent time.Time
}

func (e *Engine) newRecord(c *voice.Call, app *voice.Application) *callRecord {
	return &callRecord{e: e, app: app, call: c, callID: c.ID}
}

// cloneCall copies c deeply enough that changing the copy (variables,
// recording ids) never touches c.
func cloneCall(c *voice.Call) *voice.Call {
	cp := *c
	cp.Variables = maps.Clone(c.Variables)
	if cp.Variables == nil {
		cp.Variables = map[string]string{}
	}
	cp.RecordingIDs = slices.Clone(c.RecordingIDs)
	return &cp
}

// snapshot returns a copy of the call as it is now.
func (r *callRecord) snapshot() voice.Call {
	r.mu.Lock()
	defer r.mu.Unlock()
	return *cloneCall(r.call)
}

// id is the call's id, which never changes.
func (r *callRecord) id() string { return r.callID }

// event builds an event of this call, at the given time or just after the
// call's previous event. Callers hold r.mu.
func (r *callRecord) event(t voice.EventType, data any, at time.Time) *voice.Event {
	if !at.After(r.lastEvent) {
		at = r.lastEvent.Add(time.Millisecond)
	}
	r.lastEvent = at
	return voice.NewEvent(r.app, t, voice.EventSubject{CustomerID: r.call.CustomerID, ApplicationID: r.call.ApplicationID,
		CallID: r.call.ID}, data, at)
}

// change computes a new state of the call from a copy of the current one,
// at now, with the events and charge to write with it.
type change func(c *voice.Call, now time.Time) ([]*voice.Event, *voice.LedgerEntry)

// update applies fn to the call and writes it with the events it names.
// Once the call has ended nothing more is written.
func (r *callRecord) update(ctx context.Context, fn func(c *voice.Call, now time.Time) []*voice.Event) error {
	return r.write(ctx, r.e.clock(), func(c *voice.Call, now time.Time) ([]*voice.Event, *voice.LedgerEntry) {
		return fn(c, now), nil
	})
}

// write computes fn's change at now and writes it (one transaction, with
// its deadline); the in-memory call takes the new state only once it is
// stored, so a failed write leaves both as they were.
func (r *callRecord) write(ctx context.Context, now time.Time, fn change) error {
	r.writing.Lock()
	defer r.writing.Unlock()
	r.mu.Lock()
	if r.ended {
		r.mu.Unlock()
		return nil
	}
	next := cloneCall(r.call)
	lastEvent := r.lastEvent
	events, charge := fn(next, now)
	next.UpdatedAt = now
	r.mu.Unlock()

	wctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), writeTimeout)
	defer cancel()
	var err error
	if charge != nil {
		err = r.e.store.UpdateCallWithCharge(wctx, next, charge, events...)
	} else {
		err = r.e.store.UpdateCallWithEvents(wctx, next, events...)
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if err != nil {
		r.lastEvent = lastEvent
		return fmt.Errorf("record call %s: %w", next.ID, err)
	}
	r.call = next
	if voice.CallEnded(next.Status) {
		r.ended = true
	}
	return nil
}

// create inserts the call with call.initiated (and call.ringing when it
// has rung already).
func (r *callRecord) create(ctx context.Context) error {
	r.mu.Lock()
	evs := []*voice.Event{r.event(voice.EventCallInitiated, struct{}{}, r.call.CreatedAt)}
	if at := r.call.RingingAt; at != nil {
		// An inbound call that has already sent its 180.
		evs = append(evs, r.event(voice.EventCallRinging, map[string]int{"sip_code": 180}, *at))
	}
	c := cloneCall(r.call)
	r.mu.Unlock()
	wctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), writeTimeout)
	defer cancel()
	return r.e.store.CreateCallWithEvents(wctx, c, evs...)
}

// initiated records call.initiated for a call that already exists (an
// outbound call created queued by the API).
func (r *callRecord) initiated(ctx context.Context) error {
	return r.update(ctx, func(c *voice.Call, now time.Time) []*voice.Event {
		return []*voice.Event{r.event(voice.EventCallInitiated, struct{}{}, now)}
	})
}

// ringing records the first 180/183 (later ones change nothing).
func (r *callRecord) ringing(ctx context.Context, sipCode int) error {
	return r.update(ctx, func(c *voice.Call, now time.Time) []*voice.Event {
		if c.RingingAt != nil {
			return nil
		}
		c.Status = voice.CallRinging
		c.RingingAt = &now
		return []*voice.Event{r.event(voice.EventCallRinging, map[string]int{"sip_code": sipCode}, now)}
	})
}

// answered records the answer, with the final response of the INVITE when
// the platform sent it (sipCode 0: leave as is).
func (r *callRecord) answered(ctx context.Context, codec string, sipCode int, sipReason string) error {
	return r.update(ctx, func(c *voice.Call, now time.Time) []*voice.Event {
		c.Status = voice.CallInProgress
		c.AnsweredAt = &now
		if codec != "" {
			c.Codec = &codec
		}
		if sipCode != 0 {
			c.SIPCode, c.SIPReason = &sipCode, &sipReason
		}
		if c.RingingAt == nil {
			c.RingingAt = &now
		}
		return []*voice.Event{r.event(voice.EventCallAnswered, struct{}{}, now)}
	})
}

// setTrunk records the trunk an outbound call is being sent through.
func (r *callRecord) setTrunk(ctx context.Context, trunkID string) error {
	return r.update(ctx, func(c *voice.Call, _ time.Time) []*voice.Event {
		c.TrunkID = &trunkID
		return nil
	})
}

// setVariables merges vars into the call's variables.
func (r *callRecord) setVariables(ctx context.Context, vars map[string]string) error {
	// The per-call bounds (callctl.MaxVariablesBytes): a set that would
	// break them changes nothing and ends the call with limit_exceeded.
	var limit error
	err := r.update(ctx, func(c *voice.Call, _ time.Time) []*voice.Event {
		limit = callctl.MergeVariables(&c.Variables, vars)
		return nil
	})
	if limit != nil {
		return limit
	}
	return err
}

// emit records an event of the live call that changes nothing on it
// (call.gather).
func (r *callRecord) emit(ctx context.Context, t voice.EventType, data any) error {
	return r.update(ctx, func(c *voice.Call, now time.Time) []*voice.Event {
		return []*voice.Event{r.event(t, data, now)}
	})
}

// addRecording lists a new recording on the call.
func (r *callRecord) addRecording(ctx context.Context, id string) error {
	return r.update(ctx, func(c *voice.Call, _ time.Time) []*voice.Event {
		c.RecordingIDs = append(c.RecordingIDs, id)
		return nil
	})
}

// detachedEvent builds an event of this call that is written with something
// other than the call (a recording), after the call may have ended; it still
// orders after the call's own events.
func (r *callRecord) detachedEvent(t voice.EventType, data any) *voice.Event {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.event(t, data, r.e.clock())
}

// appError records call.error for an application-side failure.
func (r *callRecord) appError(ctx context.Context, code, message, url string, httpStatus int) error {
	return r.update(ctx, func(c *voice.Call, now time.Time) []*voice.Event {
		c.Error = &voice.CallError{Code: code, Message: message}
		return []*voice.Event{r.event(voice.EventCallError, map[string]any{"code": code, "message": message, "url": url,
			"http_status": httpStatus}, now)}
	})
}

// ending describes how a call ended.
type ending struct {
	Status    string
	Cause     voice.HangupCause
	Source    voice.HangupSource
	SIPCode   int
	SIPReason string
	// Error says why a failed call failed; it is kept only when the call
	// has no error yet (an application error recorded earlier stands).
	Error *voice.CallError
}

// canceled is the ending of a call hung up by source before it was
// answered, with the final response the INVITE got (code 0: none).
func canceled(source voice.HangupSource, code int, reason string) ending {
	return ending{Status: voice.CallCanceled, Cause: voice.CanceledCause(source), Source: source, SIPCode: code, SIPReason: reason}
}

// endChange is the change that ends a call as how says at end: final
// status, duration, the charge, call.completed.
func (r *callRecord) endChange(how ending, end time.Time) change {
	return func(c *voice.Call, now time.Time) ([]*voice.Event, *voice.LedgerEntry) {
		c.Status = how.Status
		c.EndedAt = &end
		if how.Cause != "" {
			cause := how.Cause
			c.HangupCause = &cause
		}
		if how.Source != "" {
			source := how.Source
			c.HangupSource = &source
		}
		if how.SIPCode != 0 {
			code, reason := how.SIPCode, how.SIPReason
			c.SIPCode, c.SIPReason = &code, &reason
		}
		if how.Error != nil && c.Error == nil {
			c.Error = how.Error
		}
		if c.AnsweredAt != nil {
			c.Duration = durationSeconds(end.Sub(*c.AnsweredAt))
		}
		charge := r.price(c, end, now)
		return []*voice.Event{r.event(voice.EventCallCompleted, voice.CompletedData(c), now)}, charge
	}
}

// durationSeconds is an answered call's duration: rounded up to whole
// seconds, at least 1 (billing docs).
func durationSeconds(d time.Duration) int {
	return max(1, int((d+time.Second-1)/time.Second))
}

// end records the final state, the charge and call.completed, once, in one
// transaction. It is the write that must not be lost: it is retried until
// it is stored or the engine's final-write deadline passes, every failure
// logged; then it is left to the engine's background retries
// (finalWrites), which keep trying until the engine closes. A call the
// process could not close at all is closed by the next start's recovery
// (one node) or by a surviving node (a cluster).
func (r *callRecord) end(ctx context.Context, how ending) {
	at := r.e.clock()
	fn := r.endChange(how, at)
	if r.e.finals.try(ctx, r, fn) {
		return
	}
	r.e.finals.later(r, fn)
}

// refused inserts a call that was refused before it started (already in its
// final state, failed) with its call.completed, the only event it has: it
// never rang, so there is no call.initiated to announce.
func (r *callRecord) refused(ctx context.Context) error {
	r.mu.Lock()
	ev := r.event(voice.EventCallCompleted, voice.CompletedData(r.call), r.call.CreatedAt)
	c := cloneCall(r.call)
	r.ended = true
	r.mu.Unlock()
	wctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), writeTimeout)
	defer cancel()
	if err := r.e.store.CreateCallWithEvents(wctx, c, ev); err != nil {
		return fmt.Errorf("record refused call %s: %w", c.ID, err)
	}
	return nil
}

// finalWrites retries the final writes of calls (callRecord.end).
type finalWrites struct {
	e *Engine
	// deadline is how long end keeps retrying in the call's own goroutine;
	// backoff is the first pause between attempts (doubling up to 5 s).
	deadline, backoff time.Duration

	mu      sync.Mutex
	pending map[*callRecord]change
	wake    chan struct{}
}

func newFinalWrites(e *Engine, deadline, backoff time.Duration) *finalWrites {
	if deadline <= 0 {
		deadline = time.Minute
	}
	if backoff <= 0 {
		backoff = 100 * time.Millisecond
	}
	return &finalWrites{e: e, deadline: deadline, backoff: backoff, pending: map[*callRecord]change{}, wake: make(chan struct{}, 1)}
}

// try writes fn, retrying with backoff until the deadline; it reports
// whether the write is done.
func (f *finalWrites) try(ctx context.Context, r *callRecord, fn change) bool {
	deadline := time.Now().Add(f.deadline)
	pause := f.backoff
	for attempt := 1; ; attempt++ {
		err := r.write(ctx, r.e.clock(), fn)
		if err == nil {
			if attempt > 1 {
				f.e.log.Info("call end recorded after retries", slog.String("call_id", r.id()), slog.Int("attempts", attempt))
			}
			return true
		}
		f.e.metrics.CallWriteFailures.Inc()
		f.e.log.Warn("call end not recorded, retrying", slog.String("call_id", r.id()), slog.Int("attempt", attempt),
			slog.Any("error", err))
		if time.Now().Add(pause).After(deadline) {
			return false
		}
		t := time.NewTimer(pause)
		select {
		case <-t.C:
		case <-f.e.ctx.Done():
			t.Stop()
			return false
		}
		pause = min(2*pause, 5*time.Second)
	}
}

// later hands a final write that kept failing to the background retries.
func (f *finalWrites) later(r *callRecord, fn change) {
	f.e.log.Error("call end still not recorded; retrying in the background", slog.String("call_id", r.id()))
	f.mu.Lock()
	f.pending[r] = fn
	f.mu.Unlock()
	select {
	case f.wake <- struct{}{}:
	default:
	}
}

// Pending is the number of calls whose final write is waiting for a retry.
func (f *finalWrites) Pending() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return len(f.pending)
}

// run retries pending final writes every interval until ctx ends; what is
// left then is logged by call id (the next start's recovery closes them).
func (f *finalWrites) run(ctx context.Context, interval time.Duration) {
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			f.mu.Lock()
			for r := range f.pending {
				f.e.log.Error("call end never recorded; recovery will close the call", slog.String("call_id", r.id()))
			}
			f.mu.Unlock()
			return
		case <-t.C:
		case <-f.wake:
			continue // the first retry waits a full interval
		}
		f.mu.Lock()
		batch := maps.Clone(f.pending)
		f.mu.Unlock()
		for r, fn := range batch {
			if err := r.write(ctx, r.e.clock(), fn); err != nil {
				f.e.log.Warn("call end not recorded, retrying", slog.String("call_id", r.id()), slog.Any("error", err))
				continue
			}
			f.e.log.Info("call end recorded after retries", slog.String("call_id", r.id()))
			f.mu.Lock()
			delete(f.pending, r)
			f.mu.Unlock()
		}
	}
}
