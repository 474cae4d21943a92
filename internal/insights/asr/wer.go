package asr

import (
	"strings"
	"unicode"
)

// WordErrors returns the word-level edit distance (substitutions, deletions
// and insertions) between a reference and a hypothesis, and the number of
// reference words, after normalising both: lower case, punctuation removed
// (apostrophes inside words kept, so "don't" stays one word), whitespace
// collapsed. The word error rate is errs/words; with an empty reference it
// is undefined and errs is the number of hypothesis words.
//
// Punctuation separates words rather than joining them, so "follow-up" and
// "follow up" compare equal (pocketsphinx spells some compounds with a
// hyphen). Digits are kept as they are: "5" and "five" differ, so references
// should spell numbers out as the recognisers do.
func WordErrors(reference, hypothesis string) (errs, words int) {
	ref, hyp := normaliseWords(reference), normaliseWords(hypothesis)
	return editDistance(ref, hyp), len(ref)
}

// normaliseWords lower-cases s and splits it into words of letters, digits
// and inner apostrophes.
func normaliseWords(s string) []string {
	rs := []rune(strings.ToLower(s))
	isWord := func(i int) bool {
		return i >= 0 && i < len(rs) && (unicode.IsLetter(rs[i]) || unicode.IsDigit(rs[i]) || unicode.IsMark(rs[i]))
	}
	var words []string
	var cur []rune
	for i, r := range rs {
		switch {
		case isWord(i):
			cur = append(cur, r)
		case (r == '\'' || r == '\u2019') && isWord(i-1) && isWord(i+1):
			cur = append(cur, '\'') // typographic apostrophes compare equal to ASCII ones
		default:
			if len(cur) > 0 {
				words = append(words, string(cur))
				cur = cur[:0]
			}
		}
	}
	if len(cur) > 0 {
		words = append(words, string(cur))
	}
	return words
}

// editDistance is the Levenshtein distance between two word sequences, in
// O(len(a)*len(b)) time and O(len(b)) memory.
func editDistance(a, b []string) int {
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			sub := prev[j-1]
			if a[i-1] != b[j-1] {
				sub++
			}
			cur[j] = min(sub, prev[j]+1, cur[j-1]+1)
		}
		prev, cur = cur, prev
	}
	return prev[len(b)]
}
