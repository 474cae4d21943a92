package g722_test

import (
	"fmt"
	"math"

	"github.com/minivoice/minivoice/internal/media/g722"
)

func Example() {
	// One RTP packet's worth: 20 ms at 16 kHz is 320 samples.
	pcm := make([]int16, 320)
	for i := range pcm {
		pcm[i] = int16(8000 * math.Sin(2*math.Pi*1000*float64(i)/16000))
	}

	// One encoder and one decoder per call direction; they keep state
	// across packets, so reuse them (and the buffers) for every frame.
	enc := g722.NewEncoder()
	payload := enc.Encode(make([]byte, 0, 160), pcm)

	dec := g722.NewDecoder()
	out := dec.Decode(make([]int16, 0, 320), payload)

	// G.722's RTP clock is 8000 Hz although the audio is 16 kHz, so the
	// timestamp advances by one per payload byte (RFC 3551 4.5.2).
	fmt.Println("payload bytes:", len(payload), "timestamp step:", len(payload))
	fmt.Println("decoded samples:", len(out))
	// Output:
	// payload bytes: 160 timestamp step: 160
	// decoded samples: 320
}
