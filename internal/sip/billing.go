package sip

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/minivoice/minivoice/internal/billing"
	"github.com/minivoice/minivoice/internal/rating"
	"github.com/minivoice/minivoice/internal/voice"
)

// admit runs billing.md's checks for a new call. Without a gate (an engine
// built without billing) every call is admitted and left unpriced.
func (e *Engine) admit(ctx context.Context, customerID, direction, number string) (*billing.Ticket, *Refusal) {
	if e.gate == nil {
		return &billing.Ticket{Release: func() {}}, nil
	}
	t, err := e.gate.Admit(ctx, customerID, direction, number)
	if err != nil {
		var ve *voice.Error
		if errors.As(err, &ve) {
			code, reason := billing.SIPResponse(ve)
			return nil, &Refusal{Code: code, Reason: reason, RetryAfter: ve.RetryAfter, Why: ve.Code + ": " + ve.Message,
				Err: &voice.CallError{Code: ve.Code, Message: ve.Message}}
		}
		return nil, &Refusal{Code: 500, Reason: "Server Internal Error", Why: err.Error(),
			Err: &voice.CallError{Code: ErrInternal, Message: "the call could not be admitted because of an internal error"}}
	}
	return t, nil
}

// budget is how long the answered call may last before the customer's
// balance plus credit limit is spent (billing.md): the engine hangs up then
// with insufficient_balance. ok is false when the balance does not limit it.
func (r *callRecord) budget(ctx context.Context) (time.Duration, bool) {
	if r.rate == nil || r.e.store == nil {
		return 0, false
	}
	c := r.snapshot()
	if c.AnsweredAt == nil {
		return 0, false
	}
	cust, err := r.e.store.Customer(ctx, voice.Scope{}, c.CustomerID)
	if err != nil {
		// Fail closed: the balance as it was at admission still bounds
		// the call, rather than letting it run to time_limit unbilled.
		if cust = r.admitted; cust == nil {
			return 0, false
		}
	}
	d, unlimited := rating.MaxAffordable(r.rate, billing.Available(cust))
	if unlimited {
		return 0, false
	}
	return time.Until(rating.Cutoff(*c.AnsweredAt, d)), true
}

// price fills a call's billable seconds and price from its rate for an end
// at end, and returns the charge to write with it at now (nil when there is
// nothing to charge: no rate, never answered, or free).
func (r *callRecord) price(c *voice.Call, end, now time.Time) *voice.LedgerEntry {
	if r.rate == nil {
		return nil
	}
	answered := c.AnsweredAt != nil
	var d time.Duration
	if answered {
		d = end.Sub(*c.AnsweredAt)
	}
	billable := rating.BillableSeconds(d, answered, r.rate.InitialIncrement, r.rate.SubsequentIncrement)
	p := rating.Price(r.rate, billable, answered)
	c.BillableSeconds, c.Price = billable, &p
	if !p.IsPositive() {
		return nil
	}
	id := c.ID
	return &voice.LedgerEntry{ID: voice.NewID(voice.PrefixLedger, now), CustomerID: c.CustomerID, Amount: p.Neg(),
		Kind: voice.LedgerCallCharge, CallID: &id, CreatedAt: now,
		Description: fmt.Sprintf("%s call %s %s, %d s billed at %s/min", c.Direction, c.From, c.To, billable, r.rate.PricePerMinute)}
}
