package store

import (
	"context"
	"database/sql"
	"fmt"
	"strings"
	"time"

	"github.com/minivoice/minivoice/internal/voice"
)

const callCols = `id, customer_id, application_id, status, direction, from_number, to_number, parent_call_id, trunk_id,
	number_id, codec, record, recording_channels, ring_timeout, time_limit, answer_url, actions, variables, created_at,
	ringing_at, answered_at, ended_at, duration, billable_seconds, price, currency, hangup_cause, hangup_source, sip_code,
	sip_reason, recording_ids, error_code, error_message, updated_at, latest_review_verdict, reviewed_at`

func scanCall(r rowScanner) (*voice.Call, error) {
	c := &voice.Call{}
	var actions, errCode, errMsg, verdict *string
	var reviewedAt *time.Time
	err := r.Scan(&c.ID, &c.CustomerID, &c.ApplicationID, &c.Status, &c.Direction, &c.From, &c.To, nullStrCol{&c.ParentCallID},
		nullStrCol{&c.TrunkID}, nullStrCol{&c.NumberID}, nullStrCol{&c.Codec}, &c.Record, &c.RecordingChannels, &c.Timeout,
		&c.TimeLimit, &c.AnswerURL, nullStrCol{&actions}, jsonCol{&c.Variables}, timeCol{&c.CreatedAt}, nullTimeCol{&c.RingingAt},
		nullTimeCol{&c.AnsweredAt}, nullTimeCol{&c.EndedAt}, &c.Duration, &c.BillableSeconds, nullDecCol{&c.Price}, &c.Currency,
		nullTextCol[voice.HangupCause]{&c.HangupCause}, nullTextCol[voice.HangupSource]{&c.HangupSource}, nullIntCol{&c.SIPCode}, nullStrCol{&c.SIPReason},
		jsonCol{&c.RecordingIDs}, nullStrCol{&errCode}, nullStrCol{&errMsg}, timeCol{&c.UpdatedAt},
		nullStrCol{&verdict}, nullTimeCol{&reviewedAt})
	if verdict != nil && reviewedAt != nil {
		c.Review = &voice.CallReview{Verdict: *verdict, ReviewedAt: *reviewedAt}
	}
	if actions != nil {
		c.Actions = []byte(*actions)
	}
	if errCode != nil {
		c.Error = &voice.CallError{Code: *errCode}
		if errMsg != nil {
			c.Error.Message = *errMsg
		}
	}
	if c.Variables == nil {
		c.Variables = map[string]string{}
	}
	if c.RecordingIDs == nil {
		c.RecordingIDs = []string{}
	}
	return c, err
}

func callErr(c *voice.Call) (code, msg any) {
	if c.Error == nil {
		return nil, nil
	}
	return c.Error.Code, c.Error.Message
}

// CreateCall inserts c.
func (d *DB) CreateCall(ctx context.Context, c *voice.Call) error { return d.createCall(ctx, d.db, c) }

// CreateCallWithEvents inserts c and its events atomically.
func (d *DB) CreateCallWithEvents(ctx context.Context, c *voice.Call, events ...*voice.Event) error {
	return d.groupTx(ctx, func(tx *sql.Tx) error {
		if err := d.createCall(ctx, tx, c); err != nil {
			return err
		}
		return d.insertEvents(ctx, tx, c, events)
	})
}

func (d *DB) createCall(ctx context.Context, q queryer, c *voice.Call) error {
	var actions any
	if c.Actions != nil {
		actions = string(c.Actions)
	}
	code, msg := callErr(c)
	var verdict, reviewedAt any
	if c.Review != nil {
		verdict, reviewedAt = c.Review.Verdict, ms(c.Review.ReviewedAt)
	}
	return d.insert(ctx, q, "call", `INSERT INTO calls (`+callCols+`, node_id) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?, ?)`,
		c.ID, c.CustomerID, c.ApplicationID, c.Status, c.Direction, c.From, c.To, nullStr(c.ParentCallID), nullStr(c.TrunkID),
		nullStr(c.NumberID), nullStr(c.Codec), c.Record, c.RecordingChannels, c.Timeout, c.TimeLimit, c.AnswerURL, actions,
		jsonCol{c.Variables}, ms(c.CreatedAt), msPtr(c.RingingAt), msPtr(c.AnsweredAt), msPtr(c.EndedAt), c.Duration,
		c.BillableSeconds, nullDec(c.Price), c.Currency, nullStr(c.HangupCause), nullStr(c.HangupSource), nullInt(c.SIPCode),
		nullStr(c.SIPReason), jsonCol{c.RecordingIDs}, code, msg, ms(c.UpdatedAt), verdict, reviewedAt, d.nodeCol())
}

// scopeWhere adds the tenant conditions of scope to l.
func scopeWhere(l *listQuery, scope voice.Scope) {
	if scope.CustomerID != "" {
		l.add("customer_id = ?", scope.CustomerID)
	}
	if scope.ApplicationID != "" {
		l.add("application_id = ?", scope.ApplicationID)
	}
}

// Call returns one call visible to scope.
func (d *DB) Call(ctx context.Context, scope voice.Scope, id string) (*voice.Call, error) {
	l := listQuery{where: []string{"id = ?"}, args: []any{id}}
	scopeWhere(&l, scope)
	query := `SELECT ` + callCols + ` FROM calls WHERE ` + strings.Join(l.where, " AND ")
	return getOne(ctx, d, "call", scanCall, query, l.args...)
}

// Calls lists calls matching f.
func (d *DB) Calls(ctx context.Context, f voice.CallFilter, p voice.Page) (voice.List[*voice.Call], error) {
	var l listQuery
	scopeWhere(&l, f.Scope)
	for _, c := range []struct{ col, v string }{
		{"status", f.Status}, {"direction", f.Direction}, {"application_id", f.ApplicationID},
		{"customer_id", f.CustomerID}, {"from_number", f.From}, {"to_number", f.To},
	} {
		if c.v != "" {
			l.add(c.col+" = ?", c.v)
		}
	}
	if f.Number != "" {
		l.add("(from_number = ? OR to_number = ?)", f.Number, f.Number)
	}
	if f.CreatedAfter != nil {
		l.add("created_at >= ?", ms(*f.CreatedAfter))
	}
	if f.CreatedBefore != nil {
		l.add("created_at < ?", ms(*f.CreatedBefore))
	}
	if f.Reviewed != nil {
		if *f.Reviewed {
			l.add("latest_review_verdict IS NOT NULL")
		} else {
			l.add("latest_review_verdict IS NULL")
		}
	}
	if f.Verdict != "" {
		l.add("latest_review_verdict = ?", f.Verdict)
	}
	if f.IDs != nil {
		if len(f.IDs) == 0 {
			l.add("1 = 0")
		} else {
			args := make([]any, len(f.IDs))
			for i, id := range f.IDs {
				args[i] = id
			}
			l.add("id IN ("+strings.TrimSuffix(strings.Repeat("?, ", len(f.IDs)), ", ")+")", args...)
		}
	}
	return page(ctx, d, "calls", callCols, l, p, scanCall, func(c *voice.Call) voice.Cursor {
		return voice.Cursor{CreatedAt: c.CreatedAt, ID: c.ID}
	})
}

// UpdateCall writes the mutable state of c.
func (d *DB) UpdateCall(ctx context.Context, c *voice.Call) error { return d.updateCall(ctx, d.db, c) }

// UpdateCallWithEvents writes c and appends events atomically.
func (d *DB) UpdateCallWithEvents(ctx context.Context, c *voice.Call, events ...*voice.Event) error {
	return d.groupTx(ctx, func(tx *sql.Tx) error {
		if ended, err := d.endedAlready(ctx, tx, c); err != nil || ended {
			return err
		}
		if err := d.updateCall(ctx, tx, c); err != nil {
			return err
		}
		return d.insertEvents(ctx, tx, c, events)
	})
}

// UnfinishedCalls returns every call not in a final status, oldest first.
func (d *DB) UnfinishedCalls(ctx context.Context) ([]*voice.Call, error) {
	rows, err := d.db.QueryContext(ctx, d.q(`SELECT `+callCols+` FROM calls WHERE status IN (?, ?, ?) ORDER BY created_at, id`),
		voice.CallQueued, voice.CallRinging, voice.CallInProgress)
	if err != nil {
		return nil, fmt.Errorf("unfinished calls: %w", err)
	}
	return collect(rows, scanCall)
}

func (d *DB) updateCall(ctx context.Context, q queryer, c *voice.Call) error {
	code, msg := callErr(c)
	err := d.execOne(ctx, q, "call", `UPDATE calls SET status = ?, trunk_id = ?, codec = ?, variables = ?, ringing_at = ?,
		answered_at = ?, ended_at = ?, duration = ?, billable_seconds = ?, price = ?, currency = ?, hangup_cause = ?,
		hangup_source = ?, sip_code = ?, sip_reason = ?, recording_ids = ?, error_code = ?, error_message = ?, updated_at = ?
		WHERE id = ?`,
		c.Status, nullStr(c.TrunkID), nullStr(c.Codec), jsonCol{c.Variables}, msPtr(c.RingingAt), msPtr(c.AnsweredAt),
		msPtr(c.EndedAt), c.Duration, c.BillableSeconds, nullDec(c.Price), c.Currency, nullStr(c.HangupCause),
		nullStr(c.HangupSource), nullInt(c.SIPCode), nullStr(c.SIPReason), jsonCol{c.RecordingIDs}, code, msg,
		ms(c.UpdatedAt), c.ID)
	if err != nil {
		return err
	}
	// The write that ends a call frees the money it held, in the same
	// transaction as its charge (billing.md, Reservations).
	return d.deleteReservationIfFinal(ctx, q, c)
}

// EndedCalls returns calls that ended in [from, to).
func (d *DB) EndedCalls(ctx context.Context, scope voice.Scope, customerID string, from, to time.Time) ([]*voice.Call, error) {
	l := listQuery{where: []string{"ended_at >= ?", "ended_at < ?"}, args: []any{ms(from), ms(to)}}
	scopeWhere(&l, scope)
	if customerID != "" {
		l.add("customer_id = ?", customerID)
	}
	rows, err := d.db.QueryContext(ctx, d.q(`SELECT `+callCols+` FROM calls WHERE `+strings.Join(l.where, " AND ")+` ORDER BY ended_at`), l.args...)
	if err != nil {
		return nil, fmt.Errorf("ended calls: %w", err)
	}
	return collect(rows, scanCall)
}
