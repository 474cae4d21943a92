package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/minivoice/minivoice/internal/voice"
)

// Node is a row of the nodes table: one `minivoice serve` process on a
// shared PostgreSQL database (docs/cluster.md).
type Node struct {
	ID          string
	StartedAt   time.Time
	HeartbeatAt time.Time
	// LeaseUntil is when the node counts as lost unless it renews.
	LeaseUntil time.Time
	Draining   bool
	// TakenOverBy is the survivor that claimed the node's calls, once its
	// lease ran out; empty while the node is a member.
	TakenOverBy string
	TakenOverAt *time.Time
}

// Live reports whether n holds its lease at now.
func (n *Node) Live(now time.Time) bool { return n.TakenOverBy == "" && !n.LeaseUntil.Before(now) }

const nodeCols = `id, started_at, heartbeat_at, lease_until, draining, taken_over_by, taken_over_at`

func scanNode(r rowScanner) (*Node, error) {
	n := &Node{}
	var by *string
	err := r.Scan(&n.ID, timeCol{&n.StartedAt}, timeCol{&n.HeartbeatAt}, timeCol{&n.LeaseUntil}, &n.Draining,
		nullStrCol{&by}, nullTimeCol{&n.TakenOverAt})
	if by != nil {
		n.TakenOverBy = *by
	}
	return n, err
}

// NodeID is the node whose calls this store creates (Config.NodeID).
func (d *DB) NodeID() string { return d.nodeID }

// GetNode returns the node with id.
func (d *DB) GetNode(ctx context.Context, id string) (*Node, error) {
	return getOne(ctx, d, "node", scanNode, `SELECT `+nodeCols+` FROM nodes WHERE id = ?`, id)
}

// Nodes lists every node row, newest start first.
func (d *DB) Nodes(ctx context.Context) ([]*Node, error) {
	rows, err := d.query(ctx, `SELECT `+nodeCols+` FROM nodes ORDER BY started_at DESC, id`)
	if err != nil {
		return nil, fmt.Errorf("nodes: %w", err)
	}
	return collect(rows, scanNode)
}

// JoinNode makes id a member holding a lease until leaseUntil: a new row, or
// the row of a previous process with the same id reset (the caller has made
// sure that process is gone and its calls are being closed).
func (d *DB) JoinNode(ctx context.Context, id string, now, leaseUntil time.Time) error {
	_, err := d.exec(ctx, d.db, `INSERT INTO nodes (`+nodeCols+`) VALUES (?, ?, ?, ?, FALSE, NULL, NULL)
		ON CONFLICT (id) DO UPDATE SET started_at = excluded.started_at, heartbeat_at = excluded.heartbeat_at,
		lease_until = excluded.lease_until, draining = FALSE, taken_over_by = NULL, taken_over_at = NULL`,
		id, ms(now), ms(now), ms(leaseUntil))
	if err != nil {
		return fmt.Errorf("join node %s: %w", id, err)
	}
	return nil
}

// RenewNode extends id's lease to leaseUntil and records draining. It
// reports false when the node was taken over meanwhile (its lease had run
// out): the node is then no member until it joins again.
func (d *DB) RenewNode(ctx context.Context, id string, now, leaseUntil time.Time, draining bool) (bool, error) {
	res, err := d.exec(ctx, d.db, `UPDATE nodes SET heartbeat_at = ?, lease_until = ?, draining = ?
		WHERE id = ? AND taken_over_by IS NULL`, ms(now), ms(leaseUntil), draining, id)
	if err != nil {
		return false, fmt.Errorf("renew node %s: %w", id, err)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return false, fmt.Errorf("renew node %s: %w", id, err)
	}
	return n > 0, nil
}

// LeaveNode ends id's lease now: a node stopping cleanly after its calls
// ended is taken over at once, which finds nothing to close.
func (d *DB) LeaveNode(ctx context.Context, id string, now time.Time) error {
	_, err := d.exec(ctx, d.db, `UPDATE nodes SET lease_until = ? WHERE id = ? AND taken_over_by IS NULL`, ms(now)-1, id)
	if err != nil {
		return fmt.Errorf("leave node %s: %w", id, err)
	}
	return nil
}

// ClaimExpiredNodes marks by as the survivor of every node (other than
// by) whose lease ended before now and that nobody claimed yet, and returns
// them. The claim is one conditional UPDATE, so of several survivors
// running it at once each lost node goes to exactly one.
func (d *DB) ClaimExpiredNodes(ctx context.Context, by string, now time.Time) ([]*Node, error) {
	rows, err := d.query(ctx, `UPDATE nodes SET taken_over_by = ?, taken_over_at = ?
		WHERE taken_over_by IS NULL AND lease_until < ? AND id <> ? RETURNING `+nodeCols, by, ms(now), ms(now), by)
	if err != nil {
		return nil, fmt.Errorf("claim expired nodes: %w", err)
	}
	return collect(rows, scanNode)
}

// ClaimNode claims the one node id for by if its lease ended before now and
// nobody claimed it: a process restarting under the id of a dead one. It
// returns nil when there was nothing to claim.
func (d *DB) ClaimNode(ctx context.Context, id, by string, now time.Time) (*Node, error) {
	rows, err := d.query(ctx, `UPDATE nodes SET taken_over_by = ?, taken_over_at = ?
		WHERE id = ? AND taken_over_by IS NULL AND lease_until < ? RETURNING `+nodeCols, by, ms(now), id, ms(now))
	if err != nil {
		return nil, fmt.Errorf("claim node %s: %w", id, err)
	}
	nodes, err := collect(rows, scanNode)
	if err != nil || len(nodes) == 0 {
		return nil, err
	}
	return nodes[0], nil
}

// ClaimNodeCalls moves the unfinished calls of node from that were created
// before createdBefore to node to, and returns them. Like ClaimExpiredNodes
// it is one conditional UPDATE: a call moves once, so only one survivor
// ever closes it, and if that survivor dies before closing it, the call is
// found again among the survivor's own. createdBefore keeps out the calls of
// a new process that joined again under the same id.
func (d *DB) ClaimNodeCalls(ctx context.Context, from, to string, createdBefore time.Time) ([]*voice.Call, error) {
	rows, err := d.db.QueryContext(ctx, d.q(`UPDATE calls SET node_id = ? WHERE node_id = ? AND status IN (?, ?, ?)
		AND created_at < ? RETURNING `+callCols), to, from, voice.CallQueued, voice.CallRinging, voice.CallInProgress, ms(createdBefore))
	if err != nil {
		return nil, fmt.Errorf("claim calls of node %s: %w", from, err)
	}
	return collect(rows, scanCall)
}

// CallNode returns the node that holds call id ("" when none is recorded:
// SQLite, or a call older than nodes).
func (d *DB) CallNode(ctx context.Context, id string) (string, error) {
	var node sql.NullString
	err := d.queryRow(ctx, `SELECT node_id FROM calls WHERE id = ?`, id).Scan(&node)
	if errors.Is(err, sql.ErrNoRows) {
		return "", voice.NotFound("call")
	}
	if err != nil {
		return "", fmt.Errorf("node of call %s: %w", id, err)
	}
	return node.String, nil
}

// UnfinishedRecordingsOfCalls returns the in-progress recordings of the calls
// ids: the part of recording recovery that belongs to a lost node.
func (d *DB) UnfinishedRecordingsOfCalls(ctx context.Context, ids []string) ([]*voice.Recording, error) {
	if len(ids) == 0 {
		return []*voice.Recording{}, nil
	}
	args := make([]any, len(ids))
	for i, id := range ids {
		args[i] = id
	}
	rows, err := d.db.QueryContext(ctx, d.q(`SELECT `+recordingCols+` FROM recordings WHERE status = 'in-progress' AND call_id IN (`+
		strings.TrimSuffix(strings.Repeat("?, ", len(ids)), ", ")+`) ORDER BY created_at, id`), args...)
	if err != nil {
		return nil, fmt.Errorf("unfinished recordings of calls: %w", err)
	}
	return collect(rows, scanRecording)
}

// PruneNodes deletes the rows of nodes taken over before before.
func (d *DB) PruneNodes(ctx context.Context, before time.Time) (int, error) {
	res, err := d.exec(ctx, d.db, `DELETE FROM nodes WHERE taken_over_at IS NOT NULL AND taken_over_at < ?`, ms(before))
	if err != nil {
		return 0, fmt.Errorf("prune nodes: %w", err)
	}
	n, err := res.RowsAffected()
	return int(n), err
}

// NodeCommand is a command for a live call held by another node.
type NodeCommand struct {
	ID string
	// NodeID is the node that holds the call; ReplyTo the node that sent it.
	NodeID, ReplyTo string
	CallID          string
	// Kind is NodeCommandHangup or NodeCommandActions.
	Kind string
	// Actions is the JSON action list of NodeCommandActions.
	Actions   []byte
	CreatedAt time.Time
	DoneAt    *time.Time
	// OK is the owner's answer: the call was live there and took the command.
	OK bool
}

// Node command kinds.
const (
	NodeCommandHangup  = "hangup"
	NodeCommandActions = "actions"
)

const nodeCommandCols = `id, node_id, reply_to, call_id, kind, actions, created_at, done_at, ok`

func scanNodeCommand(r rowScanner) (*NodeCommand, error) {
	c := &NodeCommand{}
	var actions *string
	var ok sql.NullBool
	err := r.Scan(&c.ID, &c.NodeID, &c.ReplyTo, &c.CallID, &c.Kind, nullStrCol{&actions}, timeCol{&c.CreatedAt},
		nullTimeCol{&c.DoneAt}, &ok)
	if actions != nil {
		c.Actions = []byte(*actions)
	}
	c.OK = ok.Bool
	return c, err
}

// CreateNodeCommand stores c and NOTIFYs channel with payload in the same
// transaction (PostgreSQL delivers the notification at commit, so the owner
// never looks for a row it cannot see yet).
func (d *DB) CreateNodeCommand(ctx context.Context, c *NodeCommand, channel, payload string) error {
	var actions any
	if c.Actions != nil {
		actions = string(c.Actions)
	}
	return d.tx(ctx, func(tx *sql.Tx) error {
		if err := d.insert(ctx, tx, "node command", `INSERT INTO node_commands (`+nodeCommandCols+`) VALUES (?, ?, ?, ?, ?, ?, ?, NULL, NULL)`,
			c.ID, c.NodeID, c.ReplyTo, c.CallID, c.Kind, actions, ms(c.CreatedAt)); err != nil {
			return err
		}
		return d.notify(ctx, tx, channel, payload)
	})
}

// GetNodeCommand returns the command id.
func (d *DB) GetNodeCommand(ctx context.Context, id string) (*NodeCommand, error) {
	return getOne(ctx, d, "node command", scanNodeCommand, `SELECT `+nodeCommandCols+` FROM node_commands WHERE id = ?`, id)
}

// PendingNodeCommands returns node's unanswered commands created at or after
// since, oldest first: what a node missed while its listener reconnected.
func (d *DB) PendingNodeCommands(ctx context.Context, node string, since time.Time) ([]*NodeCommand, error) {
	rows, err := d.query(ctx, `SELECT `+nodeCommandCols+` FROM node_commands WHERE node_id = ? AND done_at IS NULL
		AND created_at >= ? ORDER BY created_at, id`, node, ms(since))
	if err != nil {
		return nil, fmt.Errorf("pending node commands: %w", err)
	}
	return collect(rows, scanNodeCommand)
}

// FinishNodeCommand records the owner's answer to command id and NOTIFYs
// channel with payload (none when channel is empty: a sender withdrawing
// its command). It reports false if the command was answered already (the
// answer is written once).
func (d *DB) FinishNodeCommand(ctx context.Context, id string, ok bool, now time.Time, channel, payload string) (bool, error) {
	done := false
	err := d.tx(ctx, func(tx *sql.Tx) error {
		res, err := d.exec(ctx, tx, `UPDATE node_commands SET done_at = ?, ok = ? WHERE id = ? AND done_at IS NULL`, ms(now), ok, id)
		if err != nil {
			return fmt.Errorf("finish node command %s: %w", id, err)
		}
		if n, err := res.RowsAffected(); err != nil || n == 0 {
			return err
		}
		done = true
		return d.notify(ctx, tx, channel, payload)
	})
	return done, err
}

// PruneNodeCommands deletes commands created before before.
func (d *DB) PruneNodeCommands(ctx context.Context, before time.Time) (int, error) {
	res, err := d.exec(ctx, d.db, `DELETE FROM node_commands WHERE created_at < ?`, ms(before))
	if err != nil {
		return 0, fmt.Errorf("prune node commands: %w", err)
	}
	n, err := res.RowsAffected()
	return int(n), err
}

// notify sends a PostgreSQL notification (delivered when tx commits). The
// SQLite backend has no listeners, and nothing to tell: a no-op there, as
// for an empty channel (nobody to tell).
func (d *DB) notify(ctx context.Context, q queryer, channel, payload string) error {
	if d.dialect.Name != "postgres" || channel == "" {
		return nil
	}
	if _, err := q.ExecContext(ctx, `SELECT pg_notify($1, $2)`, channel, payload); err != nil {
		return fmt.Errorf("notify: %w", err)
	}
	return nil
}

// nodeCol is the node_id written into a new call: NULL without a node.
func (d *DB) nodeCol() any {
	if d.nodeID == "" {
		return nil
	}
	return d.nodeID
}

// RatesChannel is the NOTIFY channel on which a write to the rates tells
// every node to reload its in-memory rate index (PostgreSQL; one process on
// SQLite reloads its own).
const RatesChannel = "minivoice_rates"

// ratesWritten tells the other nodes that the rates changed, after err (the
// write's result) is nil. The write is done by then: a failed notification
// is returned but the nodes still see the change at their next reload.
func (d *DB) ratesWritten(ctx context.Context, err error) error {
	if err != nil {
		return err
	}
	return d.notify(ctx, d.db, RatesChannel, "")
}

// endedAlready reports whether the write of c must be skipped because it
// would end a call that has ended already: the first write that ends a call
// wins, and a second (a survivor closed the call of a node that was only cut
// off from the database, and that node's engine writes the real end later;
// or an API hang-up of a queued call racing the engine) writes nothing, so
// no call gets two call.completed events or two charges. The row is locked
// (PostgreSQL) so that two such writes take turns and the second sees the
// first. Writes that do not end a call are never skipped.
func (d *DB) endedAlready(ctx context.Context, tx *sql.Tx, c *voice.Call) (bool, error) {
	if !voice.CallEnded(c.Status) {
		return false, nil
	}
	query := `SELECT status FROM calls WHERE id = ?`
	if d.dialect.Numbered {
		query += ` FOR UPDATE`
	}
	var status string
	err := d.txRow(ctx, tx, query, c.ID).Scan(&status)
	if errors.Is(err, sql.ErrNoRows) {
		return false, nil // updateCall reports the missing call
	}
	if err != nil {
		return false, fmt.Errorf("call %s: %w", c.ID, err)
	}
	return voice.CallEnded(status), nil
}
