package secretbox

import (
	"encoding/base64"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func mustKey(t *testing.T) []byte {
	t.Helper()
	k, err := NewKey()
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func mustRing(t *testing.T, keys ...[]byte) *Keyring {
	t.Helper()
	kr, err := NewKeyring(keys...)
	if err != nil {
		t.Fatal(err)
	}
	return kr
}

func TestSealOpenRoundTrip(t *testing.T) {
	kr := mustRing(t, mustKey(t))
	for _, plain := range []string{"whsec_abc", "p@ss:word", strings.Repeat("x", 5000), "v1:not-sealed"} {
		s, err := kr.Seal(plain, "trunks.password:trk_1")
		if err != nil {
			t.Fatal(err)
		}
		if strings.Contains(s, plain) || !strings.HasPrefix(s, "v1:"+kr.NewestID()+":") || !IsSealed(s) {
			t.Fatalf("sealed %q as %q", plain, s)
		}
		got, err := kr.Open(s, "trunks.password:trk_1")
		if err != nil || got != plain {
			t.Fatalf("Open = %q, %v; want %q", got, err, plain)
		}
		s2, _ := kr.Seal(plain, "trunks.password:trk_1")
		if s2 == s {
			t.Fatal("two seals of one value are equal: the nonce is not random")
		}
	}
	if s, err := kr.Seal("", "x"); s != "" || err != nil {
		t.Fatalf("Seal(\"\") = %q, %v; want empty", s, err)
	}
}

// A plain-text value (a row from before encryption) opens as itself, and
// "v1:"-looking text that is not a sealed value is plain text too.
func TestOpenPlainText(t *testing.T) {
	kr := mustRing(t, mustKey(t))
	for _, plain := range []string{"", "whsec_AAAA", "v1:", "v1:zzzzzzzz:abc", "v1:0123abcd:short"} {
		if IsSealed(plain) {
			t.Fatalf("IsSealed(%q) = true", plain)
		}
		got, err := kr.Open(plain, "c")
		if err != nil || got != plain {
			t.Fatalf("Open(%q) = %q, %v", plain, got, err)
		}
	}
}

// A value moved to another row or column, sealed under a different key with
// the same id, or altered does not open: ErrCorrupt, never garbage.
func TestOpenRefusesTamperingAndWrongKey(t *testing.T) {
	k := mustKey(t)
	kr := mustRing(t, k)
	s, _ := kr.Seal("secret", "applications.webhook_secret:app_1")
	if _, err := kr.Open(s, "applications.webhook_secret:app_2"); !errors.Is(err, ErrCorrupt) {
		t.Fatalf("other context: %v, want ErrCorrupt", err)
	}
	id, raw, _ := split(s)
	raw[len(raw)-1] ^= 1
	altered := "v1:" + id + ":" + base64.RawStdEncoding.EncodeToString(raw)
	if _, err := kr.Open(altered, "applications.webhook_secret:app_1"); !errors.Is(err, ErrCorrupt) {
		t.Fatalf("altered: %v, want ErrCorrupt", err)
	}
	other := mustRing(t, mustKey(t))
	if _, err := other.Open(s, "applications.webhook_secret:app_1"); !errors.Is(err, ErrUnknownKey) {
		t.Fatalf("other key: %v, want ErrUnknownKey", err)
	} else if strings.Contains(err.Error(), EncodeKey(k)) {
		t.Fatal("the error names the key")
	}
}

// Rotation: the newest key seals, older ones still open, and Current tells
// which values still need re-sealing.
func TestKeyringRotation(t *testing.T) {
	oldK, newK := mustKey(t), mustKey(t)
	before := mustRing(t, oldK)
	after := mustRing(t, oldK, newK)
	if after.NewestID() != KeyID(newK) || len(after.IDs()) != 2 {
		t.Fatalf("newest %s ids %v", after.NewestID(), after.IDs())
	}
	s, _ := before.Seal("pw", "c")
	if after.Current(s) || !before.Current(s) || after.Current("plain") || !after.Current("") {
		t.Fatal("Current is wrong")
	}
	if got, err := after.Open(s, "c"); err != nil || got != "pw" {
		t.Fatalf("old value with new ring: %q, %v", got, err)
	}
	s2, _ := after.Seal("pw", "c")
	if !after.Current(s2) {
		t.Fatal("freshly sealed value is not current")
	}
	if _, err := before.Open(s2, "c"); !errors.Is(err, ErrUnknownKey) {
		t.Fatalf("new value with old ring: %v", err)
	}
	// A key repeated last is the newest again.
	again := mustRing(t, oldK, newK, oldK)
	if again.NewestID() != KeyID(oldK) || len(again.IDs()) != 2 {
		t.Fatalf("repeated key: newest %s ids %v", again.NewestID(), again.IDs())
	}
}

func TestNewKeyringRefusesBadKeys(t *testing.T) {
	if _, err := NewKeyring(); err == nil {
		t.Fatal("no key accepted")
	}
	if _, err := NewKeyring(make([]byte, 16)); err == nil {
		t.Fatal("16-byte key accepted")
	}
}

func TestParseKeys(t *testing.T) {
	a, b := mustKey(t), mustKey(t)
	keys, err := ParseKeys("# comment\n\n"+EncodeKey(a)+"\n  "+EncodeKey(b)+"  \n", "f")
	if err != nil || len(keys) != 2 || KeyID(keys[1]) != KeyID(b) {
		t.Fatalf("ParseKeys = %d keys, %v", len(keys), err)
	}
	keys, err = ParseKeys(EncodeKey(a)+","+EncodeKey(b), "MINIVOICE_SECRET_KEY")
	if err != nil || len(keys) != 2 {
		t.Fatalf("comma list: %d keys, %v", len(keys), err)
	}
	for _, bad := range []string{"", "# only a comment\n", "not base64!", EncodeKey(a[:16])} {
		if _, err := ParseKeys(bad, "f"); err == nil {
			t.Fatalf("ParseKeys(%q) accepted", bad)
		} else if strings.Contains(err.Error(), bad) && bad != "" && !strings.HasPrefix(bad, "#") {
			t.Fatalf("the error repeats the key material: %v", err)
		}
	}
}

// LoadFile creates the key file 0600 in a 0700 directory when missing,
// reads it back the same, and tightens a file others can read.
func TestLoadFile(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "data", "secret.key")
	kr, created, _, err := LoadFile(path)
	if err != nil || !created {
		t.Fatalf("LoadFile = %v, created %v", err, created)
	}
	st, err := os.Stat(path)
	if err != nil || st.Mode().Perm() != 0o600 {
		t.Fatalf("mode %v, %v", st.Mode(), err)
	}
	again, created, tightened, err := LoadFile(path)
	if err != nil || created || tightened || again.NewestID() != kr.NewestID() {
		t.Fatalf("reload: %v created %v tightened %v", err, created, tightened)
	}
	if err := os.Chmod(path, 0o644); err != nil {
		t.Fatal(err)
	}
	if _, _, tightened, err := LoadFile(path); err != nil || !tightened {
		t.Fatalf("0644 file: tightened %v, %v", tightened, err)
	}
	if st, _ := os.Stat(path); st.Mode().Perm() != 0o600 {
		t.Fatalf("mode after tightening %v", st.Mode())
	}
	id, err := AddKeyToFile(path)
	if err != nil {
		t.Fatal(err)
	}
	rotated, _, _, err := LoadFile(path)
	if err != nil || rotated.NewestID() != id || len(rotated.IDs()) != 2 || rotated.IDs()[0] != kr.NewestID() {
		t.Fatalf("after AddKeyToFile: %v ids %v want newest %s", err, rotated.IDs(), id)
	}
	if st, _ := os.Stat(path); st.Mode().Perm() != 0o600 {
		t.Fatalf("mode after AddKeyToFile %v", st.Mode())
	}
	if err := os.WriteFile(path, []byte("garbage\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, _, _, err := LoadFile(path); err == nil {
		t.Fatal("a garbage key file loaded")
	}
}
