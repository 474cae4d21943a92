package store

import (
	"context"
	"time"

	"github.com/minivoice/minivoice/internal/voice"
)

const keyCols = `id, kind, name, customer_id, application_id, prefix, hash, created_at, last_used_at, revoked_at`

func scanKey(r rowScanner) (*voice.Key, error) {
	k := &voice.Key{}
	err := r.Scan(&k.ID, &k.Kind, &k.Name, &k.CustomerID, nullStrCol{&k.ApplicationID}, &k.Prefix, &k.Hash,
		timeCol{&k.CreatedAt}, nullTimeCol{&k.LastUsedAt}, nullTimeCol{&k.RevokedAt})
	return k, err
}

// CreateKey inserts k (its hash, never its secret).
func (d *DB) CreateKey(ctx context.Context, k *voice.Key) error {
	return d.insert(ctx, d.db, "key", `INSERT INTO api_keys (`+keyCols+`) VALUES (?,?,?,?,?,?,?,?,?,?)`,
		k.ID, k.Kind, k.Name, k.CustomerID, nullStr(k.ApplicationID), k.Prefix, k.Hash, ms(k.CreatedAt), msPtr(k.LastUsedAt), msPtr(k.RevokedAt))
}

// KeyByHash finds a key by its secret's hash.
func (d *DB) KeyByHash(ctx context.Context, hash []byte) (*voice.Key, error) {
	return getOne(ctx, d, "key", scanKey, `SELECT `+keyCols+` FROM api_keys WHERE hash = ?`, hash)
}

// Key returns one key visible to scope.
func (d *DB) Key(ctx context.Context, scope voice.Scope, id string) (*voice.Key, error) {
	k, err := getOne(ctx, d, "key", scanKey, `SELECT `+keyCols+` FROM api_keys WHERE id = ?`, id)
	if err != nil {
		return nil, err
	}
	if scope.CustomerID != "" && k.CustomerID != scope.CustomerID {
		return nil, voice.NotFound("key")
	}
	if scope.ApplicationID != "" && (k.ApplicationID == nil || *k.ApplicationID != scope.ApplicationID) {
		return nil, voice.NotFound("key")
	}
	return k, nil
}

// Keys lists a customer's keys, or one application's.
func (d *DB) Keys(ctx context.Context, customerID, applicationID string, p voice.Page) (voice.List[*voice.Key], error) {
	var l listQuery
	l.add("customer_id = ?", customerID)
	if applicationID != "" {
		l.add("application_id = ?", applicationID)
	}
	return page(ctx, d, "api_keys", keyCols, l, p, scanKey, func(k *voice.Key) voice.Cursor {
		return voice.Cursor{CreatedAt: k.CreatedAt, ID: k.ID}
	})
}

// RevokeKey marks a key revoked; revoking twice keeps the first time.
func (d *DB) RevokeKey(ctx context.Context, id string, at time.Time) error {
	return d.execOne(ctx, d.db, "key", `UPDATE api_keys SET revoked_at = COALESCE(revoked_at, ?) WHERE id = ?`, ms(at), id)
}

// TouchKey sets last_used_at.
func (d *DB) TouchKey(ctx context.Context, id string, at time.Time) error {
	return d.execOne(ctx, d.db, "key", `UPDATE api_keys SET last_used_at = ? WHERE id = ?`, ms(at), id)
}
