package store

import (
	"context"
	"errors"
	"fmt"

	"github.com/minivoice/minivoice/internal/secretbox"
	"github.com/minivoice/minivoice/internal/voice"
)

// The columns holding secrets, each sealed with Config.Secrets and bound to
// its row: trunks' digest passwords, applications' webhook signing secrets
// (current and previous), and the responses kept for Idempotency-Key replay,
// which include the webhook_secret of a created application and the secret
// of a created API key.
const (
	ctxTrunkPassword   = "trunks.password:"
	ctxWebhookSecret   = "applications.webhook_secret:"
	ctxPreviousSecret  = "applications.previous_webhook_secret:"
	ctxIdempotencyBody = "idempotency_keys.body:"
)

func idemContext(owner, key string) string { return ctxIdempotencyBody + owner + "\x00" + key }

// seal encrypts a secret for the column and row context names. Without a
// keyring (tests that open a bare store) it is stored as given.
func (d *DB) seal(plain, context string) (string, error) {
	if d.secrets == nil {
		return plain, nil
	}
	s, err := d.secrets.Seal(plain, context)
	if err != nil {
		return "", fmt.Errorf("encrypt secret: %w", err)
	}
	return s, nil
}

// open decrypts a stored secret. A plain-text value (a row written before
// encryption, not yet sealed by SealSecrets) is returned as it is. A sealed
// value without a keyring, or with one that lacks its key, is an error rather
// than a string that would sign with garbage.
func (d *DB) open(stored, context string) (string, error) {
	if d.secrets == nil {
		if secretbox.IsSealed(stored) {
			return "", errors.New("a stored secret is encrypted but no secret key is configured")
		}
		return stored, nil
	}
	plain, err := d.secrets.Open(stored, context)
	if err != nil {
		return "", fmt.Errorf("decrypt %s: %w", whereOf(context), err)
	}
	return plain, nil
}

// whereOf names a secret's place for errors: the column and row, never the value.
func whereOf(context string) string {
	for i := len(context) - 1; i >= 0; i-- {
		if context[i] == 0 {
			return context[:i] // idempotency: owner, not the client's key
		}
	}
	return context
}

// openApplication decrypts a's secrets in place.
func (d *DB) openApplication(a *voice.Application) error {
	var err error
	if a.WebhookSecret, err = d.open(a.WebhookSecret, ctxWebhookSecret+a.ID); err != nil {
		return err
	}
	a.PreviousWebhookSecret, err = d.open(a.PreviousWebhookSecret, ctxPreviousSecret+a.ID)
	return err
}

// scanApplicationOpen scans an application row and decrypts its secrets.
func (d *DB) scanApplicationOpen(r rowScanner) (*voice.Application, error) {
	a, err := scanApplication(r)
	if err != nil {
		return a, err
	}
	return a, d.openApplication(a)
}

// scanTrunkOpen scans a trunk row and decrypts its password.
func (d *DB) scanTrunkOpen(r rowScanner) (*voice.Trunk, error) {
	t, err := scanTrunk(r)
	if err != nil {
		return t, err
	}
	if t.Password, err = d.open(t.Password, ctxTrunkPassword+t.ID); err != nil {
		return t, err
	}
	t.HasPassword = t.Password != ""
	return t, nil
}

// sealBatch bounds the rows SealSecrets reads at a time: a busy platform
// keeps a day of idempotent responses.
const sealBatch = 500

// SealSecrets encrypts, with the newest key, every stored secret that is not
// already: plain-text rows from a database older than encryption, and rows
// sealed with an older key after a rotation. It opens each of them on the
// way, so a key file that lacks a key still in use is an error here, at
// start-up, rather than failed signatures later. It returns how many values
// it rewrote. Rows already sealed with the newest key are not read, so a
// start with nothing to do costs one query per column. Each rewrite is a
// compare-and-set on the old value, so processes sharing a PostgreSQL
// database may run it at once, and a row updated meanwhile is left to its
// writer.
func (d *DB) SealSecrets(ctx context.Context) (int, error) {
	if d.secrets == nil {
		return 0, errors.New("seal secrets: no secret key is configured")
	}
	n := 0
	for _, c := range []struct{ table, col, context string }{
		{"trunks", "password", ctxTrunkPassword},
		{"applications", "webhook_secret", ctxWebhookSecret},
		{"applications", "previous_webhook_secret", ctxPreviousSecret},
	} {
		m, err := d.sealColumn(ctx, c.table, c.col, c.context)
		n += m
		if err != nil {
			return n, err
		}
	}
	m, err := d.sealIdempotencyBodies(ctx)
	return n + m, err
}

// newestPrefix is how every value sealed with the newest key starts.
func (d *DB) newestPrefix() string { return "v1:" + d.secrets.NewestID() + ":" }

// sealColumn is SealSecrets for one column of a table keyed by id.
func (d *DB) sealColumn(ctx context.Context, table, col, context string) (int, error) {
	prefix := d.newestPrefix()
	n := 0
	for {
		rows, err := d.db.QueryContext(ctx, d.q(`SELECT id, `+col+` FROM `+table+` WHERE `+col+` <> '' AND substr(`+col+`, 1, ?) <> ?
			ORDER BY id LIMIT `+fmt.Sprint(sealBatch)), len(prefix), prefix)
		if err != nil {
			return n, fmt.Errorf("seal secrets: read %s: %w", table, err)
		}
		type row struct{ id, val string }
		var batch []row
		for rows.Next() {
			var r row
			if err := rows.Scan(&r.id, &r.val); err != nil {
				rows.Close()
				return n, fmt.Errorf("seal secrets: read %s: %w", table, err)
			}
			batch = append(batch, r)
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return n, fmt.Errorf("seal secrets: read %s: %w", table, err)
		}
		done := 0
		for _, r := range batch {
			ctxt := context + r.id
			plain, err := d.open(r.val, ctxt)
			if err != nil {
				return n, fmt.Errorf("seal secrets: %w", err)
			}
			sealed, err := d.seal(plain, ctxt)
			if err != nil {
				return n, err
			}
			res, err := d.db.ExecContext(ctx, d.q(`UPDATE `+table+` SET `+col+` = ? WHERE id = ? AND `+col+` = ?`), sealed, r.id, r.val)
			if err != nil {
				return n, fmt.Errorf("seal secrets: write %s %s: %w", table, r.id, err)
			}
			if k, _ := res.RowsAffected(); k > 0 {
				n++
				done++
			}
		}
		// A short batch was the last; one where every row changed under us
		// (another process writing with an older key) would come back
		// forever: that process seals them when it restarts with the key.
		if len(batch) < sealBatch || done == 0 {
			return n, nil
		}
	}
}

// sealIdempotencyBodies is SealSecrets for the kept responses, keyed by
// (owner, idem_key) rather than id. A reservation still in progress has no
// body yet.
func (d *DB) sealIdempotencyBodies(ctx context.Context) (int, error) {
	prefix := []byte(d.newestPrefix())
	n := 0
	for {
		rows, err := d.db.QueryContext(ctx, d.q(`SELECT owner, idem_key, body FROM idempotency_keys
			WHERE body IS NOT NULL AND length(body) > 0 AND substr(body, 1, ?) <> ? ORDER BY owner, idem_key LIMIT `+fmt.Sprint(sealBatch)),
			len(prefix), prefix)
		if err != nil {
			return n, fmt.Errorf("seal secrets: read idempotency_keys: %w", err)
		}
		type row struct {
			owner, key string
			body       []byte
		}
		var batch []row
		for rows.Next() {
			var r row
			if err := rows.Scan(&r.owner, &r.key, &r.body); err != nil {
				rows.Close()
				return n, fmt.Errorf("seal secrets: read idempotency_keys: %w", err)
			}
			batch = append(batch, r)
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return n, fmt.Errorf("seal secrets: read idempotency_keys: %w", err)
		}
		done := 0
		for _, r := range batch {
			ctxt := idemContext(r.owner, r.key)
			plain, err := d.open(string(r.body), ctxt)
			if err != nil {
				return n, fmt.Errorf("seal secrets: %w", err)
			}
			sealed, err := d.seal(plain, ctxt)
			if err != nil {
				return n, err
			}
			res, err := d.db.ExecContext(ctx, d.q(`UPDATE idempotency_keys SET body = ? WHERE owner = ? AND idem_key = ? AND body = ?`),
				[]byte(sealed), r.owner, r.key, r.body)
			if err != nil {
				return n, fmt.Errorf("seal secrets: write idempotency_keys: %w", err)
			}
			if k, _ := res.RowsAffected(); k > 0 {
				n++
				done++
			}
		}
		if len(batch) < sealBatch || done == 0 {
			return n, nil
		}
	}
}
