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
		last := c.UpdatedAt
		err := rec.update(ctx, func(c *voice.Call, now time.Time) []*voice.Event {
			cause, source := CauseSystemRestart, SourceSystem
			c.Status, c.EndedAt, c.HangupCause, c.HangupSource = voice.CallFailed, &now, &cause, &source
			if c.AnsweredAt != nil {
				d := last.Sub(*c.AnsweredAt)
				c.Duration = max(1, int((d+time.Second-1)/time.Second))
			}
			data := map[string]any{"hangup_cause": cause, "hangup_source": source, "sip_code": c.SIPCode,
				"sip_reason": c.SIPReason, "duration": c.Duration, "billable_seconds": c.BillableSeconds, "price": c.Price,
				"currency": c.Currency}
			return []*voice.Event{rec.event("call.completed", data, now)}
		})
		if err != nil {
			return 0, fmt.Errorf("recover call %s: %w", c.ID, err)
		}
	}
	return len(calls), nil
}
