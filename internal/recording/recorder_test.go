package recording

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/minivoice/minivoice/internal/media"
	"github.com/minivoice/minivoice/internal/voice"
)

// fakeClock is a settable clock for Config.Now.
type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func newFakeClock() *fakeClock {
	return &fakeClock{t: time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)}
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *fakeClock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

// newTestRecorder makes a recorder writing to a fresh file in a temporary
// blob directory and returns it with the file's path.
func newTestRecorder(t *testing.T, rate int, channels string, now func() time.Time) (*Recorder, string) {
	t.Helper()
	dir, err := NewDir(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = dir.Close() })
	key := Key("cust_test", "rec_test")
	f, err := dir.Create(key)
	if err != nil {
		t.Fatal(err)
	}
	r, err := NewRecorder(Config{File: f, Rate: rate, Channels: channels, Now: now})
	if err != nil {
		t.Fatal(err)
	}
	return r, dir.Path(key)
}

// tone is n samples of a sine at freq Hz, continuing from sample offset off so
// consecutive frames join without clicks.
func tone(freq float64, rate, off, n int, amp float64) []int16 {
	s := make([]int16, n)
	for i := range s {
		s[i] = int16(amp * math.Sin(2*math.Pi*freq*float64(off+i)/float64(rate)))
	}
	return s
}

// power is the signal's power at freq (Goertzel), normalised by length.
func power(s []int16, freq float64, rate int) float64 {
	k := 2 * math.Cos(2*math.Pi*freq/float64(rate))
	var s1, s2 float64
	for _, v := range s {
		s0 := float64(v) + k*s1 - s2
		s2, s1 = s1, s0
	}
	return (s1*s1 + s2*s2 - k*s1*s2) / float64(len(s)) / float64(len(s))
}

func readChannels(t *testing.T, path string) []*media.PCM {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	chans, err := media.ReadWAVChannels(f, 1<<30)
	if err != nil {
		t.Fatal(err)
	}
	return chans
}

// maxBuffered is the memory bound the alignment rules promise for streams
// written in chunks of at most chunk samples: lagBound + maxLead plus two
// chunks (the largest-chunk allowance and the chunk being written).
func maxBuffered(rate, chunk int) int {
	return int(durSamples(lagBound+maxLead, rate)) + 2*chunk
}

func TestRecorderDualTones(t *testing.T) {
	t.Parallel()
	for _, rate := range []int{8000, 16000} {
		t.Run(strconv.Itoa(rate)+"Hz", func(t *testing.T) {
			t.Parallel()
			clk := newFakeClock()
			r, path := newTestRecorder(t, rate, voice.ChannelsDual, clk.Now)
			frame := rate / 50
			const seconds = 5
			for i := range seconds * 50 {
				clk.Advance(20 * time.Millisecond)
				r.WriteFar(tone(440, rate, i*frame, frame, 8000))
				r.WriteNear(tone(1000, rate, i*frame, frame, 8000))
			}
			if got := r.Duration(); got != seconds*time.Second {
				t.Errorf("Duration before Close = %v, want %v", got, seconds*time.Second)
			}
			res, err := r.Close()
			if err != nil {
				t.Fatal(err)
			}
			if res.Duration != seconds*time.Second {
				t.Errorf("Result.Duration = %v, want %v", res.Duration, seconds*time.Second)
			}
			if want := int64(44 + seconds*rate*4); res.SizeBytes != want {
				t.Errorf("SizeBytes = %d, want %d", res.SizeBytes, want)
			}
			b, err := os.ReadFile(path)
			if err != nil {
				t.Fatal(err)
			}
			if sum := sha256.Sum256(b); res.SHA256 != hex.EncodeToString(sum[:]) {
				t.Errorf("SHA256 = %s, want the file's %x", res.SHA256, sum)
			}
			chans := readChannels(t, path)
			if len(chans) != 2 {
				t.Fatalf("%d channels, want 2", len(chans))
			}
			left, right := chans[0].Samples, chans[1].Samples
			if len(left) != seconds*rate || chans[0].Rate != rate {
				t.Fatalf("%d samples at %d Hz, want %d at %d", len(left), chans[0].Rate, seconds*rate, rate)
			}
			if l440, l1k := power(left, 440, rate), power(left, 1000, rate); l440 < 100*l1k {
				t.Errorf("left: 440 Hz power %.0f, 1 kHz %.0f: want the far end's 440 Hz tone", l440, l1k)
			}
			if r440, r1k := power(right, 440, rate), power(right, 1000, rate); r1k < 100*r440 {
				t.Errorf("right: 1 kHz power %.0f, 440 Hz %.0f: want the platform's 1 kHz tone", r1k, r440)
			}
			// Sample-exact: nothing was padded or dropped.
			if !slicesEqual(left, tone(440, rate, 0, seconds*rate, 8000)) {
				t.Error("left channel differs from the far end's samples")
			}
		})
	}
}

func slicesEqual(a, b []int16) bool { return len(a) == len(b) && bytes.Equal(i16bytes(a), i16bytes(b)) }

func i16bytes(s []int16) []byte {
	b := make([]byte, 2*len(s))
	for i, v := range s {
		b[2*i], b[2*i+1] = byte(v), byte(v>>8)
	}
	return b
}

func argmaxAbs(s []int16) int {
	best, at := -1, -1
	for i, v := range s {
		a := int(v)
		if a < 0 {
			a = -a
		}
		if a > best {
			best, at = a, i
		}
	}
	return at
}

func TestRecorderGapKeepsAlignment(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name     string
		silent   int // stream that pauses: far or near
		offFrame int // pause offset in ms within the 20 ms grid: jitter of the resumed stream
	}{
		{"near pauses", near, 0},
		{"far pauses", far, 0},
		{"near pauses, resumes 7 ms late", near, 7},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			const rate = 8000
			frame := rate / 50
			clk := newFakeClock()
			r, path := newTestRecorder(t, rate, voice.ChannelsDual, clk.Now)
			write := [2]func([]int16){r.WriteFar, r.WriteNear}
			bound := maxBuffered(rate, frame)
			// 2 s talking, 3 s with one side silent, then a click on both
			// sides and 1 s more.
			const before, gap, after = 100, 150, 50
			for i := range before + gap + after {
				clk.Advance(20 * time.Millisecond)
				for s := range 2 {
					if s == tt.silent && i >= before && i < before+gap {
						continue
					}
					f := tone(300+float64(200*s), rate, i*frame, frame, 1000)
					if i == before+gap {
						f[frame/2] = 30000 // the marker click
					}
					if s == tt.silent && i == before+gap && tt.offFrame > 0 {
						clk.Advance(time.Duration(tt.offFrame) * time.Millisecond)
						write[s](f)
						clk.Advance(-time.Duration(tt.offFrame) * time.Millisecond)
						continue
					}
					write[s](f)
				}
				if nf, nn := r.bufferedSamples(); nf > bound || nn > bound {
					t.Fatalf("frame %d: buffered far %d near %d samples, bound %d", i, nf, nn, bound)
				}
			}
			res, err := r.Close()
			if err != nil {
				t.Fatal(err)
			}
			total := time.Duration(before+gap+after) * 20 * time.Millisecond
			if d := res.Duration - total; d < 0 || d > 20*time.Millisecond {
				t.Errorf("Duration = %v, want wall-clock %v", res.Duration, total)
			}
			chans := readChannels(t, path)
			l, rr := argmaxAbs(chans[0].Samples), argmaxAbs(chans[1].Samples)
			if d := l - rr; d < -frame || d > frame {
				t.Errorf("marker at sample %d on the left, %d on the right: more than 20 ms apart", l, rr)
			}
			if want := (before+gap)*frame + frame/2; l < want-frame || l > want+frame {
				t.Errorf("marker at sample %d, want about %d (wall-clock time)", l, want)
			}
			// The silent side really is silent for the gap, give or take the
			// slack it is allowed.
			quiet := chans[tt.silent].Samples[(before+2)*frame : (before+gap-6)*frame]
			if lvl := media.RMS(quiet); lvl != 0 {
				t.Errorf("silent side has RMS %.1f during the gap", lvl)
			}
		})
	}
}

func TestRecorderFarNeverWrites(t *testing.T) {
	t.Parallel()
	const rate = 8000
	minutes := 10
	if testing.Short() {
		minutes = 1
	}
	frame := rate / 50
	clk := newFakeClock()
	r, path := newTestRecorder(t, rate, voice.ChannelsDual, clk.Now)
	bound := maxBuffered(rate, frame)
	f := tone(1000, rate, 0, frame, 5000)
	for i := range minutes * 60 * 50 {
		clk.Advance(20 * time.Millisecond)
		r.WriteNear(f)
		if i%500 == 0 {
			if nf, nn := r.bufferedSamples(); nf > bound || nn > bound {
				t.Fatalf("frame %d: buffered far %d near %d samples, bound %d", i, nf, nn, bound)
			}
		}
	}
	want := time.Duration(minutes) * time.Minute
	if got := r.Duration(); got != want {
		t.Errorf("Duration = %v, want %v", got, want)
	}
	res, err := r.Close()
	if err != nil {
		t.Fatal(err)
	}
	if res.Duration != want {
		t.Errorf("Result.Duration = %v, want %v", res.Duration, want)
	}
	chans := readChannels(t, path)
	if lvl := media.RMS(chans[0].Samples); lvl != 0 {
		t.Errorf("far channel RMS %.1f, want silence", lvl)
	}
	if act := media.ActiveDuration(chans[1], -40); act != want {
		t.Errorf("near channel active for %v, want %v", act, want)
	}
}

func TestRecorderMonoMix(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name            string
		far, near, want int16
	}{
		{"sum", 1000, -400, 600},
		{"silence", 0, 0, 0},
		{"one side", 0, -1234, -1234},
		{"saturates high", 30000, 30000, math.MaxInt16},
		{"saturates low", -30000, -30000, math.MinInt16},
		{"edge", math.MaxInt16, 1, math.MaxInt16},
		{"opposite extremes", math.MaxInt16, math.MinInt16, -1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			clk := newFakeClock()
			r, path := newTestRecorder(t, 8000, voice.ChannelsMono, clk.Now)
			for range 10 {
				clk.Advance(20 * time.Millisecond)
				r.WriteFar(bytesOf(tt.far, 160))
				r.WriteNear(bytesOf(tt.near, 160))
			}
			res, err := r.Close()
			if err != nil {
				t.Fatal(err)
			}
			if res.Duration != 200*time.Millisecond || res.SizeBytes != 44+1600*2 {
				t.Errorf("Result = %+v, want 200ms and %d bytes", res, 44+1600*2)
			}
			chans := readChannels(t, path)
			if len(chans) != 1 {
				t.Fatalf("%d channels, want 1", len(chans))
			}
			for i, v := range chans[0].Samples {
				if v != tt.want {
					t.Fatalf("sample %d = %d, want %d", i, v, tt.want)
				}
			}
		})
	}
}

func bytesOf(v int16, n int) []int16 {
	s := make([]int16, n)
	for i := range s {
		s[i] = v
	}
	return s
}

func TestRecorderCrashLeavesValidWAV(t *testing.T) {
	t.Parallel()
	const rate = 16000
	frame := rate / 50
	clk := newFakeClock()
	r, path := newTestRecorder(t, rate, voice.ChannelsDual, clk.Now)
	t.Cleanup(func() { _, _ = r.Close() })
	for i := range 3 * 50 {
		clk.Advance(20 * time.Millisecond)
		r.WriteFar(tone(440, rate, i*frame, frame, 8000))
		r.WriteNear(tone(1000, rate, i*frame, frame, 8000))
	}
	// The process "dies" here: take the file as it is on disk, unclosed.
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	crashed := filepath.Join(t.TempDir(), "crashed.wav")
	if err := os.WriteFile(crashed, b, 0o600); err != nil {
		t.Fatal(err)
	}
	// Even unrepaired, the header describes audio that is really there.
	chans := readChannels(t, crashed)
	if len(chans) != 2 || chans[0].Duration() < 2*time.Second {
		t.Fatalf("unrepaired file: %d channels, %v", len(chans), chans[0].Duration())
	}
	before := chans[0].Duration()
	if err := media.RepairWAV(crashed); err != nil {
		t.Fatal(err)
	}
	chans = readChannels(t, crashed)
	if len(chans) != 2 || chans[0].Duration() < before || chans[0].Duration() > 3*time.Second {
		t.Fatalf("repaired file: %d channels, %v (unrepaired %v)", len(chans), chans[0].Duration(), before)
	}
	if !slicesEqual(chans[0].Samples, tone(440, rate, 0, len(chans[0].Samples), 8000)) {
		t.Error("repaired left channel differs from what was written")
	}
}

func TestRecorderConcurrentWriters(t *testing.T) {
	t.Parallel()
	const rate, frames = 8000, 500
	frame := rate / 50
	// The clock advances 20 ms for every frame pair, whichever goroutine
	// gets there first, so both streams run at roughly real time.
	var ticks atomic.Int64
	start := time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC)
	now := func() time.Time { return start.Add(time.Duration(ticks.Load()) * 10 * time.Millisecond) }
	r, path := newTestRecorder(t, rate, voice.ChannelsDual, now)
	var wg sync.WaitGroup
	for s, write := range []func([]int16){r.WriteFar, r.WriteNear} {
		wg.Go(func() {
			for i := range frames {
				write(tone(440+float64(560*s), rate, i*frame, frame, 8000))
				ticks.Add(1)
				_ = r.Duration()
			}
		})
	}
	wg.Wait()
	res, err := r.Close()
	if err != nil {
		t.Fatal(err)
	}
	// Scheduling decides how much each side leads or lags; the length must
	// still be about the wall-clock time.
	want := frames * 20 * time.Millisecond
	if res.Duration < want*8/10 || res.Duration > want*12/10 {
		t.Errorf("Duration = %v, want about %v", res.Duration, want)
	}
	chans := readChannels(t, path)
	if len(chans) != 2 || chans[0].Duration() != res.Duration {
		t.Errorf("file: %d channels of %v, want 2 of %v", len(chans), chans[0].Duration(), res.Duration)
	}
}

func TestRecorderJitterIsLossless(t *testing.T) {
	t.Parallel()
	// Each side captures 1 ms of audio per step and hands it over in chunks
	// of random size at random moments, like an RTP reader under jitter or a
	// sender with odd buffer sizes. As long as a side never holds back more
	// than the slack, nothing may be padded or dropped.
	tests := []struct {
		name     string
		min, max int // chunk size in samples at 8 kHz
	}{
		{"tiny", 1, 8},
		{"rtp frames", 160, 160},
		{"odd sizes", 1, 500},
		{"large", 300, 600},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			const rate, steps = 8000, 20000 // 20 s
			rng := rand.New(rand.NewPCG(1, uint64(tt.max)))
			clk := newFakeClock()
			r, path := newTestRecorder(t, rate, voice.ChannelsDual, clk.Now)
			write := [2]func([]int16){r.WriteFar, r.WriteNear}
			var sent, pending [2][]int16
			var next [2]int
			for s := range next {
				next[s] = tt.min + rng.IntN(tt.max-tt.min+1)
			}
			for step := range steps {
				clk.Advance(time.Millisecond)
				for s := range 2 {
					for i := range rate / 1000 {
						pending[s] = append(pending[s], int16(rng.IntN(20000)-10000+s*(step+i)%7))
					}
					if len(pending[s]) >= next[s] {
						write[s](pending[s])
						sent[s] = append(sent[s], pending[s]...)
						pending[s] = pending[s][:0:0]
						next[s] = tt.min + rng.IntN(tt.max-tt.min+1)
					}
				}
			}
			res, err := r.Close()
			if err != nil {
				t.Fatal(err)
			}
			if want := samplesDuration(int64(max(len(sent[0]), len(sent[1]))), rate); res.Duration != want {
				t.Errorf("Duration = %v, want %v", res.Duration, want)
			}
			chans := readChannels(t, path)
			for s := range 2 {
				got := chans[s].Samples[:len(sent[s])]
				if !slicesEqual(got, sent[s]) {
					t.Errorf("channel %d differs from the samples written", s)
				}
				if rest := chans[s].Samples[len(sent[s]):]; media.RMS(rest) != 0 {
					t.Errorf("channel %d: Close padding is not silence", s)
				}
			}
		})
	}
}

func TestRecorderLeadIsBounded(t *testing.T) {
	t.Parallel()
	// A far end whose packets come twice as fast as real time (a sender
	// clock gone wild, or a flood) must not grow memory or push its channel
	// ever further from the clock.
	const rate = 8000
	frame := rate / 50
	clk := newFakeClock()
	r, _ := newTestRecorder(t, rate, voice.ChannelsDual, clk.Now)
	bound := maxBuffered(rate, frame)
	for i := range 3000 {
		clk.Advance(10 * time.Millisecond)
		r.WriteFar(tone(440, rate, i*frame, frame, 8000))
		if i%2 == 0 {
			r.WriteNear(tone(1000, rate, i*frame, frame, 8000))
		}
		if nf, nn := r.bufferedSamples(); nf > bound || nn > bound {
			t.Fatalf("frame %d: buffered far %d near %d samples, bound %d", i, nf, nn, bound)
		}
	}
	res, err := r.Close()
	if err != nil {
		t.Fatal(err)
	}
	wall := 30 * time.Second
	if res.Duration < wall || res.Duration > wall+maxLead+40*time.Millisecond {
		t.Errorf("Duration = %v, want the wall-clock %v plus at most the lead", res.Duration, wall)
	}
}

func TestRecorderBurstAfterStallCatchesUp(t *testing.T) {
	t.Parallel()
	// The far end's packets stall for 500 ms and then arrive all at once.
	// The channel may not end up shifted by the stall for the rest of the
	// call: after the burst it is again within maxLead of the clock.
	const rate = 8000
	frame := rate / 50
	clk := newFakeClock()
	r, path := newTestRecorder(t, rate, voice.ChannelsDual, clk.Now)
	i := 0
	step := func(farFrames int) {
		clk.Advance(20 * time.Millisecond)
		for range farFrames {
			r.WriteFar(tone(440, rate, 0, frame, 3000))
		}
		n := tone(1000, rate, 0, frame, 3000)
		if i == 200 {
			n[0] = 30000
		}
		r.WriteNear(n)
		i++
	}
	for range 50 {
		step(1)
	}
	for range 25 {
		step(0)
	}
	step(26)
	for i < 200 {
		step(1)
	}
	// The marker: both sides click in the same 20 ms.
	clk.Advance(20 * time.Millisecond)
	f := tone(440, rate, 0, frame, 3000)
	f[0] = 30000
	r.WriteFar(f)
	n := tone(1000, rate, 0, frame, 3000)
	n[0] = 30000
	r.WriteNear(n)
	for range 20 {
		step(1)
	}
	if _, err := r.Close(); err != nil {
		t.Fatal(err)
	}
	chans := readChannels(t, path)
	l, rr := argmaxAbs(chans[0].Samples), argmaxAbs(chans[1].Samples)
	if d := l - rr; d < 0 || d > int(durSamples(maxLead, rate))+frame {
		t.Errorf("marker at %d on the left, %d on the right: want the left at most maxLead+frame later", l, rr)
	}
}

func TestRecorderCloseAndAfter(t *testing.T) {
	t.Parallel()
	clk := newFakeClock()
	r, path := newTestRecorder(t, 8000, voice.ChannelsDual, clk.Now)
	clk.Advance(20 * time.Millisecond)
	r.WriteFar(make([]int16, 160))
	// Only one side ever spoke: Close pads the other to match.
	res, err := r.Close()
	if err != nil {
		t.Fatal(err)
	}
	if res.Duration != 20*time.Millisecond {
		t.Errorf("Duration = %v, want 20ms", res.Duration)
	}
	clk.Advance(time.Second)
	r.WriteFar(make([]int16, 160))
	r.WriteNear(make([]int16, 160))
	again, err := r.Close()
	if err != nil || again != res {
		t.Errorf("second Close = %+v, %v; want %+v, nil", again, err, res)
	}
	if r.Duration() != 20*time.Millisecond {
		t.Errorf("Duration after Close and writes = %v", r.Duration())
	}
	if fi, err := os.Stat(path); err != nil || fi.Size() != res.SizeBytes {
		t.Errorf("file size %v (%v), want %d", fi, err, res.SizeBytes)
	}
}

func TestRecorderEmpty(t *testing.T) {
	t.Parallel()
	r, path := newTestRecorder(t, 16000, voice.ChannelsDual, nil)
	res, err := r.Close()
	if err != nil {
		t.Fatal(err)
	}
	if res.Duration != 0 || res.SizeBytes != 44 {
		t.Errorf("empty recording: %+v", res)
	}
	if chans := readChannels(t, path); len(chans) != 2 || len(chans[0].Samples) != 0 {
		t.Errorf("empty recording reads as %d channels", len(chans))
	}
}

func TestNewRecorderErrors(t *testing.T) {
	t.Parallel()
	f, err := os.Create(filepath.Join(t.TempDir(), "x.wav"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	tests := []struct {
		name string
		cfg  Config
	}{
		{"no file", Config{Rate: 8000}},
		{"zero rate", Config{File: f}},
		{"absurd rate", Config{File: f, Rate: 1 << 30}},
		{"bad channels", Config{File: f, Rate: 8000, Channels: "stereo"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			if _, err := NewRecorder(tt.cfg); err == nil {
				t.Error("NewRecorder succeeded")
			}
		})
	}
}

func TestFinish(t *testing.T) {
	t.Parallel()
	now := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	tests := []struct {
		d    time.Duration
		want float64
	}{
		{1234567 * time.Microsecond, 1.235},
		{3 * time.Second, 3},
		{0, 0},
		{time.Hour + 1400*time.Microsecond, 3600.001},
	}
	for _, tt := range tests {
		r := &voice.Recording{Status: voice.RecordingInProgress, Error: "x"}
		Finish(r, Result{Duration: tt.d, SizeBytes: 99, SHA256: "ab"}, now)
		if r.Duration != tt.want || r.SizeBytes != 99 || r.SHA256 != "ab" || r.Status != voice.RecordingCompleted ||
			r.EndedAt == nil || !r.EndedAt.Equal(now) || !r.UpdatedAt.Equal(now) || r.Error != "" {
			t.Errorf("Finish(%v) = %+v", tt.d, r)
		}
	}
}
