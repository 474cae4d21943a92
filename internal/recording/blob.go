package recording

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"strings"
)

// BlobStore is where recording files live. Keys are relative slash-separated
// paths such as "cust_1/rec_2.wav" (see Key and CheckKey).
type BlobStore interface {
	// Create makes a new file for writing, creating parent directories. It
	// fails if the file exists: a recording is written once, never appended
	// to or overwritten.
	Create(key string) (*os.File, error)
	// Open opens an existing file for reading.
	Open(key string) (*os.File, error)
	// Remove deletes a file; a missing file is not an error, so deletion
	// can be retried after a crash.
	Remove(key string) error
	// Path is the file's local path, for tools such as media.RepairWAV that
	// work on paths. It is "" for an invalid key.
	Path(key string) string
}

// ErrInvalidKey is returned for a key that is empty, absolute, or could
// reach outside the store's root.
var ErrInvalidKey = errors.New("recording: invalid storage key")

// Key is the storage key of a recording's file: one directory per customer,
// which keeps directories small and makes a customer's data easy to find
// (and delete) by hand.
func Key(customerID, recordingID string) string {
	return customerID + "/" + recordingID + ".wav"
}

// CheckKey reports whether key is a clean relative slash path that stays
// inside a store's root: not empty or absolute, no "." or ".." segments, no
// empty segments, no backslashes (a path separator on Windows) and no NUL.
// Keys come from the database, so this is defence in depth against a row
// that was tampered with or written by a buggy version.
func CheckKey(key string) error {
	switch {
	case key == "":
		return fmt.Errorf("%w: empty", ErrInvalidKey)
	case strings.ContainsAny(key, "\\\x00"):
		return fmt.Errorf("%w: %q contains a backslash or NUL", ErrInvalidKey, key)
	case path.IsAbs(key) || filepath.IsAbs(key):
		return fmt.Errorf("%w: %q is absolute", ErrInvalidKey, key)
	case path.Clean(key) != key || !filepath.IsLocal(filepath.FromSlash(key)):
		return fmt.Errorf("%w: %q is not a clean relative path", ErrInvalidKey, key)
	}
	for seg := range strings.SplitSeq(key, "/") {
		if seg == ".." || seg == "." {
			return fmt.Errorf("%w: %q has a %q segment", ErrInvalidKey, key, seg)
		}
	}
	return nil
}

// Dir is a BlobStore in a local directory. Every access goes through an
// os.Root, so not even a symbolic link planted inside the directory can make
// a key reach files outside it.
type Dir struct {
	root *os.Root
	abs  string
}

var _ BlobStore = (*Dir)(nil)

// NewDir opens (creating it with mode 0700 if needed) the directory root as a
// blob store. Close it when done.
func NewDir(root string) (*Dir, error) {
	abs, err := filepath.Abs(root)
	if err != nil {
		return nil, fmt.Errorf("recording: blob dir %s: %w", root, err)
	}
	// 0700: recordings are personal data; no other user of the host, not
	// even the group, has any business listing them.
	if err := os.MkdirAll(abs, 0o700); err != nil {
		return nil, fmt.Errorf("recording: blob dir: %w", err)
	}
	r, err := os.OpenRoot(abs)
	if err != nil {
		return nil, fmt.Errorf("recording: blob dir: %w", err)
	}
	return &Dir{root: r, abs: abs}, nil
}

// Root is the directory's absolute path.
func (d *Dir) Root() string { return d.abs }

// Close releases the directory handle.
func (d *Dir) Close() error { return d.root.Close() }

// Create makes a new file at key with mode 0600, creating parent directories
// with mode 0700. It is opened read-write (not append) because media.WAVWriter
// rewrites the header in place.
func (d *Dir) Create(key string) (*os.File, error) {
	if err := CheckKey(key); err != nil {
		return nil, err
	}
	if dir := path.Dir(key); dir != "." {
		if err := d.root.MkdirAll(dir, 0o700); err != nil {
			return nil, fmt.Errorf("recording: create %s: %w", key, err)
		}
	}
	f, err := d.root.OpenFile(key, os.O_RDWR|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return nil, fmt.Errorf("recording: create %s: %w", key, err)
	}
	return f, nil
}

// Open opens the file at key for reading. A missing file yields an error
// matching fs.ErrNotExist.
func (d *Dir) Open(key string) (*os.File, error) {
	if err := CheckKey(key); err != nil {
		return nil, err
	}
	f, err := d.root.Open(key)
	if err != nil {
		return nil, fmt.Errorf("recording: open %s: %w", key, err)
	}
	return f, nil
}

// Remove deletes the file at key; a file that is already gone is not an
// error.
func (d *Dir) Remove(key string) error {
	if err := CheckKey(key); err != nil {
		return err
	}
	if err := d.root.Remove(key); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("recording: remove %s: %w", key, err)
	}
	return nil
}

// Path is the local path of key, or "" when key is invalid.
func (d *Dir) Path(key string) string {
	if CheckKey(key) != nil {
		return ""
	}
	return filepath.Join(d.abs, filepath.FromSlash(key))
}
