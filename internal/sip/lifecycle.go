package sip

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/minivoice/minivoice/internal/billing"
	"github.com/minivoice/minivoice/internal/callctl"
	"github.com/minivoice/minivoice/internal/voice"
)

// callRecord is one call's persistent state as the engine changes it. Every
// change goes through it so that the call row and the event describing the
// change are written together, and call.completed is written exactly once.
type callRecord struct {
	e   *Engine
	app *voice.Application

	// rate prices the call (set at admission, nil when unpriced), and
	// admitted is the customer as admission read it.
	rate     *voice.Rate
	admitted *voice.Customer
	// meter is the answered call's running reservation (watchBalance); the
	// charge never bills beyond what it reserved.
	meter atomic.Pointer[billing.Meter]

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
	return &callRecord{e: e, app: app, call: c}
}

// snapshot returns a copy of the call as it is now.
func (r *callRecord) snapshot() voice.Call {
	r.mu.Lock()
	defer r.mu.Unlock()
	c := *r.call
	c.Variables = make(map[string]string, len(r.call.Variables))
	for k, v := range r.call.Variables {
		c.Variables[k] = v
	}
	return c
}

// event builds an event of this call with data marshalled. Callers hold r.mu.
func (r *callRecord) event(name string, data any, at time.Time) *voice.Event {
	if !at.After(r.lastEvent) {
		at = r.lastEvent.Add(time.Millisecond)
	}
	r.lastEvent = at
	b, err := json.Marshal(data)
	if err != nil || data == nil {
		b = []byte(`{}`)
	}
	status := voice.DeliveryNone
	if r.app != nil && r.app.WebhookURL != "" && subscribed(r.app.WebhookEvents, name) {
		status = voice.DeliveryPending
		if r.app.WebhookStatus == voice.WebhookDisabled {
			status = voice.DeliveryDisabled
		}
	}
	id := r.call.ID
	return &voice.Event{ID: voice.NewID(voice.PrefixEvent, at), Event: name, CreatedAt: at, CallID: &id,
		ApplicationID: r.call.ApplicationID, CustomerID: r.call.CustomerID, Data: b, DeliveryStatus: status,
		Attempts: []voice.Attempt{}}
}

func subscribed(events []string, name string) bool {
	return slices.Contains(events, "*") || slices.Contains(events, name)
}

// update applies change to the call and writes it with the named events.
// Once the call has ended nothing more is written.
func (r *callRecord) update(ctx context.Context, change func(c *voice.Call, now time.Time) []*voice.Event) error {
	return r.updateCharged(ctx, func(c *voice.Call, now time.Time) ([]*voice.Event, *voice.LedgerEntry) {
		return change(c, now), nil
	})
}

// updateCharged is update with a charge written in the same transaction.
func (r *callRecord) updateCharged(ctx context.Context, change func(c *voice.Call, now time.Time) ([]*voice.Event, *voice.LedgerEntry)) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.ended {
		return nil
	}
	now := r.e.clock()
	before := *r.call
	events, charge := change(r.call, now)
	r.call.UpdatedAt = now
	var err error
	if charge != nil {
		err = r.e.store.UpdateCallWithCharge(context.WithoutCancel(ctx), r.call, charge, events...)
	} else {
		err = r.e.store.UpdateCallWithEvents(context.WithoutCancel(ctx), r.call, events...)
	}
	if err != nil {
		*r.call = before
		return fmt.Errorf("record call %s: %w", r.call.ID, err)
	}
	if voice.CallEnded(r.call.Status) {
		r.ended = true
	}
	return nil
}

// create inserts the call with call.initiated.
func (r *callRecord) create(ctx context.Context) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	ev := r.event("call.initiated", struct{}{}, r.call.CreatedAt)
	return r.e.store.CreateCallWithEvents(context.WithoutCancel(ctx), r.call, ev)
}

// initiated records call.initiated for a call that already exists (an
// outbound call created queued by the API).
func (r *callRecord) initiated(ctx context.Context) error {
	return r.update(ctx, func(c *voice.Call, now time.Time) []*voice.Event {
		return []*voice.Event{r.event("call.initiated", struct{}{}, now)}
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
		return []*voice.Event{r.event("call.ringing", map[string]int{"sip_code": sipCode}, now)}
	})
}

// answered records the answer.
func (r *callRecord) answered(ctx context.Context, codec string) error {
	return r.update(ctx, func(c *voice.Call, now time.Time) []*voice.Event {
		c.Status = voice.CallInProgress
		c.AnsweredAt = &now
		if codec != "" {
			c.Codec = &codec
		}
		if c.RingingAt == nil {
			c.RingingAt = &now
		}
		return []*voice.Event{r.event("call.answered", struct{}{}, now)}
	})
}

// setVariables merges vars into the call's variables.
func (r *callRecord) setVariables(ctx context.Context, vars map[string]string) error {
	// The per-call bounds (callctl.MaxVariablesBytes): a set that would
	// break them changes nothing and ends the call with limit_exceeded.
	var limit error
	err := r.update(ctx, func(c *voice.Call, _ time.Time) []*voice.Event {
		if c.Variables == nil {
			c.Variables = map[string]string{}
		}
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
func (r *callRecord) emit(ctx context.Context, name string, data any) error {
	return r.update(ctx, func(c *voice.Call, now time.Time) []*voice.Event {
		return []*voice.Event{r.event(name, data, now)}
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
func (r *callRecord) detachedEvent(name string, data any) *voice.Event {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.event(name, data, r.e.clock())
}

// appError records call.error for an application-side failure.
func (r *callRecord) appError(ctx context.Context, code, message, url string, httpStatus int) error {
	return r.update(ctx, func(c *voice.Call, now time.Time) []*voice.Event {
		c.Error = &voice.CallError{Code: code, Message: message}
		return []*voice.Event{r.event("call.error", map[string]any{"code": code, "message": message, "url": url,
			"http_status": httpStatus}, now)}
	})
}

// ending describes how a call ended.
type ending struct {
	Status    string
	Cause     string
	Source    string
	SIPCode   int
	SIPReason string
	// Error says why a failed call failed; it is kept only when the call
	// has no error yet (an application error recorded earlier stands).
	Error *voice.CallError
}

// end records the final state, the charge and call.completed, once, in one
// transaction.
func (r *callRecord) end(ctx context.Context, how ending) error {
	return r.updateCharged(ctx, func(c *voice.Call, now time.Time) ([]*voice.Event, *voice.LedgerEntry) {
		c.Status = how.Status
		c.EndedAt = &now
		if how.Cause != "" {
			c.HangupCause = &how.Cause
		}
		if how.Source != "" {
			c.HangupSource = &how.Source
		}
		if how.SIPCode != 0 {
			code := how.SIPCode
			c.SIPCode = &code
			reason := how.SIPReason
			c.SIPReason = &reason
		}
		if how.Error != nil && c.Error == nil {
			c.Error = how.Error
		}
		if c.AnsweredAt != nil {
			// Rounded up to whole seconds, at least 1 (billing.md).
			d := now.Sub(*c.AnsweredAt)
			secs := int((d + time.Second - 1) / time.Second)
			if secs < 1 {
				secs = 1
			}
			c.Duration = secs
		}
		charge := r.price(c, now, now)
		return []*voice.Event{r.event("call.completed", completedData(c), now)}, charge
	})
}

// completedData is the data of a call's call.completed event.
func completedData(c *voice.Call) map[string]any {
	return map[string]any{"hangup_cause": c.HangupCause, "hangup_source": c.HangupSource, "sip_code": c.SIPCode,
		"sip_reason": c.SIPReason, "duration": c.Duration, "billable_seconds": c.BillableSeconds, "price": c.Price,
		"currency": c.Currency}
}

// refused inserts a call that was refused before it started (already in its
// final state, failed) with its call.completed, the only event it has: it
// never rang, so there is no call.initiated to announce.
func (r *callRecord) refused(ctx context.Context) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	ev := r.event("call.completed", completedData(r.call), r.call.CreatedAt)
	if err := r.e.store.CreateCallWithEvents(context.WithoutCancel(ctx), r.call, ev); err != nil {
		return fmt.Errorf("record refused call %s: %w", r.call.ID, err)
	}
	r.ended = true
	return nil
}
