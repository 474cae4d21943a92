// Package storetest opens real databases for tests: a fresh SQLite file per
// test, and, when MINIVOICE_TEST_DATABASE_URL is set, a fresh PostgreSQL schema
// per test so tests run in parallel without seeing each other's rows.
package storetest

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	_ "github.com/jackc/pgx/v5/stdlib" // registers the "pgx" driver for schema set-up
	"github.com/minivoice/minivoice/internal/secretbox"
	"github.com/minivoice/minivoice/internal/store"
	"github.com/minivoice/minivoice/internal/store/postgres"
	"github.com/minivoice/minivoice/internal/store/sqlite"
)

// EnvDatabaseURL names the variable that turns on PostgreSQL tests.
const EnvDatabaseURL = "MINIVOICE_TEST_DATABASE_URL"

// Backends lists the backends to test: always sqlite, postgres when configured.
func Backends() []string {
	if os.Getenv(EnvDatabaseURL) != "" {
		return []string{"sqlite", "postgres"}
	}
	return []string{"sqlite"}
}

// Each runs fn as a parallel subtest per backend.
func Each(t *testing.T, fn func(t *testing.T, backend string)) {
	t.Helper()
	for _, b := range Backends() {
		t.Run(b, func(t *testing.T) {
			t.Parallel()
			fn(t, b)
		})
	}
}

// Keyring is the secret key of every store this package opens: random per
// test binary, so the secret columns are encrypted in tests as in production.
var Keyring = sync.OnceValue(func() *secretbox.Keyring {
	k, err := secretbox.NewKey()
	if err != nil {
		panic(err)
	}
	kr, err := secretbox.NewKeyring(k)
	if err != nil {
		panic(err)
	}
	return kr
})

// Open returns a migrated, empty store of the given backend, closed at the end
// of the test. On PostgreSQL the schema may be one an earlier test of the
// process used, emptied (pool.go).
func Open(t testing.TB, backend string, now func() time.Time) *store.DB {
	t.Helper()
	db, _ := OpenWithURL(t, backend, now)
	return db
}

// OpenWithURL is Open that also returns the PostgreSQL URL (with its
// search_path) so a second process can share the schema ("" for sqlite).
func OpenWithURL(t testing.TB, backend string, now func() time.Time) (*store.DB, string) {
	t.Helper()
	ctx := context.Background()
	switch backend {
	case "sqlite":
		db, err := sqlite.Open(ctx, sqlite.Config{Path: filepath.Join(t.TempDir(), "test.db"), Now: now, Secrets: Keyring()})
		if err != nil {
			t.Fatalf("open sqlite: %v", err)
		}
		t.Cleanup(func() { db.Close() })
		return db, ""
	case "postgres":
		u, migrated := pooledSchemaURL(t)
		db, err := postgres.Open(ctx, postgres.Config{URL: u, Now: now, MaxConns: 10, Secrets: Keyring()})
		if err != nil {
			t.Fatalf("open postgres: %v", err)
		}
		migrated()
		t.Cleanup(func() { db.Close() })
		return db, u
	}
	t.Fatalf("unknown backend %q", backend)
	return nil, ""
}

// SchemaURL creates a fresh schema in the test database, dropped after the
// test, and returns a URL whose search_path selects it.
func SchemaURL(t testing.TB) string {
	t.Helper()
	base := os.Getenv(EnvDatabaseURL)
	if base == "" {
		t.Skip(EnvDatabaseURL + " is not set")
	}
	var b [6]byte
	_, _ = rand.Read(b[:])
	schema := "t_" + hex.EncodeToString(b[:])
	admin, err := sql.Open("pgx", base)
	if err != nil {
		t.Fatalf("open postgres: %v", err)
	}
	defer admin.Close()
	if _, err := admin.Exec("CREATE SCHEMA " + schema); err != nil {
		t.Fatalf("create schema: %v", err)
	}
	t.Cleanup(func() {
		a, err := sql.Open("pgx", base)
		if err != nil {
			return
		}
		defer a.Close()
		_, _ = a.Exec("DROP SCHEMA " + schema + " CASCADE")
	})
	return schemaURL(t, base, schema)
}
