package store

import (
	"context"
	"database/sql"
	"fmt"
	"time"

	"github.com/minivoice/minivoice/internal/voice"
	"github.com/shopspring/decimal"
)

// UpdateCallWithCharge writes a call's final state, its charge and its events
// in one transaction (billing.md): the charge is a call_charge ledger entry
// that moves the customer's balance, and the unique index on call_charge
// makes a second charge of the same call fail, so a call is never billed
// twice nor its charge lost. A nil charge writes the call and events only.
func (d *DB) UpdateCallWithCharge(ctx context.Context, c *voice.Call, charge *voice.LedgerEntry, events ...*voice.Event) error {
	return d.groupTx(ctx, func(tx *sql.Tx) error {
		if ended, err := d.endedAlready(ctx, tx, c); err != nil || ended {
			return err
		}
		if charge != nil {
			if err := d.addLedgerEntry(ctx, tx, charge); err != nil {
				return fmt.Errorf("charge call %s: %w", c.ID, err)
			}
		}
		if err := d.updateCall(ctx, tx, c); err != nil {
			return err
		}
		return d.insertEvents(ctx, tx, c, events)
	})
}

// ChargedSince is what a customer's calls were charged from since on, as a
// positive amount: the daily spend that daily_spend_limit caps.
func (d *DB) ChargedSince(ctx context.Context, customerID string, since time.Time) (decimal.Decimal, error) {
	return d.chargedSince(ctx, nil, customerID, since)
}

// msPerDay is a UTC day in milliseconds: customer_daily_spend's day is
// created_at / msPerDay.
const msPerDay = 24 * 60 * 60 * 1000

// chargedSince is ChargedSince, in tx when it is not nil. From a UTC
// midnight on (what admission asks for) it reads the running totals of
// customer_daily_spend, which the charges' transactions keep (one row per
// day, so the cost does not grow with the day's calls); from any other time
// it adds up the ledger's call charges since then.
func (d *DB) chargedSince(ctx context.Context, tx *sql.Tx, customerID string, since time.Time) (decimal.Decimal, error) {
	row := func(query string, args ...any) *sql.Row {
		if tx != nil {
			return d.txRow(ctx, tx, query, args...)
		}
		return d.queryRow(ctx, query, args...)
	}
	if sinceMS := ms(since); sinceMS%msPerDay == 0 {
		var micros int64
		if err := row(`SELECT COALESCE(SUM(spent_micros), 0) FROM customer_daily_spend WHERE customer_id = ? AND day >= ?`,
			customerID, sinceMS/msPerDay).Scan(&micros); err != nil {
			return decimal.Zero, fmt.Errorf("charged since: %w", err)
		}
		return decimal.New(micros, -microsExp), nil
	}
	var q queryer = d.db
	if tx != nil {
		q = tx
	}
	rows, err := q.QueryContext(ctx, d.q(`SELECT amount FROM ledger_entries WHERE customer_id = ? AND kind = ? AND created_at >= ?`),
		customerID, voice.LedgerCallCharge, ms(since))
	if err != nil {
		return decimal.Zero, fmt.Errorf("charged since: %w", err)
	}
	amounts, err := collect(rows, func(r rowScanner) (decimal.Decimal, error) {
		var a decimal.Decimal
		err := r.Scan(decCol{&a})
		return a, err
	})
	if err != nil {
		return decimal.Zero, fmt.Errorf("charged since: %w", err)
	}
	total := decimal.Zero
	for _, a := range amounts {
		total = total.Sub(a) // charges are negative entries
	}
	return total, nil
}
