package store

import (
	"context"
	"fmt"
	"strings"

	"github.com/minivoice/minivoice/internal/voice"
)

// LiveCalls counts the calls visible to scope that have not ended
// (queued, ringing or in progress): the console's "live calls right now".
func (d *DB) LiveCalls(ctx context.Context, scope voice.Scope) (int, error) {
	l := listQuery{where: []string{"status IN (?, ?, ?)"}, args: []any{voice.CallQueued, voice.CallRinging, voice.CallInProgress}}
	scopeWhere(&l, scope)
	var n int64
	if err := d.queryRow(ctx, `SELECT COUNT(*) FROM calls WHERE `+strings.Join(l.where, " AND "), l.args...).Scan(&n); err != nil {
		return 0, fmt.Errorf("live calls: %w", err)
	}
	return int(n), nil
}
