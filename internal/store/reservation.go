package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/minivoice/minivoice/internal/voice"
	"github.com/shopspring/decimal"
)

// OrphanReservationAge is how long a reservation whose call row does not
// exist still counts. Admission reserves before the call is recorded (the
// call id is chosen first), and the row follows within milliseconds; a
// reservation older than this without its call is one whose admission died
// half-way (a crash, a failed insert), and it must not hold the customer's
// money.
const OrphanReservationAge = 2 * time.Minute

// Reserve sets a call's reservation to r.Amount when the customer can cover
// it (voice.Reservation): balance + credit_limit - the other open
// reservations >= r.Amount, and, with a daily limit, today's charges + the
// other open reservations + r.Amount <= the limit. With r.Limits (admission)
// the customer's other open reservations must also number fewer than
// MaxConcurrentCalls, and its max_cps bucket must hold a token, which the
// reservation takes. Otherwise nothing is written and the result says why,
// the first failed check in that order. The read and the write are one
// transaction serialised per customer: PostgreSQL locks the customer row
// (SELECT ... FOR UPDATE), so it holds across processes sharing the
// database; SQLite has one writer, and the transaction begins IMMEDIATE so
// it holds the write lock from its first read. On SQLite the transaction may
// be shared with other calls' writes (group commit, group.go); each runs in
// its own savepoint, one after the other, so each sees the ones before it.
// Stale reservations of the customer (call final, or never recorded and
// older than OrphanReservationAge) are deleted on the way.
//
// The open reservations are exactly the customer's calls that are up or
// being admitted, on every process: a reservation is written here before
// the call is placed and deleted by the write that ends the call (or by
// ReleaseReservation for a call never placed), so counting them is the
// concurrency limit across nodes with no separate counter to drift.
func (d *DB) Reserve(ctx context.Context, r voice.Reservation) (voice.ReservationResult, error) {
	var res voice.ReservationResult
	err := d.groupTx(ctx, func(tx *sql.Tx) error {
		res = voice.ReservationResult{}
		if err := d.lockCustomer(ctx, tx, r.CustomerID, &res); err != nil {
			return err
		}
		own, err := d.sumReservations(ctx, tx, r.CustomerID, r.CallID, r.Now, false, &res)
		if err != nil {
			return err
		}
		if r.DailySpendLimit != nil {
			if res.SpentToday, err = d.chargedSince(ctx, tx, r.CustomerID, r.DayStart); err != nil {
				return err
			}
		}
		if reservationRefusal(&res, r) != "" {
			// Stale reservations never refuse a call: sweep them out and
			// look again. Only here, since the sweep reads every row.
			res.Reserved, res.Live = decimal.Zero, 0
			if own, err = d.sumReservations(ctx, tx, r.CustomerID, r.CallID, r.Now, true, &res); err != nil {
				return err
			}
			if res.Refused = reservationRefusal(&res, r); res.Refused != "" {
				return nil
			}
		}
		if l := r.Limits; l != nil {
			ok, wait, err := d.takeToken(ctx, tx, customerBucket(r.CustomerID), l.MaxCPS, r.Now)
			if err != nil {
				return err
			}
			if !ok {
				res.Refused, res.RetryAfter = voice.ECodeCPSLimit, wait
				return nil
			}
		}
		if own {
			_, err = d.exec(ctx, tx, `UPDATE call_reservations SET amount = ?, amount_micros = ?, updated_at = ? WHERE call_id = ?`,
				decVal(r.Amount), micros(r.Amount), ms(r.Now), r.CallID)
		} else {
			_, err = d.exec(ctx, tx, `INSERT INTO call_reservations (call_id, customer_id, amount, amount_micros, created_at, updated_at)
				VALUES (?,?,?,?,?,?)`, r.CallID, r.CustomerID, decVal(r.Amount), micros(r.Amount), ms(r.Now), ms(r.Now))
		}
		if err != nil {
			return fmt.Errorf("write reservation of call %s: %w", r.CallID, err)
		}
		return nil
	})
	if err != nil {
		return voice.ReservationResult{}, fmt.Errorf("reserve: %w", err)
	}
	return res, nil
}

// lockCustomer reads the customer's balance, credit limit and currency under
// a lock that serialises its reservations and charges.
func (d *DB) lockCustomer(ctx context.Context, tx *sql.Tx, customerID string, res *voice.ReservationResult) error {
	// PostgreSQL locks the row. SQLite's transactions begin IMMEDIATE
	// (store/sqlite), so this one has held the database's write lock since
	// it began and no other writer can slip in between the read and the
	// write; a no-op UPDATE to take the lock, as this did before, only
	// added a page to every commit.
	err := d.txRow(ctx, tx, `SELECT balance, credit_limit, currency FROM customers WHERE id = ?`+d.forUpdate(), customerID).Scan(decCol{&res.Balance}, decCol{&res.CreditLimit}, &res.Currency)
	if errors.Is(err, sql.ErrNoRows) {
		return voice.NotFound("customer")
	}
	if err != nil {
		return fmt.Errorf("lock customer: %w", err)
	}
	return nil
}

// reservationRefusal is why r cannot be reserved given the sums in res
// (balance, then the daily limit, then concurrency; CPS comes after, so a
// refused call spends no token), "" when it can.
func reservationRefusal(res *voice.ReservationResult, r voice.Reservation) string {
	switch {
	case res.Balance.Add(res.CreditLimit).Sub(res.Reserved).LessThan(r.Amount):
		return voice.ECodeInsufficientBalance
	case r.DailySpendLimit != nil && res.SpentToday.Add(res.Reserved).Add(r.Amount).GreaterThan(*r.DailySpendLimit):
		return voice.ECodeDailySpendLimit
	case r.Limits != nil && res.Live >= r.Limits.MaxConcurrentCalls:
		return voice.ECodeConcurrencyLimit
	}
	return ""
}

// sumReservations adds the customer's reservations other than callID's
// into res.Reserved, counts them in res.Live, and reports whether callID has
// one. With sweep it first deletes the stale ones (reservationStale), which
// reads every row and the calls they belong to; without, stale ones count
// too, so Reserve sweeps before it refuses. The database does the sum over
// the customer's index (amount_micros): reading every row into the process
// made each admission's cost, inside the write lock, grow with the calls up.
func (d *DB) sumReservations(ctx context.Context, tx *sql.Tx, customerID, callID string, now time.Time, sweep bool, res *voice.ReservationResult) (own bool, err error) {
	if sweep {
		if _, err := d.exec(ctx, tx, `DELETE FROM call_reservations WHERE customer_id = ? AND call_id IN (
			SELECT r.call_id FROM call_reservations r LEFT JOIN calls c ON c.id = r.call_id
			WHERE r.customer_id = ? AND r.call_id <> ? AND (c.status IN (?, ?, ?, ?, ?) OR (c.id IS NULL AND r.created_at < ?)))`,
			customerID, customerID, callID, voice.CallCompleted, voice.CallBusy, voice.CallNoAnswer, voice.CallFailed, voice.CallCanceled,
			ms(now.Add(-OrphanReservationAge))); err != nil {
			return false, fmt.Errorf("sweep reservations: %w", err)
		}
	}
	var n, sum int64
	if err := d.txRow(ctx, tx, `SELECT COUNT(*), COALESCE(SUM(amount_micros), 0) FROM call_reservations
		WHERE customer_id = ? AND call_id <> ?`, customerID, callID).Scan(&n, &sum); err != nil {
		return false, fmt.Errorf("read reservations: %w", err)
	}
	res.Reserved = res.Reserved.Add(decimal.New(sum, -microsExp))
	res.Live += int(n)
	var one int
	switch err := d.txRow(ctx, tx, `SELECT 1 FROM call_reservations WHERE call_id = ?`, callID).Scan(&one); {
	case err == nil:
		return true, nil
	case errors.Is(err, sql.ErrNoRows):
		return false, nil
	default:
		return false, fmt.Errorf("read reservation of call %s: %w", callID, err)
	}
}

// microsExp is amount_micros's scale: millionths, the places prices are
// rounded to (rating.PriceDecimals).
const microsExp = 6

// micros is a reservation amount in millionths (exact for any price).
func micros(a decimal.Decimal) int64 { return a.Shift(microsExp).Round(0).IntPart() }

// reservationStale reports whether a reservation no longer holds money: its
// call has ended (the final write deletes it; this catches a process that
// died in between), or its call was never recorded and the admission that
// made it is older than OrphanReservationAge.
func reservationStale(status sql.NullString, createdMS int64, now time.Time) bool {
	if status.Valid {
		return voice.CallEnded(status.String)
	}
	return now.Sub(time.UnixMilli(createdMS)) > OrphanReservationAge
}

// ReleaseReservation deletes a call's reservation: the call will not be
// placed after all, or it has ended. Releasing a call without one is not an
// error.
func (d *DB) ReleaseReservation(ctx context.Context, callID string) error {
	// Usually the call's final write has deleted it already: a read first
	// leaves SQLite's single write lock to the calls that need it.
	var one int
	err := d.queryRow(ctx, `SELECT 1 FROM call_reservations WHERE call_id = ?`, callID).Scan(&one)
	if errors.Is(err, sql.ErrNoRows) {
		return nil
	}
	if _, err := d.exec(ctx, d.db, `DELETE FROM call_reservations WHERE call_id = ?`, callID); err != nil {
		return fmt.Errorf("release reservation of call %s: %w", callID, err)
	}
	return nil
}

// Reserved is the sum of a customer's open reservations: money its calls that
// are up may still spend, which balance + credit_limit must keep covering.
// Stale reservations (see Reserve) are not counted.
func (d *DB) Reserved(ctx context.Context, customerID string) (decimal.Decimal, error) {
	rows, err := d.query(ctx, `SELECT r.amount, r.created_at, c.status FROM call_reservations r
		LEFT JOIN calls c ON c.id = r.call_id WHERE r.customer_id = ?`, customerID)
	if err != nil {
		return decimal.Zero, fmt.Errorf("reserved: %w", err)
	}
	defer rows.Close()
	now := d.now()
	total := decimal.Zero
	for rows.Next() {
		var amount decimal.Decimal
		var created int64
		var status sql.NullString
		if err := rows.Scan(decCol{&amount}, &created, &status); err != nil {
			return decimal.Zero, fmt.Errorf("reserved: %w", err)
		}
		if !reservationStale(status, created, now) {
			total = total.Add(amount)
		}
	}
	if err := rows.Err(); err != nil {
		return decimal.Zero, fmt.Errorf("reserved: %w", err)
	}
	return total, nil
}

// deleteReservationIfFinal deletes c's reservation and trunk channel when c
// is being written in its final state: the write that ends a call (with its
// charge, if any) frees the money it held, its slot under the customer's
// max_concurrent_calls and its trunk's channel, in the same transaction.
func (d *DB) deleteReservationIfFinal(ctx context.Context, q queryer, c *voice.Call) error {
	if !voice.CallEnded(c.Status) {
		return nil
	}
	if _, err := d.exec(ctx, q, `DELETE FROM call_reservations WHERE call_id = ?`, c.ID); err != nil {
		return fmt.Errorf("release reservation of call %s: %w", c.ID, err)
	}
	if _, err := d.exec(ctx, q, `DELETE FROM trunk_channels WHERE call_id = ?`, c.ID); err != nil {
		return fmt.Errorf("release trunk channel of call %s: %w", c.ID, err)
	}
	return nil
}

// SweepReservations deletes the reservations that hold no money: those
// whose call is final, and those whose call was never recorded that were
// made before orphansBefore. Start-up recovery runs it with the start time,
// after closing the calls a crashed process left: in a process that is the
// only one on its database, no admission is in flight then. (Reserve sweeps
// a customer's stale reservations by itself, with OrphanReservationAge.)
// Trunk channels are swept by the same rule. It returns how many
// reservations it deleted.
func (d *DB) SweepReservations(ctx context.Context, orphansBefore time.Time) (int, error) {
	if _, err := d.db.ExecContext(ctx, d.q(`DELETE FROM trunk_channels WHERE call_id IN (
		SELECT ch.call_id FROM trunk_channels ch LEFT JOIN calls c ON c.id = ch.call_id
		WHERE (c.id IS NULL AND ch.created_at < ?) OR c.status IN (?, ?, ?, ?, ?))`),
		ms(orphansBefore), voice.CallCompleted, voice.CallBusy, voice.CallNoAnswer, voice.CallFailed, voice.CallCanceled); err != nil {
		return 0, fmt.Errorf("sweep trunk channels: %w", err)
	}
	res, err := d.db.ExecContext(ctx, d.q(`DELETE FROM call_reservations WHERE call_id IN (
		SELECT r.call_id FROM call_reservations r LEFT JOIN calls c ON c.id = r.call_id
		WHERE (c.id IS NULL AND r.created_at < ?) OR c.status IN (?, ?, ?, ?, ?))`),
		ms(orphansBefore), voice.CallCompleted, voice.CallBusy, voice.CallNoAnswer, voice.CallFailed, voice.CallCanceled)
	if err != nil {
		return 0, fmt.Errorf("sweep reservations: %w", err)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return 0, fmt.Errorf("sweep reservations: %w", err)
	}
	return int(n), nil
}
