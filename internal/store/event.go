package store

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/minivoice/minivoice/internal/voice"
)

const eventCols = `id, event, created_at, call_id, application_id, customer_id, data, delivery_status, attempts, next_attempt_at`

// deliveryCols are eventCols plus what only a delivery needs.
const deliveryCols = eventCols + `, call_snapshot, delivery_round, round_attempts`

// MaxAttemptsKept bounds the attempts an event keeps (the newest ones): the
// schedule makes eight, redeliveries may add more.
const MaxAttemptsKept = 100

func scanEvent(r rowScanner) (*voice.Event, error) {
	e := &voice.Event{}
	var data string
	err := r.Scan(&e.ID, &e.Event, timeCol{&e.CreatedAt}, nullStrCol{&e.CallID}, &e.ApplicationID, &e.CustomerID, &data,
		&e.DeliveryStatus, jsonCol{&e.Attempts}, nullTimeCol{&e.NextAttemptAt})
	e.Data = []byte(data)
	if e.Attempts == nil {
		e.Attempts = []voice.Attempt{}
	}
	return e, err
}

func scanDeliveryEvent(r rowScanner) (*voice.Event, error) {
	e := &voice.Event{}
	var data string
	var snapshot *string
	err := r.Scan(&e.ID, &e.Event, timeCol{&e.CreatedAt}, nullStrCol{&e.CallID}, &e.ApplicationID, &e.CustomerID, &data,
		&e.DeliveryStatus, jsonCol{&e.Attempts}, nullTimeCol{&e.NextAttemptAt}, nullStrCol{&snapshot}, &e.DeliveryRound, &e.RoundAttempts)
	e.Data = []byte(data)
	if e.Attempts == nil {
		e.Attempts = []voice.Attempt{}
	}
	if snapshot != nil {
		e.Call = json.RawMessage(*snapshot)
	}
	return e, err
}

// EventOutbox queues the webhook deliveries of events inside the transaction
// that writes them (the transactional outbox of webhooks.md): if the
// transaction commits, both the events and their deliveries exist; if it
// rolls back, neither does. It is given only events whose delivery_status is
// pending, already inserted in tx. The job queue (internal/jobs) provides it,
// so the store stays independent of the queue.
type EventOutbox func(ctx context.Context, tx *sql.Tx, events []*voice.Event) error

// SetEventOutbox installs the outbox every event write goes through; nil
// removes it. Without one (API-only servers, tests) events are stored and
// nothing is queued.
func (d *DB) SetEventOutbox(fn EventOutbox) {
	if fn == nil {
		d.outbox.Store(nil)
		return
	}
	d.outbox.Store(&fn)
}

func (d *DB) eventOutbox() EventOutbox {
	if p := d.outbox.Load(); p != nil {
		return *p
	}
	return nil
}

// CreateEvent inserts e, and queues its delivery, in a transaction of its own.
func (d *DB) CreateEvent(ctx context.Context, e *voice.Event) error {
	return d.tx(ctx, func(tx *sql.Tx) error { return d.insertEvents(ctx, tx, nil, []*voice.Event{e}) })
}

// insertEvents is the one way events are written: every path that records an
// event (call changes, recordings, and whatever else writes one in the same
// transaction as the state change it describes) calls it with its
// transaction. Each event keeps the call as it is now: call when the caller
// has it (it must be the state being written in tx), else the call row read
// inside tx. Events to deliver get next_attempt_at and are handed to the
// outbox in the same transaction.
func (d *DB) insertEvents(ctx context.Context, tx *sql.Tx, call *voice.Call, events []*voice.Event) error {
	if len(events) == 0 {
		return nil
	}
	outbox := d.eventOutbox()
	var snap json.RawMessage
	if call != nil {
		var err error
		if snap, err = CallSnapshot(call); err != nil {
			return fmt.Errorf("event call snapshot: %w", err)
		}
	}
	loaded := map[string]json.RawMessage{}
	var queued []*voice.Event
	for _, e := range events {
		if e.Call == nil && e.CallID != nil {
			switch {
			case call != nil && *e.CallID == call.ID:
				e.Call = snap
			default:
				s, ok := loaded[*e.CallID]
				if !ok {
					var err error
					if s, err = d.callSnapshotTx(ctx, tx, *e.CallID); err != nil {
						return err
					}
					loaded[*e.CallID] = s
				}
				e.Call = s
			}
		}
		if e.Attempts == nil {
			e.Attempts = []voice.Attempt{}
		}
		deliver := outbox != nil && e.DeliveryStatus == voice.DeliveryPending
		if deliver && e.NextAttemptAt == nil {
			t := e.CreatedAt
			e.NextAttemptAt = &t
		}
		if err := d.insertEvent(ctx, tx, e); err != nil {
			return err
		}
		if deliver {
			queued = append(queued, e)
		}
	}
	if len(queued) == 0 {
		return nil
	}
	if err := outbox(ctx, tx, queued); err != nil {
		return fmt.Errorf("queue webhook deliveries: %w", err)
	}
	return nil
}

// callSnapshotTx reads a call inside tx for an event's snapshot; nil when the
// call does not exist.
func (d *DB) callSnapshotTx(ctx context.Context, tx *sql.Tx, id string) (json.RawMessage, error) {
	c, err := scanCall(d.txRow(ctx, tx, `SELECT `+callCols+` FROM calls WHERE id = ?`, id))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("event call %s: %w", id, err)
	}
	return CallSnapshot(c)
}

// CallSnapshot is the call object exactly as GET /v1/calls/{id} shows it once
// c is stored: times in UTC to the millisecond, empty variables and
// recording ids as {} and [].
func CallSnapshot(c *voice.Call) (json.RawMessage, error) {
	cc := *c
	trunc := func(t time.Time) time.Time { return time.UnixMilli(t.UnixMilli()).UTC() }
	truncPtr := func(t *time.Time) *time.Time {
		if t == nil {
			return nil
		}
		v := trunc(*t)
		return &v
	}
	cc.CreatedAt, cc.UpdatedAt = trunc(c.CreatedAt), trunc(c.UpdatedAt)
	cc.RingingAt, cc.AnsweredAt, cc.EndedAt = truncPtr(c.RingingAt), truncPtr(c.AnsweredAt), truncPtr(c.EndedAt)
	if cc.Variables == nil {
		cc.Variables = map[string]string{}
	}
	if cc.RecordingIDs == nil {
		cc.RecordingIDs = []string{}
	}
	b, err := json.Marshal(&cc)
	if err != nil {
		return nil, fmt.Errorf("encode call %s: %w", c.ID, err)
	}
	return b, nil
}

func (d *DB) insertEvent(ctx context.Context, q queryer, e *voice.Event) error {
	data := string(e.Data)
	if data == "" {
		data = "{}"
	}
	var snapshot any
	if e.Call != nil {
		snapshot = string(e.Call)
	}
	return d.insert(ctx, q, "event", `INSERT INTO events (`+deliveryCols+`) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?)`,
		e.ID, e.Event, ms(e.CreatedAt), nullStr(e.CallID), e.ApplicationID, e.CustomerID, data, e.DeliveryStatus,
		jsonCol{e.Attempts}, msPtr(e.NextAttemptAt), snapshot, e.DeliveryRound, e.RoundAttempts)
}

// EventByID returns one event visible to scope.
func (d *DB) EventByID(ctx context.Context, scope voice.Scope, id string) (*voice.Event, error) {
	l := listQuery{where: []string{"id = ?"}, args: []any{id}}
	scopeWhere(&l, scope)
	return getOne(ctx, d, "event", scanEvent, `SELECT `+eventCols+` FROM events WHERE `+strings.Join(l.where, " AND "), l.args...)
}

// Events lists events matching f, newest first.
func (d *DB) Events(ctx context.Context, f voice.EventFilter, p voice.Page) (voice.List[*voice.Event], error) {
	var l listQuery
	scopeWhere(&l, f.Scope)
	for _, c := range []struct{ col, v string }{
		{"event", f.Event}, {"call_id", f.CallID}, {"application_id", f.ApplicationID}, {"delivery_status", f.DeliveryStatus},
	} {
		if c.v != "" {
			l.add(c.col+" = ?", c.v)
		}
	}
	return page(ctx, d, "events", eventCols, l, p, scanEvent, func(e *voice.Event) voice.Cursor {
		return voice.Cursor{CreatedAt: e.CreatedAt, ID: e.ID}
	})
}

// CallEvents lists one call's events oldest first.
func (d *DB) CallEvents(ctx context.Context, scope voice.Scope, callID string) ([]*voice.Event, error) {
	l := listQuery{where: []string{"call_id = ?"}, args: []any{callID}}
	scopeWhere(&l, scope)
	rows, err := d.db.QueryContext(ctx, d.q(`SELECT `+eventCols+` FROM events WHERE `+strings.Join(l.where, " AND ")+` ORDER BY created_at, id`), l.args...)
	if err != nil {
		return nil, fmt.Errorf("call events: %w", err)
	}
	return collect(rows, scanEvent)
}

// DeliveryEvent returns an event, whoever owns it, with what its delivery
// needs: the call snapshot and the delivery round.
func (d *DB) DeliveryEvent(ctx context.Context, id string) (*voice.Event, error) {
	return getOne(ctx, d, "event", scanDeliveryEvent, `SELECT `+deliveryCols+` FROM events WHERE id = ?`, id)
}

// DeliveryBlocker returns the oldest event of e's call and application
// written before e that is still pending or retrying with its next attempt
// due at or after dueAfter, or nil when there is none. Webhooks of one call
// go out in order, so e waits for it; an event whose attempt is long overdue
// (its job lost) blocks nobody.
func (d *DB) DeliveryBlocker(ctx context.Context, e *voice.Event, dueAfter time.Time) (*voice.Event, error) {
	if e.CallID == nil {
		return nil, nil
	}
	created := ms(e.CreatedAt)
	row := d.queryRow(ctx, `SELECT `+eventCols+` FROM events WHERE call_id = ? AND application_id = ?
		AND delivery_status IN ('pending', 'retrying') AND (created_at < ? OR (created_at = ? AND id < ?))
		AND next_attempt_at >= ? ORDER BY created_at, id LIMIT 1`,
		*e.CallID, e.ApplicationID, created, created, e.ID, ms(dueAfter))
	b, err := scanEvent(row)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("delivery blocker of %s: %w", e.ID, err)
	}
	return b, nil
}

// DeliveryFollowers returns the ids of the events of e's call and application
// written after e whose delivery is pending (not attempted yet in their
// round): the ones that may be waiting their turn behind e.
func (d *DB) DeliveryFollowers(ctx context.Context, e *voice.Event) ([]string, error) {
	if e.CallID == nil {
		return nil, nil
	}
	created := ms(e.CreatedAt)
	rows, err := d.db.QueryContext(ctx, d.q(`SELECT id FROM events WHERE call_id = ? AND application_id = ?
		AND delivery_status = 'pending' AND (created_at > ? OR (created_at = ? AND id > ?)) ORDER BY created_at, id`),
		*e.CallID, e.ApplicationID, created, created, e.ID)
	if err != nil {
		return nil, fmt.Errorf("delivery followers of %s: %w", e.ID, err)
	}
	defer rows.Close()
	var ids []string
	for rows.Next() {
		var id string
		if err := rows.Scan(&id); err != nil {
			return nil, fmt.Errorf("delivery followers of %s: %w", e.ID, err)
		}
		ids = append(ids, id)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("delivery followers of %s: %w", e.ID, err)
	}
	return ids, nil
}

// DeliveryUpdate is the outcome of one delivery step of an event.
type DeliveryUpdate struct {
	EventID string
	// Round is the delivery round the step belongs to; a step of an earlier
	// round (the event was redelivered meanwhile) logs its attempt but leaves
	// the status alone.
	Round int
	// Attempt is the request made, nil when none was (the webhook is off).
	Attempt *voice.Attempt
	// Status is the new delivery_status; NextAttemptAt when the next
	// automatic attempt is due (nil for none).
	Status        string
	NextAttemptAt *time.Time
	// DisableWebhook turns the application's webhook off (the receiver
	// answered 410 Gone) and marks its other undelivered events disabled.
	DisableWebhook bool
}

// forUpdate locks the rows a read-modify-write transaction reads (PostgreSQL;
// SQLite transactions here begin IMMEDIATE and so hold the write lock).
func (d *DB) forUpdate() string {
	if d.dialect.Name == "postgres" {
		return " FOR UPDATE"
	}
	return ""
}

// UpdateDelivery appends the attempt to the event's log and sets its delivery
// status, in one transaction.
func (d *DB) UpdateDelivery(ctx context.Context, u DeliveryUpdate) error {
	return d.groupTx(ctx, func(tx *sql.Tx) error {
		var attempts []voice.Attempt
		var round int
		var appID string
		err := d.txRow(ctx, tx, `SELECT attempts, delivery_round, application_id FROM events WHERE id = ?`+d.forUpdate(), u.EventID).
			Scan(jsonCol{&attempts}, &round, &appID)
		if errors.Is(err, sql.ErrNoRows) {
			return voice.NotFound("event")
		}
		if err != nil {
			return fmt.Errorf("delivery of %s: %w", u.EventID, err)
		}
		if u.Attempt != nil {
			attempts = append(attempts, *u.Attempt)
			if len(attempts) > MaxAttemptsKept {
				attempts = attempts[len(attempts)-MaxAttemptsKept:]
			}
		}
		if attempts == nil {
			attempts = []voice.Attempt{}
		}
		if round == u.Round {
			counted := 0
			if u.Attempt != nil {
				counted = 1
			}
			_, err = d.exec(ctx, tx, `UPDATE events SET attempts = ?, delivery_status = ?, next_attempt_at = ?,
				round_attempts = round_attempts + ? WHERE id = ?`,
				jsonCol{attempts}, u.Status, msPtr(u.NextAttemptAt), counted, u.EventID)
		} else {
			_, err = d.exec(ctx, tx, `UPDATE events SET attempts = ? WHERE id = ?`, jsonCol{attempts}, u.EventID)
		}
		if err != nil {
			return fmt.Errorf("delivery of %s: %w", u.EventID, err)
		}
		if !u.DisableWebhook {
			return nil
		}
		if _, err := d.exec(ctx, tx, `UPDATE applications SET webhook_status = ?, updated_at = ? WHERE id = ? AND webhook_status <> ?`,
			voice.WebhookDisabled, ms(d.now()), appID, voice.WebhookDisabled); err != nil {
			return fmt.Errorf("disable webhook of %s: %w", appID, err)
		}
		if _, err := d.exec(ctx, tx, `UPDATE events SET delivery_status = ?, next_attempt_at = NULL
			WHERE application_id = ? AND delivery_status IN ('pending', 'retrying') AND id <> ?`,
			voice.DeliveryDisabled, appID, u.EventID); err != nil {
			return fmt.Errorf("disable events of %s: %w", appID, err)
		}
		return nil
	})
}

// RedeliverEvent queues one more delivery of an event visible to scope, in a
// new delivery round: the event is pending again, its attempts so far are
// kept, and the retry schedule starts over if this delivery fails.
func (d *DB) RedeliverEvent(ctx context.Context, scope voice.Scope, id string) (*voice.Event, error) {
	outbox := d.eventOutbox()
	if outbox == nil {
		return nil, &voice.Error{Code: voice.ECodeNotReady, Message: "webhook delivery is not running on this server"}
	}
	var out *voice.Event
	err := d.tx(ctx, func(tx *sql.Tx) error {
		l := listQuery{where: []string{"id = ?"}, args: []any{id}}
		scopeWhere(&l, scope)
		e, err := scanDeliveryEvent(d.txRow(ctx, tx, `SELECT `+deliveryCols+` FROM events WHERE `+
			strings.Join(l.where, " AND ")+d.forUpdate(), l.args...))
		if errors.Is(err, sql.ErrNoRows) {
			return voice.NotFound("event")
		}
		if err != nil {
			return fmt.Errorf("redeliver %s: %w", id, err)
		}
		now := time.UnixMilli(d.now().UnixMilli()).UTC()
		e.DeliveryRound++
		e.RoundAttempts = 0
		e.DeliveryStatus = voice.DeliveryPending
		e.NextAttemptAt = &now
		if _, err := d.exec(ctx, tx, `UPDATE events SET delivery_status = ?, next_attempt_at = ?, delivery_round = ?,
			round_attempts = 0 WHERE id = ?`,
			e.DeliveryStatus, ms(now), e.DeliveryRound, e.ID); err != nil {
			return fmt.Errorf("redeliver %s: %w", id, err)
		}
		if err := outbox(ctx, tx, []*voice.Event{e}); err != nil {
			return fmt.Errorf("queue redelivery of %s: %w", id, err)
		}
		out = e
		return nil
	})
	return out, err
}
