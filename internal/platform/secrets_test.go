package platform

import (
	"bytes"
	"context"
	"log/slog"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/minivoice/minivoice/internal/config"
	"github.com/minivoice/minivoice/internal/secretbox"
	"github.com/minivoice/minivoice/internal/store/sqlite"
	"github.com/minivoice/minivoice/internal/voice"
)

func mode(t *testing.T, path string) os.FileMode {
	t.Helper()
	st, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	return st.Mode().Perm()
}

func serveConfig(dir string) *config.Serve {
	return &config.Serve{Data: dir, HTTP: "127.0.0.1:0", SIP: "127.0.0.1:0",
		AllowPrivateURLs: []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8")}, DrainTimeout: time.Second}
}

// TestStartSecuresOldDataDir: a data directory as an older MiniVoice left
// it (0755, database 0644 with plain-text secrets, world-readable
// recordings) is tightened on start, with log lines, the secret key file is
// created 0600, the secrets are encrypted, and they still read back. A
// restart with a key that is not the database's stops with a clear error.
func TestStartSecuresOldDataDir(t *testing.T) {
	ctx := context.Background()
	dir := filepath.Join(t.TempDir(), "data")
	if err := os.Mkdir(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	dbPath := filepath.Join(dir, "minivoice.db")
	old, err := sqlite.Open(ctx, sqlite.Config{Path: dbPath}) // no key: how secrets were stored before
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now().UTC().Truncate(time.Millisecond)
	if err := old.CreateCustomer(ctx, &voice.Customer{ID: "cust_old", Name: "c", Status: voice.CustomerActive, Currency: "EUR",
		MaxConcurrentCalls: 1, MaxCPS: 1, BlockedPrefixes: []string{}, CreatedAt: now, UpdatedAt: now}); err != nil {
		t.Fatal(err)
	}
	const secret = "whsec_T2xkUGxhaW5UZXh0U2VjcmV0MTIzNDU2Nzg5"
	if err := old.CreateApplication(ctx, &voice.Application{ID: "app_old", CustomerID: "cust_old", Name: "a",
		Status: voice.ApplicationActive, AnswerURL: "https://example.com/a", AnswerMethod: "POST", WebhookStatus: voice.WebhookActive,
		WebhookEvents: []string{"*"}, WebhookSecret: secret, CreatedAt: now, UpdatedAt: now}); err != nil {
		t.Fatal(err)
	}
	old.Close()
	rec := filepath.Join(dir, "recordings", "cust_old")
	if err := os.MkdirAll(rec, 0o755); err != nil {
		t.Fatal(err)
	}
	for path, m := range map[string]os.FileMode{dbPath: 0o644, filepath.Join(rec, "rec_1.wav"): 0o644,
		filepath.Join(dir, "recordings"): 0o755, rec: 0o755} {
		if _, err := os.Stat(path); err != nil {
			if err := os.WriteFile(path, []byte("RIFF"), m); err != nil {
				t.Fatal(err)
			}
		}
		if err := os.Chmod(path, m); err != nil {
			t.Fatal(err)
		}
	}

	var logs bytes.Buffer
	log := slog.New(slog.NewTextHandler(&logs, nil))
	p, err := Start(ctx, Config{Serve: serveConfig(dir), AdminKey: "mvk_op_platform_test_key_0000", Logger: log})
	if err != nil {
		t.Fatal(err)
	}
	a, err := p.Store.Application(ctx, voice.Scope{}, "app_old")
	if err != nil || a.WebhookSecret != secret {
		t.Errorf("secret after the upgrade: %v %v", a, err)
	}
	var raw string
	if err := p.Store.SQL().QueryRow(`SELECT webhook_secret FROM applications WHERE id = 'app_old'`).Scan(&raw); err != nil {
		t.Fatal(err)
	}
	if !secretbox.IsSealed(raw) || strings.Contains(raw, secret) {
		t.Errorf("stored secret after start: %q, want it encrypted", raw)
	}
	for path, want := range map[string]os.FileMode{dir: 0o700, dbPath: 0o600, dbPath + "-wal": 0o600, dbPath + "-shm": 0o600,
		filepath.Join(dir, SecretKeyFile): 0o600, filepath.Join(dir, "admin.key"): 0o600,
		filepath.Join(dir, "recordings"): 0o700, rec: 0o700, filepath.Join(rec, "rec_1.wav"): 0o600} {
		if _, err := os.Stat(path); os.IsNotExist(err) && strings.HasSuffix(path, "admin.key") {
			continue // the key was given, so no file
		}
		if got := mode(t, path); got != want {
			t.Errorf("%s: mode %v, want %v", path, got, want)
		}
	}
	for _, line := range []string{"made a file in the data directory readable by the service's user alone",
		"made files in the data directory readable by the service's user alone", "created the secret key",
		"encrypted stored secrets with the newest secret key"} {
		if !strings.Contains(logs.String(), line) {
			t.Errorf("no log line %q in:\n%s", line, logs.String())
		}
	}
	if strings.Contains(logs.String(), secret) {
		t.Error("the log holds the webhook secret")
	}
	kr, _, _, err := secretbox.LoadFile(filepath.Join(dir, SecretKeyFile))
	if err != nil {
		t.Fatal(err)
	}
	if err := p.Shutdown(ctx); err != nil {
		t.Fatal(err)
	}

	other, _ := secretbox.NewKey()
	_, err = Start(ctx, Config{Serve: serveConfig(dir), AdminKey: "mvk_op_platform_test_key_0000", Logger: log,
		SecretKey: secretbox.EncodeKey(other)})
	if err == nil || !strings.Contains(err.Error(), "does not decrypt") || !strings.Contains(err.Error(), kr.NewestID()) {
		t.Fatalf("start with another key: %v; want a clear error naming the missing key %s", err, kr.NewestID())
	}
}

// TestStartCreatesPrivateDataDir: a fresh data directory is 0700, its
// database and key files 0600, whatever the umask allowed.
func TestStartCreatesPrivateDataDir(t *testing.T) {
	ctx := context.Background()
	dir := filepath.Join(t.TempDir(), "fresh")
	p, err := Start(ctx, Config{Serve: serveConfig(dir)})
	if err != nil {
		t.Fatal(err)
	}
	defer p.Shutdown(ctx)
	for path, want := range map[string]os.FileMode{dir: 0o700, filepath.Join(dir, "minivoice.db"): 0o600,
		filepath.Join(dir, "minivoice.db-wal"): 0o600, filepath.Join(dir, SecretKeyFile): 0o600,
		filepath.Join(dir, "admin.key"): 0o600, filepath.Join(dir, "recordings"): 0o700} {
		if got := mode(t, path); got != want {
			t.Errorf("%s: mode %v, want %v", path, got, want)
		}
	}
}

// TestLoadSecretKeysEnvWins: MINIVOICE_SECRET_KEY is used instead of the
// key file, which is then neither read nor created; a malformed value is an
// error that does not repeat it.
func TestLoadSecretKeysEnvWins(t *testing.T) {
	dir := t.TempDir()
	a, _ := secretbox.NewKey()
	b, _ := secretbox.NewKey()
	log := slog.New(slog.DiscardHandler)
	kr, err := LoadSecretKeys(secretbox.EncodeKey(a)+","+secretbox.EncodeKey(b), dir, log)
	if err != nil || kr.NewestID() != secretbox.KeyID(b) || len(kr.IDs()) != 2 {
		t.Fatalf("env keys: %v %v", kr, err)
	}
	if _, err := os.Stat(filepath.Join(dir, SecretKeyFile)); !os.IsNotExist(err) {
		t.Fatalf("the key file was created although the env gave the key: %v", err)
	}
	bad := "c2hvcnQ=" // 5 bytes
	if _, err := LoadSecretKeys(bad, dir, log); err == nil || strings.Contains(err.Error(), bad) {
		t.Fatalf("short key: %v", err)
	}
}
