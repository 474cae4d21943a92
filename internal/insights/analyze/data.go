package analyze

import (
	"bufio"
	"bytes"
	"compress/gzip"
	_ "embed"
	"fmt"
	"strconv"
	"strings"
	"sync"
)

//go:generate go run ./internal/genbackground -out data/background.tsv.gz

// vaderTSV is the VADER sentiment lexicon, one "word<TAB>valence" a line
// (valence -4..4); see data/NOTICE for its source and MIT licence.
//
//go:embed data/vader.tsv
var vaderTSV []byte

// backgroundTSV holds the log10 unigram probabilities of the 30,000 most
// probable words of the CMU Sphinx US English language model, most probable
// first; see data/NOTICE for its source and BSD-2 licence.
//
//go:embed data/background.tsv.gz
var backgroundTSV []byte

// resources are the parsed embedded data, shared by every analyser.
type resources struct {
	valence map[string]float64
	// surprise is -log10 P(word) in the background; unknown words get
	// rarest, the surprise of the least probable word listed.
	surprise map[string]float64
	rarest   float64
}

// loadResources parses the embedded files once. They are part of the build,
// so a parse error is a bug that the package's tests catch: it panics rather
// than making every caller handle an error that cannot happen in a release.
var loadResources = sync.OnceValue(func() *resources {
	r, err := parseResources(vaderTSV, backgroundTSV)
	if err != nil {
		panic("analyze: embedded data: " + err.Error())
	}
	return r
})

func parseResources(vader, background []byte) (*resources, error) {
	r := &resources{valence: map[string]float64{}, surprise: map[string]float64{}}
	err := eachLine(vader, func(word string, v float64) {
		r.valence[word] = v
	})
	if err != nil {
		return nil, fmt.Errorf("vader.tsv: %w", err)
	}
	zr, err := gzip.NewReader(bytes.NewReader(background))
	if err != nil {
		return nil, fmt.Errorf("background.tsv.gz: %w", err)
	}
	var plain bytes.Buffer
	if _, err := plain.ReadFrom(zr); err != nil {
		return nil, fmt.Errorf("background.tsv.gz: %w", err)
	}
	err = eachLine(plain.Bytes(), func(word string, logp float64) {
		r.surprise[word] = -logp
		r.rarest = max(r.rarest, -logp)
	})
	if err != nil {
		return nil, fmt.Errorf("background.tsv.gz: %w", err)
	}
	if len(r.valence) == 0 || len(r.surprise) == 0 {
		return nil, fmt.Errorf("empty lexicon or background")
	}
	return r, nil
}

// eachLine calls fn for each "word<TAB>number" line, skipping blank lines
// and # comments.
func eachLine(b []byte, fn func(string, float64)) error {
	sc := bufio.NewScanner(bytes.NewReader(b))
	for n := 1; sc.Scan(); n++ {
		line := sc.Text()
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		word, num, ok := strings.Cut(line, "\t")
		if !ok {
			return fmt.Errorf("line %d: no tab", n)
		}
		v, err := strconv.ParseFloat(num, 64)
		if err != nil {
			return fmt.Errorf("line %d: %w", n, err)
		}
		fn(word, v)
	}
	return sc.Err()
}

// surprise returns -log10 of the background probability of w.
func (r *resources) surpriseOf(w string) float64 {
	if s, ok := r.surprise[w]; ok {
		return s
	}
	return r.rarest
}
