package asr

import (
	"slices"
	"strings"
	"testing"
)

// TestVocabWords: phrases become distinct, sorted, lower-case words; single
// letters, words with digits or symbols and over-long phrases are dropped;
// the phrase and word counts are bounded.
func TestVocabWords(t *testing.T) {
	got := vocabWords([]string{"Acme Dental", "acme", "Thank you for calling Northwind!", "O'Brien's X1-ray",
		strings.Repeat("toolong ", 20), ""})
	want := []string{"acme", "calling", "dental", "for", "northwind", "o'brien's", "ray", "thank", "you"}
	if !slices.Equal(got, want) {
		t.Errorf("vocabWords = %q, want %q", got, want)
	}
	many := make([]string, 3*MaxVocabulary)
	for i := range many {
		many[i] = "w" + strings.Repeat("a", i%60) + string(rune('a'+i%26)) + " " + string(rune('b'+i%25)) + "word"
	}
	if n := len(vocabWords(many)); n > maxVocabWords {
		t.Errorf("%d words from %d phrases, want at most %d", n, len(many), maxVocabWords)
	}
	// Only the first MaxVocabulary phrases count.
	late := append(slices.Repeat([]string{"filler"}, MaxVocabulary), "latecomer")
	if slices.Contains(vocabWords(late), "latecomer") {
		t.Error("a phrase past MaxVocabulary was used")
	}
}
