package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/minivoice/minivoice/internal/voice"
)

// cpsToken is one call attempt in a bucket's fixed-point units. Counting in
// billionths of a token lets a bucket refill by exactly max_cps units per
// nanosecond, in integers, with no float drift across millions of calls.
const cpsToken = int64(time.Second)

// customerBucket and trunkBucket are the admission_buckets ids of a
// customer's and a trunk's max_cps buckets.
func customerBucket(id string) string { return "customer:" + id }
func trunkBucket(id string) string    { return "trunk:" + id }

// bucket is a max_cps token bucket as stored: tokens in 1/cpsToken units,
// last the caller's clock at the last token taken. The zero value with
// found false is a full bucket (no row: never used, or idle).
type bucket struct {
	tokens int64
	lastNS int64
	found  bool
}

// take refills b at maxCPS tokens per second up to a burst of maxCPS and
// takes one token at now. It reports false, with the time until the next
// token, when the bucket is empty; a maxCPS of zero or less admits nothing
// (retry in 1 s), the safe side of a toll-fraud limit. A now earlier than
// the last token (a clock step back, or another node's clock behind) refills
// nothing rather than failing. Only an admitted attempt changes b: skipping
// the write of a refusal loses nothing, since the refill is a function of
// the time since the last token, capped at one second's worth.
func (b *bucket) take(maxCPS int, now time.Time) (ok bool, retryAfter time.Duration) {
	if maxCPS <= 0 {
		return false, time.Second
	}
	capacity := int64(maxCPS) * cpsToken
	nowNS := now.UnixNano()
	tokens, last := b.tokens, b.lastNS
	if !b.found {
		tokens, last = capacity, nowNS
	} else if elapsed := nowNS - last; elapsed > 0 {
		// One second refills any bucket completely; capping first keeps
		// elapsed*maxCPS far from overflowing after a long idle spell.
		tokens += min(elapsed, int64(time.Second)) * int64(maxCPS)
		last = nowNS
	}
	tokens = min(tokens, capacity) // also applies a lowered max_cps
	if tokens < cpsToken {
		// Time to refill the missing part of one token, rounded up to the ns.
		missing := cpsToken - tokens
		return false, time.Duration((missing + int64(maxCPS) - 1) / int64(maxCPS))
	}
	b.tokens, b.lastNS, b.found = tokens-cpsToken, last, true
	return true, 0
}

// takeToken takes a token from the bucket id inside tx, which must hold the
// lock of the bucket's customer or trunk row: that lock is what makes the
// read and the write of the bucket one step across processes.
func (d *DB) takeToken(ctx context.Context, tx *sql.Tx, id string, maxCPS int, now time.Time) (bool, time.Duration, error) {
	var b bucket
	err := d.txRow(ctx, tx, `SELECT tokens, last_ns FROM admission_buckets WHERE id = ?`, id).Scan(&b.tokens, &b.lastNS)
	switch {
	case err == nil:
		b.found = true
	case !errors.Is(err, sql.ErrNoRows):
		return false, 0, fmt.Errorf("read cps bucket %s: %w", id, err)
	}
	ok, wait := b.take(maxCPS, now)
	if !ok {
		return false, wait, nil
	}
	if _, err := d.exec(ctx, tx, `INSERT INTO admission_buckets (id, tokens, last_ns) VALUES (?, ?, ?)
		ON CONFLICT (id) DO UPDATE SET tokens = excluded.tokens, last_ns = excluded.last_ns`, id, b.tokens, b.lastNS); err != nil {
		return false, 0, fmt.Errorf("write cps bucket %s: %w", id, err)
	}
	return true, 0, nil
}

// TakeTrunkChannel gives c.CallID one of c.TrunkID's channels when the trunk
// has fewer than max_channels other live calls and its max_cps bucket holds
// a token (voice.TrunkChannel); otherwise nothing is written and the result
// says which limit refused, max_channels first (a refused attempt spends no
// token). A max_channels or max_cps of 0 or less is no limit: the API
// stores only values from 1 up, and 0 is what trunks written before the
// limits were applied may hold. Like Reserve, it is one transaction
// serialised per trunk (PostgreSQL locks the trunk row; SQLite's
// transaction begins IMMEDIATE, holding the write lock), so the limits hold
// across processes.
// The call's channel is freed by ReleaseTrunkChannel or by the write of
// its final state; stale channels (call final, or never recorded and older
// than OrphanReservationAge) are deleted on the way. Asking again for a
// call that already holds a channel of the trunk grants it again without
// taking a token.
func (d *DB) TakeTrunkChannel(ctx context.Context, c voice.TrunkChannel) (voice.TrunkChannelResult, error) {
	var res voice.TrunkChannelResult
	err := d.groupTx(ctx, func(tx *sql.Tx) error {
		res = voice.TrunkChannelResult{}
		if err := d.lockTrunk(ctx, tx, c.TrunkID, &res); err != nil {
			return err
		}
		own, err := d.countTrunkChannels(ctx, tx, c, &res)
		if err != nil || own {
			return err
		}
		if res.MaxChannels > 0 && res.Live >= res.MaxChannels {
			res.Refused = voice.TrunkAtMaxChannels
			return nil
		}
		if res.MaxCPS > 0 {
			ok, wait, err := d.takeToken(ctx, tx, trunkBucket(c.TrunkID), res.MaxCPS, c.Now)
			if err != nil {
				return err
			}
			if !ok {
				res.Refused, res.RetryAfter = voice.TrunkAtMaxCPS, wait
				return nil
			}
		}
		if _, err := d.exec(ctx, tx, `INSERT INTO trunk_channels (trunk_id, call_id, created_at) VALUES (?, ?, ?)`,
			c.TrunkID, c.CallID, ms(c.Now)); err != nil {
			return fmt.Errorf("write channel of call %s: %w", c.CallID, err)
		}
		return nil
	})
	if err != nil {
		return voice.TrunkChannelResult{}, fmt.Errorf("take trunk channel: %w", err)
	}
	return res, nil
}

// lockTrunk reads the trunk's limits under a lock that serialises its
// channel admissions.
func (d *DB) lockTrunk(ctx context.Context, tx *sql.Tx, trunkID string, res *voice.TrunkChannelResult) error {
	// The row lock on PostgreSQL; SQLite's IMMEDIATE transaction holds
	// the write lock already (lockCustomer).
	err := d.txRow(ctx, tx, `SELECT max_channels, max_cps FROM trunks WHERE id = ?`+d.forUpdate(), trunkID).Scan(&res.MaxChannels, &res.MaxCPS)
	if errors.Is(err, sql.ErrNoRows) {
		return voice.NotFound("trunk")
	}
	if err != nil {
		return fmt.Errorf("lock trunk: %w", err)
	}
	return nil
}

// countTrunkChannels counts the trunk's live channels other than c.CallID's
// into res.Live, deletes the stale ones, and reports whether c.CallID holds
// one.
func (d *DB) countTrunkChannels(ctx context.Context, tx *sql.Tx, c voice.TrunkChannel, res *voice.TrunkChannelResult) (own bool, err error) {
	rows, err := d.txQuery(ctx, tx, `SELECT ch.call_id, ch.created_at, c.status FROM trunk_channels ch
		LEFT JOIN calls c ON c.id = ch.call_id WHERE ch.trunk_id = ?`, c.TrunkID)
	if err != nil {
		return false, fmt.Errorf("read trunk channels: %w", err)
	}
	var stale []string
	for rows.Next() {
		var id string
		var created int64
		var status sql.NullString
		if err := rows.Scan(&id, &created, &status); err != nil {
			rows.Close()
			return false, fmt.Errorf("read trunk channels: %w", err)
		}
		switch {
		case id == c.CallID:
			own = true
		case reservationStale(status, created, c.Now):
			stale = append(stale, id)
		default:
			res.Live++
		}
	}
	if err := rows.Close(); err != nil {
		return false, fmt.Errorf("read trunk channels: %w", err)
	}
	if err := rows.Err(); err != nil {
		return false, fmt.Errorf("read trunk channels: %w", err)
	}
	for _, id := range stale {
		if _, err := d.exec(ctx, tx, `DELETE FROM trunk_channels WHERE trunk_id = ? AND call_id = ?`, c.TrunkID, id); err != nil {
			return false, fmt.Errorf("sweep channel of call %s: %w", id, err)
		}
	}
	return own, nil
}

// ReleaseTrunkChannel frees callID's channel of trunkID: the attempt on that
// trunk failed (the engine fails over to the next trunk) or the call ended.
// Releasing a channel that is not held is not an error.
func (d *DB) ReleaseTrunkChannel(ctx context.Context, trunkID, callID string) error {
	if _, err := d.exec(ctx, d.db, `DELETE FROM trunk_channels WHERE trunk_id = ? AND call_id = ?`, trunkID, callID); err != nil {
		return fmt.Errorf("release channel of call %s on trunk %s: %w", callID, trunkID, err)
	}
	return nil
}

// TrunkChannels is how many calls hold a channel of trunkID now, on every
// process: what max_channels is compared with. Stale channels (see
// TakeTrunkChannel) are not counted.
func (d *DB) TrunkChannels(ctx context.Context, trunkID string) (int, error) {
	rows, err := d.query(ctx, `SELECT ch.created_at, c.status FROM trunk_channels ch
		LEFT JOIN calls c ON c.id = ch.call_id WHERE ch.trunk_id = ?`, trunkID)
	if err != nil {
		return 0, fmt.Errorf("trunk channels: %w", err)
	}
	defer rows.Close()
	now := d.now()
	n := 0
	for rows.Next() {
		var created int64
		var status sql.NullString
		if err := rows.Scan(&created, &status); err != nil {
			return 0, fmt.Errorf("trunk channels: %w", err)
		}
		if !reservationStale(status, created, now) {
			n++
		}
	}
	if err := rows.Err(); err != nil {
		return 0, fmt.Errorf("trunk channels: %w", err)
	}
	return n, nil
}
