package main

import (
	"bytes"
	"encoding/binary"
	"math"
	"os"
	"path/filepath"
	"testing"
)

// model builds a tiny order-2 trie model in sphinxbase's layout.
func model(words []string, probs []float32, bigrams uint32) []byte {
	var b bytes.Buffer
	le := binary.LittleEndian
	b.WriteString(trieHeader)
	b.WriteByte(2)
	_ = binary.Write(&b, le, []uint32{uint32(len(words)), bigrams})
	_ = binary.Write(&b, le, uint32(0)) // quantiser type
	b.Write(make([]byte, quantBins*4))  // one table for order 2
	for i := range len(words) + 1 {
		p := float32(0)
		if i < len(words) {
			p = probs[i]
		}
		_ = binary.Write(&b, le, math.Float32bits(p))
		_ = binary.Write(&b, le, float32(0))
		_ = binary.Write(&b, le, uint32(i)*bigrams/uint32(len(words)))
	}
	b.WriteString("packed higher orders")
	var block bytes.Buffer
	for _, w := range words {
		block.WriteString(w)
		block.WriteByte(0)
	}
	_ = binary.Write(&b, le, int32(block.Len()))
	b.Write(block.Bytes())
	return b.Bytes()
}

func TestUnigrams(t *testing.T) {
	t.Parallel()
	// -23026 in base 1.0001 is log10 -1.
	b := model([]string{"<s>", "hello", "world"}, []float32{-99, -23026, -46052}, 6)
	es, err := unigrams(b)
	if err != nil {
		t.Fatal(err)
	}
	if len(es) != 3 || es[1].word != "hello" || math.Abs(es[1].log10+1) > 1e-3 || math.Abs(es[2].log10+2) > 1e-3 {
		t.Errorf("entries %+v", es)
	}
	moreBigrams := bytes.Clone(b)
	binary.LittleEndian.PutUint32(moreBigrams[len(trieHeader)+1+4:], 1000)
	noWords := bytes.Clone(b)
	noWords[len(noWords)-1] = 'x'
	for name, bad := range map[string][]byte{
		"header":        []byte("not a model"),
		"truncated":     b[:100],
		"sentinel":      moreBigrams,
		"no word block": noWords,
	} {
		if _, err := unigrams(bad); err == nil {
			t.Errorf("%s: no error", name)
		}
	}
}

// TestCommittedBackground regenerates the background from the installed
// model, when there is one, and checks the committed file matches.
func TestCommittedBackground(t *testing.T) {
	t.Parallel()
	const lm = "/usr/share/pocketsphinx/model/en-us/en-us.lm.bin"
	if _, err := os.Stat(lm); err != nil {
		t.Skip("pocketsphinx-en-us is not installed")
	}
	out := filepath.Join(t.TempDir(), "background.tsv.gz")
	if err := run(lm, out, 30000); err != nil {
		t.Fatal(err)
	}
	got, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	want, err := os.ReadFile("../../data/background.tsv.gz")
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("data/background.tsv.gz is stale: run go generate ./internal/insights/analyze")
	}
}
