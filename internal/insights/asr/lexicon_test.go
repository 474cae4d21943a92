package asr_test

import (
	"bytes"
	"context"
	"errors"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/minivoice/minivoice/internal/insights/asr"
)

func TestLexicon(t *testing.T) {
	t.Parallel()
	dict := filepath.Join(asr.DefaultPocketsphinxModelDir, "cmudict-en-us.dict")
	if _, err := exec.LookPath("t2p"); err != nil {
		t.Skip("t2p (Debian flite) not installed")
	}
	lex := asr.NewLexicon(dict, "")
	if ok, err := lex.Known("hello"); err != nil {
		t.Skipf("pocketsphinx dictionary not installed: %v", err)
	} else if !ok {
		t.Fatal(`"hello" is not in the dictionary`)
	}
	ctx := context.Background()

	e, err := lex.Lookup(ctx, "Appointment,")
	if err != nil || e.Guessed || e.Word != "appointment" || len(e.Phones) == 0 {
		t.Fatalf("appointment: %+v %v", e, err)
	}
	e, err = lex.Lookup(ctx, "Northwind")
	if err != nil || !e.Guessed || strings.Join(e.Phones[0], " ") != "N AO R TH W IH N D" {
		t.Fatalf("Northwind: %+v %v", e, err)
	}
	if _, err := lex.Lookup(ctx, "q#z!?"); !errors.Is(err, asr.ErrNoPronunciation) {
		t.Fatalf("q#z: %v, want ErrNoPronunciation", err)
	}
	entries, missing, err := lex.Entries(ctx, []string{"Northwind", "hello", "northwind", "x_y", ""})
	if err != nil || len(entries) != 2 || len(missing) != 1 {
		t.Fatalf("entries %+v missing %v err %v", entries, missing, err)
	}
	var buf bytes.Buffer
	if err := asr.WriteDictionary(&buf, entries); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(buf.String(), "northwind N AO R TH W IH N D\n") || !strings.Contains(buf.String(), "hello ") {
		t.Fatalf("dictionary:\n%s", buf.String())
	}
}

func TestLexiconMissingDictionary(t *testing.T) {
	t.Parallel()
	lex := asr.NewLexicon(filepath.Join(t.TempDir(), "none.dict"), "")
	if _, err := lex.Lookup(context.Background(), "hello"); !errors.Is(err, asr.ErrUnavailable) {
		t.Fatalf("err = %v, want ErrUnavailable", err)
	}
}
