package store

import (
	"context"
	"database/sql"
	"fmt"
	"sync"
	"sync/atomic"
)

// Group commit (SQLite). A call makes five writes (admission, record,
// answer, extension, end), each one transaction, and SQLite has one writer:
// at a few hundred calls a second the writer was the node's limit, and most
// of each transaction's cost was its commit, which writes every page it
// touched (the calls table and its seven indexes, the events table and its
// five, the customer, the reservation) to the WAL even when the transaction
// before it wrote the same pages a moment earlier. groupTx lets the writes
// that queue while one transaction runs share the next: one BEGIN, each
// write in its own savepoint, one commit. A write that fails rolls back to
// its savepoint alone, and under light load a group is one write, run as
// before. PostgreSQL runs every write in its own transaction (groupTx is tx
// there): its writers do not wait for one another unless they touch the
// same rows.

// maxGroup bounds the writes one transaction takes: the transaction holds
// the writer, and every write in it waits for its commit.
const maxGroup = 64

// writeGroup is the queue of writes waiting for the writer.
type writeGroup struct {
	mu    sync.Mutex
	queue []*groupWrite
	// commits and writes count the transactions groupTx ran and the
	// writes in them (GroupStats).
	commits, writes atomic.Int64
}

// GroupStats reports how many transactions groupTx's writes ran in, and
// how many writes they were (SQLite; both 0 on PostgreSQL).
func (d *DB) GroupStats() (transactions, writes int64) {
	return d.group.commits.Load(), d.group.writes.Load()
}

// groupWrite is one caller's write in a group. err and done are set by the
// goroutine that runs it, which holds DB.txMu, and read by its caller once
// it holds txMu in turn.
type groupWrite struct {
	ctx  context.Context
	fn   func(tx *sql.Tx) error
	err  error
	done bool
	// panicked is what fn panicked with, if it did (call).
	panicked any
}

// groupTx runs fn in a transaction, as tx does, but on SQLite shares the
// transaction with the other groupTx writes queued when it starts (see the
// top of this file). fn runs in a savepoint: its writes are committed
// together, or none of them, as in a transaction of its own, and it sees the
// writes of the group that ran before it, as it would have seen them
// committed. fn may be run a second time, in a transaction of its own, when
// another write's failure ends the group's transaction under it (an
// interrupted statement or an I/O error rolls back the whole transaction);
// so fn must set everything it reports afresh on each run.
func (d *DB) groupTx(ctx context.Context, fn func(tx *sql.Tx) error) error {
	if d.dialect.Numbered {
		return d.tx(ctx, fn)
	}
	w := &groupWrite{ctx: ctx, fn: fn}
	d.group.mu.Lock()
	d.group.queue = append(d.group.queue, w)
	d.group.mu.Unlock()
	d.txMu.Lock()
	defer d.txMu.Unlock()
	// The goroutine that held the writer before may have run w already;
	// otherwise run what is queued, w among it (it may take more than one
	// group when more than maxGroup were queued ahead of it).
	for !w.done {
		d.group.mu.Lock()
		n := min(len(d.group.queue), maxGroup)
		batch := d.group.queue[:n:n]
		d.group.queue = d.group.queue[n:]
		if len(d.group.queue) == 0 {
			d.group.queue = nil // let the backing array go
		}
		d.group.mu.Unlock()
		d.runGroup(batch)
	}
	if w.panicked != nil {
		panic(w.panicked) // in its own caller, not in the one that ran it
	}
	return w.err
}

// call runs w's fn in tx. A panic (a bug) becomes w's error, so that the
// goroutine running the group carries on with the other writes and rolls
// back only w's; groupTx raises it again in w's own caller.
func (w *groupWrite) call(tx *sql.Tx) (err error) {
	defer func() {
		if p := recover(); p != nil {
			w.panicked = p
			err = fmt.Errorf("store: the write panicked: %v", p)
		}
	}()
	return w.fn(tx)
}

// runGroup runs batch in one transaction. Callers hold txMu.
func (d *DB) runGroup(batch []*groupWrite) {
	d.group.commits.Add(1)
	d.group.writes.Add(int64(len(batch)))
	if len(batch) == 1 {
		w := batch[0]
		w.err, w.done = d.runTx(w.ctx, w.call), true
		return
	}
	// The transaction is the group's, not one caller's: a caller's context
	// ends only its own write (its statements run with it).
	ctx := context.Background()
	tx, err := d.db.BeginTx(ctx, nil)
	if err != nil {
		for _, w := range batch {
			w.err, w.done = fmt.Errorf("begin: %w", err), true
		}
		return
	}
	var ran []*groupWrite // written in tx, waiting for the commit
	for i, w := range batch {
		if err := w.ctx.Err(); err != nil {
			w.err, w.done = err, true
			continue
		}
		if _, err := d.exec(ctx, tx, `SAVEPOINT group_write`); err != nil {
			d.abandonGroup(tx, append(ran, batch[i:]...))
			return
		}
		if err := w.call(tx); err != nil {
			w.err = err
			if _, rerr := d.exec(ctx, tx, `ROLLBACK TO group_write`); rerr != nil {
				// SQLite rolled the whole transaction back (an interrupted
				// statement, an I/O error): w's error stands, and the rest run
				// alone.
				w.done = true
				d.abandonGroup(tx, append(ran, batch[i+1:]...))
				return
			}
		}
		if _, err := d.exec(ctx, tx, `RELEASE group_write`); err != nil {
			if w.err != nil {
				w.done = true
				d.abandonGroup(tx, append(ran, batch[i+1:]...))
			} else {
				d.abandonGroup(tx, append(ran, batch[i:]...))
			}
			return
		}
		if w.err != nil {
			w.done = true
			continue
		}
		ran = append(ran, w)
	}
	err = tx.Commit()
	if err != nil {
		err = fmt.Errorf("commit: %w", err)
	}
	for _, w := range ran {
		w.err, w.done = err, true
	}
}

// abandonGroup rolls back a group's broken transaction and runs each of
// rest in a transaction of its own. Callers hold txMu.
func (d *DB) abandonGroup(tx *sql.Tx, rest []*groupWrite) {
	_ = tx.Rollback()
	for _, w := range rest {
		w.err, w.done = d.runTx(w.ctx, w.call), true
	}
}
