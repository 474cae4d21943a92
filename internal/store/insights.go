package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"

	"github.com/minivoice/minivoice/internal/voice"
)

// InsightsOutbox queues a step of the insights pipeline for a recording
// inside the transaction that makes the step due (the recording completing,
// or the transcription completing), like EventOutbox does for webhooks: a
// committed step always has its job, a rolled-back one never does. The job
// queue (internal/jobs) provides it.
// audioSeconds is the recording's length, which bounds the step's run.
type InsightsOutbox func(ctx context.Context, tx *sql.Tx, step, recordingID string, audioSeconds float64) error

// SetInsightsOutbox installs the outbox that queues pipeline steps; nil
// removes it. Without one (API-only servers, tests) completed recordings get
// no insights record: nothing would ever run it.
func (d *DB) SetInsightsOutbox(fn InsightsOutbox) {
	if fn == nil {
		d.insightsOutbox.Store(nil)
		return
	}
	d.insightsOutbox.Store(&fn)
}

func (d *DB) loadInsightsOutbox() InsightsOutbox {
	if p := d.insightsOutbox.Load(); p != nil {
		return *p
	}
	return nil
}

const insightsCols = `recording_id, call_id, customer_id, application_id, transcription_status, transcription,
	insights_status, insights_engine, insights_error, summary, score, topics, created_at, updated_at`

func scanInsights(r rowScanner) (*voice.Insights, error) {
	in := &voice.Insights{}
	var transcriptionStatus string
	err := r.Scan(&in.RecordingID, &in.CallID, &in.CustomerID, &in.ApplicationID, &transcriptionStatus,
		jsonCol{&in.Transcription}, &in.InsightsStatus, &in.InsightsEngine, jsonCol{&in.InsightsError},
		jsonCol{&in.Summary}, jsonCol{&in.Score}, jsonCol{&in.Topics}, timeCol{&in.CreatedAt}, timeCol{&in.UpdatedAt})
	// The column is the truth: the JSON copy is written with it, but a
	// status-only update (StartInsightsStep) touches the column alone.
	in.Transcription.Status = transcriptionStatus
	in.Transcription.CallID, in.Transcription.RecordingID = in.CallID, in.RecordingID
	if in.Transcription.Segments == nil {
		in.Transcription.Segments = []voice.Segment{}
	}
	return in, err
}

// Insights returns the pipeline record of a recording visible to scope.
func (d *DB) Insights(ctx context.Context, scope voice.Scope, recordingID string) (*voice.Insights, error) {
	l := listQuery{where: []string{"recording_id = ?"}, args: []any{recordingID}}
	scopeWhere(&l, scope)
	return getOne(ctx, d, "insights", scanInsights, `SELECT `+insightsCols+` FROM insights WHERE `+strings.Join(l.where, " AND "), l.args...)
}

// CallInsights returns the pipeline records of a call's recordings visible to
// scope, oldest first.
func (d *DB) CallInsights(ctx context.Context, scope voice.Scope, callID string) ([]*voice.Insights, error) {
	l := listQuery{where: []string{"call_id = ?"}, args: []any{callID}}
	scopeWhere(&l, scope)
	rows, err := d.query(ctx, `SELECT `+insightsCols+` FROM insights WHERE `+strings.Join(l.where, " AND ")+
		` ORDER BY created_at, recording_id`, l.args...)
	if err != nil {
		return nil, fmt.Errorf("insights of call %s: %w", callID, err)
	}
	return collect(rows, scanInsights)
}

// stepColumn is the status column of a pipeline step.
func stepColumn(step string) (string, error) {
	switch step {
	case voice.StepTranscription:
		return "transcription_status", nil
	case voice.StepInsights:
		return "insights_status", nil
	}
	return "", fmt.Errorf("unknown insights step %q", step)
}

// StartInsightsStep marks step processing unless it has finished; done says
// it has (or the record is gone), so a rerun of its job does nothing.
func (d *DB) StartInsightsStep(ctx context.Context, recordingID, step string) (done bool, err error) {
	col, err := stepColumn(step)
	if err != nil {
		return false, err
	}
	err = d.tx(ctx, func(tx *sql.Tx) error {
		open, err := d.stepOpenTx(ctx, tx, col, recordingID)
		if err != nil || !open {
			done = err == nil
			return err
		}
		_, err = tx.ExecContext(ctx, d.q(`UPDATE insights SET `+col+` = ?, updated_at = ? WHERE recording_id = ?`),
			voice.InsightProcessing, ms(d.now()), recordingID)
		if err != nil {
			return fmt.Errorf("start %s of %s: %w", step, recordingID, err)
		}
		return nil
	})
	return done, err
}

// stepOpenTx locks a record's row (PostgreSQL; SQLite's writes are already
// serialized) and reports whether the step whose status column is col can
// still run: the record exists and the step has not finished.
func (d *DB) stepOpenTx(ctx context.Context, tx *sql.Tx, col, recordingID string) (bool, error) {
	var status string
	err := tx.QueryRowContext(ctx, d.q(`SELECT `+col+` FROM insights WHERE recording_id = ?`+d.forUpdate()), recordingID).Scan(&status)
	if errors.Is(err, sql.ErrNoRows) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("insights step of %s: %w", recordingID, err)
	}
	return status != voice.InsightCompleted && status != voice.InsightFailed, nil
}

// FinishInsightsStep writes the outcome of step: both steps' statuses and
// results as in holds them, events, and the job of next. It writes nothing
// when step has already finished (a second run of the same job, after a
// crash or a rescue, loses) or the record is gone (the recording was deleted
// while the step ran).
func (d *DB) FinishInsightsStep(ctx context.Context, in *voice.Insights, step, next string, events ...*voice.Event) (written bool, err error) {
	col, err := stepColumn(step)
	if err != nil {
		return false, err
	}
	var outbox InsightsOutbox
	if next != "" {
		if outbox = d.loadInsightsOutbox(); outbox == nil {
			return false, errors.New("finish insights step: no job queue to run the next step")
		}
	}
	err = d.tx(ctx, func(tx *sql.Tx) error {
		if open, err := d.stepOpenTx(ctx, tx, col, in.RecordingID); err != nil || !open {
			return err
		}
		in.UpdatedAt = d.now()
		if _, err := tx.ExecContext(ctx, d.q(`UPDATE insights SET transcription_status = ?, transcription = ?, insights_status = ?,
			insights_engine = ?, insights_error = ?, summary = ?, score = ?, topics = ?, updated_at = ? WHERE recording_id = ?`),
			in.Transcription.Status, jsonCol{in.Transcription}, in.InsightsStatus, in.InsightsEngine, jsonCol{in.InsightsError},
			jsonCol{in.Summary}, jsonCol{in.Score}, jsonCol{in.Topics}, ms(in.UpdatedAt), in.RecordingID); err != nil {
			return fmt.Errorf("finish %s of %s: %w", step, in.RecordingID, err)
		}
		if err := d.insertEvents(ctx, tx, nil, events); err != nil {
			return err
		}
		if next != "" {
			if err := outbox(ctx, tx, next, in.RecordingID, in.Transcription.Duration); err != nil {
				return fmt.Errorf("queue %s of %s: %w", next, in.RecordingID, err)
			}
		}
		written = true
		return nil
	})
	return written, err
}

// recordingInsightsTx keeps a recording's pipeline record in step with the
// recording, inside the transaction that updates it: a completed recording of
// an application with insights on gets its record and transcription job
// (once: a second completion finds the record), a deleted one loses its
// record and with it its results.
func (d *DB) recordingInsightsTx(ctx context.Context, tx *sql.Tx, r *voice.Recording) error {
	switch r.Status {
	case voice.RecordingDeleted:
		if _, err := tx.ExecContext(ctx, d.q(`DELETE FROM insights WHERE recording_id = ?`), r.ID); err != nil {
			return fmt.Errorf("delete insights of %s: %w", r.ID, err)
		}
		return nil
	case voice.RecordingCompleted:
	default:
		return nil
	}
	outbox := d.loadInsightsOutbox()
	if outbox == nil {
		return nil
	}
	var on bool
	err := tx.QueryRowContext(ctx, d.q(`SELECT insights FROM applications WHERE id = ?`), r.ApplicationID).Scan(&on)
	if errors.Is(err, sql.ErrNoRows) || err == nil && !on {
		return nil // no application (deleted since), or insights off
	}
	if err != nil {
		return fmt.Errorf("insights setting of %s: %w", r.ApplicationID, err)
	}
	now := d.now()
	empty := voice.Transcription{Status: voice.InsightQueued, Segments: []voice.Segment{}, CreatedAt: now, UpdatedAt: now}
	res, err := tx.ExecContext(ctx, d.q(`INSERT INTO insights (`+insightsCols+`) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?)
		ON CONFLICT (recording_id) DO NOTHING`),
		r.ID, r.CallID, r.CustomerID, r.ApplicationID, voice.InsightQueued, jsonCol{empty}, voice.InsightQueued, "",
		nil, nil, nil, nil, ms(now), ms(now))
	if err != nil {
		return fmt.Errorf("create insights of %s: %w", r.ID, err)
	}
	if n, err := res.RowsAffected(); err != nil || n == 0 {
		return err // already queued by an earlier completion
	}
	if err := outbox(ctx, tx, voice.StepTranscription, r.ID, r.Duration); err != nil {
		return fmt.Errorf("queue transcription of %s: %w", r.ID, err)
	}
	return nil
}

// HasAnsweredChild reports whether a dial of callID was answered: the right
// channel of the call's recording then holds the bridged party rather than
// the platform's prompts.
func (d *DB) HasAnsweredChild(ctx context.Context, callID string) (bool, error) {
	var n int
	err := d.db.QueryRowContext(ctx, d.q(`SELECT count(*) FROM calls WHERE parent_call_id = ? AND answered_at IS NOT NULL`), callID).Scan(&n)
	if err != nil {
		return false, fmt.Errorf("children of %s: %w", callID, err)
	}
	return n > 0, nil
}
