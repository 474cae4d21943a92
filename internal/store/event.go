package store

import (
	"context"
	"fmt"
	"strings"

	"github.com/minivoice/minivoice/internal/voice"
)

const eventCols = `id, event, created_at, call_id, application_id, customer_id, data, delivery_status, attempts`

func scanEvent(r rowScanner) (*voice.Event, error) {
	e := &voice.Event{}
	var data string
	err := r.Scan(&e.ID, &e.Event, timeCol{&e.CreatedAt}, nullStrCol{&e.CallID}, &e.ApplicationID, &e.CustomerID, &data,
		&e.DeliveryStatus, jsonCol{&e.Attempts})
	e.Data = []byte(data)
	if e.Attempts == nil {
		e.Attempts = []voice.Attempt{}
	}
	return e, err
}

// CreateEvent inserts e.
func (d *DB) CreateEvent(ctx context.Context, e *voice.Event) error {
	return d.insertEvent(ctx, d.db, e)
}

func (d *DB) insertEvents(ctx context.Context, q queryer, events []*voice.Event) error {
	for _, e := range events {
		if err := d.insertEvent(ctx, q, e); err != nil {
			return err
		}
	}
	return nil
}

func (d *DB) insertEvent(ctx context.Context, q queryer, e *voice.Event) error {
	data := string(e.Data)
	if data == "" {
		data = "{}"
	}
	return d.insert(ctx, q, "event", `INSERT INTO events (`+eventCols+`) VALUES (?,?,?,?,?,?,?,?,?)`,
		e.ID, e.Event, ms(e.CreatedAt), nullStr(e.CallID), e.ApplicationID, e.CustomerID, data, e.DeliveryStatus, jsonCol{e.Attempts})
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
	if f.Event != "" {
		l.add("event = ?", f.Event)
	}
	if f.CallID != "" {
		l.add("call_id = ?", f.CallID)
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
