package store

import (
	"context"
	"database/sql"
	"fmt"
	"math"
	"strings"

	"github.com/minivoice/minivoice/internal/voice"
)

const recordingCols = `id, call_id, customer_id, application_id, status, source, channels, sample_rate, duration_ms,
	storage_key, size_bytes, sha256, error, started_at, ended_at, created_at, updated_at, speech`

// notDeleted leaves deleted recordings out: they read as missing everywhere.
// The status is a literal, not a parameter, so the planner knows it statically.
const notDeleted = `status <> 'deleted'`

func scanRecording(r rowScanner) (*voice.Recording, error) {
	rec := &voice.Recording{}
	var durationMS int64
	err := r.Scan(&rec.ID, &rec.CallID, &rec.CustomerID, &rec.ApplicationID, &rec.Status, &rec.Source, &rec.Channels,
		&rec.SampleRate, &durationMS, &rec.StorageKey, &rec.SizeBytes, &rec.SHA256, &rec.Error, timeCol{&rec.StartedAt},
		nullTimeCol{&rec.EndedAt}, timeCol{&rec.CreatedAt}, timeCol{&rec.UpdatedAt}, jsonCol{&rec.Speech})
	rec.Duration = float64(durationMS) / 1000
	if len(rec.Speech) == 0 {
		rec.Speech = nil // "[]": none, the same as a recording that never had the column
	}
	return rec, err
}

// durationMS is a duration in seconds as the stored whole milliseconds.
func durationMS(seconds float64) int64 { return int64(math.Round(seconds * 1000)) }

// CreateRecording inserts r.
func (d *DB) CreateRecording(ctx context.Context, r *voice.Recording) error {
	return d.insert(ctx, d.db, "recording", `INSERT INTO recordings (`+recordingCols+`) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)`,
		r.ID, r.CallID, r.CustomerID, r.ApplicationID, r.Status, r.Source, r.Channels, r.SampleRate, durationMS(r.Duration),
		r.StorageKey, r.SizeBytes, r.SHA256, r.Error, ms(r.StartedAt), msPtr(r.EndedAt), ms(r.CreatedAt), ms(r.UpdatedAt),
		speechCol(r.Speech))
}

// speechCol is a recording's speech notes as stored: a JSON array, "[]" for
// none (never "null"), bounded like the Recorder bounds them so a caller
// filling the struct by hand cannot store more.
func speechCol(notes []voice.SpeechNote) jsonCol {
	if notes == nil {
		notes = []voice.SpeechNote{}
	}
	return jsonCol{notes[:min(len(notes), voice.MaxSpeechNotes)]}
}

// Recording returns one recording visible to scope; a deleted one is not_found.
func (d *DB) Recording(ctx context.Context, scope voice.Scope, id string) (*voice.Recording, error) {
	l := listQuery{where: []string{"id = ?", notDeleted}, args: []any{id}}
	scopeWhere(&l, scope)
	query := `SELECT ` + recordingCols + ` FROM recordings WHERE ` + strings.Join(l.where, " AND ")
	return getOne(ctx, d, "recording", scanRecording, query, l.args...)
}

// Recordings lists recordings matching f, newest first, deleted ones left out.
func (d *DB) Recordings(ctx context.Context, f voice.RecordingFilter, p voice.Page) (voice.List[*voice.Recording], error) {
	l := listQuery{where: []string{notDeleted}}
	scopeWhere(&l, f.Scope)
	if f.CallID != "" {
		l.add("call_id = ?", f.CallID)
	}
	return page(ctx, d, "recordings", recordingCols, l, p, scanRecording, func(r *voice.Recording) voice.Cursor {
		return voice.Cursor{CreatedAt: r.CreatedAt, ID: r.ID}
	})
}

// UpdateRecordingWithEvents writes r's mutable fields and appends events
// atomically. A deleted recording is final: updating it is not_found, so a
// late writer cannot bring it back and a second concurrent delete loses.
func (d *DB) UpdateRecordingWithEvents(ctx context.Context, r *voice.Recording, events ...*voice.Event) error {
	return d.tx(ctx, func(tx *sql.Tx) error {
		err := d.execOne(ctx, tx, "recording", `UPDATE recordings SET status = ?, duration_ms = ?, size_bytes = ?, sha256 = ?,
			ended_at = ?, error = ?, updated_at = ?, speech = ? WHERE id = ? AND `+notDeleted,
			r.Status, durationMS(r.Duration), r.SizeBytes, r.SHA256, msPtr(r.EndedAt), r.Error, ms(r.UpdatedAt),
			speechCol(r.Speech), r.ID)
		if err != nil {
			return err
		}
		if err := d.recordingInsightsTx(ctx, tx, r); err != nil {
			return err
		}
		// The events carry the call as it is now, read inside tx.
		return d.insertEvents(ctx, tx, nil, events)
	})
}

// UnfinishedRecordings returns the recordings still in progress, oldest first.
func (d *DB) UnfinishedRecordings(ctx context.Context) ([]*voice.Recording, error) {
	// The literal status matches the partial index recordings_in_progress.
	rows, err := d.query(ctx, `SELECT `+recordingCols+` FROM recordings WHERE status = 'in-progress' ORDER BY created_at, id`)
	if err != nil {
		return nil, fmt.Errorf("unfinished recordings: %w", err)
	}
	return collect(rows, scanRecording)
}
