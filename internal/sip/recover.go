package sip

import (
	"context"
	"fmt"
	"time"

	"github.com/minivoice/minivoice/internal/voice"
)

// Recover closes the calls a crashed process left unfinished: failed with
// system_restart, their answered time counted up to their last recorded
// change, each with its call.completed (telephony docs, Shutdown and
// crash). It must run before the engine takes calls, and only where this
// process is the only one using the database: with several serve processes
// on one PostgreSQL, another process's live calls look unfinished too (a
// cluster's nodes close a lost node's calls with CloseAbandoned instead).
func (e *Engine) Recover(ctx context.Context) (int, error) {
	calls, err := e.store.UnfinishedCalls(ctx)
	if err != nil {
		return 0, err
	}
	n, err := e.CloseAbandoned(ctx, calls, voice.CauseSystemRestart, time.Time{})
	if err != nil {
		return n, err
	}
	// The calls closed above freed their reservations as they were
	// written; what is left are reservations of calls the crashed process
	// admitted but never recorded. Nothing is up now, so none holds money.
	if sw, ok := e.store.(reservationSweeper); ok {
		if _, err := sw.SweepReservations(ctx, e.clock()); err != nil {
			return n, fmt.Errorf("recover: %w", err)
		}
	}
	return n, nil
}

// CloseAbandoned closes calls that the process which held them can no
// longer close (it crashed, or its cluster node's lease expired): failed
// with cause (system_restart or node_lost) and source system, their
// answered time counted up to the last moment they are known to have been
// up (the later of their last recorded change and lastSeen, the dead
// node's last heartbeat; zero: unknown), charged for that, each with one
// call.completed. A call that is already final when it is written is left
// as it is. It returns how many calls it closed.
func (e *Engine) CloseAbandoned(ctx context.Context, calls []*voice.Call, cause voice.HangupCause, lastSeen time.Time) (int, error) {
	message := "the platform stopped while the call was %s and closed it when it started again"
	if cause == voice.CauseNodeLost {
		message = "the node that held the call stopped while the call was %s; another node closed it"
	}
	closed := 0
	for _, c := range calls {
		if voice.CallEnded(c.Status) {
			continue
		}
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
		if lastSeen.After(last) {
			last = lastSeen
		}
		how := ending{Status: voice.CallFailed, Cause: cause, Source: SourceSystem,
			Error: &voice.CallError{Code: string(cause), Message: fmt.Sprintf(message, c.Status)}}
		// The end is the moment of closing; the duration and the charge
		// stop at the last moment the call was known to be up.
		endChange := rec.endChange(how, last)
		err := rec.write(ctx, e.clock(), func(c *voice.Call, now time.Time) ([]*voice.Event, *voice.LedgerEntry) {
			events, charge := endChange(c, now)
			c.EndedAt = &now
			return events, charge
		})
		if err != nil {
			return closed, fmt.Errorf("close abandoned call %s: %w", c.ID, err)
		}
		closed++
	}
	return closed, nil
}

// reservationSweeper is the store's SweepReservations (billing docs,
// Reservations).
type reservationSweeper interface {
	SweepReservations(ctx context.Context, orphansBefore time.Time) (int, error)
}
