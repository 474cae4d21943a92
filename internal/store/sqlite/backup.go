package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io/fs"
	"net/url"
	"os"
	"strings"
)

// Backup writes a consistent copy of the database at src, which a running
// `minivoice serve` may be writing, to the new file dst, and returns the
// copy's schema version (its newest migration). It is SQLite's VACUUM
// INTO: one read transaction over the live database (WAL mode lets the
// server keep writing meanwhile), so the copy holds exactly the
// transactions committed when it began, compacted. The copy is then
// checked with PRAGMA integrity_check. src is opened without migrating: a
// backup never changes the database it copies.
func Backup(ctx context.Context, src, dst string) (schemaVersion int, err error) {
	if _, err := os.Stat(src); err != nil {
		return 0, fmt.Errorf("backup: %w", err)
	}
	if _, err := os.Stat(dst); !errors.Is(err, fs.ErrNotExist) {
		return 0, fmt.Errorf("backup: %s already exists", dst)
	}
	q := url.Values{}
	q.Add("_pragma", "busy_timeout(10000)")
	db, err := sql.Open("sqlite", "file:"+src+"?"+q.Encode())
	if err != nil {
		return 0, fmt.Errorf("backup: open %s: %w", src, err)
	}
	defer db.Close()
	// VACUUM INTO takes a file name as a string literal, not a parameter.
	if _, err := db.ExecContext(ctx, `VACUUM INTO '`+strings.ReplaceAll(dst, "'", "''")+`'`); err != nil {
		return 0, fmt.Errorf("backup: VACUUM INTO %s: %w", dst, err)
	}
	if err := os.Chmod(dst, 0o600); err != nil {
		return 0, fmt.Errorf("backup: %w", err)
	}
	return Check(ctx, dst)
}

// Check runs PRAGMA integrity_check on the database file at path, without
// migrating it, and returns its schema version.
func Check(ctx context.Context, path string) (schemaVersion int, err error) {
	db, err := sql.Open("sqlite", "file:"+path+"?mode=ro")
	if err != nil {
		return 0, fmt.Errorf("check %s: %w", path, err)
	}
	defer db.Close()
	var result string
	if err := db.QueryRowContext(ctx, `PRAGMA integrity_check`).Scan(&result); err != nil {
		return 0, fmt.Errorf("check %s: %w", path, err)
	}
	if result != "ok" {
		return 0, fmt.Errorf("check %s: integrity_check: %s", path, result)
	}
	if err := db.QueryRowContext(ctx, `SELECT COALESCE(MAX(version), 0) FROM schema_migrations`).Scan(&schemaVersion); err != nil {
		return 0, fmt.Errorf("check %s: schema version: %w", path, err)
	}
	return schemaVersion, nil
}
