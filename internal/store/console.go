package store

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/minivoice/minivoice/internal/voice"
	"github.com/shopspring/decimal"
)

const consoleSessionCols = `id, key_id, key_ref, created_at, last_seen_at, expires_at`

func scanConsoleSession(r rowScanner) (*voice.ConsoleSession, error) {
	s := &voice.ConsoleSession{}
	err := r.Scan(&s.ID, &s.KeyID, &s.KeyRef, timeCol{&s.CreatedAt}, timeCol{&s.LastSeenAt}, timeCol{&s.ExpiresAt})
	return s, err
}

// CreateConsoleSession inserts s. Expired sessions are deleted here, on
// sign-in, so the table holds live sessions plus those expired since the
// last sign-in, without a background sweeper.
func (d *DB) CreateConsoleSession(ctx context.Context, s *voice.ConsoleSession) error {
	if _, err := d.exec(ctx, d.db, `DELETE FROM console_sessions WHERE expires_at <= ?`, ms(s.CreatedAt)); err != nil {
		return fmt.Errorf("prune console sessions: %w", err)
	}
	return d.insert(ctx, d.db, "console session", `INSERT INTO console_sessions (`+consoleSessionCols+`) VALUES (?,?,?,?,?,?)`,
		s.ID, s.KeyID, s.KeyRef, ms(s.CreatedAt), ms(s.LastSeenAt), ms(s.ExpiresAt))
}

// ConsoleSession returns a session by id, expired or not.
func (d *DB) ConsoleSession(ctx context.Context, id string) (*voice.ConsoleSession, error) {
	return getOne(ctx, d, "console session", scanConsoleSession, `SELECT `+consoleSessionCols+` FROM console_sessions WHERE id = ?`, id)
}

// TouchConsoleSession records a use of a session and moves its expiry.
func (d *DB) TouchConsoleSession(ctx context.Context, id string, lastSeen, expires time.Time) error {
	return d.execOne(ctx, d.db, "console session", `UPDATE console_sessions SET last_seen_at = ?, expires_at = ? WHERE id = ?`,
		ms(lastSeen), ms(expires), id)
}

// DeleteConsoleSession deletes a session; deleting a missing one succeeds.
func (d *DB) DeleteConsoleSession(ctx context.Context, id string) error {
	if _, err := d.exec(ctx, d.db, `DELETE FROM console_sessions WHERE id = ?`, id); err != nil {
		return fmt.Errorf("delete console session: %w", err)
	}
	return nil
}

// CallStats sums the calls visible to scope created in [from, to) in one
// aggregate query per window, through the (customer_id|application_id,
// created_at) indexes. Prices are TEXT; the CAST sums them as exact
// NUMERIC on PostgreSQL and as REAL on SQLite, which the rounding to six
// places (finer than any rate) brings back to the exact sum.
func (d *DB) CallStats(ctx context.Context, scope voice.Scope, from, to time.Time) (voice.CallStats, error) {
	l := listQuery{where: []string{"created_at >= ?", "created_at < ?"}, args: []any{ms(from), ms(to)}}
	scopeWhere(&l, scope)
	rows, err := d.query(ctx, `SELECT currency, COUNT(*), SUM(CASE WHEN ended_at IS NOT NULL THEN 1 ELSE 0 END),
		SUM(CASE WHEN answered_at IS NOT NULL THEN 1 ELSE 0 END), SUM(billable_seconds), SUM(CAST(price AS NUMERIC(20,6)))
		FROM calls WHERE `+strings.Join(l.where, " AND ")+` GROUP BY currency ORDER BY currency`, l.args...)
	if err != nil {
		return voice.CallStats{}, fmt.Errorf("call stats: %w", err)
	}
	defer rows.Close()
	var st voice.CallStats
	for rows.Next() {
		var (
			currency                string
			n, ended, answered, sec int64
			spend                   *decimal.Decimal
		)
		if err := rows.Scan(&currency, &n, &ended, &answered, &sec, nullDecCol{&spend}); err != nil {
			return voice.CallStats{}, fmt.Errorf("scan call stats: %w", err)
		}
		st.Calls += int(n)
		st.Ended += int(ended)
		st.Answered += int(answered)
		st.BillableSeconds += sec
		if spend != nil && currency != "" {
			st.Spend = append(st.Spend, voice.Amount{Currency: currency, Value: spend.Round(6)})
		}
	}
	if err := rows.Err(); err != nil {
		return voice.CallStats{}, fmt.Errorf("call stats: %w", err)
	}
	return st, nil
}

// reviewSourceRank prefers, among a call's analysed recordings, the whole
// call, then a bridged conversation, then a voicemail, as the call page does.
var reviewSourceRank = map[string]int{voice.RecordingSourceCall: 0, voice.RecordingSourceDial: 1, voice.RecordingSourceRecordAction: 2}

// ReviewInsights walks the ended calls matching f with completed insights,
// newest first, in one query: the calls are narrowed through the
// (customer_id|application_id, created_at) indexes, then joined to their
// insights (insights_call) and recordings. Only the score and topics JSON
// are read, never the transcript. A call's rows are adjacent, so the walk
// keeps one call in memory at a time.
func (d *DB) ReviewInsights(ctx context.Context, f voice.ReviewInsightsFilter, fn func(*voice.ReviewInsight) error) error {
	l := listQuery{where: []string{"created_at >= ?", "created_at < ?", "ended_at IS NOT NULL"},
		args: []any{ms(f.CreatedAfter), ms(f.CreatedBefore)}}
	scopeWhere(&l, f.Scope)
	if f.ApplicationID != "" {
		l.add("application_id = ?", f.ApplicationID)
	}
	args := append(l.args, voice.InsightCompleted)
	rows, err := d.query(ctx, `SELECT c.id, c.created_at, c.from_number, c.to_number, c.application_id,
		c.latest_review_verdict, r.source, i.score, i.topics
		FROM (SELECT id, created_at, from_number, to_number, application_id, latest_review_verdict FROM calls
			WHERE `+strings.Join(l.where, " AND ")+`) c
		JOIN insights i ON i.call_id = c.id
		JOIN recordings r ON r.id = i.recording_id
		WHERE i.insights_status = ?
		ORDER BY c.created_at DESC, c.id DESC`, args...)
	if err != nil {
		return fmt.Errorf("review insights: %w", err)
	}
	defer rows.Close()
	var cur *voice.ReviewInsight
	curRank := 0
	for rows.Next() {
		var (
			in      voice.ReviewInsight
			verdict *string
			source  string
		)
		if err := rows.Scan(&in.CallID, timeCol{&in.CreatedAt}, &in.From, &in.To, &in.ApplicationID, nullStrCol{&verdict},
			&source, jsonCol{&in.Score}, jsonCol{&in.Topics}); err != nil {
			return fmt.Errorf("scan review insights: %w", err)
		}
		if verdict != nil {
			in.Verdict = *verdict
		}
		rank := reviewSourceRank[source]
		switch {
		case cur != nil && cur.CallID == in.CallID:
			if rank < curRank {
				cur, curRank = &in, rank
			}
			continue
		case cur != nil:
			if err := fn(cur); err != nil {
				return err
			}
		}
		cur, curRank = &in, rank
	}
	if err := rows.Err(); err != nil {
		return fmt.Errorf("review insights: %w", err)
	}
	if cur != nil {
		return fn(cur)
	}
	return nil
}
