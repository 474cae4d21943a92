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
	rows, err := d.db.QueryContext(ctx, d.q(`SELECT amount FROM ledger_entries WHERE customer_id = ? AND kind = ? AND created_at >= ?`),
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
		return decimal.Zero, err
	}
	total := decimal.Zero
	for _, a := range amounts {
		total = total.Sub(a) // charges are negative entries
	}
	return total, nil
}
