package asr

import (
	"bytes"
	"os"
	"path/filepath"
	"testing"
)

// TestMLLRFor: the built-in transform is written under TempDir (again if
// removed) and used for narrowband audio with the model it fits, and for
// nothing else: wideband audio, NarrowbandMLLRNone, another model, a
// configured file that is missing.
func TestMLLRFor(t *testing.T) {
	if _, err := os.Stat(filepath.Join(DefaultPocketsphinxModelDir, psAcousticModel, "means")); err != nil {
		t.Skip("pocketsphinx-en-us is not installed")
	}
	tmp := t.TempDir()
	p := NewPocketsphinx(PocketsphinxConfig{TempDir: tmp})
	if got := p.mllrFor(16000); got != "" {
		t.Errorf("16 kHz: %q, want no transform", got)
	}
	path := p.mllrFor(8000)
	if path == "" {
		t.Fatal("8 kHz with the default model: no transform")
	}
	if b, err := os.ReadFile(path); err != nil || !bytes.Equal(b, narrowbandMLLR) {
		t.Fatalf("%s: %v, content equal %v", path, err, bytes.Equal(b, narrowbandMLLR))
	}
	if err := os.Remove(path); err != nil {
		t.Fatal(err)
	}
	if again := p.mllrFor(8000); again != path {
		t.Errorf("after removal: %q, want %q rewritten", again, path)
	}
	if _, err := os.Stat(path); err != nil {
		t.Errorf("not rewritten: %v", err)
	}
	if left, _ := filepath.Glob(filepath.Join(tmp, ".minivoice-asr-mllr-*")); len(left) != 0 {
		t.Errorf("temp files left: %v", left)
	}

	if got := NewPocketsphinx(PocketsphinxConfig{TempDir: tmp, NarrowbandMLLR: NarrowbandMLLRNone}).mllrFor(8000); got != "" {
		t.Errorf("none: %q", got)
	}
	if got := NewPocketsphinx(PocketsphinxConfig{TempDir: tmp, NarrowbandMLLR: filepath.Join(tmp, "missing")}).mllrFor(8000); got != "" {
		t.Errorf("a missing configured file: %q", got)
	}
	other := t.TempDir()
	if err := os.MkdirAll(filepath.Join(other, psAcousticModel), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(other, psAcousticModel, "means"), []byte("another model"), 0o644); err != nil {
		t.Fatal(err)
	}
	if got := NewPocketsphinx(PocketsphinxConfig{TempDir: tmp, ModelDir: other}).mllrFor(8000); got != "" {
		t.Errorf("another model: %q, want no transform", got)
	}
}
