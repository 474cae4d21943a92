package asr

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"sort"
	"strings"
	"sync"
	"time"
	"unicode"
)

// DefaultT2PBin is flite's letter-to-sound program (Debian package flite),
// which gives pronunciations for words the dictionary lacks.
const DefaultT2PBin = "t2p"

// Bounds on what a Lexicon is asked: a word is at most maxLexWord bytes
// and one t2p run is bounded in time, so a customer's vocabulary cannot
// make the recogniser's preparation expensive.
const (
	maxLexWord  = 64
	t2pTimeout  = 5 * time.Second
	maxT2POut   = 4 << 10
	lexNotFound = "asr: lexicon: no pronunciation"
)

// ErrNoPronunciation is returned for a word that is not in the dictionary
// and that t2p could not (or may not) pronounce: empty, too long, or made
// of characters other than letters and apostrophes.
var ErrNoPronunciation = errors.New(lexNotFound)

// cmuPhones is the CMU dictionary's phone set, which pocketsphinx's en-us
// acoustic model uses. flite's t2p prints the same phones in lower case
// with stress digits, plus "ax" (schwa), "axr" and "pau".
var cmuPhones = map[string]bool{
	"AA": true, "AE": true, "AH": true, "AO": true, "AW": true, "AY": true, "B": true, "CH": true,
	"D": true, "DH": true, "EH": true, "ER": true, "EY": true, "F": true, "G": true, "HH": true,
	"IH": true, "IY": true, "JH": true, "K": true, "L": true, "M": true, "N": true, "NG": true,
	"OW": true, "OY": true, "P": true, "R": true, "S": true, "SH": true, "T": true, "TH": true,
	"UH": true, "UW": true, "V": true, "W": true, "Y": true, "Z": true, "ZH": true,
}

// Lexicon gives pronunciations: the installed CMU dictionary first, flite's
// letter-to-sound rules (t2p) for words it lacks. It loads the dictionary on
// first use and caches t2p's answers; safe for concurrent use.
type Lexicon struct {
	dictPath string
	t2pBin   string

	loadOnce sync.Once
	loadErr  error
	dict     map[string][][]string // word -> its pronunciations, dictionary order

	mu    sync.Mutex
	guess map[string][]string // t2p's answers (nil: t2p failed for the word)
}

// NewLexicon returns a Lexicon over the dictionary at dictPath (in
// pocketsphinx's format: "word PH ON ES", variants as "word(2) ...") and
// the t2p binary t2pBin ("" means DefaultT2PBin, looked up in PATH).
func NewLexicon(dictPath, t2pBin string) *Lexicon {
	if t2pBin == "" {
		t2pBin = DefaultT2PBin
	}
	return &Lexicon{dictPath: dictPath, t2pBin: t2pBin, guess: map[string][]string{}}
}

// Entry is one word with its pronunciations; Guessed says they came from
// t2p, not the dictionary.
type Entry struct {
	Word    string
	Phones  [][]string
	Guessed bool
}

// NormalizeWord returns the dictionary form of a word: lower case, with
// the punctuation around it removed. It returns "" for a word with
// nothing pronounceable.
func NormalizeWord(w string) string {
	w = strings.ToLower(strings.TrimFunc(w, func(r rune) bool { return !unicode.IsLetter(r) && !unicode.IsDigit(r) }))
	return w
}

// Lookup returns the pronunciations of word (normalised with
// NormalizeWord): the dictionary's, or else one from t2p.
func (l *Lexicon) Lookup(ctx context.Context, word string) (Entry, error) {
	w := NormalizeWord(word)
	if err := l.load(); err != nil {
		return Entry{}, err
	}
	if prons, ok := l.dict[w]; ok {
		return Entry{Word: w, Phones: prons}, nil
	}
	phones, err := l.t2p(ctx, w)
	if err != nil {
		return Entry{}, err
	}
	return Entry{Word: w, Phones: [][]string{phones}, Guessed: true}, nil
}

// Known reports whether word (normalised) is in the dictionary.
func (l *Lexicon) Known(word string) (bool, error) {
	if err := l.load(); err != nil {
		return false, err
	}
	_, ok := l.dict[NormalizeWord(word)]
	return ok, nil
}

// Entries looks up every distinct word of words, in sorted order. Words
// without a pronunciation are returned in missing instead of failing the
// whole set, so one unpronounceable hint does not disable the others.
func (l *Lexicon) Entries(ctx context.Context, words []string) (entries []Entry, missing []string, err error) {
	seen := map[string]bool{}
	var uniq []string
	for _, w := range words {
		n := NormalizeWord(w)
		if n == "" || seen[n] {
			continue
		}
		seen[n] = true
		uniq = append(uniq, n)
	}
	sort.Strings(uniq)
	for _, w := range uniq {
		e, err := l.Lookup(ctx, w)
		if errors.Is(err, ErrNoPronunciation) {
			missing = append(missing, w)
			continue
		}
		if err != nil {
			return nil, nil, err
		}
		entries = append(entries, e)
	}
	return entries, missing, nil
}

// WriteDictionary writes entries in pocketsphinx's dictionary format.
func WriteDictionary(w io.Writer, entries []Entry) error {
	bw := bufio.NewWriter(w)
	for _, e := range entries {
		for i, ph := range e.Phones {
			name := e.Word
			if i > 0 {
				name = fmt.Sprintf("%s(%d)", e.Word, i+1)
			}
			if _, err := fmt.Fprintf(bw, "%s %s\n", name, strings.Join(ph, " ")); err != nil {
				return fmt.Errorf("asr: write dictionary: %w", err)
			}
		}
	}
	if err := bw.Flush(); err != nil {
		return fmt.Errorf("asr: write dictionary: %w", err)
	}
	return nil
}

// load reads the dictionary once.
func (l *Lexicon) load() error {
	l.loadOnce.Do(func() {
		f, err := os.Open(l.dictPath)
		if err != nil {
			l.loadErr = fmt.Errorf("%w: pocketsphinx dictionary: %w", ErrUnavailable, err)
			return
		}
		defer f.Close()
		d, err := parseDictionary(f)
		if err != nil {
			l.loadErr = fmt.Errorf("asr: read pocketsphinx dictionary: %w", err)
			return
		}
		l.dict = d
	})
	return l.loadErr
}

// parseDictionary reads "word PH ON ES" lines; "word(N)" lines add
// variants to word.
func parseDictionary(r io.Reader) (map[string][][]string, error) {
	d := make(map[string][][]string, 140000)
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 0, 4096), 1<<16)
	for sc.Scan() {
		fields := strings.Fields(sc.Text())
		if len(fields) < 2 {
			continue
		}
		w := stripVariant(fields[0])
		d[w] = append(d[w], fields[1:])
	}
	if err := sc.Err(); err != nil {
		return nil, err
	}
	return d, nil
}

// t2p asks flite's letter-to-sound rules for w's pronunciation, caching
// the answer (a failure too, as nil).
func (l *Lexicon) t2p(ctx context.Context, w string) ([]string, error) {
	if w == "" || len(w) > maxLexWord || strings.IndexFunc(w, func(r rune) bool { return !(r >= 'a' && r <= 'z') && r != '\'' }) >= 0 {
		return nil, fmt.Errorf("%w for %q", ErrNoPronunciation, w)
	}
	l.mu.Lock()
	phones, ok := l.guess[w]
	l.mu.Unlock()
	if ok {
		if phones == nil {
			return nil, fmt.Errorf("%w for %q", ErrNoPronunciation, w)
		}
		return phones, nil
	}
	bin, err := exec.LookPath(l.t2pBin)
	if err != nil {
		return nil, fmt.Errorf("%w: %s not found; install Debian package flite: %w", ErrUnavailable, l.t2pBin, err)
	}
	rctx, cancel := context.WithTimeout(ctx, t2pTimeout)
	defer cancel()
	cmd := exec.CommandContext(rctx, bin, w)
	out := &limitedBuffer{max: maxT2POut}
	cmd.Stdout = out
	if err := cmd.Run(); err != nil {
		if ctx.Err() != nil {
			return nil, fmt.Errorf("asr: t2p: %w", ctx.Err())
		}
		return nil, fmt.Errorf("asr: t2p %q: %w", w, err)
	}
	phones = t2pPhones(out.buf.String())
	l.mu.Lock()
	l.guess[w] = phones
	l.mu.Unlock()
	if phones == nil {
		return nil, fmt.Errorf("%w for %q", ErrNoPronunciation, w)
	}
	return phones, nil
}

// t2pPhones turns t2p's output ("pau n ao1 r th w ih1 n d pau") into CMU
// dictionary phones ("N AO R TH W IH N D"). It returns nil when the output
// holds a phone the acoustic model does not know, or none at all.
func t2pPhones(out string) []string {
	var phones []string
	for _, p := range strings.Fields(out) {
		p = strings.ToUpper(strings.TrimRight(p, "012"))
		switch p {
		case "PAU":
			continue
		case "AX":
			p = "AH"
		case "AXR":
			p = "ER"
		}
		if !cmuPhones[p] {
			return nil
		}
		phones = append(phones, p)
	}
	return phones
}
