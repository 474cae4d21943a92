package platform

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"

	"github.com/minivoice/minivoice/internal/secretbox"
	"github.com/minivoice/minivoice/internal/store"
)

// SecretKeyFile is the name of the key file in the data directory.
const SecretKeyFile = "secret.key"

// EnvSecretKey names the variable that gives the secret keys instead of the
// key file: standard base64 of 32 bytes each, comma-separated, oldest first.
const EnvSecretKey = "MINIVOICE_SECRET_KEY"

// LoadSecretKeys returns the keys that encrypt the database's secrets:
// envValue (MINIVOICE_SECRET_KEY) when set, else DATA/secret.key, created
// with one random key on first start. Neither the keys nor the values they
// decrypt are ever logged: only key ids.
func LoadSecretKeys(envValue, dataDir string, log *slog.Logger) (*secretbox.Keyring, error) {
	if envValue != "" {
		keys, err := secretbox.ParseKeys(envValue, EnvSecretKey)
		if err != nil {
			return nil, err
		}
		return secretbox.NewKeyring(keys...)
	}
	path := filepath.Join(dataDir, SecretKeyFile)
	kr, created, tightened, err := secretbox.LoadFile(path)
	if err != nil {
		return nil, err
	}
	if created {
		log.Warn("created the secret key that encrypts trunk passwords and webhook secrets in the database: back it up (the stored secrets cannot be read without it), ideally apart from the database backups",
			slog.String("path", path), slog.String("key_id", kr.NewestID()))
	}
	if tightened {
		log.Warn("the secret key file was readable by other users: its mode is now 0600", slog.String("path", path))
	}
	return kr, nil
}

// sealSecrets encrypts what an older database holds in plain text, and
// re-encrypts after a rotation, logging the count. A key that does not open
// the stored secrets stops the start here.
func sealSecrets(ctx context.Context, db *store.DB, kr *secretbox.Keyring, log *slog.Logger) error {
	n, err := db.SealSecrets(ctx)
	if errors.Is(err, secretbox.ErrUnknownKey) || errors.Is(err, secretbox.ErrCorrupt) {
		return fmt.Errorf("the secret key does not decrypt the database's secrets (keys configured: %v; the newest encrypts): restore the key file %s or %s that belongs with this database: %w",
			kr.IDs(), SecretKeyFile, EnvSecretKey, err)
	}
	if err != nil {
		return err
	}
	if n > 0 {
		log.Info("encrypted stored secrets with the newest secret key", slog.Int("values", n), slog.String("key_id", kr.NewestID()))
	}
	return nil
}

// secureDataDir makes the data directory 0700 and the files MiniVoice keeps
// in it (the SQLite database and its -wal and -shm, the key files, the
// recordings and media) readable by the service's user alone, tightening
// what an older version or a hand-made directory left wider, with one log
// line per kind of fix. Symbolic links are left alone: what they point to
// belongs to whoever made them.
func secureDataDir(dir string, log *slog.Logger) error {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return fmt.Errorf("create data dir: %w", err)
	}
	if err := tighten(dir, 0o700, log); err != nil {
		return err
	}
	for _, name := range []string{"minivoice.db", "minivoice.db-wal", "minivoice.db-shm", "admin.key", SecretKeyFile} {
		if err := tighten(filepath.Join(dir, name), 0o600, log); err != nil {
			return err
		}
	}
	for _, sub := range []string{"recordings", "media"} {
		root := filepath.Join(dir, sub)
		dirs, files := 0, 0
		err := filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
			if err != nil {
				if errors.Is(err, fs.ErrNotExist) {
					return nil
				}
				return err
			}
			if d.Type()&fs.ModeSymlink != 0 {
				return nil
			}
			info, err := d.Info()
			if err != nil {
				return err
			}
			want := fs.FileMode(0o600)
			if d.IsDir() {
				want = 0o700
			}
			if info.Mode().Perm()&^want == 0 {
				return nil
			}
			if err := os.Chmod(path, info.Mode().Perm()&want); err != nil {
				// Not ours to change (another owner): say so, start anyway.
				log.Warn("cannot make "+entryKind(info)+" in the data directory private", slog.String("path", path), slog.Any("error", err))
				return nil
			}
			if d.IsDir() {
				dirs++
			} else {
				files++
			}
			return nil
		})
		if err != nil {
			return fmt.Errorf("tighten %s: %w", root, err)
		}
		if dirs+files > 0 {
			log.Warn("made files in the data directory readable by the service's user alone", slog.String("path", root),
				slog.Int("directories", dirs), slog.Int("files", files))
		}
	}
	return nil
}

// tighten removes the permission bits of path outside want, if it exists.
func tighten(path string, want fs.FileMode, log *slog.Logger) error {
	info, err := os.Lstat(path)
	if errors.Is(err, fs.ErrNotExist) || (err == nil && info.Mode()&fs.ModeSymlink != 0) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("data dir: %w", err)
	}
	perm := info.Mode().Perm()
	if perm&^want == 0 {
		return nil
	}
	if err := os.Chmod(path, perm&want); err != nil {
		// Not ours to change (another owner, a read-only mount): the
		// operator is told, and the start goes on as before this check.
		log.Warn("cannot make "+entryKind(info)+" in the data directory private", slog.String("path", path),
			slog.String("mode", perm.String()), slog.Any("error", err))
		return nil
	}
	log.Warn("made "+entryKind(info)+" readable by the service's user alone", slog.String("path", path),
		slog.String("was", perm.String()), slog.String("now", (perm&want).String()))
	return nil
}

// entryKind names what tighten changed, for its log line: the data
// directory or one in it, or a file in it.
func entryKind(info fs.FileInfo) string {
	if info.IsDir() {
		return "a directory (the data directory or one in it)"
	}
	return "a file in the data directory"
}
