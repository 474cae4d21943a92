package sip

import (
	"bytes"
	"log/slog"
	"testing"
)

// TestCallLog checks that callLog writes what With would: call_id first,
// the record's attributes after it, and outside a group.
func TestCallLog(t *testing.T) {
	t.Parallel()
	logger := func(buf *bytes.Buffer) *slog.Logger {
		return slog.New(slog.NewJSONHandler(buf, &slog.HandlerOptions{Level: slog.LevelInfo,
			ReplaceAttr: func(groups []string, a slog.Attr) slog.Attr {
				if a.Key == slog.TimeKey && len(groups) == 0 {
					return slog.Attr{}
				}
				return a
			}}))
	}
	write := func(l *slog.Logger) {
		l.Info("answer", slog.String("why", "busy"), slog.Int("sip_code", 486))
		l.Debug("not written")
		l.With(slog.String("trunk_id", "trk_1")).Warn("failing over", slog.Any("error", "timeout"))
		l.WithGroup("sip").Error("bye", slog.Int("code", 481))
	}
	var want, got bytes.Buffer
	write(logger(&want).With(slog.String("call_id", "call_1")))
	write(callLog(logger(&got), "call_1"))
	if got.String() != want.String() {
		t.Fatalf("callLog wrote\n%s\nWith writes\n%s", got.String(), want.String())
	}
}
