package cli

import (
	"bufio"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"syscall"
	"time"

	"github.com/minivoice/minivoice/internal/config"
	"github.com/minivoice/minivoice/internal/platform"
	"github.com/minivoice/minivoice/internal/store/sqlite"
)

// What a backup directory holds. MANIFEST is written last, in the format
// of sha256sum (so `sha256sum -c MANIFEST` checks a backup by hand); a
// directory without it is an unfinished backup and restore refuses it.
const (
	backupDB       = "minivoice.db"
	backupInfo     = "BACKUP.json"
	backupManifest = "MANIFEST"
	recordingsDir  = "recordings"
	adminKeyFile   = "admin.key"
)

// backupMeta is BACKUP.json: what the backup is, for people and restore.
type backupMeta struct {
	MinivoiceVersion string    `json:"minivoice_version"`
	CreatedAt        time.Time `json:"created_at"`
	SchemaVersion    int       `json:"schema_version"`
	Recordings       int       `json:"recordings"`
	Bytes            int64     `json:"bytes"`
	// SecretKeyFromEnv: serve took its secret key from MINIVOICE_SECRET_KEY,
	// which is not in the backup and must be kept apart.
	SecretKeyFromEnv bool `json:"secret_key_from_env,omitempty"`
}

const backupUsage = `Usage: minivoice backup --to DIR [flags]

Copies a SQLite deployment's database (a consistent snapshot, while serve
runs), recordings, admin.key and secret.key into DIR, with BACKUP.json and a
MANIFEST of SHA-256 sums. A PostgreSQL deployment is backed up with pg_dump
instead (docs/operations.md).

Flags:
`

const restoreUsage = `Usage: minivoice restore --from DIR [flags]

Restores a backup written by minivoice backup into an empty data directory,
every file checked against the backup's MANIFEST first.

Flags:
`

// dataFlags are the flags backup and restore share with serve, so they read
// the same /etc/minivoice/minivoice.conf and MINIVOICE_* variables.
func dataFlags(fs *flag.FlagSet, data, database, conf *string) {
	fs.StringVar(data, "data", "./minivoice-data", "serve's data directory (SQLite database, recordings, admin.key, secret.key)")
	fs.StringVar(database, "database", "", "serve's PostgreSQL URL, if it uses one (backup then refuses: use pg_dump)")
	fs.StringVar(conf, "config", "", "serve's config file (e.g. /etc/minivoice/minivoice.conf), for data and database")
}

// backupCmd is `minivoice backup --to DIR`: a consistent copy of a SQLite
// deployment's database, recordings and keys while serve runs.
func backupCmd(ctx context.Context, args []string, env Env) int {
	fs := newFlagSet("minivoice backup", backupUsage, args, env)
	var data, database, conf, to string
	dataFlags(fs, &data, &database, &conf)
	fs.StringVar(&to, "to", "", "directory to write the backup into; must not exist or be empty")
	if err := config.ParseFlagsWithFile(fs, args, env.Getenv, &conf); err != nil {
		return usageExit(err, "minivoice backup", env)
	}
	if to == "" {
		fmt.Fprintln(env.Stderr, "minivoice backup: --to DIR is required")
		return 2
	}
	if database != "" {
		fmt.Fprintln(env.Stderr, "minivoice backup: this deployment keeps its data in PostgreSQL (--database): back the database up with pg_dump "+
			"(pg_dump --format=custom), and the recordings directory and the secret key apart, as docs/operations.md describes; "+
			"minivoice backup copies SQLite deployments only")
		return 1
	}
	start := time.Now()
	meta, err := backup(ctx, data, to, env.Getenv(platform.EnvSecretKey) != "")
	if err != nil {
		fmt.Fprintln(env.Stderr, "minivoice backup:", err)
		return 1
	}
	fmt.Fprintf(env.Stdout, "backup of %s written to %s in %s: database at schema version %04d, %d recordings, %d bytes\n",
		data, to, time.Since(start).Round(time.Millisecond), meta.SchemaVersion, meta.Recordings, meta.Bytes)
	if meta.SecretKeyFromEnv {
		fmt.Fprintln(env.Stdout, "the secret key comes from MINIVOICE_SECRET_KEY and is not in the backup: keep a copy of it apart")
	}
	return 0
}

// backup copies data into the empty or missing directory to: first the
// database snapshot, then the recordings and the keys. A recording that
// the snapshot records as completed was finished before the snapshot, so
// its file is whole; one in progress is copied as far as it was written
// and closed by the restored platform at start, as after a crash.
func backup(ctx context.Context, data, to string, secretFromEnv bool) (*backupMeta, error) {
	src := filepath.Join(data, backupDB)
	if _, err := os.Stat(src); err != nil {
		return nil, fmt.Errorf("no SQLite database in %s: %w", data, err)
	}
	if err := emptyDir(to); err != nil {
		return nil, err
	}
	meta := &backupMeta{MinivoiceVersion: Version, CreatedAt: time.Now().UTC().Truncate(time.Second), SecretKeyFromEnv: secretFromEnv}
	var err error
	if meta.SchemaVersion, err = sqlite.Backup(ctx, src, filepath.Join(to, backupDB)); err != nil {
		return nil, err
	}
	sums := map[string]string{}
	if sums[backupDB], err = hashFile(filepath.Join(to, backupDB), &meta.Bytes); err != nil {
		return nil, err
	}
	recs := filepath.Join(data, recordingsDir)
	err = filepath.WalkDir(recs, func(path string, d fs.DirEntry, err error) error {
		if errors.Is(err, fs.ErrNotExist) {
			return nil // no recordings yet, or one deleted while walking
		}
		if err != nil || !d.Type().IsRegular() {
			return err
		}
		rel, err := filepath.Rel(data, path)
		if err != nil {
			return err
		}
		sum, err := copyFile(ctx, path, filepath.Join(to, rel), &meta.Bytes)
		if errors.Is(err, fs.ErrNotExist) {
			return nil // deleted through the API meanwhile
		}
		if err != nil {
			return err
		}
		sums[filepath.ToSlash(rel)] = sum
		meta.Recordings++
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("copy recordings: %w", err)
	}
	for _, name := range []string{adminKeyFile, platform.SecretKeyFile} {
		sum, err := copyFile(ctx, filepath.Join(data, name), filepath.Join(to, name), &meta.Bytes)
		if errors.Is(err, fs.ErrNotExist) {
			continue // given by MINIVOICE_ADMIN_KEY or MINIVOICE_SECRET_KEY instead
		}
		if err != nil {
			return nil, err
		}
		sums[name] = sum
	}
	info, err := json.MarshalIndent(meta, "", "  ")
	if err != nil {
		return nil, err
	}
	if err := writeSynced(filepath.Join(to, backupInfo), append(info, '\n')); err != nil {
		return nil, err
	}
	sum := sha256.Sum256(append(info, '\n'))
	sums[backupInfo] = hex.EncodeToString(sum[:])
	names := make([]string, 0, len(sums))
	for name := range sums {
		names = append(names, name)
	}
	sort.Strings(names)
	var manifest strings.Builder
	for _, name := range names {
		fmt.Fprintf(&manifest, "%s  %s\n", sums[name], name)
	}
	if err := writeSynced(filepath.Join(to, backupManifest), []byte(manifest.String())); err != nil {
		return nil, err
	}
	return meta, syncDir(to)
}

// restoreCmd is `minivoice restore --from DIR`: a backup into an empty data
// directory, every file checked against the backup's MANIFEST first.
func restoreCmd(ctx context.Context, args []string, env Env) int {
	fs := newFlagSet("minivoice restore", restoreUsage, args, env)
	var data, database, conf, from string
	dataFlags(fs, &data, &database, &conf)
	fs.StringVar(&from, "from", "", "backup directory written by minivoice backup")
	if err := config.ParseFlagsWithFile(fs, args, env.Getenv, &conf); err != nil {
		return usageExit(err, "minivoice restore", env)
	}
	if from == "" {
		fmt.Fprintln(env.Stderr, "minivoice restore: --from DIR is required")
		return 2
	}
	if database != "" {
		fmt.Fprintln(env.Stderr, "minivoice restore: this deployment keeps its data in PostgreSQL (--database): restore it with pg_restore, as docs/operations.md describes")
		return 1
	}
	start := time.Now()
	n, err := restore(ctx, from, data)
	if err != nil {
		fmt.Fprintln(env.Stderr, "minivoice restore:", err)
		return 1
	}
	fmt.Fprintf(env.Stdout, "restored %d files from %s into %s in %s; start serve on it\n", n, from, data, time.Since(start).Round(time.Millisecond))
	return 0
}

// restore checks every file of the backup in from against its MANIFEST,
// then copies them into data, which must be empty or missing. Run as root
// into a directory owned by another user (the package's minivoice), it
// gives the files to that user, so the service can open them.
func restore(ctx context.Context, from, data string) (int, error) {
	files, err := readManifest(from)
	if err != nil {
		return 0, err
	}
	if _, ok := files[backupDB]; !ok {
		return 0, fmt.Errorf("%s: the manifest lists no %s", from, backupDB)
	}
	for name, want := range files {
		got, err := hashFile(filepath.Join(from, filepath.FromSlash(name)), nil)
		if err != nil {
			return 0, err
		}
		if got != want {
			return 0, fmt.Errorf("%s: %s does not match its checksum in MANIFEST: the backup is damaged", from, name)
		}
	}
	if _, err := sqlite.Check(ctx, filepath.Join(from, backupDB)); err != nil {
		return 0, err
	}
	if err := emptyDir(data); err != nil {
		return 0, fmt.Errorf("refusing to restore: %w", err)
	}
	owner := dirOwner(data)
	names := make([]string, 0, len(files))
	for name := range files {
		if name != backupInfo {
			names = append(names, name)
		}
	}
	sort.Strings(names)
	for _, name := range names {
		dst := filepath.Join(data, filepath.FromSlash(name))
		if _, err := copyFile(ctx, filepath.Join(from, filepath.FromSlash(name)), dst, nil); err != nil {
			return 0, fmt.Errorf("%w (the restore is incomplete: empty %s before trying again)", err, data)
		}
		if owner != nil {
			if err := chownPath(data, dst, owner); err != nil {
				return 0, err
			}
		}
	}
	return len(names), syncDir(data)
}

// readManifest parses MANIFEST: "SHA256  NAME" lines, names relative and
// inside the backup.
func readManifest(dir string) (map[string]string, error) {
	f, err := os.Open(filepath.Join(dir, backupManifest))
	if err != nil {
		return nil, fmt.Errorf("%s is not a complete backup (no %s): %w", dir, backupManifest, err)
	}
	defer f.Close()
	files := map[string]string{}
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		sum, name, ok := strings.Cut(sc.Text(), "  ")
		clean := filepath.ToSlash(filepath.Clean(filepath.FromSlash(name)))
		if !ok || len(sum) != 64 || name == "" || clean != name || strings.HasPrefix(name, "../") || filepath.IsAbs(name) {
			return nil, fmt.Errorf("%s: bad line %q", filepath.Join(dir, backupManifest), sc.Text())
		}
		files[name] = sum
	}
	return files, sc.Err()
}

// emptyDir makes dir (0700) if it is missing and fails if it holds anything.
func emptyDir(dir string) error {
	entries, err := os.ReadDir(dir)
	if errors.Is(err, fs.ErrNotExist) {
		return os.MkdirAll(dir, 0o700)
	}
	if err != nil {
		return err
	}
	if len(entries) > 0 {
		return fmt.Errorf("%s is not empty", dir)
	}
	return nil
}

// copyFile copies src to the new file dst (mode 0600, parent directories
// 0700), synced to disk, adds its size to *total when total is not nil, and
// returns its SHA-256 in hex. It copies what src holds when it is opened
// and read; a recording being written grows meanwhile and is cut there.
func copyFile(ctx context.Context, src, dst string, total *int64) (string, error) {
	if err := ctx.Err(); err != nil {
		return "", err
	}
	in, err := os.Open(src)
	if err != nil {
		return "", err
	}
	defer in.Close()
	if err := os.MkdirAll(filepath.Dir(dst), 0o700); err != nil {
		return "", err
	}
	out, err := os.OpenFile(dst, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return "", err
	}
	h := sha256.New()
	n, err := io.Copy(io.MultiWriter(out, h), in)
	if err == nil {
		err = out.Sync()
	}
	if cerr := out.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return "", fmt.Errorf("copy %s: %w", src, err)
	}
	if total != nil {
		*total += n
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}

// hashFile returns path's SHA-256 in hex and adds its size to *total.
func hashFile(path string, total *int64) (string, error) {
	f, err := os.Open(path)
	if err != nil {
		return "", err
	}
	defer f.Close()
	h := sha256.New()
	n, err := io.Copy(h, f)
	if err != nil {
		return "", fmt.Errorf("read %s: %w", path, err)
	}
	if total != nil {
		*total += n
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}

// writeSynced writes a new file (0600) and syncs it.
func writeSynced(path string, b []byte) error {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return err
	}
	_, err = f.Write(b)
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	return err
}

// syncDir makes the directory entries just created durable.
func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}

// dirOwner returns the owner of dir when this process is root and dir
// belongs to someone else, else nil (files stay the caller's).
func dirOwner(dir string) *syscall.Stat_t {
	if os.Geteuid() != 0 {
		return nil
	}
	fi, err := os.Stat(dir)
	if err != nil {
		return nil
	}
	st, ok := fi.Sys().(*syscall.Stat_t)
	if !ok || st.Uid == 0 {
		return nil
	}
	return st
}

// chownPath gives path and its parent directories up to root to owner.
func chownPath(root, path string, owner *syscall.Stat_t) error {
	for p := path; p != root && strings.HasPrefix(p, root); p = filepath.Dir(p) {
		if err := os.Lchown(p, int(owner.Uid), int(owner.Gid)); err != nil {
			return fmt.Errorf("restore: %w", err)
		}
	}
	return nil
}
