package asr_test

import (
	"context"
	"errors"
	"os"
	"os/exec"
	"testing"

	dmedia "github.com/emiago/diago/media"
	"github.com/minivoice/minivoice/internal/insights/asr"
	"github.com/minivoice/minivoice/internal/media/rtpaudio"
	"github.com/minivoice/minivoice/internal/tts"
)

// commandsOrSkip returns a recogniser, skipping without pocketsphinx or flite.
func commandsOrSkip(t *testing.T, cfg asr.CommandConfig) *asr.Commands {
	t.Helper()
	c := asr.NewCommands(cfg)
	if err := c.Available(context.Background()); err != nil {
		if errors.Is(err, asr.ErrUnavailable) {
			t.Skipf("pocketsphinx is not usable: %v", err)
		}
		t.Fatal(err)
	}
	if _, err := exec.LookPath("flite"); err != nil {
		t.Skip("flite is not installed")
	}
	return c
}

// overCodec renders text with flite at the codec's rate and passes it
// through the codec's encoder and decoder, as a call would.
func overCodec(t *testing.T, e *tts.Engine, voice, text, codec string) asr.Audio {
	t.Helper()
	c := dmedia.CodecAudioUlaw
	if codec == "G722" {
		c = rtpaudio.CodecG722
	}
	rate := rtpaudio.PCMRate(c)
	pcm, err := e.Render(context.Background(), voice, text, rate)
	if err != nil {
		t.Fatal(err)
	}
	enc, _ := rtpaudio.NewAudioCodec(c)
	dec, _ := rtpaudio.NewAudioCodec(c)
	per := rate / 50
	// Half a second of silence either side, as an endpointed utterance has.
	in := append(append(make([]int16, rate/2), pcm.Samples...), make([]int16, rate/2)...)
	var out []int16
	for off := 0; off < len(in); off += per {
		frame := make([]int16, per)
		copy(frame, in[off:min(off+per, len(in))])
		out = dec.Decode(out, enc.Encode(nil, frame))
	}
	return asr.Audio{Samples: out, Rate: rate}
}

// TestCommands recognises three answers spoken by flite (slt) through the
// PCMU codec: two hints, and speech that is none of them.
func TestCommands(t *testing.T) {
	if testing.Short() {
		t.Skip("runs pocketsphinx: skipped under -short")
	}
	t.Parallel()
	c := commandsOrSkip(t, asr.CommandConfig{})
	e, err := tts.New(tts.Config{CacheDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	hints := []string{"Sales", "support", "speak to a person"}
	for said, want := range map[string]string{"speak to a person": "speak to a person", "I want to speak to a person": "speak to a person",
		"pizza with extra cheese": ""} {
		got, err := c.Recognize(context.Background(), overCodec(t, e, "slt", said, "PCMU"), hints)
		if err != nil {
			t.Fatal(err)
		}
		t.Logf("%q -> %q %.2f", said, got.Text, got.Confidence)
		if want != "" && (got.Text != want || !got.Hint || got.Confidence < 0.5) {
			t.Errorf("%q: got %+v, want the hint %q", said, got, want)
		}
		if want == "" && (got.Hint || got.Confidence >= 0.5) {
			t.Errorf("%q: got %+v, want no hint", said, got)
		}
	}
	// Silence is nothing, without running the decoder.
	got, err := c.Recognize(context.Background(), asr.Audio{Samples: make([]int16, 8000), Rate: 8000}, hints)
	if err != nil || got.Text != "" || got.Confidence != 0 {
		t.Errorf("silence: %+v, %v", got, err)
	}
}

// TestCommandsEval is the offline command set: every flite voice, PCMU and
// G.722 codecs without a call (docs/call-control.md, "Speech
// recognition"). GATHER_EVAL=1 runs it; GATHER_WIP overrides the word
// insertion penalty.
func TestCommandsEval(t *testing.T) {
	if os.Getenv("GATHER_EVAL") == "" {
		t.Skip("set GATHER_EVAL=1 to run the command set")
	}
	c := commandsOrSkip(t, asr.CommandConfig{WIP: os.Getenv("GATHER_WIP")})
	e, err := tts.New(tts.Config{CacheDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	hints := []string{"sales", "support", "speak to a person", "leave a message", "billing"}
	cases := map[string]string{
		"sales": "sales", "support": "support", "speak to a person": "speak to a person", "leave a message": "leave a message",
		"billing": "billing", "sales please": "sales", "I want to speak to a person": "speak to a person",
		"I would like to leave a message": "leave a message", "pizza with extra cheese": "", "what are your opening hours": "",
		"hello": "", "I need help with my bill": "",
	}
	for _, codec := range []string{"PCMU", "G722"} {
		ok, n := 0, 0
		for _, voice := range []string{"slt", "kal", "awb", "rms", "kal16"} {
			for said, want := range cases {
				a := overCodec(t, e, voice, said, codec)
				got, err := c.Recognize(context.Background(), a, hints)
				if err != nil {
					t.Fatal(err)
				}
				hit := (want == "" && !got.Hint) || (want != "" && got.Text == want)
				n++
				if hit {
					ok++
				}
				mark := "ok "
				if !hit {
					mark = "BAD"
				}
				t.Logf("%s %s %s %q -> %q %.2f", mark, codec, voice, said, got.Text, got.Confidence)
			}
		}
		t.Logf("%s: %d/%d", codec, ok, n)
	}
}
