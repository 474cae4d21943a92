package asr_test

import (
	"context"
	"fmt"
	"os"

	"github.com/minivoice/minivoice/internal/insights/asr"
	"github.com/minivoice/minivoice/internal/media"
)

// Transcribing each channel of a two-channel call recording with the
// default engine. (Not run: its output depends on the recording.)
func ExamplePocketsphinx_Transcribe() {
	ctx := context.Background()
	eng := asr.NewPocketsphinx(asr.PocketsphinxConfig{})
	if err := eng.Available(ctx); err != nil {
		fmt.Println(err) // e.g. what to install
		return
	}
	f, err := os.Open("recording.wav")
	if err != nil {
		fmt.Println(err)
		return
	}
	defer f.Close()
	channels, err := media.ReadWAVChannels(f, 0)
	if err != nil {
		fmt.Println(err)
		return
	}
	for ch, pcm := range channels {
		res, err := eng.Transcribe(ctx, asr.Audio{Samples: pcm.Samples, Rate: pcm.Rate})
		if err != nil {
			// errors.Is(err, asr.ErrUnavailable) or asr.ErrRejected: give
			// up; anything else: retry later.
			fmt.Println(err)
			return
		}
		for _, s := range res.Segments {
			fmt.Printf("channel %d [%5.2f-%5.2f] %.2f %s\n", ch, s.Start, s.End, s.Confidence, s.Text)
		}
	}
}

// WordErrors measures a transcript against what was really said.
func ExampleWordErrors() {
	errs, words := asr.WordErrors("Hello, thank you for calling!", "hello thank you for falling")
	fmt.Printf("%d/%d = %.0f%% WER\n", errs, words, 100*float64(errs)/float64(words))
	// Output: 1/5 = 20% WER
}
