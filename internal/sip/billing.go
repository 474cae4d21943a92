package sip

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/minivoice/minivoice/internal/billing"
	"github.com/minivoice/minivoice/internal/rating"
	"github.com/minivoice/minivoice/internal/voice"
)

// admit runs billing.md's checks for a new call, which will be recorded as
// callID, and reserves its first increment. Without a gate (an engine built
// without billing) every call is admitted and left unpriced.
func (e *Engine) admit(ctx context.Context, callID, customerID, direction, number string) (*billing.Ticket, *Refusal) {
	return e.admitCustomer(ctx, callID, customerID, nil, direction, number)
}

// admitCustomer is admit for the customer cust when the caller has just
// read it (nil: read it).
func (e *Engine) admitCustomer(ctx context.Context, callID, customerID string, cust *voice.Customer, direction, number string) (*billing.Ticket, *Refusal) {
	if e.gate == nil {
		return &billing.Ticket{CallID: callID, Release: func() {}}, nil
	}
	var t *billing.Ticket
	var err error
	if cust != nil {
		t, err = e.gate.AdmitCustomer(ctx, callID, cust, direction, number)
	} else {
		t, err = e.gate.Admit(ctx, callID, customerID, direction, number)
	}
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

// watchBalance starts the answered call's running reservation
// (billing.Meter) and calls cut when the next increment could not be
// reserved and the reserved ones are used up: the engine hangs up then with
// insufficient_balance. An unpriced call has none. The Meter's database
// writes run on its timer's goroutine, holding no lock; it stops with ctx,
// which the caller ends when the call ends.
func (r *callRecord) watchBalance(ctx context.Context, cut func()) {
	if r.rate == nil || r.e.gate == nil {
		return
	}
	c := r.snapshot()
	if c.AnsweredAt == nil {
		return
	}
	m := r.e.gate.Meter(c.CustomerID, c.ID, r.rate, *c.AnsweredAt, r.e.clock)
	r.meter.Store(m)
	id := c.ID // not the snapshot: the callback lives as long as the call
	m.Watch(ctx, func(err error) {
		if err != nil {
			r.e.log.Warn("call reservation", slog.String("call_id", id), slog.Any("error", err))
		}
		cut()
	})
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
	if m := r.meter.Load(); m != nil {
		// Never more than was reserved: the engine cut the call at the end
		// of its reservation, and a hang-up that landed late is not the
		// customer's to pay (it could overdraw past credit_limit).
		billable = min(billable, m.ReservedSeconds())
	}
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
