package storetest

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"errors"
	"fmt"
	"net/url"
	"os"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// Creating and migrating a PostgreSQL schema, then dropping it, costs the
// server close to a second of work per test, which made PostgreSQL most of
// the time of the packages testing the API and the store. Open therefore
// reuses the schemas of tests that have ended in the same test process:
// emptied (every row deleted, sequences restarted) they are what a fresh
// migrated schema is. A schema is reused only when nothing is connected to it
// any more (each test's connections carry the schema's name as their
// application_name) and its tables and columns are the ones it had when it
// was handed out; otherwise it is dropped as before. Schemas a test process
// left behind when it exited are dropped by the next test process that uses
// the pool. SchemaURL's schemas (empty, for tests of migrations or of a
// platform that migrates itself) are never pooled.

// poolPrefix starts the names of pooled schemas: "tp_<pid>_<random>".
const poolPrefix = "tp_"

// migrationTables keep their rows when a schema is emptied: they say which
// migrations the schema has had.
var migrationTables = map[string]bool{"schema_migrations": true, "river_migration": true}

var pool struct {
	mu    sync.Mutex
	admin *sql.DB
	swept bool
	free  []pooled
}

// pooled is an emptied schema ready for the next test.
type pooled struct {
	name  string
	shape string // the tables and columns it had when handed out
}

// adminDB returns the process's connection pool to the test database, for
// creating, emptying and dropping schemas; it stays open until the process
// exits. The caller holds pool.mu.
func adminDB(base string) (*sql.DB, error) {
	if pool.admin != nil {
		return pool.admin, nil
	}
	db, err := sql.Open("pgx", base)
	if err != nil {
		return nil, fmt.Errorf("open postgres: %w", err)
	}
	db.SetMaxOpenConns(4)
	db.SetMaxIdleConns(4)
	pool.admin = db
	return db, nil
}

// sweepDeadProcesses drops the pooled schemas of test processes that have
// exited. The caller holds pool.mu.
func sweepDeadProcesses(ctx context.Context, admin *sql.DB) {
	if pool.swept {
		return
	}
	pool.swept = true
	rows, err := admin.QueryContext(ctx, `SELECT nspname FROM pg_namespace WHERE nspname LIKE 'tp\_%'`)
	if err != nil {
		return
	}
	var dead []string
	for rows.Next() {
		var name string
		if rows.Scan(&name) != nil {
			continue
		}
		pidText, _, ok := strings.Cut(strings.TrimPrefix(name, poolPrefix), "_")
		pid, err := strconv.Atoi(pidText)
		if !ok || err != nil || pid == os.Getpid() {
			continue
		}
		// Signal 0 checks that the process exists without disturbing it.
		if err := syscall.Kill(pid, 0); errors.Is(err, syscall.ESRCH) {
			dead = append(dead, name)
		}
	}
	rows.Close()
	for _, name := range dead {
		_, _ = admin.ExecContext(ctx, "DROP SCHEMA IF EXISTS "+name+" CASCADE")
	}
}

// pooledSchemaURL returns the URL of an emptied schema from the pool, or of
// a new one, for OpenWithURL. migrated must be called once the store is
// open (its migrations applied), to record the schema's shape; the schema
// returns to the pool when the test ends.
func pooledSchemaURL(t testing.TB) (u string, migrated func()) {
	t.Helper()
	base := os.Getenv(EnvDatabaseURL)
	if base == "" {
		t.Skip(EnvDatabaseURL + " is not set")
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	pool.mu.Lock()
	admin, err := adminDB(base)
	if err != nil {
		pool.mu.Unlock()
		t.Fatal(err)
	}
	sweepDeadProcesses(ctx, admin)
	p := &pooled{}
	if n := len(pool.free); n > 0 {
		*p, pool.free = pool.free[n-1], pool.free[:n-1]
	}
	pool.mu.Unlock()
	if p.name == "" {
		var b [6]byte
		_, _ = rand.Read(b[:])
		p.name = poolPrefix + strconv.Itoa(os.Getpid()) + "_" + hex.EncodeToString(b[:])
		if _, err := admin.ExecContext(ctx, "CREATE SCHEMA "+p.name); err != nil {
			t.Fatalf("create schema: %v", err)
		}
	}
	// Registered before the caller's db.Close, so it runs after it.
	t.Cleanup(func() { release(admin, *p) })
	return schemaURL(t, base, p.name), func() {
		if p.shape == "" {
			p.shape, _ = schemaShape(context.Background(), admin, p.name)
		}
	}
}

// schemaShape lists a schema's tables and columns, to tell a schema a test
// altered from one it only wrote rows to.
func schemaShape(ctx context.Context, admin *sql.DB, schema string) (string, error) {
	var shape sql.NullString
	err := admin.QueryRowContext(ctx, `SELECT string_agg(table_name || '.' || column_name || ':' || data_type, ',' ORDER BY table_name, column_name)
		FROM information_schema.columns WHERE table_schema = $1`, schema).Scan(&shape)
	return shape.String, err
}

// release empties a schema and returns it to the pool, or drops it when it
// is still in use or was altered.
func release(admin *sql.DB, p pooled) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := empty(ctx, admin, p); err != nil {
		_, _ = admin.ExecContext(ctx, "DROP SCHEMA IF EXISTS "+p.name+" CASCADE")
		return
	}
	pool.mu.Lock()
	pool.free = append(pool.free, p)
	pool.mu.Unlock()
}

// empty deletes every row of the schema but the migrations' records and
// restarts its sequences, in one transaction, after checking that nothing
// is connected to it and that its shape is the one it was handed out with.
func empty(ctx context.Context, admin *sql.DB, p pooled) error {
	if p.shape == "" {
		return errors.New("never migrated")
	}
	var conns int
	if err := admin.QueryRowContext(ctx, `SELECT count(*) FROM pg_stat_activity WHERE application_name = $1`, p.name).Scan(&conns); err != nil {
		return err
	}
	if conns > 0 {
		return fmt.Errorf("%d connections still open", conns)
	}
	if shape, err := schemaShape(ctx, admin, p.name); err != nil || shape != p.shape {
		return fmt.Errorf("schema altered: %w", err)
	}
	tx, err := admin.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	defer func() { _ = tx.Rollback() }()
	// Rows go in any order: foreign keys are not checked for this
	// transaction (which needs a superuser, as the test database's owner
	// usually is; otherwise the schema is dropped).
	if _, err := tx.ExecContext(ctx, `SET LOCAL session_replication_role = replica`); err != nil {
		return err
	}
	var tables, sequences []string
	rows, err := tx.QueryContext(ctx, `SELECT tablename FROM pg_tables WHERE schemaname = $1`, p.name)
	if err != nil {
		return err
	}
	for rows.Next() {
		var name string
		if err := rows.Scan(&name); err != nil {
			rows.Close()
			return err
		}
		if !migrationTables[name] {
			tables = append(tables, name)
		}
	}
	rows.Close()
	rows, err = tx.QueryContext(ctx, `SELECT sequencename FROM pg_sequences WHERE schemaname = $1`, p.name)
	if err != nil {
		return err
	}
	for rows.Next() {
		var name string
		if err := rows.Scan(&name); err != nil {
			rows.Close()
			return err
		}
		sequences = append(sequences, name)
	}
	rows.Close()
	for _, name := range tables {
		if _, err := tx.ExecContext(ctx, "DELETE FROM "+quoteIdent(p.name)+"."+quoteIdent(name)); err != nil {
			return err
		}
	}
	for _, name := range sequences {
		if _, err := tx.ExecContext(ctx, "ALTER SEQUENCE "+quoteIdent(p.name)+"."+quoteIdent(name)+" RESTART"); err != nil {
			return err
		}
	}
	return tx.Commit()
}

// quoteIdent quotes a PostgreSQL identifier.
func quoteIdent(s string) string {
	return `"` + strings.ReplaceAll(s, `"`, `""`) + `"`
}

// schemaURL is base with its search_path set to schema and the test
// connection settings SchemaURL describes.
func schemaURL(t testing.TB, base, schema string) string {
	t.Helper()
	u, err := url.Parse(base)
	if err != nil {
		t.Fatalf("parse %s: %v", EnvDatabaseURL, err)
	}
	q := u.Query()
	q.Set("search_path", schema)
	// A test's rows need not survive a crash of the server: commits that do
	// not wait for the WAL to reach the disk make the migrations every test
	// runs (and every write after) cheaper. Both drivers pass these
	// parameters to the server.
	if q.Get("synchronous_commit") == "" {
		q.Set("synchronous_commit", "off")
	}
	// The schema's name marks its connections, so the pool can tell when
	// nothing uses it any more.
	q.Set("application_name", schema)
	u.RawQuery = q.Encode()
	return u.String()
}
