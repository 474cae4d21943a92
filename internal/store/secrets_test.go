package store_test

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/minivoice/minivoice/internal/secretbox"
	"github.com/minivoice/minivoice/internal/store"
	"github.com/minivoice/minivoice/internal/store/postgres"
	"github.com/minivoice/minivoice/internal/store/sqlite"
	"github.com/minivoice/minivoice/internal/store/storetest"
	"github.com/minivoice/minivoice/internal/voice"
)

// The secrets every test below stores.
const (
	plainWebhookSecret  = "whsec_Q3VycmVudFNlY3JldEZvclRlc3RzMTIzNDU2"
	plainPreviousSecret = "whsec_UHJldmlvdXNTZWNyZXRGb3JUZXN0czEyMzQ1"
	plainTrunkPassword  = "trunk-Passw0rd-in-plain"
	plainKeptResponse   = `{"id":"app_sec","webhook_secret":"whsec_KeptInAnIdempotentResponse"}`
)

func keyring(t *testing.T, keys ...[]byte) *secretbox.Keyring {
	t.Helper()
	kr, err := secretbox.NewKeyring(keys...)
	if err != nil {
		t.Fatal(err)
	}
	return kr
}

func newKey(t *testing.T) []byte {
	t.Helper()
	k, err := secretbox.NewKey()
	if err != nil {
		t.Fatal(err)
	}
	return k
}

// reopener opens the same database again and again with the keyring given
// (nil: a store without encryption, as MiniVoice wrote before it had any).
func reopener(t *testing.T, backend string) func(kr *secretbox.Keyring) (*store.DB, error) {
	t.Helper()
	ctx := context.Background()
	if backend == "postgres" {
		u := storetest.SchemaURL(t)
		return func(kr *secretbox.Keyring) (*store.DB, error) {
			return postgres.Open(ctx, postgres.Config{URL: u, Now: fixedClock, MaxConns: 2, Secrets: kr})
		}
	}
	path := filepath.Join(t.TempDir(), "minivoice.db")
	return func(kr *secretbox.Keyring) (*store.DB, error) {
		return sqlite.Open(ctx, sqlite.Config{Path: path, Now: fixedClock, Secrets: kr})
	}
}

func mustOpen(t *testing.T, open func(*secretbox.Keyring) (*store.DB, error), kr *secretbox.Keyring) *store.DB {
	t.Helper()
	db, err := open(kr)
	if err != nil {
		t.Fatalf("open: %v", err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}

// writeSecrets stores an application with both webhook secrets, a trunk
// with a password and a kept idempotent response.
func writeSecrets(t *testing.T, db *store.DB) {
	t.Helper()
	ctx := context.Background()
	createCustomer(t, db, "cust_sec", t0)
	exp := t0.Add(time.Hour)
	a := &voice.Application{ID: "app_sec", CustomerID: "cust_sec", Name: "sec", Status: voice.ApplicationActive,
		AnswerURL: "https://example.com/a", AnswerMethod: "POST", WebhookStatus: voice.WebhookActive, WebhookEvents: []string{"*"},
		WebhookSecret: plainWebhookSecret, PreviousWebhookSecret: plainPreviousSecret, PreviousSecretExpiresAt: &exp,
		CreatedAt: t0, UpdatedAt: t0}
	if err := db.CreateApplication(ctx, a); err != nil {
		t.Fatal(err)
	}
	tr := &voice.Trunk{ID: "trk_sec", Name: "carrier", Direction: "outbound", Host: "carrier.example", Port: 5060, Transport: "udp",
		SRTP: voice.SRTPOff, Username: "acct", Password: plainTrunkPassword, AllowedCIDRs: []string{}, MaxChannels: 10, MaxCPS: 5,
		Priority: 1, SetupTimeout: 30, Status: voice.TrunkActive, CreatedAt: t0, UpdatedAt: t0}
	if err := db.CreateTrunk(ctx, tr); err != nil {
		t.Fatal(err)
	}
	if _, ok, err := db.ReserveIdempotencyKey(ctx, &voice.IdempotencyRecord{Owner: "op", Key: "k1", RequestHash: []byte("h"),
		CreatedAt: t0}, t0.Add(-time.Hour)); err != nil || !ok {
		t.Fatalf("reserve: %v %v", ok, err)
	}
	if err := db.CompleteIdempotencyKey(ctx, "op", "k1", 201, []byte(plainKeptResponse)); err != nil {
		t.Fatal(err)
	}
}

// rawSecrets reads the four secret values as they are in the database.
func rawSecrets(t *testing.T, db *store.DB) []string {
	t.Helper()
	var secret, previous, password string
	var body []byte
	if err := db.SQL().QueryRow(`SELECT webhook_secret, previous_webhook_secret FROM applications WHERE id = 'app_sec'`).Scan(&secret, &previous); err != nil {
		t.Fatal(err)
	}
	if err := db.SQL().QueryRow(`SELECT password FROM trunks WHERE id = 'trk_sec'`).Scan(&password); err != nil {
		t.Fatal(err)
	}
	if err := db.SQL().QueryRow(`SELECT body FROM idempotency_keys WHERE owner = 'op' AND idem_key = 'k1'`).Scan(&body); err != nil {
		t.Fatal(err)
	}
	return []string{secret, previous, password, string(body)}
}

// checkSealed fails unless every raw value is sealed with key id and none
// holds its plain text.
func checkSealed(t *testing.T, raw []string, id string) {
	t.Helper()
	for i, plain := range []string{plainWebhookSecret, plainPreviousSecret, plainTrunkPassword, plainKeptResponse} {
		if strings.Contains(raw[i], plain) || !strings.HasPrefix(raw[i], "v1:"+id+":") {
			t.Errorf("stored value %d is %q: want sealed with key %s, without the plain text", i, raw[i], id)
		}
	}
}

// readSecrets fails unless the store reads the plain secrets back.
func readSecrets(t *testing.T, db *store.DB) {
	t.Helper()
	ctx := context.Background()
	a, err := db.Application(ctx, voice.Scope{}, "app_sec")
	if err != nil {
		t.Fatal(err)
	}
	if a.WebhookSecret != plainWebhookSecret || a.PreviousWebhookSecret != plainPreviousSecret {
		t.Errorf("application secrets read back as %q, %q", a.WebhookSecret, a.PreviousWebhookSecret)
	}
	list, err := db.Applications(ctx, voice.Scope{CustomerID: "cust_sec"}, voice.Page{})
	if err != nil || len(list.Data) != 1 || list.Data[0].WebhookSecret != plainWebhookSecret {
		t.Errorf("applications list: %v %+v", err, list.Data)
	}
	tr, err := db.Trunk(ctx, "trk_sec")
	if err != nil {
		t.Fatal(err)
	}
	if tr.Password != plainTrunkPassword || !tr.HasPassword {
		t.Errorf("trunk password read back as %q (has_password %v)", tr.Password, tr.HasPassword)
	}
	active, err := db.ActiveTrunks(ctx, "outbound")
	if err != nil || len(active) != 1 || active[0].Password != plainTrunkPassword {
		t.Errorf("active trunks: %v %+v", err, active)
	}
	got, ok, err := db.ReserveIdempotencyKey(ctx, &voice.IdempotencyRecord{Owner: "op", Key: "k1", RequestHash: []byte("h"),
		CreatedAt: t0}, t0.Add(-time.Hour))
	if err != nil || ok || string(got.Body) != plainKeptResponse {
		t.Errorf("kept response replayed as %q (%v, %v)", got.Body, ok, err)
	}
}

// TestSecretsEncryptedAtRest: trunk passwords, both webhook secrets and the
// responses kept for Idempotency-Key replay are stored sealed with the key
// and read back in plain text; a ciphertext moved to another row does not
// open.
func TestSecretsEncryptedAtRest(t *testing.T) {
	storetest.Each(t, func(t *testing.T, backend string) {
		ctx := context.Background()
		k := newKey(t)
		open := reopener(t, backend)
		db := mustOpen(t, open, keyring(t, k))
		writeSecrets(t, db)
		checkSealed(t, rawSecrets(t, db), secretbox.KeyID(k))
		readSecrets(t, db)
		// An update re-seals (a fresh nonce) and still reads back.
		a, _ := db.Application(ctx, voice.Scope{}, "app_sec")
		before := rawSecrets(t, db)
		if err := db.UpdateApplication(ctx, a); err != nil {
			t.Fatal(err)
		}
		if after := rawSecrets(t, db); after[0] == before[0] {
			t.Error("an update wrote the same ciphertext: the nonce is reused")
		}
		readSecrets(t, db)
		// The previous secret's ciphertext copied into the current one's
		// column is refused, not used to sign.
		if _, err := db.SQL().Exec(`UPDATE applications SET webhook_secret = previous_webhook_secret`); err != nil {
			t.Fatal(err)
		}
		if _, err := db.Application(ctx, voice.Scope{}, "app_sec"); !errors.Is(err, secretbox.ErrCorrupt) {
			t.Fatalf("moved ciphertext: %v, want ErrCorrupt", err)
		}
	})
}

// TestSecretsUpgradeFromPlainText: a database written before encryption
// (plain-text secrets) loses nothing when opened with a key: SealSecrets,
// run at start-up, seals every value, and a second run has nothing to do.
func TestSecretsUpgradeFromPlainText(t *testing.T) {
	storetest.Each(t, func(t *testing.T, backend string) {
		ctx := context.Background()
		open := reopener(t, backend)
		old := mustOpen(t, open, nil)
		writeSecrets(t, old)
		raw := rawSecrets(t, old)
		if raw[0] != plainWebhookSecret || raw[2] != plainTrunkPassword || raw[3] != plainKeptResponse {
			t.Fatalf("the old way did not write plain text: %q", raw)
		}
		old.Close()

		k := newKey(t)
		db := mustOpen(t, open, keyring(t, k))
		readSecrets(t, db) // plain rows are readable before the pass
		n, err := db.SealSecrets(ctx)
		if err != nil || n != 4 {
			t.Fatalf("SealSecrets = %d, %v; want 4", n, err)
		}
		checkSealed(t, rawSecrets(t, db), secretbox.KeyID(k))
		readSecrets(t, db)
		if n, err := db.SealSecrets(ctx); err != nil || n != 0 {
			t.Fatalf("second SealSecrets = %d, %v; want 0", n, err)
		}
	})
}

// TestSecretsKeyRotation: with a new key added after the old one, SealSecrets
// re-seals every value with it; the old key can then go. A keyring without
// the key in use fails SealSecrets with ErrUnknownKey (the start-up error),
// and a store without any key refuses to hand out sealed values.
func TestSecretsKeyRotation(t *testing.T) {
	storetest.Each(t, func(t *testing.T, backend string) {
		ctx := context.Background()
		oldK, newK := newKey(t), newKey(t)
		open := reopener(t, backend)
		db := mustOpen(t, open, keyring(t, oldK))
		writeSecrets(t, db)
		db.Close()

		db = mustOpen(t, open, keyring(t, oldK, newK))
		readSecrets(t, db)
		if n, err := db.SealSecrets(ctx); err != nil || n != 4 {
			t.Fatalf("SealSecrets after rotation = %d, %v; want 4", n, err)
		}
		checkSealed(t, rawSecrets(t, db), secretbox.KeyID(newK))
		db.Close()

		db = mustOpen(t, open, keyring(t, newK)) // the old key removed
		readSecrets(t, db)
		if n, err := db.SealSecrets(ctx); err != nil || n != 0 {
			t.Fatalf("SealSecrets with the new key alone = %d, %v", n, err)
		}
		db.Close()

		wrong := mustOpen(t, open, keyring(t, oldK))
		if _, err := wrong.SealSecrets(ctx); !errors.Is(err, secretbox.ErrUnknownKey) {
			t.Fatalf("SealSecrets with a key that is not the one in use: %v, want ErrUnknownKey", err)
		} else if !strings.Contains(err.Error(), secretbox.KeyID(newK)) {
			t.Errorf("the error does not name the missing key's id: %v", err)
		}
		if _, err := wrong.Trunk(ctx, "trk_sec"); !errors.Is(err, secretbox.ErrUnknownKey) {
			t.Fatalf("Trunk with the wrong key: %v", err)
		}
		bare := mustOpen(t, open, nil)
		if _, err := bare.Application(ctx, voice.Scope{}, "app_sec"); err == nil {
			t.Fatal("a store without a key returned a sealed secret")
		}
		if _, err := bare.SealSecrets(ctx); err == nil {
			t.Fatal("SealSecrets without a key succeeded")
		}
	})
}

// TestSecretsSealInBatches: more rows than one batch of the start-up pass
// (1,100 kept responses written in plain text) are all sealed, and a second
// pass reads none of them back as work.
func TestSecretsSealInBatches(t *testing.T) {
	storetest.Each(t, func(t *testing.T, backend string) {
		ctx := context.Background()
		open := reopener(t, backend)
		old := mustOpen(t, open, nil)
		const rows = 1100
		for i := range rows {
			key := fmt.Sprintf("k%04d", i)
			if _, ok, err := old.ReserveIdempotencyKey(ctx, &voice.IdempotencyRecord{Owner: "op", Key: key, RequestHash: []byte("h"),
				CreatedAt: t0}, t0.Add(-time.Hour)); err != nil || !ok {
				t.Fatalf("reserve %s: %v %v", key, ok, err)
			}
			if err := old.CompleteIdempotencyKey(ctx, "op", key, 201, []byte(`{"n":`+fmt.Sprint(i)+`}`)); err != nil {
				t.Fatal(err)
			}
		}
		old.Close()
		db := mustOpen(t, open, keyring(t, newKey(t)))
		start := time.Now()
		if n, err := db.SealSecrets(ctx); err != nil || n != rows {
			t.Fatalf("SealSecrets = %d, %v; want %d", n, err, rows)
		}
		upgrade := time.Since(start)
		start = time.Now()
		if n, err := db.SealSecrets(ctx); err != nil || n != 0 {
			t.Fatalf("second SealSecrets = %d, %v; want 0", n, err)
		}
		// Reported, not asserted: the start-up cost of the upgrade and of an
		// ordinary start.
		t.Logf("sealing %d plain-text rows took %v; a start with nothing to seal %v", rows, upgrade, time.Since(start))
		got, _, err := db.ReserveIdempotencyKey(ctx, &voice.IdempotencyRecord{Owner: "op", Key: "k1099", RequestHash: []byte("h"),
			CreatedAt: t0}, t0.Add(-time.Hour))
		if err != nil || string(got.Body) != `{"n":1099}` {
			t.Fatalf("replayed %q, %v", got.Body, err)
		}
	})
}
