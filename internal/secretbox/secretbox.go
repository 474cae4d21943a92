// Package secretbox encrypts the secrets MiniVoice keeps in its database
// (trunk passwords, webhook signing secrets, replayable API responses) with
// AES-256-GCM under a key kept outside the database: DATA/secret.key or
// MINIVOICE_SECRET_KEY. A copy of the database alone (a backup, a replica, a
// stolen file) then reveals none of them.
//
// A sealed value is text, so it fits the existing TEXT columns:
//
//	v1:<key id>:<base64 of nonce followed by ciphertext and tag>
//
// The key id (8 hex digits derived from the key) says which key sealed it, so
// a Keyring holding several keys opens values sealed by any of them and seals
// with the newest: rotation adds a key, re-seals every row, then the old key
// can go. Each value is bound to where it is stored (its "context", such as
// "trunks.password:trk_..."), so a ciphertext copied into another row or
// column does not open.
package secretbox

import (
	"bufio"
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
)

// KeySize is the size of a key: AES-256.
const KeySize = 32

// prefix starts every sealed value; the version lets the format change later
// without guessing.
const prefix = "v1:"

// idLen is the length of a key id in hex digits.
const idLen = 8

// ErrUnknownKey is returned (wrapped) by Open for a value sealed with a key
// the Keyring does not hold.
var ErrUnknownKey = errors.New("sealed with a key that is not configured")

// ErrCorrupt is returned (wrapped) by Open when a value names a known key but
// does not decrypt: the wrong key under that id, a truncated value, or one
// moved from another row.
var ErrCorrupt = errors.New("does not decrypt")

type key struct {
	id   string
	aead cipher.AEAD
}

// Keyring holds the keys: the newest seals, every one opens. It is safe for
// concurrent use.
type Keyring struct {
	keys  []key // oldest first
	byID  map[string]cipher.AEAD
	newID string
}

// KeyID returns the id a key is known by in sealed values. It is derived
// from the key with a domain-separated hash, so it reveals nothing usable
// about the key.
func KeyID(k []byte) string {
	h := sha256.Sum256(append([]byte("minivoice secretbox key id\x00"), k...))
	return hex.EncodeToString(h[:])[:idLen]
}

// NewKeyring returns a Keyring of keys, oldest first: the last one seals.
// Each key must be KeySize bytes; a repeated key counts once (its latest
// position decides whether it is the newest).
func NewKeyring(keys ...[]byte) (*Keyring, error) {
	if len(keys) == 0 {
		return nil, errors.New("secretbox: no key")
	}
	kr := &Keyring{byID: map[string]cipher.AEAD{}}
	for i, k := range keys {
		if len(k) != KeySize {
			return nil, fmt.Errorf("secretbox: key %d is %d bytes; a key is %d random bytes", i+1, len(k), KeySize)
		}
		block, err := aes.NewCipher(k)
		if err != nil {
			return nil, fmt.Errorf("secretbox: key %d: %w", i+1, err)
		}
		aead, err := cipher.NewGCM(block)
		if err != nil {
			return nil, fmt.Errorf("secretbox: key %d: %w", i+1, err)
		}
		id := KeyID(k)
		if _, dup := kr.byID[id]; dup {
			for j := range kr.keys {
				if kr.keys[j].id == id {
					kr.keys = append(kr.keys[:j], kr.keys[j+1:]...)
					break
				}
			}
		}
		kr.byID[id] = aead
		kr.keys = append(kr.keys, key{id: id, aead: aead})
	}
	kr.newID = kr.keys[len(kr.keys)-1].id
	return kr, nil
}

// NewestID is the id of the key that seals.
func (kr *Keyring) NewestID() string { return kr.newID }

// IDs lists the key ids, oldest first.
func (kr *Keyring) IDs() []string {
	out := make([]string, len(kr.keys))
	for i, k := range kr.keys {
		out[i] = k.id
	}
	return out
}

// Seal encrypts plaintext for the place named by context. The empty string
// stays empty: "no secret" is not a secret, and the code reading it (a trunk
// without a password) must still tell.
func (kr *Keyring) Seal(plaintext, context string) (string, error) {
	if plaintext == "" {
		return "", nil
	}
	aead := kr.byID[kr.newID]
	nonce := make([]byte, aead.NonceSize(), aead.NonceSize()+len(plaintext)+aead.Overhead())
	if _, err := rand.Read(nonce); err != nil {
		return "", fmt.Errorf("secretbox: nonce: %w", err)
	}
	out := aead.Seal(nonce, nonce, []byte(plaintext), []byte(context))
	return prefix + kr.newID + ":" + base64.RawStdEncoding.EncodeToString(out), nil
}

// Open decrypts a value Seal returned for the same context. A value that is
// not sealed (IsSealed false) is returned as it is: rows written before
// encryption existed are read until the start-up pass seals them.
func (kr *Keyring) Open(stored, context string) (string, error) {
	id, raw, ok := split(stored)
	if !ok {
		return stored, nil
	}
	aead, known := kr.byID[id]
	if !known {
		return "", fmt.Errorf("secretbox: key %s: %w", id, ErrUnknownKey)
	}
	if len(raw) < aead.NonceSize()+aead.Overhead() {
		return "", fmt.Errorf("secretbox: value sealed with key %s is truncated: %w", id, ErrCorrupt)
	}
	n := aead.NonceSize()
	plain, err := aead.Open(nil, raw[:n], raw[n:], []byte(context))
	if err != nil {
		return "", fmt.Errorf("secretbox: value sealed with key %s: %w", id, ErrCorrupt)
	}
	return string(plain), nil
}

// Current reports whether stored needs no work: empty, or sealed with the
// newest key. Plain text and values sealed with an older key need sealing.
func (kr *Keyring) Current(stored string) bool {
	if stored == "" {
		return true
	}
	id, _, ok := split(stored)
	return ok && id == kr.newID
}

// IsSealed reports whether stored has the form Seal produces.
func IsSealed(stored string) bool {
	_, _, ok := split(stored)
	return ok
}

// split parses "v1:<id>:<base64>". Plain text that happened to look like it
// would need a valid 8-hex-digit id and at least 28 bytes of valid unpadded
// base64 after the prefix; no webhook secret (whsec_...) can, and a trunk
// password that does would be an odd choice.
func split(stored string) (id string, raw []byte, ok bool) {
	rest, found := strings.CutPrefix(stored, prefix)
	if !found || len(rest) < idLen+1 || rest[idLen] != ':' {
		return "", nil, false
	}
	id = rest[:idLen]
	if _, err := hex.DecodeString(id); err != nil || strings.ToLower(id) != id {
		return "", nil, false
	}
	raw, err := base64.RawStdEncoding.DecodeString(rest[idLen+1:])
	if err != nil || len(raw) < 12+16 {
		return "", nil, false
	}
	return id, raw, true
}

// NewKey returns a fresh random key.
func NewKey() ([]byte, error) {
	k := make([]byte, KeySize)
	if _, err := rand.Read(k); err != nil {
		return nil, fmt.Errorf("secretbox: new key: %w", err)
	}
	return k, nil
}

// EncodeKey is a key as it is written in the key file and MINIVOICE_SECRET_KEY.
func EncodeKey(k []byte) string { return base64.StdEncoding.EncodeToString(k) }

// ParseKeys reads keys written as standard base64, one per line or separated
// by commas, oldest first. Blank lines and lines starting with '#' are
// skipped, so the key file can say which key is which. where names the
// source in errors; the keys themselves never appear in them.
func ParseKeys(text, where string) ([][]byte, error) {
	var keys [][]byte
	sc := bufio.NewScanner(strings.NewReader(text))
	line := 0
	for sc.Scan() {
		line++
		t := strings.TrimSpace(sc.Text())
		if t == "" || strings.HasPrefix(t, "#") {
			continue
		}
		for _, part := range strings.Split(t, ",") {
			part = strings.TrimSpace(part)
			if part == "" {
				continue
			}
			k, err := base64.StdEncoding.DecodeString(part)
			if err != nil {
				return nil, fmt.Errorf("%s line %d: a key is the base64 of %d random bytes (not valid base64)", where, line, KeySize)
			}
			if len(k) != KeySize {
				return nil, fmt.Errorf("%s line %d: a key is the base64 of %d random bytes (this one is %d bytes)", where, line, KeySize, len(k))
			}
			keys = append(keys, k)
		}
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("%s: %w", where, err)
	}
	if len(keys) == 0 {
		return nil, fmt.Errorf("%s holds no key", where)
	}
	return keys, nil
}

// LoadFile reads the key file at path, creating it (mode 0600, one new key)
// when it does not exist; created reports that. A file readable by group or
// others is tightened to 0600 (tightened reports that), since whoever reads
// it can read every secret in the database.
func LoadFile(path string) (kr *Keyring, created, tightened bool, err error) {
	b, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		k, err := NewKey()
		if err != nil {
			return nil, false, false, err
		}
		if err := writeNew(path, "# MiniVoice secret keys, oldest first; the last one encrypts. Back this file up with the database.\n"+EncodeKey(k)+"\n"); err != nil {
			return nil, false, false, err
		}
		kr, err := NewKeyring(k)
		return kr, true, false, err
	}
	if err != nil {
		return nil, false, false, fmt.Errorf("read secret key file: %w", err)
	}
	st, err := os.Stat(path)
	if err != nil {
		return nil, false, false, fmt.Errorf("secret key file: %w", err)
	}
	if st.Mode().Perm()&0o077 != 0 {
		if err := os.Chmod(path, 0o600); err != nil {
			return nil, false, false, fmt.Errorf("secret key file %s is readable by others and cannot be made 0600: %w", path, err)
		}
		tightened = true
	}
	keys, err := ParseKeys(string(b), path)
	if err != nil {
		return nil, false, false, err
	}
	kr, err = NewKeyring(keys...)
	return kr, false, tightened, err
}

// AddKeyToFile appends a new key to the key file at path (created 0600 if
// missing), making it the newest, and returns its id. The file is replaced
// by a rename, so a crash leaves either the old file or the new one.
func AddKeyToFile(path string) (string, error) {
	old, err := os.ReadFile(path)
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return "", fmt.Errorf("read secret key file: %w", err)
	}
	if len(old) > 0 {
		if _, err := ParseKeys(string(old), path); err != nil {
			return "", err
		}
		if old[len(old)-1] != '\n' {
			old = append(old, '\n')
		}
	}
	k, err := NewKey()
	if err != nil {
		return "", err
	}
	tmp := path + ".new"
	_ = os.Remove(tmp)
	if err := writeNew(tmp, string(old)+EncodeKey(k)+"\n"); err != nil {
		return "", err
	}
	if err := os.Rename(tmp, path); err != nil {
		_ = os.Remove(tmp)
		return "", fmt.Errorf("replace secret key file: %w", err)
	}
	return KeyID(k), nil
}

// writeNew creates path (which must not exist) with mode 0600 and syncs it.
func writeNew(path, content string) error {
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return fmt.Errorf("create secret key file: %w", err)
	}
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return fmt.Errorf("create secret key file: %w", err)
	}
	if _, err := f.WriteString(content); err != nil {
		f.Close()
		return fmt.Errorf("write secret key file: %w", err)
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return fmt.Errorf("write secret key file: %w", err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("write secret key file: %w", err)
	}
	return nil
}
