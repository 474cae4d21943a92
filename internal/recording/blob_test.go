package recording

import (
	"errors"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"testing"
)

func TestCheckKey(t *testing.T) {
	t.Parallel()
	tests := []struct {
		key string
		ok  bool
	}{
		{"cust_1/rec_2.wav", true},
		{"rec.wav", true},
		{"a/b/c.wav", true},
		{"a..b.wav", true}, // ".." inside a name is not a parent reference
		{"", false},
		{"../x", false},
		{"..", false},
		{"a/../b", false},
		{"a/..", false},
		{"/abs", false},
		{"/etc/passwd", false},
		{"a\\b", false},
		{"..\\x", false},
		{"a//b", false},
		{"./a", false},
		{"a/./b", false},
		{".", false},
		{"a/", false},
		{"a\x00b", false},
	}
	for _, tt := range tests {
		err := CheckKey(tt.key)
		if (err == nil) != tt.ok {
			t.Errorf("CheckKey(%q) = %v, want ok=%v", tt.key, err, tt.ok)
		}
		if err != nil && !errors.Is(err, ErrInvalidKey) {
			t.Errorf("CheckKey(%q) = %v, not ErrInvalidKey", tt.key, err)
		}
	}
}

func TestDirRefusesBadKeys(t *testing.T) {
	t.Parallel()
	d := newTestDir(t)
	for _, key := range []string{"../x", "/abs", "a\\b", "", "a/../../x"} {
		if f, err := d.Create(key); err == nil || !errors.Is(err, ErrInvalidKey) {
			t.Errorf("Create(%q) = %v, %v; want ErrInvalidKey", key, f, err)
			if f != nil {
				_ = f.Close()
			}
		}
		if _, err := d.Open(key); !errors.Is(err, ErrInvalidKey) {
			t.Errorf("Open(%q) = %v, want ErrInvalidKey", key, err)
		}
		if err := d.Remove(key); !errors.Is(err, ErrInvalidKey) {
			t.Errorf("Remove(%q) = %v, want ErrInvalidKey", key, err)
		}
		if p := d.Path(key); p != "" {
			t.Errorf("Path(%q) = %q, want \"\"", key, p)
		}
	}
	if _, err := os.Stat(filepath.Join(filepath.Dir(d.Root()), "x")); err == nil {
		t.Error("a file appeared outside the root")
	}
}

func newTestDir(t *testing.T) *Dir {
	t.Helper()
	d, err := NewDir(filepath.Join(t.TempDir(), "data", "recordings"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = d.Close() })
	return d
}

func TestDirCreateOpenRemove(t *testing.T) {
	t.Parallel()
	d := newTestDir(t)
	if fi, err := os.Stat(d.Root()); err != nil || fi.Mode().Perm()&0o007 != 0 {
		t.Errorf("root %v, %v: want a directory closed to other users", fi, err)
	}
	key := Key("cust_1", "rec_2")
	if key != "cust_1/rec_2.wav" {
		t.Fatalf("Key = %q", key)
	}
	f, err := d.Create(key)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.WriteString("hello"); err != nil {
		t.Fatal(err)
	}
	// WAVWriter rewrites the header in place: the file must be seekable and
	// readable, not append-only.
	if _, err := f.WriteAt([]byte("J"), 0); err != nil {
		t.Errorf("WriteAt: %v", err)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
	if want := filepath.Join(d.Root(), "cust_1", "rec_2.wav"); d.Path(key) != want {
		t.Errorf("Path = %q, want %q", d.Path(key), want)
	}
	fi, err := os.Stat(d.Path(key))
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Perm()&0o177 != 0 {
		t.Errorf("file mode %v, want at most 0600", fi.Mode())
	}
	if di, err := os.Stat(filepath.Dir(d.Path(key))); err != nil || di.Mode().Perm()&0o077 != 0 {
		t.Errorf("directory mode %v (%v), want at most 0700", di.Mode(), err)
	}
	if _, err := d.Create(key); !errors.Is(err, fs.ErrExist) {
		t.Errorf("second Create = %v, want fs.ErrExist: a recording is never overwritten", err)
	}
	r, err := d.Open(key)
	if err != nil {
		t.Fatal(err)
	}
	b, err := io.ReadAll(r)
	_ = r.Close()
	if err != nil || string(b) != "Jello" {
		t.Errorf("Open read %q, %v", b, err)
	}
	if err := d.Remove(key); err != nil {
		t.Fatal(err)
	}
	if err := d.Remove(key); err != nil {
		t.Errorf("removing a missing file: %v", err)
	}
	if _, err := d.Open(key); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("Open after Remove = %v, want fs.ErrNotExist", err)
	}
}

func TestDirSymlinkCannotEscape(t *testing.T) {
	t.Parallel()
	d := newTestDir(t)
	outside := t.TempDir()
	if err := os.Symlink(outside, filepath.Join(d.Root(), "cust_evil")); err != nil {
		t.Skip("no symlinks here:", err)
	}
	if f, err := d.Create("cust_evil/rec.wav"); err == nil {
		_ = f.Close()
		t.Error("Create followed a symlink out of the root")
	}
	if entries, _ := os.ReadDir(outside); len(entries) != 0 {
		t.Errorf("files appeared outside the root: %v", entries)
	}
}
