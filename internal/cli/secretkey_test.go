package cli_test

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/minivoice/minivoice/internal/cli"
	"github.com/minivoice/minivoice/internal/platform"
	"github.com/minivoice/minivoice/internal/secretbox"
	"github.com/minivoice/minivoice/internal/store/storetest"
	"github.com/minivoice/minivoice/internal/voice"
)

// TestRotateSecretKeyCommand: `minivoice admin rotate-secret-key` adds a key
// to DATA/secret.key and re-encrypts the stored secrets with it, on both
// backends; afterwards the new key alone opens them and the old key alone
// does not. With MINIVOICE_SECRET_KEY set it refuses and says what to do.
func TestRotateSecretKeyCommand(t *testing.T) {
	storetest.Each(t, func(t *testing.T, backend string) {
		ctx := context.Background()
		dir := t.TempDir()
		url := ""
		if backend == "postgres" {
			url = storetest.SchemaURL(t)
		}
		keyFile := filepath.Join(dir, platform.SecretKeyFile)
		oldRing, _, _, err := secretbox.LoadFile(keyFile)
		if err != nil {
			t.Fatal(err)
		}
		db, err := platform.OpenStore(ctx, url, dir, time.Now, oldRing)
		if err != nil {
			t.Fatal(err)
		}
		now := time.Now().UTC().Truncate(time.Millisecond)
		const secret = "whsec_Um90YXRlTWVQbGVhc2UxMjM0NTY3ODkwMTIz"
		if err := db.CreateCustomer(ctx, &voice.Customer{ID: "cust_rot", Name: "c", Status: voice.CustomerActive, Currency: "EUR",
			MaxConcurrentCalls: 1, MaxCPS: 1, BlockedPrefixes: []string{}, CreatedAt: now, UpdatedAt: now}); err != nil {
			t.Fatal(err)
		}
		if err := db.CreateApplication(ctx, &voice.Application{ID: "app_rot", CustomerID: "cust_rot", Name: "a",
			Status: voice.ApplicationActive, AnswerURL: "https://example.com/a", AnswerMethod: "POST", WebhookStatus: voice.WebhookActive,
			WebhookEvents: []string{"*"}, WebhookSecret: secret, CreatedAt: now, UpdatedAt: now}); err != nil {
			t.Fatal(err)
		}
		db.Close()

		env := map[string]string{"MINIVOICE_DATABASE": url}
		var out, errb bytes.Buffer
		code := cli.Main(ctx, []string{"admin", "rotate-secret-key", "--data", dir}, cli.Env{Stdin: strings.NewReader(""),
			Stdout: &out, Stderr: &errb, Getenv: func(k string) string { return env[k] }})
		if code != 0 || !strings.Contains(out.String(), "re-encrypted 1 stored secrets") {
			t.Fatalf("exit %d, stdout %q, stderr %q", code, out.String(), errb.String())
		}
		newRing, _, _, err := secretbox.LoadFile(keyFile)
		if err != nil || len(newRing.IDs()) != 2 || newRing.IDs()[0] != oldRing.NewestID() {
			t.Fatalf("key file after rotation: %v %v", newRing.IDs(), err)
		}
		keys := newRing.IDs()
		if !strings.Contains(out.String(), keys[1]) || strings.Contains(out.String()+errb.String(), secret) {
			t.Errorf("output %q: want the new key's id and no secret", out.String())
		}
		// The new key alone: the secret reads back, nothing left to re-encrypt.
		onlyNew := newestOnly(t, keyFile)
		db, err = platform.OpenStore(ctx, url, dir, time.Now, onlyNew)
		if err != nil {
			t.Fatal(err)
		}
		if a, err := db.Application(ctx, voice.Scope{}, "app_rot"); err != nil || a.WebhookSecret != secret {
			t.Errorf("with the new key: %v %v", a, err)
		}
		if n, err := db.SealSecrets(ctx); err != nil || n != 0 {
			t.Errorf("SealSecrets with the new key: %d %v", n, err)
		}
		db.Close()
		// The old key alone no longer opens it.
		db, err = platform.OpenStore(ctx, url, dir, time.Now, oldRing)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := db.SealSecrets(ctx); !errors.Is(err, secretbox.ErrUnknownKey) {
			t.Errorf("SealSecrets with the old key alone: %v, want ErrUnknownKey", err)
		}
		db.Close()

		env[platform.EnvSecretKey] = secretbox.EncodeKey(make([]byte, 32))
		out.Reset()
		errb.Reset()
		code = cli.Main(ctx, []string{"admin", "rotate-secret-key", "--data", dir}, cli.Env{Stdin: strings.NewReader(""),
			Stdout: &out, Stderr: &errb, Getenv: func(k string) string { return env[k] }})
		if code != 2 || !strings.Contains(errb.String(), platform.EnvSecretKey) {
			t.Errorf("with %s set: exit %d, stderr %q", platform.EnvSecretKey, code, errb.String())
		}
	})
}

// newestOnly is a keyring of the key file's newest key alone.
func newestOnly(t *testing.T, path string) *secretbox.Keyring {
	t.Helper()
	b, err := readFile(path)
	if err != nil {
		t.Fatal(err)
	}
	keys, err := secretbox.ParseKeys(b, path)
	if err != nil {
		t.Fatal(err)
	}
	kr, err := secretbox.NewKeyring(keys[len(keys)-1])
	if err != nil {
		t.Fatal(err)
	}
	return kr
}

func readFile(path string) (string, error) {
	b, err := os.ReadFile(path)
	return string(b), err
}
