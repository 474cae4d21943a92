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

// SealSecrets encrypts, with the newest key, every stored secret that is not
// already: plain-text rows from a database older than encryption, and rows
// sealed with an older key after a rotation. It also opens every sealed value
// on the way, so a key file that lacks a key still in use, or holds the
// wrong key under its id, is an error here, at start-up, rather than failed
// signatures later. It returns how many values it rewrote. Each rewrite is a
// compare-and-set on the old value, so processes sharing a PostgreSQL
// database may run it at once, and a row updated meanwhile is left to its
// writer (who sealed it with the newest key).
func (d *DB) SealSecrets(ctx context.Context) (int, error) {
	if d.secrets == nil {
		return 0, errors.New("seal secrets: no secret key is configured")
	}
	n := 0
	type col struct{ name, context string }
	type rowSecrets struct {
		id   string
		vals []string
	}
	sealTable := func(table string, cols []col) error {
		sel := "SELECT id"
		for _, c := range cols {
			sel += ", " + c.name
		}
		rows, err := d.db.QueryContext(ctx, sel+" FROM "+table)
		if err != nil {
			return fmt.Errorf("seal secrets: read %s: %w", table, err)
		}
		var all []rowSecrets
		for rows.Next() {
			r := rowSecrets{vals: make([]string, len(cols))}
			dest := []any{&r.id}
			for i := range r.vals {
				dest = append(dest, &r.vals[i])
			}
			if err := rows.Scan(dest...); err != nil {
				rows.Close()
				return fmt.Errorf("seal secrets: read %s: %w", table, err)
			}
			all = append(all, r)
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return fmt.Errorf("seal secrets: read %s: %w", table, err)
		}
		for _, r := range all {
			for i, c := range cols {
				ctxt := c.context + r.id
				plain, err := d.open(r.vals[i], ctxt)
				if err != nil {
					return fmt.Errorf("seal secrets: %w", err)
				}
				if d.secrets.Current(r.vals[i]) {
					continue
				}
				sealed, err := d.seal(plain, ctxt)
				if err != nil {
					return err
				}
				res, err := d.db.ExecContext(ctx, d.q(`UPDATE `+table+` SET `+c.name+` = ? WHERE id = ? AND `+c.name+` = ?`),
					sealed, r.id, r.vals[i])
				if err != nil {
					return fmt.Errorf("seal secrets: write %s %s: %w", table, r.id, err)
				}
				if k, _ := res.RowsAffected(); k > 0 {
					n++
				}
			}
		}
		return nil
	}
	if err := sealTable("trunks", []col{{"password", ctxTrunkPassword}}); err != nil {
		return n, err
	}
	if err := sealTable("applications", []col{{"webhook_secret", ctxWebhookSecret},
		{"previous_webhook_secret", ctxPreviousSecret}}); err != nil {
		return n, err
	}
	m, err := d.sealIdempotencyBodies(ctx)
	return n + m, err
}

// sealIdempotencyBodies is SealSecrets for the kept responses, keyed by
// (owner, idem_key) rather than id. A reservation still in progress has no
// body yet.
func (d *DB) sealIdempotencyBodies(ctx context.Context) (int, error) {
	type row struct {
		owner, key string
		body       []byte
	}
	rows, err := d.db.QueryContext(ctx, `SELECT owner, idem_key, body FROM idempotency_keys WHERE body IS NOT NULL`)
	if err != nil {
		return 0, fmt.Errorf("seal secrets: read idempotency_keys: %w", err)
	}
	var all []row
	for rows.Next() {
		var r row
		if err := rows.Scan(&r.owner, &r.key, &r.body); err != nil {
			rows.Close()
			return 0, fmt.Errorf("seal secrets: read idempotency_keys: %w", err)
		}
		all = append(all, r)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return 0, fmt.Errorf("seal secrets: read idempotency_keys: %w", err)
	}
	n := 0
	for _, r := range all {
		ctxt := idemContext(r.owner, r.key)
		plain, err := d.open(string(r.body), ctxt)
		if err != nil {
			return n, fmt.Errorf("seal secrets: %w", err)
		}
		if d.secrets.Current(string(r.body)) {
			continue
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
		}
	}
	return n, nil
}
