package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/minivoice/minivoice/internal/voice"
)

// ReserveIdempotencyKey claims (owner, key) for a new request. An expired record
// is replaced; a live one is returned so the caller can replay or refuse.
func (d *DB) ReserveIdempotencyKey(ctx context.Context, rec *voice.IdempotencyRecord, notBefore time.Time) (*voice.IdempotencyRecord, bool, error) {
	var existing *voice.IdempotencyRecord
	err := d.tx(ctx, func(tx *sql.Tx) error {
		if _, err := tx.ExecContext(ctx, d.q(`DELETE FROM idempotency_keys WHERE owner = ? AND idem_key = ? AND created_at < ?`),
			rec.Owner, rec.Key, ms(notBefore)); err != nil {
			return err
		}
		res, err := tx.ExecContext(ctx, d.q(`INSERT INTO idempotency_keys (owner, idem_key, request_hash, status, body, created_at)
			VALUES (?,?,?,0,NULL,?) ON CONFLICT (owner, idem_key) DO NOTHING`), rec.Owner, rec.Key, rec.RequestHash, ms(rec.CreatedAt))
		if err != nil {
			return err
		}
		if n, _ := res.RowsAffected(); n == 1 {
			return nil
		}
		existing = &voice.IdempotencyRecord{Owner: rec.Owner, Key: rec.Key}
		err = tx.QueryRowContext(ctx, d.q(`SELECT request_hash, status, body, created_at FROM idempotency_keys WHERE owner = ? AND idem_key = ?`),
			rec.Owner, rec.Key).Scan(&existing.RequestHash, &existing.Status, &existing.Body, timeCol{&existing.CreatedAt})
		if errors.Is(err, sql.ErrNoRows) {
			return fmt.Errorf("idempotency key vanished during reservation")
		}
		return err
	})
	if err != nil {
		return nil, false, fmt.Errorf("reserve idempotency key: %w", err)
	}
	if existing != nil {
		if existing.Body != nil {
			plain, err := d.open(string(existing.Body), idemContext(rec.Owner, rec.Key))
			if err != nil {
				return nil, false, fmt.Errorf("reserve idempotency key: %w", err)
			}
			existing.Body = []byte(plain)
		}
		return existing, false, nil
	}
	return rec, true, nil
}

// CompleteIdempotencyKey stores the response of a reserved request,
// encrypted: it may hold a new application's webhook_secret or a new key.
func (d *DB) CompleteIdempotencyKey(ctx context.Context, owner, key string, status int, body []byte) error {
	stored := body
	if len(body) > 0 && d.secrets != nil {
		sealed, err := d.seal(string(body), idemContext(owner, key))
		if err != nil {
			return err
		}
		stored = []byte(sealed)
	}
	return d.execOne(ctx, d.db, "idempotency key", `UPDATE idempotency_keys SET status = ?, body = ? WHERE owner = ? AND idem_key = ?`,
		status, stored, owner, key)
}

// ReleaseIdempotencyKey drops a reservation.
func (d *DB) ReleaseIdempotencyKey(ctx context.Context, owner, key string) error {
	_, err := d.db.ExecContext(ctx, d.q(`DELETE FROM idempotency_keys WHERE owner = ? AND idem_key = ?`), owner, key)
	return err
}
