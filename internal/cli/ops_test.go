package cli_test

import (
	"context"
	"os"
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

// TestBackupRestoreRoundTrip: backup copies the database, recordings and
// keys of a data directory with a MANIFEST; restore checks it and refuses a
// non-empty target, a damaged backup and PostgreSQL deployments.
func TestBackupRestoreRoundTrip(t *testing.T) {
	ctx := context.Background()
	data := t.TempDir()
	db, err := sqlite.Open(ctx, sqlite.Config{Path: filepath.Join(data, "minivoice.db")})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := db.SQL().ExecContext(ctx, `CREATE TABLE backup_probe (v TEXT)`); err != nil {
		t.Fatal(err)
	}
	if _, err := db.SQL().ExecContext(ctx, `INSERT INTO backup_probe VALUES ('kept')`); err != nil {
		t.Fatal(err)
	}
	// Still open, as under a running serve.
	defer db.Close()
	files := map[string]string{
		"admin.key":                       "mvk_op_backup_test_key_000000",
		"secret.key":                      "c2VjcmV0\n",
		"recordings/cust_1/rec_1.wav":     "RIFF....WAVE one",
		"recordings/cust_2/rec_2.wav":     "RIFF....WAVE two",
		"media/tts/cache-is-not-copied.x": "cache",
	}
	for name, body := range files {
		path := filepath.Join(data, filepath.FromSlash(name))
		if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, []byte(body), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	to := filepath.Join(t.TempDir(), "backup")
	code, stdout, stderr := run(t, "backup", "--data", data, "--to", to)
	if code != 0 || !strings.Contains(stdout, "2 recordings") {
		t.Fatalf("backup: exit %d, stdout %q, stderr %q", code, stdout, stderr)
	}
	if code, _, stderr := run(t, "backup", "--data", data, "--to", to); code != 1 || !strings.Contains(stderr, "not empty") {
		t.Errorf("backup into a non-empty directory: exit %d, stderr %q", code, stderr)
	}

	restored := filepath.Join(t.TempDir(), "restored")
	if code, stdout, stderr := run(t, "restore", "--from", to, "--data", restored); code != 0 {
		t.Fatalf("restore: exit %d, stdout %q, stderr %q", code, stdout, stderr)
	}
	for name, body := range files {
		got, err := os.ReadFile(filepath.Join(restored, filepath.FromSlash(name)))
		if strings.HasPrefix(name, "media/") {
			if err == nil {
				t.Errorf("%s (a cache) was restored", name)
			}
			continue
		}
		if err != nil || string(got) != body {
			t.Errorf("restored %s: %q, %v; want %q", name, got, err, body)
		}
	}
	rdb, err := sqlite.Open(ctx, sqlite.Config{Path: filepath.Join(restored, "minivoice.db")})
	if err != nil {
		t.Fatal(err)
	}
	var v string
	if err := rdb.SQL().QueryRowContext(ctx, `SELECT v FROM backup_probe`).Scan(&v); err != nil || v != "kept" {
		t.Errorf("restored database: %q, %v", v, err)
	}
	rdb.Close()

	if code, _, stderr := run(t, "restore", "--from", to, "--data", restored); code != 1 || !strings.Contains(stderr, "not empty") {
		t.Errorf("restore over a data directory: exit %d, stderr %q", code, stderr)
	}
	if err := os.WriteFile(filepath.Join(to, "recordings/cust_1/rec_1.wav"), []byte("RIFF....WAVE 0ne"), 0o600); err != nil {
		t.Fatal(err)
	}
	if code, _, stderr := run(t, "restore", "--from", to, "--data", filepath.Join(t.TempDir(), "x")); code != 1 || !strings.Contains(stderr, "damaged") {
		t.Errorf("restore of a damaged backup: exit %d, stderr %q", code, stderr)
	}
	if code, _, stderr := run(t, "backup", "--database", "postgres://u@127.0.0.1/x", "--to", t.TempDir()); code != 1 || !strings.Contains(stderr, "pg_dump") {
		t.Errorf("backup of PostgreSQL: exit %d, stderr %q", code, stderr)
	}
	// The settings file serve reads gives backup its data directory.
	conf := filepath.Join(t.TempDir(), "minivoice.conf")
	if err := os.WriteFile(conf, []byte("data = "+data+"\nhttp = 127.0.0.1:1\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if code, _, stderr := run(t, "backup", "--config", conf, "--to", filepath.Join(t.TempDir(), "b2")); code != 0 {
		t.Errorf("backup --config: exit %d, stderr %q", code, stderr)
	}
}
