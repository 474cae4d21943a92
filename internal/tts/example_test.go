package tts_test

import (
	"context"
	"fmt"
	"os"
	"time"

	"github.com/minivoice/minivoice/internal/media"
	"github.com/minivoice/minivoice/internal/tts"
)

func ExampleEngine_Render() {
	dir, err := os.MkdirTemp("", "tts-cache")
	if err != nil {
		panic(err)
	}
	defer os.RemoveAll(dir)
	e, err := tts.New(tts.Config{CacheDir: dir})
	if err != nil {
		panic(err)
	}
	// Render for a G.711 call: 8 kHz.
	p, err := e.Render(context.Background(), "slt", "Hello, this is a test call", 8000)
	if err != nil {
		panic(err)
	}
	fmt.Println(p.Rate, p.Duration() > time.Second, media.ActiveDuration(p, -40) > time.Second/2)
	// The same prompt for a G.722 call comes from the cache.
	if _, err := e.Render(context.Background(), "slt", "Hello, this is a test call", 16000); err != nil {
		panic(err)
	}
	fmt.Println("flite runs:", e.Renders())
	// Output:
	// 8000 true true
	// flite runs: 1
}
