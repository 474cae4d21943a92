package asr

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"
	"unicode"
)

// Vocabulary biasing. pocketsphinx_continuous cannot change its trigram
// model's probabilities from the command line, and Debian's
// sphinx_lm_convert fails converting en-us.lm.bin to ARPA (an assertion in
// its trie writer), so the model cannot be rewritten either. What it can do
// is load the model through an -lmctl file that attaches word classes.
// Every vocabulary word becomes a member of a class under an alias (the
// word plus vocabAlias, with the word's pronunciations in a copy of the
// dictionary), so it gets a second path into the model whether or not the
// model knew it: a name the model lacks ("Northwind") becomes recognisable
// at all, and a rare one it has ("Acme") more likely. Aliases also avoid a
// crash: sphinxbase drops a class member the model already has as a word,
// and then segfaults. The aliases are mapped back to the word in the
// output.
//
// How strongly a class word is favoured is the probability of the class's
// tag word, in context, shared among its members. A tag that is not in the
// model gets a unigram of 1/vocabulary size, which barely helped (flite's
// kal16 saying "Acme Dental" still came out "actually down for"); so the
// tags are ordinary words the model knows, business nouns whose contexts
// ("this is ...", "calling the ...") are where names are said, and the
// words are spread over vocabTags round robin. A larger vocabulary
// therefore favours each word less, as it should. docs/insights.md
// ("Accuracy and speed") has the measurements.
const (
	// vocabAlias marks a vocabulary word's class alias in the dictionary
	// and in pocketsphinx's output. No CMU dictionary word contains it.
	vocabAlias = "_mvvocab"
	// maxPhraseBytes bounds one vocabulary phrase; longer ones are
	// skipped (they are not names or keywords, and a customer controls
	// them).
	maxPhraseBytes = 100
	// maxVocabWords bounds the distinct words of one vocabulary, after
	// MaxVocabulary phrases: each costs a dictionary line and possibly a
	// t2p run.
	maxVocabWords = 1000
	// maxVocabCache bounds the vocabularies kept built on disk (each a
	// 3.3 MB copy of the dictionary plus two small files); the least
	// recently used beyond it are removed.
	maxVocabCache = 8
	// maxVocabFailed bounds the vocabularies remembered as failed to
	// build (the memory is cleared when full).
	maxVocabFailed = 64
	// vocabCacheDir is the cache's directory under the engine's TempDir.
	vocabCacheDir = "minivoice-asr-vocab"
	// vocabBuildTimeout bounds building one vocabulary (t2p runs for
	// unknown words, the dictionary copy).
	vocabBuildTimeout = 60 * time.Second
	// vocabVersion changes whenever the files' layout does, so old cache
	// entries are not reused.
	vocabVersion = "2"
)

// vocabTags are the class tags: words of en-us.lm.bin (sphinxbase allows
// at most 128 classes).
var vocabTags = []string{"company", "business", "office", "service", "store", "product", "street", "city"}

// vocabFiles are the pocketsphinx inputs for one vocabulary.
type vocabFiles struct {
	lmctl, dict string
	words       int // class members
}

// vocabWords returns the distinct normalised words of phrases, bounded:
// at most MaxVocabulary phrases of at most maxPhraseBytes each, at most
// maxVocabWords words; single letters and words of anything but letters
// and apostrophes are dropped. Common words stay: the call's prompts come
// with the vocabulary, and dropping their common words (a stop list of 100)
// measured no better on bench/asr-wer's names set (74 % of the name words
// recognised instead of 75 %).
func vocabWords(phrases []string) []string {
	seen := map[string]bool{}
	var out []string
	for _, ph := range phrases[:min(len(phrases), MaxVocabulary)] {
		if len(ph) > maxPhraseBytes {
			continue
		}
		for _, f := range strings.FieldsFunc(ph, func(r rune) bool { return !unicode.IsLetter(r) && r != '\'' }) {
			w := NormalizeWord(strings.Trim(f, "'"))
			if len(w) < 2 || len(w) > maxLexWord || seen[w] || !isWord(w) {
				continue
			}
			seen[w] = true
			out = append(out, w)
			if len(out) == maxVocabWords {
				slices.Sort(out)
				return out
			}
		}
	}
	slices.Sort(out)
	return out
}

// isWord reports whether w is letters and apostrophes only.
func isWord(w string) bool {
	for _, r := range w {
		if !unicode.IsLetter(r) && r != '\'' {
			return false
		}
	}
	return w != ""
}

// vocabulary returns the lmctl and dictionary files biasing recognition
// towards phrases, building and caching them on first use. nil (and no
// error) means there is nothing to bias towards.
func (p *Pocketsphinx) vocabulary(ctx context.Context, phrases []string) (*vocabFiles, error) {
	words := vocabWords(phrases)
	if len(words) == 0 {
		return nil, nil
	}
	lm := filepath.Join(p.modelDir, psLanguageModel)
	dictPath := filepath.Join(p.modelDir, psDictionary)
	h := sha256.New()
	fmt.Fprintf(h, "%s\x00%s\x00%s\x00%s", vocabVersion, lm, dictPath, strings.Join(words, "\n"))
	key := hex.EncodeToString(h.Sum(nil))[:32]
	root := filepath.Join(cmpOr(p.tempDir, os.TempDir()), vocabCacheDir)
	dir := filepath.Join(root, key)
	// The lmctl format separates fields by white space.
	if strings.ContainsFunc(dir+lm, unicode.IsSpace) {
		return nil, fmt.Errorf("asr: vocabulary: a path has white space in it (%s, %s): lmctl files cannot name it", dir, lm)
	}
	files := &vocabFiles{lmctl: filepath.Join(dir, "vocab.lmctl"), dict: filepath.Join(dir, "vocab.dict")}

	p.vocabMu.Lock()
	defer p.vocabMu.Unlock()
	if n, err := readMembers(filepath.Join(dir, "members")); err == nil {
		now := time.Now()
		_ = os.Chtimes(dir, now, now) // recently used
		files.words = n
		return files, nil
	}
	if p.vocabFailed[key] {
		// It failed before (t2p timing out on every word, say): do not
		// make every transcription wait for that again.
		return nil, errors.New("asr: vocabulary: its build failed before")
	}
	bctx, cancel := context.WithTimeout(ctx, vocabBuildTimeout)
	defer cancel()
	built := false
	defer func() {
		if !built && ctx.Err() == nil {
			if len(p.vocabFailed) >= maxVocabFailed || p.vocabFailed == nil {
				p.vocabFailed = map[string]bool{}
			}
			p.vocabFailed[key] = true
		}
	}()
	if p.lexicon == nil {
		p.lexicon = NewLexicon(dictPath, p.t2pBin)
	}
	entries, _, err := p.lexicon.Entries(bctx, words)
	if err != nil {
		return nil, fmt.Errorf("asr: vocabulary: %w", err)
	}
	if len(entries) == 0 {
		built = true // nothing to build is not a failure
		return nil, nil
	}
	if err := os.MkdirAll(root, 0o700); err != nil {
		return nil, fmt.Errorf("asr: vocabulary: %w", err)
	}
	tmp, err := os.MkdirTemp(root, ".build-")
	if err != nil {
		return nil, fmt.Errorf("asr: vocabulary: %w", err)
	}
	defer os.RemoveAll(tmp) // after a successful rename, nothing is left there
	if err := writeVocabFiles(tmp, dir, lm, dictPath, entries); err != nil {
		return nil, err
	}
	_ = os.RemoveAll(dir) // a half-written entry from a crash
	if err := os.Rename(tmp, dir); err != nil {
		return nil, fmt.Errorf("asr: vocabulary: %w", err)
	}
	evictVocab(root, maxVocabCache)
	files.words = len(entries)
	built = true
	return files, nil
}

// writeVocabFiles writes into dir the dictionary (the base one plus each
// entry's alias), the class definition and the lmctl file naming them as
// they will be once dir is renamed to final, then "members" last: its
// presence marks a complete entry.
func writeVocabFiles(dir, final, lm, baseDict string, entries []Entry) error {
	aliases := make([]Entry, len(entries))
	for i, e := range entries {
		aliases[i] = Entry{Word: e.Word + vocabAlias, Phones: e.Phones}
	}
	wrap := func(err error) error { return fmt.Errorf("asr: vocabulary: %w", err) }
	src, err := os.Open(baseDict)
	if err != nil {
		return wrap(err)
	}
	defer src.Close()
	dst, err := os.Create(filepath.Join(dir, "vocab.dict"))
	if err != nil {
		return wrap(err)
	}
	_, err = io.Copy(dst, src)
	if err == nil {
		err = WriteDictionary(dst, aliases)
	}
	if cerr := dst.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return wrap(err)
	}
	k := min(len(vocabTags), len(aliases))
	var def strings.Builder
	for c, tag := range vocabTags[:k] {
		fmt.Fprintf(&def, "LMCLASS %s\n", tag)
		n := (len(aliases) - c + k - 1) / k // members of this class
		for i := c; i < len(aliases); i += k {
			// Equal shares summing to 1, which sphinxbase keeps as given.
			fmt.Fprintf(&def, "%s %g\n", aliases[i].Word, 1/float64(n))
		}
		fmt.Fprintf(&def, "END %s\n", tag)
	}
	if err := os.WriteFile(filepath.Join(dir, "vocab.probdef"), []byte(def.String()), 0o600); err != nil {
		return wrap(err)
	}
	ctl := fmt.Sprintf("{ %s }\n%s default { %s }\n", filepath.Join(final, "vocab.probdef"), lm, strings.Join(vocabTags[:k], " "))
	if err := os.WriteFile(filepath.Join(dir, "vocab.lmctl"), []byte(ctl), 0o600); err != nil {
		return wrap(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "members"), fmt.Appendf(nil, "%d\n", len(aliases)), 0o600); err != nil {
		return wrap(err)
	}
	return nil
}

// readMembers reads the member count a complete cache entry records.
func readMembers(path string) (int, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return 0, err
	}
	var n int
	if _, err := fmt.Sscanf(string(b), "%d", &n); err != nil || n <= 0 {
		return 0, errors.New("asr: vocabulary: bad cache entry")
	}
	return n, nil
}

// evictVocab removes the least recently used entries under root beyond
// keep, and build directories a crash left behind.
func evictVocab(root string, keep int) {
	des, err := os.ReadDir(root)
	if err != nil {
		return
	}
	type entry struct {
		name string
		mod  time.Time
	}
	var es []entry
	for _, de := range des {
		fi, err := de.Info()
		if err != nil || !de.IsDir() {
			continue
		}
		if strings.HasPrefix(de.Name(), ".build-") {
			if time.Since(fi.ModTime()) > 2*vocabBuildTimeout {
				_ = os.RemoveAll(filepath.Join(root, de.Name()))
			}
			continue
		}
		es = append(es, entry{de.Name(), fi.ModTime()})
	}
	if len(es) <= keep {
		return
	}
	slices.SortFunc(es, func(a, b entry) int { return b.mod.Compare(a.mod) })
	for _, e := range es[keep:] {
		_ = os.RemoveAll(filepath.Join(root, e.name))
	}
}

// stripAlias maps a vocabulary alias in pocketsphinx's output back to its
// word.
func stripAlias(w string) string {
	return strings.TrimSuffix(w, vocabAlias)
}

func cmpOr(a, b string) string {
	if a != "" {
		return a
	}
	return b
}
