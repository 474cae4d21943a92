package cli_test

import (
	"context"
	"path/filepath"
	"strings"
	"testing"

	"github.com/minivoice/minivoice/internal/store/sqlite"
)

// TestServeRefusesNewerSchema: serve on a data directory whose database a
// newer release migrated exits 1 and names both versions and this release.
func TestServeRefusesNewerSchema(t *testing.T) {
	ctx := context.Background()
	data := t.TempDir()
	db, err := sqlite.Open(ctx, sqlite.Config{Path: filepath.Join(data, "minivoice.db")})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := db.SQL().ExecContext(ctx, `INSERT INTO schema_migrations (version, applied_at) VALUES (9999, 0)`); err != nil {
		t.Fatal(err)
	}
	db.Close()
	code, _, stderr := run(t, "serve", "--data", data, "--http", "127.0.0.1:0", "--sip", "127.0.0.1:0")
	if code != 1 {
		t.Fatalf("exit %d, want 1; stderr %q", code, stderr)
	}
	for _, want := range []string{"this is minivoice dev", "schema version 9999", "migrations up to"} {
		if !strings.Contains(stderr, want) {
			t.Errorf("stderr %q does not say %q", stderr, want)
		}
	}
}
