package asr

import (
	"context"
	"errors"
	"math"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"
)

func TestNormalizeHints(t *testing.T) {
	t.Parallel()
	long := strings.Repeat("a", MaxHintChars+1)
	got := normalizeHints([]string{"Sales!", "sales", "speak-to a  person", "press 1", "", "café", "x2y", long, "Northwind's"})
	var keys []string
	for _, p := range got {
		keys = append(keys, p.text+"="+strings.Join(p.words, "_"))
	}
	want := []string{"Sales!=sales", "speak-to a  person=speak_to_a_person", "press 1=press_one", "Northwind's=northwind's"}
	if strings.Join(keys, "|") != strings.Join(want, "|") {
		t.Errorf("got %q\nwant %q", keys, want)
	}
	many := make([]string, 3*MaxHints)
	for i := range many {
		many[i] = strings.Repeat("b", i%50+1) + strings.Repeat("c", i/50+1)
	}
	if n := len(normalizeHints(many)); n != MaxHints {
		t.Errorf("%d hints kept, want the bound %d", n, MaxHints)
	}
}

func TestHintGrammar(t *testing.T) {
	t.Parallel()
	g := hintGrammar(normalizeHints([]string{"sales", "speak to a person"}), []string{"AA", "B"})
	want := "#JSGF V1.0;\ngrammar hints;\npublic <utt> = <g>* <hint> <g>* | <g>+ ;\n<hint> = sales | speak to a person ;\n<g> = _aa | _b ;\n"
	if g != want {
		t.Errorf("grammar\n%s\nwant\n%s", g, want)
	}
}

func TestBestHint(t *testing.T) {
	t.Parallel()
	phrases := normalizeHints([]string{"Sales", "speak to a person"})
	out := func(lines ...string) []byte { return []byte(strings.Join(lines, "\n")) }
	// The hint alone: full confidence.
	r := bestHint(out("sales", "<sil> 0.000 0.130 1.000000", "sales 0.140 0.930 1.000000"), phrases)
	if r == nil || r.Text != "Sales" || !r.Hint || math.Abs(r.Confidence-1) > 1e-9 {
		t.Errorf("alone: %+v", r)
	}
	// Inside other speech it covers half: confidence between.
	r = bestHint(out("x", "_ay 0.100 0.390 1.0", "speak 0.400 0.600 1.0", "to(2) 0.610 0.700 1.0", "a 0.710 0.800 1.0",
		"person 0.810 1.090 1.0", "_p 1.100 2.090 1.0"), phrases)
	if r == nil || r.Text != "speak to a person" || r.Confidence <= 0.5 || r.Confidence >= 0.9 {
		t.Errorf("inside: %+v", r)
	}
	// A hint in a small part of a long utterance is not believed.
	r = bestHint(out("x", "_w 0.100 1.000 1.0", "sales 1.010 1.300 1.0", "_p 1.310 3.000 1.0"), phrases)
	if r != nil {
		t.Errorf("small part: %+v", r)
	}
	// Garbage only, or nothing.
	if r := bestHint(out("_s _ey", "_s 0.1 0.2 1.0", "_ey 0.2 0.3 1.0"), phrases); r != nil {
		t.Errorf("garbage: %+v", r)
	}
	if r := bestHint(nil, phrases); r != nil {
		t.Errorf("empty: %+v", r)
	}
}

func TestHintIn(t *testing.T) {
	t.Parallel()
	phrases := normalizeHints([]string{"sales", "speak to a person", "person"})
	if p, ok := hintIn("i want to speak to a person now", phrases); !ok || p.text != "speak to a person" {
		t.Errorf("longest: %+v %v", p, ok)
	}
	if _, ok := hintIn("wholesales", phrases); ok {
		t.Error("part of a word matched")
	}
}

// TestCommandsBudgetAndCancel holds the only decoder with a recogniser that
// never finishes: a second recognition gets ErrBusy after the queue wait,
// and cancelling the first kills its process and removes its files.
func TestCommandsBudgetAndCancel(t *testing.T) {
	t.Parallel()
	model := DefaultPocketsphinxModelDir
	if _, err := os.Stat(filepath.Join(model, psDictionary)); err != nil {
		t.Skip("pocketsphinx-en-us is not installed")
	}
	dir := t.TempDir()
	marker := filepath.Join(dir, "started")
	bin := filepath.Join(dir, "fake-pocketsphinx")
	if err := os.WriteFile(bin, []byte("#!/bin/sh\ntouch "+marker+"\nexec sleep 600\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	tmp := filepath.Join(dir, "tmp")
	if err := os.Mkdir(tmp, 0o755); err != nil {
		t.Fatal(err)
	}
	c := NewCommands(CommandConfig{Bin: bin, ModelDir: model, TempDir: tmp, MaxDecoders: 1, QueueWait: 50 * time.Millisecond})
	tone := Audio{Samples: make([]int16, 8000), Rate: 8000}
	for i := range tone.Samples {
		tone.Samples[i] = int16(8000 * math.Sin(float64(i)*2*math.Pi*440/8000))
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	first := make(chan error, 1)
	go func() {
		_, err := c.Recognize(ctx, tone, []string{"sales"})
		first <- err
	}()
	failsafe := time.Now().Add(20 * time.Second)
	for {
		if _, err := os.Stat(marker); err == nil {
			break
		}
		if time.Now().After(failsafe) {
			t.Fatal("the decoder never started")
		}
		time.Sleep(10 * time.Millisecond)
	}
	if _, err := c.Recognize(context.Background(), tone, []string{"sales"}); !errors.Is(err, ErrBusy) {
		t.Fatalf("second recognition: %v, want ErrBusy", err)
	}
	cancel()
	select {
	case err := <-first:
		if !errors.Is(err, context.Canceled) {
			t.Errorf("cancelled recognition: %v", err)
		}
	case <-time.After(20 * time.Second):
		t.Fatal("cancelling did not stop the decoder")
	}
	if left, _ := os.ReadDir(tmp); len(left) != 0 {
		t.Errorf("files left behind: %v", left)
	}
	// The slot is free again: the next one runs (and is cancelled at once).
	ctx2, cancel2 := context.WithCancel(context.Background())
	cancel2()
	if _, err := c.Recognize(ctx2, tone, []string{"sales"}); errors.Is(err, ErrBusy) {
		t.Errorf("after the first ended: %v", err)
	}
}

func TestNarrowbandVariants(t *testing.T) {
	t.Parallel()
	got := narrowbandVariants([]Entry{
		{Word: "sales", Phones: [][]string{{"S", "EY", "L", "Z"}}},
		{Word: "person", Phones: [][]string{{"P", "ER", "S", "AH", "N"}}},
		{Word: "is", Phones: [][]string{{"IH", "Z"}}},
	})
	want := [][][]string{
		{{"S", "EY", "L", "Z"}, {"EY", "L", "Z"}, {"S", "EY", "L"}},
		{{"P", "ER", "S", "AH", "N"}},
		{{"IH", "Z"}}, // too short to lose a phone
	}
	for i := range want {
		if !reflect.DeepEqual(got[i].Phones, want[i]) {
			t.Errorf("%s: %v, want %v", got[i].Word, got[i].Phones, want[i])
		}
	}
}

func TestRhoticVariants(t *testing.T) {
	t.Parallel()
	got := rhoticVariants([]Entry{
		{Word: "support", Phones: [][]string{{"S", "AH", "P", "AO", "R", "T"}}},
		{Word: "sales", Phones: [][]string{{"S", "EY", "L", "Z"}}},
	})
	if want := [][]string{{"S", "AH", "P", "AO", "R", "T"}, {"S", "AH", "P", "OW", "R", "T"}}; !reflect.DeepEqual(got[0].Phones, want) {
		t.Errorf("support: %v", got[0].Phones)
	}
	if len(got[1].Phones) != 1 {
		t.Errorf("sales: %v", got[1].Phones)
	}
}
