package recording_test

import (
	"fmt"
	"os"
	"time"

	"github.com/minivoice/minivoice/internal/recording"
	"github.com/minivoice/minivoice/internal/voice"
)

func ExampleRecorder() {
	root, err := os.MkdirTemp("", "recordings")
	if err != nil {
		panic(err)
	}
	defer os.RemoveAll(root)
	blobs, err := recording.NewDir(root)
	if err != nil {
		panic(err)
	}
	defer blobs.Close()

	f, err := blobs.Create(recording.Key("cust_1", "rec_1"))
	if err != nil {
		panic(err)
	}
	// A simulated clock; a real call leaves Now nil.
	t := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	r, err := recording.NewRecorder(recording.Config{File: f, Rate: 8000, Channels: voice.ChannelsDual,
		Now: func() time.Time { return t }})
	if err != nil {
		panic(err)
	}
	// One second of G.711 call: the caller speaks the whole time, the
	// platform plays a prompt for half a second and then waits for a digit.
	frame := make([]int16, 160) // 20 ms at 8 kHz
	for i := range 50 {
		t = t.Add(20 * time.Millisecond)
		r.WriteFar(frame) // from the RTP reader goroutine
		if i < 25 {
			r.WriteNear(frame) // from the sending goroutine
		}
	}
	res, err := r.Close()
	if err != nil {
		panic(err)
	}
	fmt.Println(res.Duration, res.SizeBytes, len(res.SHA256))

	rec := &voice.Recording{ID: "rec_1", Status: voice.RecordingInProgress}
	recording.Finish(rec, res, t)
	fmt.Println(rec.Status, rec.Duration)
	// Output:
	// 1s 32044 64
	// completed 1
}

func ExampleCheckKey() {
	for _, key := range []string{recording.Key("cust_1", "rec_1"), "../etc/passwd", "/abs.wav"} {
		fmt.Println(key, recording.CheckKey(key) == nil)
	}
	// Output:
	// cust_1/rec_1.wav true
	// ../etc/passwd false
	// /abs.wav false
}
