// Package store implements voice.Store in SQL for both backends. The SQL is
// written once, in the subset SQLite and PostgreSQL share, with "?" placeholders
// that the PostgreSQL dialect rewrites; store/sqlite and store/postgres open the
// connection and pick the dialect.
package store

import (
	"context"
	"database/sql"
	"embed"
	"errors"
	"fmt"
	"io/fs"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/minivoice/minivoice/internal/secretbox"
	"github.com/minivoice/minivoice/internal/voice"
)

//go:embed migrations/*.sql
var migrations embed.FS

// Dialect is what differs between the backends.
type Dialect struct {
	// Name is "sqlite" or "postgres".
	Name string
	// Numbered placeholders ($1, $2, ...) instead of "?".
	Numbered bool
	// IsUniqueViolation reports whether err is a unique-constraint failure.
	IsUniqueViolation func(err error) bool
}

// Config configures a DB.
type Config struct {
	DB      *sql.DB
	Dialect Dialect
	// Now is the clock; tests replace it. Default time.Now.
	Now func() time.Time
	// Secrets encrypts the secrets stored in rows (trunk passwords, webhook
	// secrets, kept idempotent responses). Nil stores them as given, which
	// only tests that open a bare store do; a sealed value then cannot be read.
	Secrets *secretbox.Keyring
	// NodeID is written into the calls this store creates: the cluster node
	// (a serve process on PostgreSQL) that holds them. Empty on SQLite.
	NodeID string
}

// DB is the SQL implementation of voice.Store.
type DB struct {
	db      *sql.DB
	dialect Dialect
	now     func() time.Time
	queries sync.Map // query text -> rebound text
	stmts   sync.Map // rebound text -> *sql.Stmt
	nstmts  atomic.Int32
	outbox  atomic.Pointer[EventOutbox]
	// insightsOutbox queues pipeline steps (SetInsightsOutbox).
	insightsOutbox atomic.Pointer[InsightsOutbox]
	// txMu serializes this process's writes on SQLite (transactions and
	// statements run alone through exec), since it has one writer at a time: waiting here is a queue, where contending
	// for SQLite's lock is a busy loop of sleeps (1, 2, 5, 10 ms ...) during
	// which the lock may sit free.
	txMu sync.Mutex
	// group queues the writes of groupTx for the next transaction (SQLite).
	group writeGroup
	// secrets seals and opens secret columns (secrets.go); nil: plain text.
	secrets *secretbox.Keyring
	// nodeID is Config.NodeID.
	nodeID string
}

// maxStmts bounds the prepared-statement cache; list queries vary with their
// filters, but only in a few hundred combinations.
const maxStmts = 512

// prepared returns a cached prepared statement for query (already rebound).
// SQLite would otherwise parse and plan every query on every request, which
// profiles showed as a third of a GET's CPU; database/sql re-prepares it on
// each pooled connection as needed. Past maxStmts it returns nil and callers
// run the text directly.
func (d *DB) prepared(ctx context.Context, query string) (*sql.Stmt, error) {
	if v, ok := d.stmts.Load(query); ok {
		return v.(*sql.Stmt), nil
	}
	if d.nstmts.Load() >= maxStmts {
		return nil, nil
	}
	st, err := d.db.PrepareContext(ctx, query)
	if err != nil {
		return nil, err
	}
	if prev, loaded := d.stmts.LoadOrStore(query, st); loaded {
		st.Close()
		return prev.(*sql.Stmt), nil
	}
	d.nstmts.Add(1)
	return st, nil
}

// queryRow runs a single-row query through the statement cache.
func (d *DB) queryRow(ctx context.Context, query string, args ...any) *sql.Row {
	q := d.q(query)
	if st, err := d.prepared(ctx, q); err == nil && st != nil {
		return st.QueryRowContext(ctx, args...)
	}
	return d.db.QueryRowContext(ctx, q, args...)
}

// query runs a query through the statement cache.
func (d *DB) query(ctx context.Context, query string, args ...any) (*sql.Rows, error) {
	q := d.q(query)
	if st, err := d.prepared(ctx, q); err == nil && st != nil {
		return st.QueryContext(ctx, args...)
	}
	return d.db.QueryContext(ctx, q, args...)
}

// exec runs a statement on q: through the statement cache when q is the
// database itself, directly inside a transaction.
func (d *DB) exec(ctx context.Context, q queryer, query string, args ...any) (sql.Result, error) {
	text := d.q(query)
	if q == queryer(d.db) {
		if !d.dialect.Numbered { // SQLite: a write outside a transaction queues with them
			d.txMu.Lock()
			defer d.txMu.Unlock()
		}
		if st, err := d.prepared(ctx, text); err == nil && st != nil {
			return st.ExecContext(ctx, args...)
		}
	}
	if tx, ok := q.(*sql.Tx); ok {
		if st := d.txStmt(ctx, tx, text); st != nil {
			return st.ExecContext(ctx, args...)
		}
	}
	return q.ExecContext(ctx, text, args...)
}

// txStmt returns the cached statement for text (already rebound) bound to
// tx, or nil to run the text. Only on SQLite: it parses and plans every
// statement given as text, which inside the transactions of a call's
// admission and end was 9 % of the server's CPU at 300 inbound calls a
// second (docs/benchmarks.md); database/sql reuses the statement already
// prepared on the transaction's connection. PostgreSQL's driver keeps its
// own per-connection statement cache, and preparing through the pool from
// inside a transaction could wait for a connection other transactions
// hold, so it runs the text.
func (d *DB) txStmt(ctx context.Context, tx *sql.Tx, text string) *sql.Stmt {
	if d.dialect.Numbered {
		return nil
	}
	st, err := d.prepared(ctx, text)
	if err != nil || st == nil {
		return nil
	}
	return tx.StmtContext(ctx, st)
}

// txRow runs a single-row query in tx, through the statement cache on
// SQLite (txStmt).
func (d *DB) txRow(ctx context.Context, tx *sql.Tx, query string, args ...any) *sql.Row {
	text := d.q(query)
	if st := d.txStmt(ctx, tx, text); st != nil {
		return st.QueryRowContext(ctx, args...)
	}
	return tx.QueryRowContext(ctx, text, args...)
}

// txQuery runs a query in tx, through the statement cache on SQLite
// (txStmt).
func (d *DB) txQuery(ctx context.Context, tx *sql.Tx, query string, args ...any) (*sql.Rows, error) {
	text := d.q(query)
	if st := d.txStmt(ctx, tx, text); st != nil {
		return st.QueryContext(ctx, args...)
	}
	return tx.QueryContext(ctx, text, args...)
}

var _ voice.Store = (*DB)(nil)

// New wraps an open database and brings its schema up to date.
func New(ctx context.Context, cfg Config) (*DB, error) {
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	d := &DB{db: cfg.DB, dialect: cfg.Dialect, now: cfg.Now, secrets: cfg.Secrets, nodeID: cfg.NodeID}
	if err := d.migrate(ctx); err != nil {
		return nil, err
	}
	return d, nil
}

// SQL returns the underlying handle, for the job queue sharing the database.
func (d *DB) SQL() *sql.DB { return d.db }

// Dialect returns the backend's dialect.
func (d *DB) Dialect() Dialect { return d.dialect }

// Ping checks the database answers.
func (d *DB) Ping(ctx context.Context) error { return d.db.PingContext(ctx) }

// Close closes the cached statements and the database.
func (d *DB) Close() error {
	d.stmts.Range(func(_, v any) bool {
		v.(*sql.Stmt).Close()
		return true
	})
	return d.db.Close()
}

// migrate applies the embedded migrations not yet recorded in schema_migrations,
// each in its own transaction. Several processes sharing a PostgreSQL database
// may start at once; the primary key on version makes the loser's insert fail
// and its transaction roll back, and it retries once to pick up the result.
// (PostgreSQL makes a loser's CREATE TABLE wait for the winner's commit and
// then fail, even with IF NOT EXISTS, so every step gets the one retry.)
func (d *DB) migrate(ctx context.Context) error {
	err := retryOnce(func() error {
		_, err := d.db.ExecContext(ctx, `CREATE TABLE IF NOT EXISTS schema_migrations (version INTEGER PRIMARY KEY, applied_at BIGINT NOT NULL)`)
		return err
	})
	if err != nil {
		return fmt.Errorf("create schema_migrations: %w", err)
	}
	names, err := fs.Glob(migrations, "migrations/*.sql")
	if err != nil {
		return fmt.Errorf("list migrations: %w", err)
	}
	sort.Strings(names)
	if err := d.checkNotNewer(ctx, names); err != nil {
		return err
	}
	seen := map[int]string{}
	for _, name := range names {
		base := strings.TrimPrefix(name, "migrations/")
		version, err := strconv.Atoi(strings.SplitN(base, "_", 2)[0])
		if err != nil {
			return fmt.Errorf("migration %s: name must start with a number: %w", base, err)
		}
		// Two files with one number would apply only the first: refuse it
		// loudly rather than skip a schema change.
		if prev, dup := seen[version]; dup {
			return fmt.Errorf("migrations %s and %s share version %d: renumber one", prev, base, version)
		}
		seen[version] = base
		body, err := migrations.ReadFile(name)
		if err != nil {
			return fmt.Errorf("read migration %s: %w", base, err)
		}
		if err := retryOnce(func() error { return d.applyMigration(ctx, version, string(body)) }); err != nil {
			return fmt.Errorf("migration %s: %w", base, err)
		}
	}
	return nil
}

// ErrSchemaNewer is returned by New for a database that has a migration
// this binary does not know: a newer release wrote it. Migrations are
// forward-only, so running an older binary on it could misread or damage
// data; the only way back is the backup taken before the upgrade.
var ErrSchemaNewer = errors.New("database schema is newer than this binary")

// checkNotNewer refuses a database with a recorded migration that is not
// among the embedded ones (names), naming the database's newest migration
// and this binary's.
func (d *DB) checkNotNewer(ctx context.Context, names []string) error {
	known := map[int]bool{}
	newestKnown := 0
	for _, name := range names {
		v, err := strconv.Atoi(strings.SplitN(strings.TrimPrefix(name, "migrations/"), "_", 2)[0])
		if err != nil {
			continue // reported by migrate's own loop
		}
		known[v] = true
		newestKnown = max(newestKnown, v)
	}
	rows, err := d.db.QueryContext(ctx, `SELECT version FROM schema_migrations ORDER BY version`)
	if err != nil {
		return fmt.Errorf("read schema_migrations: %w", err)
	}
	defer rows.Close()
	var unknown []string
	newestApplied := 0
	for rows.Next() {
		var v int
		if err := rows.Scan(&v); err != nil {
			return fmt.Errorf("read schema_migrations: %w", err)
		}
		newestApplied = max(newestApplied, v)
		if !known[v] {
			unknown = append(unknown, fmt.Sprintf("%04d", v))
		}
	}
	if err := rows.Err(); err != nil {
		return fmt.Errorf("read schema_migrations: %w", err)
	}
	if len(unknown) > 0 {
		return fmt.Errorf("%w: the database is at schema version %04d (it has migration %s), this binary knows migrations up to %04d; "+
			"a newer minivoice has upgraded it: run that release or a later one (downgrades are not supported; "+
			"to go back, restore the backup taken before the upgrade)", ErrSchemaNewer, newestApplied, strings.Join(unknown, ", "), newestKnown)
	}
	return nil
}

// retryOnce runs fn again if it fails: a concurrent migrator that won the
// race has committed by then, so the retry sees its result.
func retryOnce(fn func() error) error {
	if err := fn(); err == nil {
		return nil
	}
	return fn()
}

func (d *DB) applyMigration(ctx context.Context, version int, body string) error {
	return d.tx(ctx, func(tx *sql.Tx) error {
		if d.dialect.Name == "postgres" {
			// Nodes starting together on one database: one migrates at a
			// time (the lock ends with the transaction), the others then
			// find the version recorded and skip it.
			if _, err := tx.ExecContext(ctx, `SELECT pg_advisory_xact_lock(7365716)`); err != nil {
				return fmt.Errorf("migration lock: %w", err)
			}
		}
		var n int
		if err := tx.QueryRowContext(ctx, d.q(`SELECT COUNT(*) FROM schema_migrations WHERE version = ?`), version).Scan(&n); err != nil {
			return err
		}
		if n > 0 {
			return nil
		}
		for _, stmt := range splitStatements(body) {
			if _, err := tx.ExecContext(ctx, stmt); err != nil {
				return fmt.Errorf("%w\n%s", err, stmt)
			}
		}
		_, err := tx.ExecContext(ctx, d.q(`INSERT INTO schema_migrations (version, applied_at) VALUES (?, ?)`), version, d.now().UnixMilli())
		return err
	})
}

// splitStatements splits a migration on ";" at line ends, dropping comments.
func splitStatements(body string) []string {
	var out []string
	var cur strings.Builder
	for _, line := range strings.Split(body, "\n") {
		t := strings.TrimSpace(line)
		if t == "" || strings.HasPrefix(t, "--") {
			continue
		}
		cur.WriteString(line)
		cur.WriteString("\n")
		if strings.HasSuffix(t, ";") {
			out = append(out, strings.TrimSuffix(strings.TrimSpace(cur.String()), ";"))
			cur.Reset()
		}
	}
	if s := strings.TrimSpace(cur.String()); s != "" {
		out = append(out, s)
	}
	return out
}

// q rewrites "?" placeholders for the dialect, caching the result.
func (d *DB) q(query string) string {
	if !d.dialect.Numbered {
		return query
	}
	if v, ok := d.queries.Load(query); ok {
		return v.(string)
	}
	var b strings.Builder
	n := 0
	for i := 0; i < len(query); i++ {
		if query[i] == '?' {
			n++
			b.WriteString("$" + strconv.Itoa(n))
			continue
		}
		b.WriteByte(query[i])
	}
	d.queries.Store(query, b.String())
	return b.String()
}

// queryer is what *sql.DB and *sql.Tx share.
type queryer interface {
	ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error)
	QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error)
	QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row
}

// tx runs fn in a transaction, committing if it returns nil.
func (d *DB) tx(ctx context.Context, fn func(tx *sql.Tx) error) error {
	if !d.dialect.Numbered { // SQLite
		d.txMu.Lock()
		defer d.txMu.Unlock()
	}
	return d.runTx(ctx, fn)
}

// runTx runs fn in a transaction of its own, committing if it returns nil.
// On SQLite callers hold txMu.
func (d *DB) runTx(ctx context.Context, fn func(tx *sql.Tx) error) error {
	tx, err := d.db.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("begin: %w", err)
	}
	if err := fn(tx); err != nil {
		_ = tx.Rollback()
		return err
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("commit: %w", err)
	}
	return nil
}

// exec runs a statement that must affect a row; none affected is not_found.
func (d *DB) execOne(ctx context.Context, q queryer, kind, query string, args ...any) error {
	res, err := d.exec(ctx, q, query, args...)
	if err != nil {
		if d.dialect.IsUniqueViolation != nil && d.dialect.IsUniqueViolation(err) {
			return voice.Errorf(voice.ECodeConflict, "%s already exists", kind)
		}
		return fmt.Errorf("%s: %w", kind, err)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return fmt.Errorf("%s: rows affected: %w", kind, err)
	}
	if n == 0 {
		return voice.NotFound(kind)
	}
	return nil
}

// insert runs an INSERT, turning unique violations into conflict errors.
func (d *DB) insert(ctx context.Context, q queryer, kind, query string, args ...any) error {
	if _, err := d.exec(ctx, q, query, args...); err != nil {
		if d.dialect.IsUniqueViolation != nil && d.dialect.IsUniqueViolation(err) {
			return voice.Errorf(voice.ECodeConflict, "%s already exists", kind)
		}
		return fmt.Errorf("insert %s: %w", kind, err)
	}
	return nil
}

// getOne scans one row, mapping no rows to not_found.
func getOne[T any](ctx context.Context, d *DB, kind string, scan func(rowScanner) (T, error), query string, args ...any) (T, error) {
	row := d.queryRow(ctx, query, args...)
	v, err := scan(row)
	if errors.Is(err, sql.ErrNoRows) {
		var zero T
		return zero, voice.NotFound(kind)
	}
	if err != nil {
		var zero T
		return zero, fmt.Errorf("get %s: %w", kind, err)
	}
	return v, nil
}

type rowScanner interface{ Scan(dest ...any) error }

// collect scans every row with scan and closes rows; the result is never nil,
// so an empty list encodes as [] rather than null.
func collect[T any](rows *sql.Rows, scan func(rowScanner) (T, error)) ([]T, error) {
	defer rows.Close()
	out := make([]T, 0)
	for rows.Next() {
		v, err := scan(rows)
		if err != nil {
			return nil, fmt.Errorf("scan: %w", err)
		}
		out = append(out, v)
	}
	return out, rows.Err()
}

// listQuery builds a newest-first keyset-paginated query.
type listQuery struct {
	where []string
	args  []any
}

func (l *listQuery) add(cond string, args ...any) {
	l.where = append(l.where, cond)
	l.args = append(l.args, args...)
}

// page runs "SELECT cols FROM table WHERE ... ORDER BY created_at DESC, id DESC".
func page[T any](ctx context.Context, d *DB, table, cols string, l listQuery, p voice.Page, scan func(rowScanner) (T, error), cursorOf func(T) voice.Cursor) (voice.List[T], error) {
	limit := p.Limit
	if limit <= 0 || limit > voice.MaxListLimit {
		limit = voice.DefaultListLimit
	}
	if p.After != nil {
		ms := p.After.CreatedAt.UnixMilli()
		l.add("(created_at < ? OR (created_at = ? AND id < ?))", ms, ms, p.After.ID)
	}
	query := "SELECT " + cols + " FROM " + table
	if len(l.where) > 0 {
		query += " WHERE " + strings.Join(l.where, " AND ")
	}
	query += " ORDER BY created_at DESC, id DESC LIMIT " + strconv.Itoa(limit+1)
	rows, err := d.query(ctx, query, l.args...)
	if err != nil {
		return voice.List[T]{}, fmt.Errorf("list %s: %w", table, err)
	}
	defer rows.Close()
	out := voice.List[T]{Data: []T{}}
	for rows.Next() {
		v, err := scan(rows)
		if err != nil {
			return voice.List[T]{}, fmt.Errorf("scan %s: %w", table, err)
		}
		out.Data = append(out.Data, v)
	}
	if err := rows.Err(); err != nil {
		return voice.List[T]{}, fmt.Errorf("list %s: %w", table, err)
	}
	if len(out.Data) > limit {
		out.Data = out.Data[:limit]
		out.HasMore = true
		out.NextCursor = cursorOf(out.Data[limit-1]).Encode()
	}
	return out, nil
}
