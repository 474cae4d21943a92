package sip

import (
	"context"
	"fmt"
	"time"

	"github.com/minivoice/minivoice/internal/voice"
)

// Recover closes the calls a crashed process left unfinished: failed with
// system_restart, their answered time counted up to their last recorded
// change, each with its call.completed (telephony.md, Shutdown and crash).
// It must run before the engine takes calls, and only where this process is
// the only one using the database: with several serve processes on one
// PostgreSQL, another process's live calls look unfinished too.
func (e *Engine) Recover(ctx context.Context) (int, error) {
	calls, err := e.store.UnfinishedCalls(ctx)
	if err != nil {
		return 0, err
	}
	for _, c := range calls {
		var app *voice.Application
		if a, err := e.store.Application(ctx, voice.Scope{}, c.ApplicationID); err == nil {
			app = a
		}
		rec := e.newRecord(c, app)
		if e.gate != nil {
			// Priced by today's deck (the rate the call was admitted at is
			// not stored; decks rarely change under a live call). c.To is
			// the callee outbound and the DID inbound: the rated number.
			rec.rate = e.gate.Book.Lookup(c.CustomerID, c.Direction, c.To)
		}
		last := c.UpdatedAt
		err := rec.updateCharged(ctx, func(c *voice.Call, now time.Time) ([]*voice.Event, *voice.LedgerEntry) {
			cause, source := CauseSystemRestart, SourceSystem
			if c.Error == nil {
				c.Error = &voice.CallError{Code: ErrSystemRestart,
					Message: "the platform stopped while the call was " + c.Status + " and closed it when it started again"}
			}
			c.Status, c.EndedAt, c.HangupCause, c.HangupSource = voice.CallFailed, &now, &cause, &source
			var charge *voice.LedgerEntry
			if c.AnsweredAt != nil {
				d := last.Sub(*c.AnsweredAt)
				c.Duration = max(1, int((d+time.Second-1)/time.Second))
				// Billed for what was answered, up to the last recorded change.
				charge = rec.price(c, last, now)
			}
			data := map[string]any{"hangup_cause": cause, "hangup_source": source, "sip_code": c.SIPCode,
				"sip_reason": c.SIPReason, "duration": c.Duration, "billable_seconds": c.BillableSeconds, "price": c.Price,
				"currency": c.Currency}
			return []*voice.Event{rec.event("call.completed", data, now)}, charge
		})
		if err != nil {
			return 0, fmt.Errorf("recover call %s: %w", c.ID, err)
		}
	}
	// The calls closed above freed their reservations as they were
	// written; what is left are reservations of calls the crashed process
	// admitted but never recorded. Nothing is up now, so none holds money.
	if sw, ok := e.store.(reservationSweeper); ok {
		if _, err := sw.SweepReservations(ctx, e.clock()); err != nil {
			return len(calls), fmt.Errorf("recover: %w", err)
		}
	}
	return len(calls), nil
}

// reservationSweeper is the store's SweepReservations (billing.md,
// Reservations).
type reservationSweeper interface {
	SweepReservations(ctx context.Context, orphansBefore time.Time) (int, error)
}
