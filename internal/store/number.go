package store

import (
	"context"

	"github.com/minivoice/minivoice/internal/voice"
)

const numberCols = `id, number, customer_id, application_id, status, created_at, updated_at`

func scanNumber(r rowScanner) (*voice.Number, error) {
	n := &voice.Number{}
	err := r.Scan(&n.ID, &n.Number, &n.CustomerID, nullStrCol{&n.ApplicationID}, &n.Status, timeCol{&n.CreatedAt}, timeCol{&n.UpdatedAt})
	return n, err
}

// CreateNumber inserts n; an existing number is a conflict.
func (d *DB) CreateNumber(ctx context.Context, n *voice.Number) error {
	return d.insert(ctx, d.db, "number", `INSERT INTO numbers (`+numberCols+`) VALUES (?,?,?,?,?,?,?)`,
		n.ID, n.Number, n.CustomerID, nullStr(n.ApplicationID), n.Status, ms(n.CreatedAt), ms(n.UpdatedAt))
}

// Number returns one number visible to scope.
func (d *DB) Number(ctx context.Context, scope voice.Scope, id string) (*voice.Number, error) {
	if scope.CustomerID != "" {
		return getOne(ctx, d, "number", scanNumber, `SELECT `+numberCols+` FROM numbers WHERE id = ? AND customer_id = ?`, id, scope.CustomerID)
	}
	return getOne(ctx, d, "number", scanNumber, `SELECT `+numberCols+` FROM numbers WHERE id = ?`, id)
}

// NumberByE164 finds a DID by its number.
func (d *DB) NumberByE164(ctx context.Context, e164 string) (*voice.Number, error) {
	return getOne(ctx, d, "number", scanNumber, `SELECT `+numberCols+` FROM numbers WHERE number = ?`, e164)
}

// Numbers lists numbers visible to scope.
func (d *DB) Numbers(ctx context.Context, scope voice.Scope, p voice.Page) (voice.List[*voice.Number], error) {
	var l listQuery
	if scope.CustomerID != "" {
		l.add("customer_id = ?", scope.CustomerID)
	}
	return page(ctx, d, "numbers", numberCols, l, p, scanNumber, func(n *voice.Number) voice.Cursor {
		return voice.Cursor{CreatedAt: n.CreatedAt, ID: n.ID}
	})
}

// UpdateNumber writes every field of n.
func (d *DB) UpdateNumber(ctx context.Context, n *voice.Number) error {
	return d.execOne(ctx, d.db, "number", `UPDATE numbers SET number = ?, customer_id = ?, application_id = ?, status = ?, updated_at = ? WHERE id = ?`,
		n.Number, n.CustomerID, nullStr(n.ApplicationID), n.Status, ms(n.UpdatedAt), n.ID)
}

// DeleteNumber removes a number.
func (d *DB) DeleteNumber(ctx context.Context, id string) error {
	return d.execOne(ctx, d.db, "number", `DELETE FROM numbers WHERE id = ?`, id)
}
