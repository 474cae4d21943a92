package store

import (
	"context"
	"database/sql"
	"fmt"
	"strings"

	"github.com/minivoice/minivoice/internal/voice"
)

const rateCols = `id, customer_id, direction, prefix, price_per_minute, connection_fee, initial_increment,
	subsequent_increment, currency, status, description, created_at`

func scanRate(r rowScanner) (*voice.Rate, error) {
	x := &voice.Rate{}
	err := r.Scan(&x.ID, nullStrCol{&x.CustomerID}, &x.Direction, &x.Prefix, decCol{&x.PricePerMinute}, decCol{&x.ConnectionFee},
		&x.InitialIncrement, &x.SubsequentIncrement, &x.Currency, &x.Status, &x.Description, timeCol{&x.CreatedAt})
	return x, err
}

func rateCursor(r *voice.Rate) voice.Cursor { return voice.Cursor{CreatedAt: r.CreatedAt, ID: r.ID} }

func (d *DB) insertRate(ctx context.Context, q queryer, r *voice.Rate) error {
	return d.insert(ctx, q, "rate", `INSERT INTO rates (`+rateCols+`) VALUES (?,?,?,?,?,?,?,?,?,?,?,?)`,
		r.ID, nullStr(r.CustomerID), r.Direction, r.Prefix, decVal(r.PricePerMinute), decVal(r.ConnectionFee),
		r.InitialIncrement, r.SubsequentIncrement, r.Currency, r.Status, r.Description, ms(r.CreatedAt))
}

// CreateRate inserts r.
func (d *DB) CreateRate(ctx context.Context, r *voice.Rate) error {
	return d.ratesWritten(ctx, d.insertRate(ctx, d.db, r))
}

// Rate returns one rate.
func (d *DB) Rate(ctx context.Context, id string) (*voice.Rate, error) {
	return getOne(ctx, d, "rate", scanRate, `SELECT `+rateCols+` FROM rates WHERE id = ?`, id)
}

// Rates lists rates matching f.
func (d *DB) Rates(ctx context.Context, f voice.RateFilter, p voice.Page) (voice.List[*voice.Rate], error) {
	var l listQuery
	switch f.Deck {
	case "":
	case "default":
		l.add("customer_id IS NULL")
	default:
		l.add("customer_id = ?", f.Deck)
	}
	if f.VisibleTo != "" {
		l.add("(customer_id IS NULL OR customer_id = ?)", f.VisibleTo)
	}
	if f.Direction != "" {
		l.add("direction = ?", f.Direction)
	}
	if f.Prefix != "" {
		l.add("prefix = ?", f.Prefix)
	}
	if f.Status != "" {
		l.add("status = ?", f.Status)
	}
	return page(ctx, d, "rates", rateCols, l, p, scanRate, rateCursor)
}

// UpdateRate writes every field of r.
func (d *DB) UpdateRate(ctx context.Context, r *voice.Rate) error {
	return d.ratesWritten(ctx, d.execOne(ctx, d.db, "rate", `UPDATE rates SET prefix = ?, price_per_minute = ?, connection_fee = ?, initial_increment = ?,
		subsequent_increment = ?, currency = ?, status = ?, description = ?, direction = ? WHERE id = ?`,
		r.Prefix, decVal(r.PricePerMinute), decVal(r.ConnectionFee), r.InitialIncrement, r.SubsequentIncrement,
		r.Currency, r.Status, r.Description, r.Direction, r.ID))
}

// DeleteRate removes a rate.
func (d *DB) DeleteRate(ctx context.Context, id string) error {
	return d.ratesWritten(ctx, d.execOne(ctx, d.db, "rate", `DELETE FROM rates WHERE id = ?`, id))
}

// ReplaceDeck swaps a whole deck in one transaction, so a lookup never sees half a deck.
func (d *DB) ReplaceDeck(ctx context.Context, customerID *string, direction string, rates []*voice.Rate) error {
	return d.tx(ctx, func(tx *sql.Tx) error {
		// Other nodes reload their rate index when this commits.
		if err := d.notify(ctx, tx, RatesChannel, ""); err != nil {
			return err
		}
		var err error
		if customerID == nil {
			_, err = tx.ExecContext(ctx, d.q(`DELETE FROM rates WHERE customer_id IS NULL AND direction = ?`), direction)
		} else {
			_, err = tx.ExecContext(ctx, d.q(`DELETE FROM rates WHERE customer_id = ? AND direction = ?`), *customerID, direction)
		}
		if err != nil {
			return err
		}
		for _, r := range rates {
			if err := d.insertRate(ctx, tx, r); err != nil {
				return err
			}
		}
		return nil
	})
}

// MatchRate finds the longest-prefix active rate: the candidate prefixes are
// every leading substring of digits (at most 16), so one indexed IN query does it.
func (d *DB) MatchRate(ctx context.Context, customerID, direction, digits string) (*voice.Rate, error) {
	prefixes := make([]any, 0, len(digits)+1)
	for i := 0; i <= len(digits); i++ {
		prefixes = append(prefixes, digits[:i])
	}
	in := strings.TrimSuffix(strings.Repeat("?,", len(prefixes)), ",")
	for _, deck := range []*string{&customerID, nil} {
		var query string
		args := []any{direction}
		if deck == nil {
			query = `SELECT ` + rateCols + ` FROM rates WHERE customer_id IS NULL AND direction = ? AND status = 'active' AND prefix IN (` + in + `) ORDER BY LENGTH(prefix) DESC, created_at DESC LIMIT 1`
		} else {
			if customerID == "" {
				continue
			}
			query = `SELECT ` + rateCols + ` FROM rates WHERE customer_id = ? AND direction = ? AND status = 'active' AND prefix IN (` + in + `) ORDER BY LENGTH(prefix) DESC, created_at DESC LIMIT 1`
			args = []any{customerID, direction}
		}
		args = append(args, prefixes...)
		r, err := getOne(ctx, d, "rate", scanRate, query, args...)
		if err == nil {
			return r, nil
		}
		if !voice.IsNotFound(err) {
			return nil, err
		}
	}
	return nil, voice.NotFound("rate")
}

// ActiveRates returns every active rate of every deck, for the in-memory
// rate index (internal/rating) that prices calls without a query.
func (d *DB) ActiveRates(ctx context.Context) ([]*voice.Rate, error) {
	rows, err := d.db.QueryContext(ctx, `SELECT `+rateCols+` FROM rates WHERE status = 'active'`)
	if err != nil {
		return nil, fmt.Errorf("active rates: %w", err)
	}
	return collect(rows, scanRate)
}
