package billing

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/minivoice/minivoice/internal/voice"
)

// TrunkChannelStore holds the channels outbound calls hold on trunks
// (store.DB implements it): TakeTrunkChannel checks a trunk's max_channels
// and max_cps and takes a channel atomically per trunk, across every process
// sharing the database; ReleaseTrunkChannel frees one. The write of a call's
// final state frees its channel too.
type TrunkChannelStore interface {
	TakeTrunkChannel(ctx context.Context, c voice.TrunkChannel) (voice.TrunkChannelResult, error)
	ReleaseTrunkChannel(ctx context.Context, trunkID, callID string) error
}

// The limits a trunk refuses an attempt with; AdmitTrunk's *TrunkLimitError
// wraps one of them, so errors.Is tells a trunk at its limit (skip it, try
// the next) from a failure to check (a database error).
var (
	ErrTrunkAtMaxChannels = errors.New("at its max_channels")
	ErrTrunkAtMaxCPS      = errors.New("at its max_cps")
)

// TrunkLimitError is AdmitTrunk's refusal. Its text is what telephony.md
// puts after the trunk's name in a failed call's error: "at its
// max_channels (N)" or "at its max_cps (N)".
type TrunkLimitError struct {
	// Limit is ErrTrunkAtMaxChannels or ErrTrunkAtMaxCPS.
	Limit error
	// Max is the limit's value as the check read it from the trunk's row.
	Max int
	// RetryAfter is, for max_cps, the time until the trunk's bucket holds a
	// token again; 0 for max_channels, which frees when a call ends.
	RetryAfter time.Duration
}

func (e *TrunkLimitError) Error() string { return fmt.Sprintf("%v (%d)", e.Limit, e.Max) }

// Unwrap returns Limit, for errors.Is.
func (e *TrunkLimitError) Unwrap() error { return e.Limit }

// AdmitTrunk takes one of trunk's channels for the outbound call callID,
// just before its INVITE is sent on the trunk (telephony.md, Outbound). It
// is refused with a *TrunkLimitError wrapping ErrTrunkAtMaxChannels when
// max_channels calls already hold a channel of the trunk, or
// ErrTrunkAtMaxCPS when the trunk's max_cps bucket is empty (max_channels
// is checked first, so a refused attempt spends no token); the engine then
// skips the trunk and tries the next. Both are counted in the database, in
// one transaction per trunk, so they hold across every node; the limits are
// read from the trunk's row, so an edit applies at the next attempt, and a
// limit of 0 (never stored by the API) is none.
//
// release frees the channel; call it when the attempt fails over to another
// trunk or the call ends, however it ends. It is idempotent and never nil
// (a no-op after an error). It has no error to return: the write of the
// call's final state frees the channel too, so a release whose write fails
// (the database is down) leaves nothing held past the call. An error that
// is not a *TrunkLimitError is the store's: the limits could not be
// checked, and nothing is held.
func (g *Gate) AdmitTrunk(ctx context.Context, trunk *voice.Trunk, callID string) (release func(), err error) {
	now := time.Now
	if g.Now != nil {
		now = g.Now
	}
	noop := func() {}
	res, err := g.Store.TakeTrunkChannel(ctx, voice.TrunkChannel{TrunkID: trunk.ID, CallID: callID, Now: now()})
	if err != nil {
		return noop, fmt.Errorf("admit call %s on trunk %s: %w", callID, trunk.ID, err)
	}
	switch res.Refused {
	case voice.TrunkAtMaxChannels:
		return noop, &TrunkLimitError{Limit: ErrTrunkAtMaxChannels, Max: res.MaxChannels}
	case voice.TrunkAtMaxCPS:
		return noop, &TrunkLimitError{Limit: ErrTrunkAtMaxCPS, Max: res.MaxCPS, RetryAfter: res.RetryAfter}
	}
	store, trunkID := g.Store, trunk.ID
	var once sync.Once
	return func() {
		once.Do(func() {
			ctx, cancel := context.WithTimeout(context.Background(), releaseTimeout)
			defer cancel()
			// An error leaves the row to the call's final write or to the
			// next admission on the trunk, which sweeps stale channels.
			_ = store.ReleaseTrunkChannel(ctx, trunkID, callID)
		})
	}, nil
}
