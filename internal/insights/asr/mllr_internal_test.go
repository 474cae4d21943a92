package asr

import (
	"bytes"
	"os"
	"path/filepath"
	"testing"
)

// TestMLLRFor: the built-in transform is written to a temporary file under
// TempDir, removed when done, and used for narrowband audio with the model
// it fits, and for nothing else: wideband audio, NarrowbandMLLRNone,
// another model, a configured file that is missing.
func TestMLLRFor(t *testing.T) {
	if _, err := os.Stat(filepath.Join(DefaultPocketsphinxModelDir, psAcousticModel, "means")); err != nil {
		t.Skip("pocketsphinx-en-us is not installed")
	}
	tmp := t.TempDir()
	p := NewPocketsphinx(PocketsphinxConfig{TempDir: tmp})
	if got, done := p.mllrFor(16000); got != "" {
		t.Errorf("16 kHz: %q, want no transform", got)
	} else {
		done()
	}
	path, done := p.mllrFor(8000)
	if path == "" {
		t.Fatal("8 kHz with the default model: no transform")
	}
	if filepath.Dir(path) != tmp {
		t.Errorf("transform at %s, want it under %s", path, tmp)
	}
	if b, err := os.ReadFile(path); err != nil || !bytes.Equal(b, narrowbandMLLR) {
		t.Fatalf("%s: %v, content equal %v", path, err, bytes.Equal(b, narrowbandMLLR))
	}
	done()
	if left, _ := os.ReadDir(tmp); len(left) != 0 {
		t.Errorf("left in the temp directory: %v", left)
	}

	for name, cfg := range map[string]PocketsphinxConfig{
		"none":                  {TempDir: tmp, NarrowbandMLLR: NarrowbandMLLRNone},
		"a missing custom file": {TempDir: tmp, NarrowbandMLLR: filepath.Join(tmp, "missing")},
	} {
		if got, done := NewPocketsphinx(cfg).mllrFor(8000); got != "" {
			t.Errorf("%s: %q", name, got)
			done()
		}
	}
	other := t.TempDir()
	if err := os.MkdirAll(filepath.Join(other, psAcousticModel), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(other, psAcousticModel, "means"), []byte("another model"), 0o644); err != nil {
		t.Fatal(err)
	}
	if got, done := NewPocketsphinx(PocketsphinxConfig{TempDir: tmp, ModelDir: other}).mllrFor(8000); got != "" {
		t.Errorf("another model: %q, want no transform", got)
		done()
	}
}
