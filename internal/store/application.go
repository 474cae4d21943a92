package store

import (
	"context"
	"database/sql"

	"github.com/minivoice/minivoice/internal/voice"
)

const applicationCols = `id, customer_id, name, status, answer_url, answer_method, fallback_url, webhook_url,
	webhook_status, webhook_events, record_by_default, insights, topics, score_criteria, vocabulary, webhook_secret, previous_webhook_secret,
	previous_secret_expires_at, created_at, updated_at`

func scanApplication(r rowScanner) (*voice.Application, error) {
	a := &voice.Application{}
	err := r.Scan(&a.ID, &a.CustomerID, &a.Name, &a.Status, &a.AnswerURL, &a.AnswerMethod, &a.FallbackURL, &a.WebhookURL,
		&a.WebhookStatus, jsonCol{&a.WebhookEvents}, &a.RecordByDefault, &a.Insights, jsonCol{&a.Topics}, jsonCol{&a.ScoreCriteria},
		jsonCol{&a.Vocabulary}, &a.WebhookSecret, &a.PreviousWebhookSecret, nullTimeCol{&a.PreviousSecretExpiresAt}, timeCol{&a.CreatedAt}, timeCol{&a.UpdatedAt})
	if a.Topics == nil {
		a.Topics = []voice.TopicDef{}
	}
	if a.ScoreCriteria == nil {
		a.ScoreCriteria = []voice.ScoreCriterion{}
	}
	if a.Vocabulary == nil {
		a.Vocabulary = []string{}
	}
	return a, err
}

// CreateApplication inserts a.
func (d *DB) CreateApplication(ctx context.Context, a *voice.Application) error {
	secret, previous, err := d.sealApplication(a)
	if err != nil {
		return err
	}
	return d.insert(ctx, d.db, "application", `INSERT INTO applications (`+applicationCols+`) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)`,
		a.ID, a.CustomerID, a.Name, a.Status, a.AnswerURL, a.AnswerMethod, a.FallbackURL, a.WebhookURL,
		a.WebhookStatus, jsonCol{a.WebhookEvents}, a.RecordByDefault, a.Insights, jsonCol{a.Topics}, jsonCol{a.ScoreCriteria},
		jsonCol{orEmptyStrings(a.Vocabulary)}, secret, previous, msPtr(a.PreviousSecretExpiresAt), ms(a.CreatedAt), ms(a.UpdatedAt))
}

// Application returns one application visible to scope.
func (d *DB) Application(ctx context.Context, scope voice.Scope, id string) (*voice.Application, error) {
	if scope.ApplicationID != "" && scope.ApplicationID != id {
		return nil, voice.NotFound("application")
	}
	if scope.CustomerID != "" {
		return getOne(ctx, d, "application", d.scanApplicationOpen, `SELECT `+applicationCols+` FROM applications WHERE id = ? AND customer_id = ?`, id, scope.CustomerID)
	}
	return getOne(ctx, d, "application", d.scanApplicationOpen, `SELECT `+applicationCols+` FROM applications WHERE id = ?`, id)
}

// Applications lists applications visible to scope.
func (d *DB) Applications(ctx context.Context, scope voice.Scope, p voice.Page) (voice.List[*voice.Application], error) {
	var l listQuery
	if scope.CustomerID != "" {
		l.add("customer_id = ?", scope.CustomerID)
	}
	if scope.ApplicationID != "" {
		l.add("id = ?", scope.ApplicationID)
	}
	return page(ctx, d, "applications", applicationCols, l, p, d.scanApplicationOpen, func(a *voice.Application) voice.Cursor {
		return voice.Cursor{CreatedAt: a.CreatedAt, ID: a.ID}
	})
}

// UpdateApplication writes every field of a.
func (d *DB) UpdateApplication(ctx context.Context, a *voice.Application) error {
	secret, previous, err := d.sealApplication(a)
	if err != nil {
		return err
	}
	return d.execOne(ctx, d.db, "application", `UPDATE applications SET name = ?, status = ?, answer_url = ?, answer_method = ?,
		fallback_url = ?, webhook_url = ?, webhook_status = ?, webhook_events = ?, record_by_default = ?, insights = ?, topics = ?,
		score_criteria = ?, vocabulary = ?, webhook_secret = ?, previous_webhook_secret = ?, previous_secret_expires_at = ?, updated_at = ? WHERE id = ?`,
		a.Name, a.Status, a.AnswerURL, a.AnswerMethod, a.FallbackURL, a.WebhookURL, a.WebhookStatus, jsonCol{a.WebhookEvents},
		a.RecordByDefault, a.Insights, jsonCol{a.Topics}, jsonCol{a.ScoreCriteria}, jsonCol{orEmptyStrings(a.Vocabulary)}, secret, previous, msPtr(a.PreviousSecretExpiresAt),
		ms(a.UpdatedAt), a.ID)
}

// DeleteApplication removes an application, unpoints its numbers (their calls
// are then refused with 480) and revokes its keys, in one transaction. Its
// calls and events stay: they are history.
func (d *DB) DeleteApplication(ctx context.Context, scope voice.Scope, id string) error {
	if _, err := d.Application(ctx, scope, id); err != nil {
		return err
	}
	return d.tx(ctx, func(tx *sql.Tx) error {
		now := ms(d.now())
		if _, err := tx.ExecContext(ctx, d.q(`UPDATE numbers SET application_id = NULL, updated_at = ? WHERE application_id = ?`), now, id); err != nil {
			return err
		}
		if _, err := tx.ExecContext(ctx, d.q(`UPDATE api_keys SET revoked_at = COALESCE(revoked_at, ?) WHERE application_id = ?`), now, id); err != nil {
			return err
		}
		return d.execOne(ctx, tx, "application", `DELETE FROM applications WHERE id = ?`, id)
	})
}

// sealApplication returns a's secrets as stored: encrypted for their row.
func (d *DB) sealApplication(a *voice.Application) (secret, previous string, err error) {
	if secret, err = d.seal(a.WebhookSecret, ctxWebhookSecret+a.ID); err != nil {
		return "", "", err
	}
	previous, err = d.seal(a.PreviousWebhookSecret, ctxPreviousSecret+a.ID)
	return secret, previous, err
}

// orEmptyStrings stores a nil list as [] rather than null.
func orEmptyStrings(l []string) []string {
	if l == nil {
		return []string{}
	}
	return l
}
