package store_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/minivoice/minivoice/internal/store"
	"github.com/minivoice/minivoice/internal/store/postgres"
	"github.com/minivoice/minivoice/internal/store/sqlite"
	"github.com/minivoice/minivoice/internal/store/storetest"
)

// newestMigration is the highest migration number in migrations/, the one
// the refusal must name as this binary's.
func newestMigration(t *testing.T) string {
	t.Helper()
	entries, err := os.ReadDir("migrations")
	if err != nil {
		t.Fatal(err)
	}
	newest := ""
	for _, e := range entries {
		if v, _, ok := strings.Cut(e.Name(), "_"); ok && v > newest {
			newest = v
		}
	}
	return newest
}

// checkRefusal: err is ErrSchemaNewer and names the database's version
// (the unknown migration 9999) and the binary's newest.
func checkRefusal(t *testing.T, err error) {
	t.Helper()
	if !errors.Is(err, store.ErrSchemaNewer) {
		t.Fatalf("opening a database with an unknown migration: %v, want ErrSchemaNewer", err)
	}
	for _, want := range []string{"schema version 9999", "migrations up to " + newestMigration(t), "downgrades are not supported"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("refusal %q does not say %q", err, want)
		}
	}
}

// TestSchemaNewerRefusedSQLite: a database a newer release migrated (it
// records a migration this binary lacks) is refused at open, with nothing
// applied to it; a database at this binary's version still opens.
func TestSchemaNewerRefusedSQLite(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "minivoice.db")
	db, err := sqlite.Open(ctx, sqlite.Config{Path: path, Now: fixedClock})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := db.SQL().ExecContext(ctx, `INSERT INTO schema_migrations (version, applied_at) VALUES (9999, 0)`); err != nil {
		t.Fatal(err)
	}
	before := migrationCount(t, db)
	db.Close()
	db, err = sqlite.Open(ctx, sqlite.Config{Path: path, Now: fixedClock})
	if err == nil {
		db.Close()
	}
	checkRefusal(t, err)

	// Back at this binary's version (the newer migration undone by hand),
	// it opens again and nothing was lost or re-applied.
	raw, err := sqlite.Open(ctx, sqlite.Config{Path: filepath.Join(t.TempDir(), "other.db"), Now: fixedClock})
	if err != nil {
		t.Fatal(err)
	}
	defer raw.Close()
	if _, err := raw.SQL().ExecContext(ctx, fmt.Sprintf(`ATTACH DATABASE '%s' AS old`, path)); err != nil {
		t.Fatal(err)
	}
	if _, err := raw.SQL().ExecContext(ctx, `DELETE FROM old.schema_migrations WHERE version = 9999`); err != nil {
		t.Fatal(err)
	}
	if _, err := raw.SQL().ExecContext(ctx, `DETACH DATABASE old`); err != nil {
		t.Fatal(err)
	}
	db, err = sqlite.Open(ctx, sqlite.Config{Path: path, Now: fixedClock})
	if err != nil {
		t.Fatalf("reopen at this version: %v", err)
	}
	defer db.Close()
	if n := migrationCount(t, db); n != before-1 {
		t.Errorf("%d migrations recorded after reopening, want %d", n, before-1)
	}
}

// TestSchemaNewerRefusedPostgres: the same on PostgreSQL, where every node
// of a cluster runs the check at start.
func TestSchemaNewerRefusedPostgres(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	db, url := storetest.OpenWithURL(t, "postgres", fixedClock)
	if _, err := db.SQL().ExecContext(ctx, `INSERT INTO schema_migrations (version, applied_at) VALUES (9999, 0)`); err != nil {
		t.Fatal(err)
	}
	// storetest hands this schema to the next test once this one ends
	// (migration tables are kept): take the foreign version out first.
	t.Cleanup(func() {
		if _, err := db.SQL().ExecContext(context.Background(), `DELETE FROM schema_migrations WHERE version = 9999`); err != nil {
			t.Error(err)
		}
	})
	db2, err := postgres.Open(ctx, postgres.Config{URL: url, Now: fixedClock, MaxConns: 2})
	if err == nil {
		db2.Close()
	}
	checkRefusal(t, err)
}
