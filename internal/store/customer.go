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

const customerCols = `id, name, status, currency, balance, credit_limit, max_concurrent_calls, max_cps,
	daily_spend_limit, max_rate_per_minute, blocked_prefixes, verified_caller_ids, allow_any_caller_id, created_at, updated_at`

func scanCustomer(r rowScanner) (*voice.Customer, error) {
	c := &voice.Customer{}
	err := r.Scan(&c.ID, &c.Name, &c.Status, &c.Currency, decCol{&c.Balance}, decCol{&c.CreditLimit},
		&c.MaxConcurrentCalls, &c.MaxCPS, nullDecCol{&c.DailySpendLimit}, nullDecCol{&c.MaxRatePerMinute},
		jsonCol{&c.BlockedPrefixes}, jsonCol{&c.VerifiedCallerIDs}, &c.AllowAnyCallerID, timeCol{&c.CreatedAt}, timeCol{&c.UpdatedAt})
	if c.BlockedPrefixes == nil {
		c.BlockedPrefixes = []string{}
	}
	if c.VerifiedCallerIDs == nil {
		c.VerifiedCallerIDs = []string{}
	}
	return c, err
}

func customerCursor(c *voice.Customer) voice.Cursor {
	return voice.Cursor{CreatedAt: c.CreatedAt, ID: c.ID}
}

// CreateCustomer inserts c.
func (d *DB) CreateCustomer(ctx context.Context, c *voice.Customer) error {
	return d.insert(ctx, d.db, "customer", `INSERT INTO customers (`+customerCols+`) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)`,
		c.ID, c.Name, c.Status, c.Currency, decVal(c.Balance), decVal(c.CreditLimit), c.MaxConcurrentCalls, c.MaxCPS,
		nullDec(c.DailySpendLimit), nullDec(c.MaxRatePerMinute), jsonCol{c.BlockedPrefixes}, jsonCol{orEmpty(c.VerifiedCallerIDs)},
		c.AllowAnyCallerID, ms(c.CreatedAt), ms(c.UpdatedAt))
}

// Customer returns one customer visible to scope.
func (d *DB) Customer(ctx context.Context, scope voice.Scope, id string) (*voice.Customer, error) {
	if scope.CustomerID != "" && scope.CustomerID != id {
		return nil, voice.NotFound("customer")
	}
	return getOne(ctx, d, "customer", scanCustomer, `SELECT `+customerCols+` FROM customers WHERE id = ?`, id)
}

// Customers lists customers visible to scope, newest first.
func (d *DB) Customers(ctx context.Context, scope voice.Scope, p voice.Page) (voice.List[*voice.Customer], error) {
	var l listQuery
	if scope.CustomerID != "" {
		l.add("id = ?", scope.CustomerID)
	}
	return page(ctx, d, "customers", customerCols, l, p, scanCustomer, customerCursor)
}

// UpdateCustomer writes c's settable fields (not the balance).
func (d *DB) UpdateCustomer(ctx context.Context, c *voice.Customer) error {
	return d.execOne(ctx, d.db, "customer", `UPDATE customers SET name = ?, status = ?, currency = ?, credit_limit = ?,
		max_concurrent_calls = ?, max_cps = ?, daily_spend_limit = ?, max_rate_per_minute = ?, blocked_prefixes = ?,
		verified_caller_ids = ?, allow_any_caller_id = ?, updated_at = ?
		WHERE id = ?`,
		c.Name, c.Status, c.Currency, decVal(c.CreditLimit), c.MaxConcurrentCalls, c.MaxCPS,
		nullDec(c.DailySpendLimit), nullDec(c.MaxRatePerMinute), jsonCol{c.BlockedPrefixes}, jsonCol{orEmpty(c.VerifiedCallerIDs)},
		c.AllowAnyCallerID, ms(c.UpdatedAt), c.ID)
}

// AddLedgerEntry applies e to the customer's balance and appends it, atomically.
// The balance is read and written inside one transaction; on PostgreSQL the
// UPDATE's row lock and on SQLite the single writer keep concurrent entries
// from losing each other's amounts.
func (d *DB) AddLedgerEntry(ctx context.Context, e *voice.LedgerEntry) error {
	return d.tx(ctx, func(tx *sql.Tx) error { return d.addLedgerEntry(ctx, tx, e) })
}

func (d *DB) addLedgerEntry(ctx context.Context, tx *sql.Tx, e *voice.LedgerEntry) error {
	// Touch the row first so PostgreSQL takes the row lock before the read
	// (SQLite's IMMEDIATE transaction holds the write lock already).
	if d.dialect.Name == "postgres" {
		if err := d.execOne(ctx, tx, "customer", `UPDATE customers SET updated_at = updated_at WHERE id = ?`, e.CustomerID); err != nil {
			return err
		}
	}
	var balance decimal.Decimal
	var currency string
	err := d.txRow(ctx, tx, `SELECT balance, currency FROM customers WHERE id = ?`, e.CustomerID).Scan(decCol{&balance}, &currency)
	if errors.Is(err, sql.ErrNoRows) {
		return voice.NotFound("customer")
	}
	if err != nil {
		return fmt.Errorf("read balance: %w", err)
	}
	e.BalanceAfter = balance.Add(e.Amount)
	e.Currency = currency
	// The ledger lists newest first by created_at (ms) then id, and each
	// entry's balance_after chains from the one before: under the row lock,
	// make created_at strictly later than the customer's newest entry so the
	// list order is the order the balance moved in, however close together
	// two entries were written.
	var last sql.NullInt64
	if err := d.txRow(ctx, tx, `SELECT MAX(created_at) FROM ledger_entries WHERE customer_id = ?`, e.CustomerID).Scan(&last); err != nil {
		return fmt.Errorf("read newest ledger entry: %w", err)
	}
	if last.Valid && ms(e.CreatedAt) <= last.Int64 {
		e.CreatedAt = time.UnixMilli(last.Int64 + 1).UTC()
	}
	if _, err := d.exec(ctx, tx, `UPDATE customers SET balance = ? WHERE id = ?`, decVal(e.BalanceAfter), e.CustomerID); err != nil {
		return fmt.Errorf("update balance: %w", err)
	}
	if err := d.insert(ctx, tx, "ledger entry", `INSERT INTO ledger_entries (id, customer_id, amount, balance_after, currency, kind, call_id, description, created_at)
		VALUES (?,?,?,?,?,?,?,?,?)`,
		e.ID, e.CustomerID, decVal(e.Amount), decVal(e.BalanceAfter), e.Currency, e.Kind, nullStr(e.CallID), e.Description, ms(e.CreatedAt)); err != nil {
		return err
	}
	if e.Kind != voice.LedgerCallCharge {
		return nil
	}
	// The day's running total that daily_spend_limit reads (chargedSince),
	// under the same lock as the balance.
	if _, err := d.exec(ctx, tx, `INSERT INTO customer_daily_spend (customer_id, day, spent_micros) VALUES (?, ?, ?)
		ON CONFLICT (customer_id, day) DO UPDATE SET spent_micros = customer_daily_spend.spent_micros + excluded.spent_micros`,
		e.CustomerID, ms(e.CreatedAt)/msPerDay, -micros(e.Amount)); err != nil {
		return fmt.Errorf("daily spend: %w", err)
	}
	return nil
}

const ledgerCols = `id, customer_id, amount, balance_after, currency, kind, call_id, description, created_at`

func scanLedger(r rowScanner) (*voice.LedgerEntry, error) {
	e := &voice.LedgerEntry{}
	err := r.Scan(&e.ID, &e.CustomerID, decCol{&e.Amount}, decCol{&e.BalanceAfter}, &e.Currency, &e.Kind,
		nullStrCol{&e.CallID}, &e.Description, timeCol{&e.CreatedAt})
	return e, err
}

// LedgerEntries lists a customer's ledger, newest first.
func (d *DB) LedgerEntries(ctx context.Context, customerID string, p voice.Page) (voice.List[*voice.LedgerEntry], error) {
	var l listQuery
	l.add("customer_id = ?", customerID)
	return page(ctx, d, "ledger_entries", ledgerCols, l, p, scanLedger, func(e *voice.LedgerEntry) voice.Cursor {
		return voice.Cursor{CreatedAt: e.CreatedAt, ID: e.ID}
	})
}

// orEmpty stores a nil list as [] so the column always holds a JSON list.
func orEmpty(l []string) []string {
	if l == nil {
		return []string{}
	}
	return l
}
