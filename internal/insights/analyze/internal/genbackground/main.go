// Command genbackground writes the analyser's background word frequencies,
// data/background.tsv.gz, from the CMU Sphinx US English language model that
// Debian's pocketsphinx-en-us package installs (BSD-2 licence, see
// data/NOTICE). Run it through `go generate ./internal/insights/analyze`.
//
// It reads the model's binary trie directly rather than converting it with
// sphinx_lm_convert, because that tool (sphinxbase-utils 0.8+5prealpha+1-16)
// aborts on an assertion while writing the bigrams of this model and loses
// the tail of the unigrams with it.
//
// The output lists the -max most probable words made only of the letters a-z
// (with at most one inner apostrophe, as in "don't"), most probable first, ties
// alphabetically, one "word<TAB>log10 probability" a line, gzip-compressed
// with a zero modification time so that regenerating is byte-for-byte stable.
package main

import (
	"bytes"
	"cmp"
	"compress/gzip"
	"encoding/binary"
	"errors"
	"flag"
	"fmt"
	"math"
	"os"
	"regexp"
	"slices"
	"strconv"
)

// trieHeader starts every sphinxbase binary trie language model.
const trieHeader = "Trie Language Model"

// quantBins is the number of float32 values in each quantisation table that
// sphinxbase writes between the counts and the unigrams.
const quantBins = 1 << 16

// logBase is the base of sphinxbase's integer-like log domain (logmath's
// default), in which the model stores unigram probabilities.
const logBase = 1.0001

// word keeps the tokens that can occur in a transcript as one word.
var word = regexp.MustCompile(`^[a-z]+('[a-z]+)?$`)

func main() {
	in := flag.String("in", "/usr/share/pocketsphinx/model/en-us/en-us.lm.bin", "sphinxbase binary trie language model")
	out := flag.String("out", "data/background.tsv.gz", "output file")
	maxWords := flag.Int("max", 30000, "number of words to keep")
	flag.Parse()
	if err := run(*in, *out, *maxWords); err != nil {
		fmt.Fprintln(os.Stderr, "genbackground:", err)
		os.Exit(1)
	}
}

type entry struct {
	word  string
	log10 float64
}

func run(in, out string, maxWords int) error {
	b, err := os.ReadFile(in)
	if err != nil {
		return fmt.Errorf("read model: %w", err)
	}
	entries, err := unigrams(b)
	if err != nil {
		return fmt.Errorf("%s: %w", in, err)
	}
	kept := entries[:0]
	for _, e := range entries {
		if word.MatchString(e.word) {
			kept = append(kept, e)
		}
	}
	slices.SortFunc(kept, func(a, b entry) int {
		if c := cmp.Compare(b.log10, a.log10); c != 0 {
			return c
		}
		return cmp.Compare(a.word, b.word)
	})
	kept = kept[:min(maxWords, len(kept))]

	var buf bytes.Buffer
	zw, err := gzip.NewWriterLevel(&buf, gzip.BestCompression)
	if err != nil {
		return err
	}
	for _, e := range kept {
		line := e.word + "\t" + strconv.FormatFloat(e.log10, 'f', 2, 64) + "\n"
		if _, err := zw.Write([]byte(line)); err != nil {
			return err
		}
	}
	if err := zw.Close(); err != nil {
		return err
	}
	if err := os.WriteFile(out, buf.Bytes(), 0o644); err != nil {
		return fmt.Errorf("write: %w", err)
	}
	fmt.Printf("genbackground: %d of %d words, %d bytes -> %s\n", len(kept), len(entries), buf.Len(), out)
	return nil
}

// unigrams decodes the words and unigram probabilities of a sphinxbase trie
// model: header, order (1 byte), one uint32 count per order, the quantiser's
// type (uint32) and tables, the unigram array (n+1 entries of float32 prob,
// float32 backoff, uint32 index of the first bigram), the packed higher
// orders, and at the end the words as one block of NUL-terminated strings
// preceded by its int32 length. Every step is checked, so a model of another
// layout is refused instead of silently misread.
func unigrams(b []byte) ([]entry, error) {
	le := binary.LittleEndian
	if !bytes.HasPrefix(b, []byte(trieHeader)) {
		return nil, errors.New("not a sphinxbase trie model")
	}
	off := len(trieHeader)
	if len(b) < off+1 {
		return nil, errors.New("truncated header")
	}
	order := int(b[off])
	off++
	if order < 2 || order > 9 || len(b) < off+4*order+4 {
		return nil, fmt.Errorf("unexpected order %d", order)
	}
	counts := make([]int, order)
	for i := range counts {
		counts[i] = int(le.Uint32(b[off:]))
		off += 4
	}
	off += 4 // quantiser type
	// Quantisation tables: probability and backoff for each middle order,
	// probability for the highest one.
	off += (2*(order-2) + 1) * quantBins * 4
	n := counts[0]
	if len(b) < off+(n+1)*12 {
		return nil, errors.New("truncated unigrams")
	}
	probs := make([]float64, n)
	prevNext := uint32(0)
	for i := 0; i <= n; i++ {
		rec := b[off+i*12:]
		next := le.Uint32(rec[8:])
		if next < prevNext {
			return nil, fmt.Errorf("unigram %d: bigram index goes backwards: layout not understood", i)
		}
		prevNext = next
		if i < n {
			probs[i] = float64(math.Float32frombits(le.Uint32(rec)))
		}
	}
	// The sentinel closes the last word's bigrams; sphinxbase drops a few
	// bigrams it cannot place, so it may fall slightly short of the count.
	if int(prevNext) > counts[1] || int(prevNext) < counts[1]-counts[1]/1000 {
		return nil, fmt.Errorf("unigram sentinel points at bigram %d of %d: layout not understood", prevNext, counts[1])
	}
	words, err := wordBlock(b, n)
	if err != nil {
		return nil, err
	}
	entries := make([]entry, n)
	for i := range entries {
		entries[i] = entry{word: words[i], log10: probs[i] * math.Log10(logBase)}
	}
	return entries, nil
}

// wordBlock finds the trailing block of n NUL-terminated words: the only
// offset whose int32 prefix equals the number of bytes after it.
func wordBlock(b []byte, n int) ([]string, error) {
	for o := len(b) - 5; o >= 0 && o >= len(b)-64<<20; o-- {
		if int(int32(binary.LittleEndian.Uint32(b[o:]))) != len(b)-o-4 {
			continue
		}
		parts := bytes.Split(b[o+4:], []byte{0})
		if len(parts) != n+1 || len(parts[n]) != 0 {
			continue
		}
		words := make([]string, n)
		for i := range words {
			words[i] = string(parts[i])
		}
		return words, nil
	}
	return nil, errors.New("word list not found")
}
