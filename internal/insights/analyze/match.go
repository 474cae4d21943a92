package analyze

import (
	"strings"
)

// Matching words through recognition errors. A recogniser writes what it
// heard as the nearest words it knows: an inflection ("appointments" for
// "appointment"), a word that sounds alike ("acne" for "acme"), or a split
// or merged word ("a point meant"). Keywords are therefore compared on
// three levels: the exact tokens, their stems, and, for keywords long
// enough that a near miss is unlikely to be a different word, how they
// sound (a phonetic key) and how they are spelt (edit distance).

// stem strips the common English inflections: plural and possessive s,
// -es, -ies, -ed, -ing, then a final e and a doubled final letter, so that
// "booked", "booking" and "books" all stem to "book", "charge", "charged"
// and "charges" to "charg", "billed" and "bill" to "bil", "appointments"
// to "appointment". Stems are only compared with stems, so they need not
// be words. It is deliberately light (no derivational suffixes like -ment
// or -ation): those change the meaning a keyword was chosen for.
func stem(w string) string {
	w = inflection(w)
	if n := len(w); n > 3 && w[n-1] == 'e' {
		w = w[:n-1]
	}
	if n := len(w); n > 3 && w[n-1] == w[n-2] && w[n-1] >= 'a' && w[n-1] <= 'z' && !strings.ContainsRune("aeiou", rune(w[n-1])) {
		w = w[:n-1]
	}
	return w
}

// inflection strips one inflectional suffix.
func inflection(w string) string {
	n := len(w)
	switch {
	case n > 4 && strings.HasSuffix(w, "ies"):
		return w[:n-3] + "y"
	case n > 4 && strings.HasSuffix(w, "'s"):
		return w[:n-2]
	case n > 4 && (strings.HasSuffix(w, "sses") || strings.HasSuffix(w, "shes") || strings.HasSuffix(w, "ches") ||
		strings.HasSuffix(w, "xes")):
		return w[:n-2]
	case n > 3 && strings.HasSuffix(w, "s") && !strings.HasSuffix(w, "ss") && !strings.HasSuffix(w, "us") &&
		!strings.HasSuffix(w, "is"):
		return w[:n-1]
	case n > 5 && strings.HasSuffix(w, "ing"):
		return w[:n-3]
	case n > 4 && strings.HasSuffix(w, "ed"):
		return w[:n-2]
	}
	return w
}

// phonetic returns a Metaphone-style key of a lower-case word: consonant
// sounds as letters (0 for "th", X for "sh"/"ch"), vowels dropped but for a
// leading one (as A), silent letters and doubled sounds removed. Words that
// sound alike get equal or near keys: "acme" AKM and "acne" AKN, "refund"
// and "refined" RFNT, "appointment" APNTMNT.
func phonetic(w string) string {
	// Only a-z: digits and apostrophes carry no sound here.
	b := make([]byte, 0, len(w))
	for i := 0; i < len(w); i++ {
		if c := w[i]; c >= 'a' && c <= 'z' {
			b = append(b, c)
		}
	}
	if len(b) == 0 {
		return ""
	}
	s := string(b)
	for _, p := range [][2]string{{"kn", "n"}, {"gn", "n"}, {"pn", "n"}, {"wr", "r"}, {"ae", "e"}, {"wh", "w"}} {
		if strings.HasPrefix(s, p[0]) {
			s = p[1] + s[len(p[0]):]
			break
		}
	}
	if s[0] == 'x' {
		s = "s" + s[1:]
	}
	vowel := func(i int) bool { return i >= 0 && i < len(s) && strings.IndexByte("aeiou", s[i]) >= 0 }
	at := func(i int) byte {
		if i < 0 || i >= len(s) {
			return 0
		}
		return s[i]
	}
	var out []byte
	emit := func(c byte) {
		if len(out) == 0 || out[len(out)-1] != c {
			out = append(out, c)
		}
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c != 'c' && i > 0 && s[i-1] == c {
			continue // doubled letters sound once
		}
		switch c {
		case 'a', 'e', 'i', 'o', 'u':
			if i == 0 {
				emit('A')
			}
		case 'b':
			if !(i == len(s)-1 && at(i-1) == 'm') {
				emit('B')
			}
		case 'c':
			switch {
			case at(i+1) == 'i' && at(i+2) == 'a', at(i+1) == 'h':
				emit('X')
				if at(i+1) == 'h' {
					i++
				}
			case at(i+1) == 'i' || at(i+1) == 'e' || at(i+1) == 'y':
				if at(i-1) != 's' {
					emit('S')
				}
			default:
				emit('K')
			}
		case 'd':
			if at(i+1) == 'g' && (at(i+2) == 'e' || at(i+2) == 'i' || at(i+2) == 'y') {
				emit('J')
				i++
			} else {
				emit('T')
			}
		case 'g':
			switch {
			case at(i+1) == 'h' && !vowel(i+2):
				i++ // silent gh: "night", "through"
			case at(i+1) == 'n' && (i+2 == len(s) || at(i+2) == 'e' && at(i+3) == 'd' && i+4 == len(s)):
				// silent g: "sign", "signed"
			case at(i+1) == 'i' || at(i+1) == 'e' || at(i+1) == 'y':
				emit('J')
			default:
				emit('K')
			}
		case 'h':
			if vowel(i+1) && !strings.ContainsRune("cgpst", rune(at(i-1))) {
				emit('H')
			}
		case 'k':
			if at(i-1) != 'c' {
				emit('K')
			}
		case 'p':
			if at(i+1) == 'h' {
				emit('F')
				i++
			} else {
				emit('P')
			}
		case 'q':
			emit('K')
		case 's':
			switch {
			case at(i+1) == 'h':
				emit('X')
				i++
			case at(i+1) == 'i' && (at(i+2) == 'o' || at(i+2) == 'a'):
				emit('X')
			default:
				emit('S')
			}
		case 't':
			switch {
			case at(i+1) == 'i' && (at(i+2) == 'o' || at(i+2) == 'a'):
				emit('X')
			case at(i+1) == 'h':
				emit('0')
				i++
			case at(i+1) == 'c' && at(i+2) == 'h':
				// silent: "watch"
			default:
				emit('T')
			}
		case 'v':
			emit('F')
		case 'w', 'y':
			if vowel(i + 1) {
				emit(c - 'a' + 'A')
			}
		case 'x':
			emit('K')
			emit('S')
		case 'z':
			emit('S')
		default: // f j l m n r
			emit(c - 'a' + 'A')
		}
	}
	return string(out)
}

// editDistance is the Levenshtein distance of a and b, giving up (and
// returning limit+1) once it must exceed limit; both are short (keys and
// words of at most maxFuzzyLetters).
func editDistance(a, b string, limit int) int {
	if d := len(a) - len(b); d > limit || -d > limit {
		return limit + 1
	}
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		best := cur[0]
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
			best = min(best, cur[j])
		}
		if best > limit {
			return limit + 1
		}
		prev, cur = cur, prev
	}
	return prev[len(b)]
}
