package sip

import (
	"context"
	"log/slog"
)

// callLog is log for one call: its records carry call_id first, as with
// log.With(slog.String("call_id", id)), but the attribute is added when a
// record is written rather than formatted up front. A JSON handler's With
// copies the handler with the attribute already encoded, a few hundred
// bytes that every live call would keep for messages most calls never log.
func callLog(log *slog.Logger, id string) *slog.Logger {
	return slog.New(callHandler{h: log.Handler(), id: id})
}

// callHandler adds call_id to each record it passes to h.
type callHandler struct {
	h  slog.Handler
	id string
}

func (c callHandler) Enabled(ctx context.Context, l slog.Level) bool { return c.h.Enabled(ctx, l) }

func (c callHandler) Handle(ctx context.Context, r slog.Record) error {
	out := slog.NewRecord(r.Time, r.Level, r.Message, r.PC)
	out.AddAttrs(slog.String("call_id", c.id))
	r.Attrs(func(a slog.Attr) bool {
		out.AddAttrs(a)
		return true
	})
	return c.h.Handle(ctx, out)
}

// WithAttrs and WithGroup put call_id before the attributes and outside the
// group, where With would have: a logger derived from this one is made as
// With makes it.
func (c callHandler) WithAttrs(as []slog.Attr) slog.Handler {
	return c.h.WithAttrs(append([]slog.Attr{slog.String("call_id", c.id)}, as...))
}

func (c callHandler) WithGroup(name string) slog.Handler {
	return c.h.WithAttrs([]slog.Attr{slog.String("call_id", c.id)}).WithGroup(name)
}
