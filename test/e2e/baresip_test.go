package e2e

// G.722 against a real peer: Debian's baresip, whose g722 module is spandsp's
// codec, answers a call from the platform. Each side's decoded audio must carry
// a tone above 4 kHz that only a wideband stream can hold, so both our encoder
// and our decoder are checked against a reference implementation.

import (
	"bytes"
	"context"
	"fmt"
	"math"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/minivoice/minivoice/internal/media"
	"github.com/minivoice/minivoice/internal/media/g722"
)

const (
	bsModules     = "/usr/lib/baresip/modules"
	bsRate        = 16000
	bsPlatformHz  = 5000 // tone the platform plays to baresip
	bsPlatformLow = 500  // narrowband tone mixed with it
	bsPhoneHz     = 6000 // tone baresip sends to the platform
	bsPhoneNumber = "+15551230003"
)

// bsOutput collects a process's output from its copying goroutines.
type bsOutput struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *bsOutput) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *bsOutput) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// bsPhone is a headless baresip answering calls on 127.0.0.1.
type bsPhone struct {
	dir  string // config, accounts, source WAV and the sndfile dumps
	port int    // SIP port (udp)
	cmd  *exec.Cmd
	out  *bsOutput
	done chan struct{} // closed when the process has exited
}

// bsStart writes a config directory whose only audio codec is G.722,
// whose microphone is source (a 16 kHz WAV played by aufile) and whose
// received audio is dumped by sndfile, and runs baresip on it.
func bsStart(t *testing.T, source *media.PCM) *bsPhone {
	t.Helper()
	if _, err := exec.LookPath("baresip"); err != nil {
		t.Skip("baresip (Debian baresip-core) is not installed; .ci/run installs it")
	}
	for _, m := range []string{"g722.so", "aufile.so", "sndfile.so", "account.so", "menu.so"} {
		if _, err := os.Stat(filepath.Join(bsModules, m)); err != nil {
			t.Skipf("baresip module %s is missing: %v", m, err)
		}
	}
	dir := t.TempDir()
	src := filepath.Join(dir, "source.wav")
	bsWriteWAV(t, src, source)
	port := freeUDPPort(t)
	// No player module is loaded: baresip then runs without one, and sndfile,
	// an audio filter, still sees every decoded frame. Neither g711 nor any
	// other codec module is loaded, so only G.722 can be negotiated.
	config := strings.Join([]string{
		"poll_method\t\tepoll",
		fmt.Sprintf("sip_listen\t\t127.0.0.1:%d", port),
		"net_interface\t\t127.0.0.1", // RTP and SDP on loopback too
		"module_path\t\t" + bsModules,
		"module\t\t\tg722.so",
		"module\t\t\taufile.so",
		"module\t\t\tsndfile.so",
		"module_app\t\taccount.so",
		"module_app\t\tmenu.so",
		"audio_source\t\taufile," + src,
		"audio_path\t\t" + dir,
		"snd_path\t\t" + dir,
		"rtp_timeout\t\t0",
		"",
	}, "\n")
	if err := os.WriteFile(filepath.Join(dir, "config"), []byte(config), 0o644); err != nil {
		t.Fatal(err)
	}
	// baresip hands an INVITE to the account whose user is the request
	// URI's, so the phone's user is the number the platform dials.
	acct := "<sip:" + bsPhoneNumber + "@127.0.0.1>;regint=0;answermode=auto;audio_codecs=G722/16000/1\n"
	if err := os.WriteFile(filepath.Join(dir, "accounts"), []byte(acct), 0o644); err != nil {
		t.Fatal(err)
	}

	ph := &bsPhone{dir: dir, port: port, out: &bsOutput{}, done: make(chan struct{})}
	// -t quits on its own should the test never stop it.
	ph.cmd = exec.Command("baresip", "-f", dir, "-t", "55")
	ph.cmd.Dir = dir
	ph.cmd.Stdout, ph.cmd.Stderr = ph.out, ph.out
	if err := ph.cmd.Start(); err != nil {
		t.Fatalf("start baresip: %v", err)
	}
	go func() {
		_ = ph.cmd.Wait()
		close(ph.done)
	}()
	t.Cleanup(func() {
		ph.stop()
		if t.Failed() {
			t.Logf("baresip output:\n%s", ph.out.String())
		}
	})
	deadline := time.Now().Add(10 * time.Second)
	for !strings.Contains(ph.out.String(), "baresip is ready") {
		select {
		case <-ph.done:
			t.Fatalf("baresip exited at start:\n%s", ph.out.String())
		case <-time.After(20 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			t.Fatalf("baresip is not ready after 10 s:\n%s", ph.out.String())
		}
	}
	return ph
}

// stop asks baresip to quit, kills it if it will not, and waits for it.
func (ph *bsPhone) stop() {
	select {
	case <-ph.done:
		return
	default:
	}
	_ = ph.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-ph.done:
	case <-time.After(3 * time.Second):
		_ = ph.cmd.Process.Kill()
		<-ph.done
	}
}

// received waits for baresip to have closed the call's decode dump and returns it.
func (ph *bsPhone) received(t *testing.T) *media.PCM {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		if strings.Contains(ph.out.String(), "terminated (duration") || time.Now().After(deadline) {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	// Once the process has exited sndfile has closed (and sized) every dump.
	ph.stop()
	files, _ := filepath.Glob(filepath.Join(ph.dir, "dump-*dec.wav"))
	if len(files) != 1 {
		t.Fatalf("baresip decode dumps: %v, want one", files)
	}
	f, err := os.Open(files[0])
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	p, err := media.ReadWAV(f)
	if err != nil {
		t.Fatalf("baresip dump %s: %v", files[0], err)
	}
	return p
}

func bsWriteWAV(t *testing.T, path string, p *media.PCM) {
	t.Helper()
	var b bytes.Buffer
	if err := media.WriteWAV(&b, p); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, b.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
}

// bsTones is d of the sum of sines at freqs, each of amplitude amp (full scale 1).
func bsTones(d time.Duration, amp float64, freqs ...float64) *media.PCM {
	n := int(d.Seconds() * bsRate)
	p := &media.PCM{Rate: bsRate, Samples: make([]int16, n)}
	for i := range p.Samples {
		var v float64
		for _, f := range freqs {
			v += amp * math.Sin(2*math.Pi*f*float64(i)/bsRate)
		}
		p.Samples[i] = int16(v * 32767)
	}
	return p
}

// bsPhoneSource is what baresip says: a steady 6 kHz tone over speech-like
// sound (a 140 Hz voice's harmonics up to 3.5 kHz, shaped by moving formants
// and modulated at a syllable rate of 5 Hz, one syllable per bsMeasure window).
func bsPhoneSource(d time.Duration) *media.PCM {
	n := int(d.Seconds() * bsRate)
	p := &media.PCM{Rate: bsRate, Samples: make([]int16, n)}
	const f0 = 140.0
	for i := range p.Samples {
		tm := float64(i) / bsRate
		formant := 700 + 400*math.Sin(2*math.Pi*0.7*tm)
		var voice float64
		for k := 1; f0*float64(k) < 3500; k++ {
			f := f0 * float64(k)
			g := 1 / (1 + math.Pow((f-formant)/300, 2))
			voice += g * math.Sin(2*math.Pi*f*tm+float64(k))
		}
		syllable := 0.55 + 0.45*math.Sin(2*math.Pi*5*tm)
		v := 0.12*voice*syllable + 0.25*math.Sin(2*math.Pi*bsPhoneHz*tm)
		p.Samples[i] = int16(max(-1, min(1, v)) * 32767)
	}
	return p
}

// bsLoopback is p through our own G.722 encoder and decoder: the quality a
// faithful peer's decoding should match.
func bsLoopback(p *media.PCM) *media.PCM {
	enc, dec := g722.NewEncoder(), g722.NewDecoder()
	return &media.PCM{Rate: p.Rate, Samples: dec.Decode(nil, enc.Encode(nil, p.Samples))}
}

// bsGoertzelShare is the fraction of x's energy at freq: 1 for a pure tone at
// freq, 0 for none.
func bsGoertzelShare(x []int16, rate int, freq float64) float64 {
	w := 2 * math.Pi * freq / float64(rate)
	c := 2 * math.Cos(w)
	var s1, s2, total float64
	for _, v := range x {
		f := float64(v)
		s := f + c*s1 - s2
		s2, s1 = s1, s
		total += f * f
	}
	if total == 0 {
		return 0
	}
	power := s1*s1 + s2*s2 - c*s1*s2
	return 2 * power / (float64(len(x)) * total)
}

// bsDB is a share in decibels.
func bsDB(share float64) float64 {
	if share <= 0 {
		return -200
	}
	return 10 * math.Log10(share)
}

// bsToneReport measures audio in 200 ms windows louder than -30 dBFS: how many
// there are, the median share (dB) of each frequency's energy in them, and
// the median share of the rest (noise, distortion, other sound).
type bsToneReport struct {
	windows int
	median  map[float64]float64
	rest    float64
}

// bsMeasure reports on p; every freq must be a multiple of 5 Hz, the
// resolution of a 200 ms window, so a pure tone's share is exactly 0 dB.
func bsMeasure(p *media.PCM, freqs ...float64) bsToneReport {
	win := p.Rate / 5
	shares := map[float64][]float64{}
	var rest []float64
	r := bsToneReport{median: map[float64]float64{}, rest: -200}
	for a := 0; a+win <= len(p.Samples); a += win {
		x := p.Samples[a : a+win]
		if media.DBFS(x) < -30 {
			continue
		}
		r.windows++
		left := 1.0
		for _, f := range freqs {
			sh := bsGoertzelShare(x, p.Rate, f)
			left -= sh
			shares[f] = append(shares[f], bsDB(sh))
		}
		rest = append(rest, bsDB(left))
	}
	if len(rest) > 0 {
		slices.Sort(rest)
		r.rest = rest[len(rest)/2]
	}
	for _, f := range freqs {
		s := shares[f]
		if len(s) == 0 {
			r.median[f] = -200
			continue
		}
		slices.Sort(s)
		r.median[f] = s[len(s)/2]
	}
	return r
}

// TestBaresipG722 calls baresip, which speaks only G.722. The platform plays
// a 16 kHz prompt holding a 5 kHz tone (out of reach of any 8 kHz codec) while
// baresip plays a 6 kHz tone over speech-like sound: baresip's decoder must
// hear our 5 kHz, and the call recording's far-end channel must hold its 6 kHz.
func TestBaresipG722(t *testing.T) {
	t.Parallel()
	source := bsPhoneSource(10 * time.Second)
	ph := bsStart(t, source)

	prompt := bsTones(2*time.Second, 0.3, bsPlatformHz, bsPlatformLow)
	// The measure tells wideband from narrowband: through an 8 kHz rate the
	// 5 kHz tone is gone and only the 500 Hz one is left.
	nb := bsMeasure(media.Resample(media.Resample(prompt, 8000), bsRate), bsPlatformHz, bsPlatformLow)
	t.Logf("the prompt through 8 kHz: %d Hz %.1f dB, %d Hz %.1f dB of the energy", bsPlatformHz, nb.median[bsPlatformHz],
		bsPlatformLow, nb.median[bsPlatformLow])
	if nb.median[bsPlatformHz] > -30 || nb.median[bsPlatformLow] < -1 {
		t.Fatal("the tone measure does not tell wideband from narrowband")
	}
	var wav bytes.Buffer
	if err := media.WriteWAV(&wav, prompt); err != nil {
		t.Fatal(err)
	}
	files := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "audio/wav")
		_, _ = w.Write(wav.Bytes())
	}))
	t.Cleanup(files.Close)

	l := startPlatform(t, "sqlite")
	_, app := l.fixture()
	l.answers.set(`[{"action":"play","url":"` + files.URL + `/wide.wav"},{"action":"pause","length":1},{"action":"hangup"}]`)
	l.do("POST", "/v1/trunks", map[string]any{"name": "baresip", "host": "127.0.0.1", "port": ph.port, "transport": "udp"}, 201)
	id := l.do("POST", "/v1/calls", map[string]any{"to": bsPhoneNumber, "from": "+15551230001", "application_id": app,
		"record": true}, 201)["id"].(string)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	var c map[string]any
	for {
		c = l.do("GET", "/v1/calls/"+id, nil, 200)
		if s := c["status"]; s == "completed" || s == "failed" || s == "busy" || s == "no-answer" || s == "canceled" {
			break
		}
		select {
		case <-ctx.Done():
			t.Fatalf("call did not end: %v", c)
		case <-time.After(100 * time.Millisecond):
		}
	}
	if c["status"] != "completed" || c["codec"] != "G722" || c["hangup_source"] != "caller" {
		t.Fatalf("call: %v", c)
	}

	// Our encoder, baresip's (spandsp's) decoder.
	got := ph.received(t)
	if out := ph.out.String(); !strings.Contains(out, "Set audio decoder: G722 16000Hz") ||
		!strings.Contains(out, "Set audio encoder: G722 16000Hz") {
		t.Errorf("baresip did not use G.722 both ways")
	}
	if got.Rate != bsRate {
		t.Fatalf("baresip decoded at %d Hz, want %d", got.Rate, bsRate)
	}
	r := bsMeasure(got, bsPlatformHz, bsPlatformLow)
	loop := bsMeasure(bsLoopback(prompt), bsPlatformHz, bsPlatformLow)
	t.Logf("baresip heard %v of audio, %d loud windows: %d Hz %.1f dB, %d Hz %.1f dB, rest %.1f dB of the energy (our own codec's loopback: rest %.1f dB)",
		got.Duration(), r.windows, bsPlatformHz, r.median[bsPlatformHz], bsPlatformLow, r.median[bsPlatformLow], r.rest, loop.rest)
	// The pair sent is -3 dB each and nothing else; G.722's quantisation
	// noise is the rest, no more than through our own decoder.
	if r.windows < 8 || r.median[bsPlatformHz] < -4 || r.median[bsPlatformLow] < -4 || r.rest > loop.rest+3 {
		t.Errorf("baresip did not hear the wideband prompt: %d windows, %d Hz at %.1f dB, %d Hz at %.1f dB, rest %.1f dB",
			r.windows, bsPlatformHz, r.median[bsPlatformHz], bsPlatformLow, r.median[bsPlatformLow], r.rest)
	}

	// baresip's encoder, our decoder: the recording's left channel.
	recs, _ := c["recording_ids"].([]any)
	if len(recs) != 1 {
		t.Fatalf("recording_ids %v", c["recording_ids"])
	}
	rid := recs[0].(string)
	rec := ivWaitRecording(t, l, rid)
	if rec["status"] != "completed" || rec["sample_rate"] != float64(bsRate) {
		t.Fatalf("recording: %v", rec)
	}
	chans := ivChannels(t, l, rid)
	if len(chans) != 2 || chans[0].Rate != bsRate {
		t.Fatalf("recording has %d channels at %d Hz", len(chans), chans[0].Rate)
	}
	far := bsMeasure(chans[0], bsPhoneHz, bsPlatformHz)
	floop := bsMeasure(bsLoopback(source), bsPhoneHz, bsPlatformHz)
	t.Logf("platform heard %v of audio, %d loud windows: %d Hz %.1f dB, %d Hz %.1f dB, rest (speech) %.1f dB of the energy (loopback: %.1f, %.1f, %.1f dB)",
		chans[0].Duration(), far.windows, bsPhoneHz, far.median[bsPhoneHz], bsPlatformHz, far.median[bsPlatformHz], far.rest,
		floop.median[bsPhoneHz], floop.median[bsPlatformHz], floop.rest)
	// The source is about -1 dB tone and -6 dB speech-like sound, and there
	// is nothing at 5 kHz: the platform's own prompt must not leak in.
	if far.windows < 12 || math.Abs(far.median[bsPhoneHz]-floop.median[bsPhoneHz]) > 1 || math.Abs(far.rest-floop.rest) > 2 {
		t.Errorf("the platform did not hear baresip's 6 kHz tone over speech: %d windows, tone %.1f dB, rest %.1f dB",
			far.windows, far.median[bsPhoneHz], far.rest)
	}
	if far.median[bsPlatformHz] > -30 {
		t.Errorf("the far-end channel holds the platform's own 5 kHz tone at %.1f dB", far.median[bsPlatformHz])
	}
}
