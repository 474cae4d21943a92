package media_test

import (
	"bytes"
	"fmt"
	"math"
	"os"
	"path/filepath"

	"github.com/minivoice/minivoice/internal/media"
)

func ExampleDecodeWAV() {
	// An uploaded 44.1 kHz prompt, converted for a G.711 call.
	tone := &media.PCM{Rate: 44100, Samples: make([]int16, 44100)}
	for i := range tone.Samples {
		tone.Samples[i] = int16(10000 * math.Sin(2*math.Pi*440*float64(i)/44100))
	}
	var upload bytes.Buffer
	if err := media.WriteWAV(&upload, tone); err != nil {
		panic(err)
	}
	p, err := media.DecodeWAV(&upload, 8000)
	if err != nil {
		panic(err)
	}
	fmt.Println(p.Rate, len(p.Samples), p.Duration())
	fmt.Printf("%.0f dBFS\n", media.DBFS(p.Samples))
	// Output:
	// 8000 8000 1s
	// -13 dBFS
}

func ExampleResample() {
	// A 6 kHz tone cannot exist at 8 kHz; the resampler removes it instead
	// of folding it back as a 2 kHz alias.
	in := &media.PCM{Rate: 16000, Samples: make([]int16, 16000)}
	for i := range in.Samples {
		in.Samples[i] = int16(16000 * math.Sin(2*math.Pi*6000*float64(i)/16000))
	}
	out := media.Resample(in, 8000)
	fmt.Println(len(out.Samples), media.RMS(out.Samples[400:7600]) < 10)
	// Output: 8000 true
}

func ExampleWAVWriter() {
	dir, err := os.MkdirTemp("", "rec")
	if err != nil {
		panic(err)
	}
	defer os.RemoveAll(dir)
	path := filepath.Join(dir, "call.wav")
	f, err := os.Create(path)
	if err != nil {
		panic(err)
	}
	w, err := media.NewWAVWriter(f, 8000, 1)
	if err != nil {
		panic(err)
	}
	frame := make([]int16, 160) // one 20 ms packet
	for i := range 100 {
		if err := w.Write(frame); err != nil {
			panic(err)
		}
		if i%50 == 49 { // once a second: the file on disk is valid from here
			if err := w.Flush(); err != nil {
				panic(err)
			}
		}
	}
	fmt.Println(w.Duration())
	if err := w.Close(); err != nil {
		panic(err)
	}
	// At start-up, recordings left in progress are repaired; on a cleanly
	// closed file this changes nothing.
	if err := media.RepairWAV(path); err != nil {
		panic(err)
	}
	fi, err := os.Stat(path)
	if err != nil {
		panic(err)
	}
	fmt.Println(fi.Size())
	// Output:
	// 2s
	// 32044
}

func ExampleActiveDuration() {
	// Half a second of silence, then half a second of speech-level tone.
	p := &media.PCM{Rate: 8000, Samples: make([]int16, 8000)}
	for i := 4000; i < 8000; i++ {
		p.Samples[i] = int16(3000 * math.Sin(2*math.Pi*300*float64(i)/8000))
	}
	fmt.Println(p.Duration(), media.ActiveDuration(p, -40))
	// Output: 1s 500ms
}
