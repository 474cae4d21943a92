package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"

	"github.com/minivoice/minivoice/internal/voice"
)

const reviewCols = `id, call_id, customer_id, application_id, verdict, note, reviewer_key_id, reviewer_kind, created_at`

func scanReview(r rowScanner) (*voice.Review, error) {
	rv := &voice.Review{}
	err := r.Scan(&rv.ID, &rv.CallID, &rv.CustomerID, &rv.ApplicationID, &rv.Verdict, &rv.Note,
		nullStrCol{&rv.Reviewer.KeyID}, &rv.Reviewer.Kind, timeCol{&rv.CreatedAt})
	return rv, err
}

// CreateReviewWithEvents inserts r, copies the call's newest review onto the
// call row (latest_review_verdict, reviewed_at) and appends events, in one
// transaction. The call row is locked first, so concurrent reviews of one
// call queue up and the row always ends up showing the newest by
// (created_at, id), the order GET /v1/calls/{id}/reviews lists.
func (d *DB) CreateReviewWithEvents(ctx context.Context, scope voice.Scope, r *voice.Review, events ...*voice.Event) error {
	return d.tx(ctx, func(tx *sql.Tx) error {
		l := listQuery{where: []string{"id = ?"}, args: []any{r.CallID}}
		scopeWhere(&l, scope)
		var id string
		err := tx.QueryRowContext(ctx, d.q(`SELECT id FROM calls WHERE `+strings.Join(l.where, " AND ")+d.forUpdate()), l.args...).Scan(&id)
		if errors.Is(err, sql.ErrNoRows) {
			return voice.NotFound("call")
		}
		if err != nil {
			return fmt.Errorf("review call %s: %w", r.CallID, err)
		}
		err = d.insert(ctx, tx, "review", `INSERT INTO reviews (`+reviewCols+`) VALUES (?,?,?,?,?,?,?,?,?)`,
			r.ID, r.CallID, r.CustomerID, r.ApplicationID, r.Verdict, r.Note, nullStr(r.Reviewer.KeyID), r.Reviewer.Kind,
			ms(r.CreatedAt))
		if err != nil {
			return err
		}
		err = d.execOne(ctx, tx, "call", `UPDATE calls SET
			latest_review_verdict = (SELECT verdict FROM reviews WHERE call_id = ? ORDER BY created_at DESC, id DESC LIMIT 1),
			reviewed_at = (SELECT MAX(created_at) FROM reviews WHERE call_id = ?) WHERE id = ?`, r.CallID, r.CallID, r.CallID)
		if err != nil {
			return err
		}
		// The events carry the call as it is now, its new review included.
		return d.insertEvents(ctx, tx, nil, events)
	})
}

// Reviews lists reviews matching f, newest first.
func (d *DB) Reviews(ctx context.Context, f voice.ReviewFilter, p voice.Page) (voice.List[*voice.Review], error) {
	var l listQuery
	scopeWhere(&l, f.Scope)
	if f.CallID != "" {
		l.add("call_id = ?", f.CallID)
	}
	return page(ctx, d, "reviews", reviewCols, l, p, scanReview, func(r *voice.Review) voice.Cursor {
		return voice.Cursor{CreatedAt: r.CreatedAt, ID: r.ID}
	})
}
