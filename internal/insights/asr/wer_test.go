package asr_test

import (
	"testing"

	"github.com/minivoice/minivoice/internal/insights/asr"
)

func TestWordErrors(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name           string
		ref, hyp       string
		errs, refWords int
	}{
		{"identical", "hello world", "hello world", 0, 2},
		{"substitution", "the cat sat", "the bat sat", 1, 3},
		{"insertion", "the cat", "the black cat", 1, 2},
		{"deletion", "the black cat", "the cat", 1, 3},
		{"all three", "a b c d", "x b d e", 3, 4},
		{"empty hypothesis", "one two three", "", 3, 3},
		{"empty reference", "", "hello there", 2, 0},
		{"both empty", " ", "", 0, 0},
		{"punctuation and case", "Hello, World! Don't STOP.", "hello world don't stop", 0, 4},
		{"typographic apostrophe", "It’s fine", "it's fine", 0, 2},
		{"quotes are not apostrophes", "'cause it's 'fine'", "cause it's fine", 0, 3},
		{"hyphen separates", "a follow-up call", "a follow up call", 0, 4},
		{"whitespace", "  a \t b\n", "a b", 0, 2},
		{"accents kept", "Café crème", "cafe creme", 2, 2},
		{"numbers are words", "room 101", "room one oh one", 3, 2},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			errs, words := asr.WordErrors(tt.ref, tt.hyp)
			if errs != tt.errs || words != tt.refWords {
				t.Errorf("WordErrors(%q, %q) = %d, %d; want %d, %d", tt.ref, tt.hyp, errs, words, tt.errs, tt.refWords)
			}
		})
	}
}

func BenchmarkWordErrors(b *testing.B) {
	ref := ""
	for range 500 {
		ref += "the quick brown fox jumps over the lazy dog "
	}
	hyp := ref[len(ref)/3:] + " and more words"
	for b.Loop() {
		asr.WordErrors(ref, hyp)
	}
}
