package asr_test

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/minivoice/minivoice/internal/insights/asr"
)

// TestPocketsphinxVocabulary: names the language model lacks or rates
// unlikely are recognised once they are the audio's vocabulary, the output
// spells them as words (no alias), the built files are cached and reused,
// and a vocabulary that cannot be used (white space in the temp path) still
// transcribes, without the bias.
func TestPocketsphinxVocabulary(t *testing.T) {
	t.Parallel()
	needFullRecognition(t)
	needPocketsphinx(t)
	tmp := t.TempDir()
	eng := asr.NewPocketsphinx(asr.PocketsphinxConfig{TempDir: tmp, Timeout: 5 * time.Minute})
	a := speak(t, "Hello, this is Acme Dental calling about your appointment on Thursday.")
	ctx := context.Background()

	plain, err := eng.Transcribe(ctx, a)
	if err != nil {
		t.Fatal(err)
	}
	a.Vocabulary = []string{"Acme Dental", "Northwind", "a phrase far longer than any name or product ever is, so it is skipped entirely by the engine's bound", "x1-ray!"}
	biased, err := eng.Transcribe(ctx, a)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("without vocabulary: %q", text(plain))
	t.Logf("with vocabulary:    %q", text(biased))
	if !strings.Contains(text(biased), "acme dental") {
		t.Errorf("with the vocabulary, %q lacks \"acme dental\"", text(biased))
	}
	if strings.Contains(text(biased), "_") {
		t.Errorf("an alias leaked into the text: %q", text(biased))
	}
	checkSegments(t, biased, a)

	// Built once: one cache entry, reused by a second engine.
	entries, err := filepath.Glob(filepath.Join(tmp, "minivoice-asr-vocab", "*", "members"))
	if err != nil || len(entries) != 1 {
		t.Fatalf("cache entries %v (%v), want 1", entries, err)
	}
	again, err := asr.NewPocketsphinx(asr.PocketsphinxConfig{TempDir: tmp, Timeout: 5 * time.Minute}).Transcribe(ctx, a)
	if err != nil {
		t.Fatal(err)
	}
	if text(again) != text(biased) {
		t.Errorf("cached vocabulary gave %q, first build %q", text(again), text(biased))
	}
	if n, _ := filepath.Glob(filepath.Join(tmp, "minivoice-asr-vocab", "*")); len(n) != 1 {
		t.Errorf("cache holds %v after reuse, want one entry", n)
	}
	// Nothing else is left in the temp directory: only the cache.
	if left, _ := os.ReadDir(tmp); len(left) != 1 || left[0].Name() != "minivoice-asr-vocab" {
		t.Errorf("temp directory holds %v, want only the vocabulary cache", left)
	}

	// A temp path lmctl cannot name: the transcript comes without bias.
	spaced := filepath.Join(t.TempDir(), "with space")
	if err := os.Mkdir(spaced, 0o755); err != nil {
		t.Fatal(err)
	}
	r, err := asr.NewPocketsphinx(asr.PocketsphinxConfig{TempDir: spaced, Timeout: 5 * time.Minute}).Transcribe(ctx, a)
	if err != nil {
		t.Fatal(err)
	}
	if text(r) != text(plain) {
		t.Errorf("unusable vocabulary: %q, want the plain transcript %q", text(r), text(plain))
	}
}
