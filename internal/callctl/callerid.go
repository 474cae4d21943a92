package callctl

import (
	"context"

	"github.com/minivoice/minivoice/internal/voice"
)

// CallerID is the caller ID a dial on parent presents: its from, else the
// customer's side of the parent call (the number called for an inbound
// parent, the from of an outbound one).
func (d *Dial) CallerID(parent *voice.Call) string {
	if d.From != "" {
		return d.From
	}
	if parent.Direction == voice.DirectionInbound {
		return parent.To
	}
	return parent.From
}

// CheckDialCallerID applies the caller-ID rule (voice.CheckCallerID) to a
// dial on parent presenting from. Forwarding an inbound call with the
// original caller's number is allowed too, as Twilio allows it: the carrier
// presented that number, so passing it on claims nothing new.
func CheckDialCallerID(ctx context.Context, numbers voice.NumberFinder, cust *voice.Customer, parent *voice.Call, from string) error {
	if parent.Direction == voice.DirectionInbound && from == parent.From {
		return nil
	}
	return voice.CheckCallerID(ctx, numbers, cust, from)
}
