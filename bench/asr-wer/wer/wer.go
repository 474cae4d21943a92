// Package wer measures speech recognition accuracy end to end, the way a
// customer's recordings are made: a fixed sentence is spoken by the network
// simulator with flite, sent through a real SIP/RTP call in one codec,
// recorded by the platform (a `record` action, so the file holds the caller
// alone), fetched through the API's media endpoint and transcribed. The word
// error rate compares the transcript with the sentence.
//
// It is shared by the benchmark (bench/asr-wer, all sentences, both codecs)
// and the end-to-end test (test/e2e/asr_wer_test.go, a few sentences).
package wer

import (
	"bufio"
	"cmp"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/minivoice/minivoice/internal/insights/asr"
	"github.com/minivoice/minivoice/internal/media"
	"github.com/minivoice/minivoice/internal/tts"
)

// Codecs the benchmark knows, by SDP name, with the sample rate of their
// recordings.
var Codecs = map[string]int{"G722": 16000, "PCMU": 8000, "PCMA": 8000}

// DefaultVoice is the flite voice the simulated callers speak with: kal16,
// flite's 16 kHz diphone voice, so the wideband codec has a wideband voice to
// carry.
const DefaultVoice = "kal16"

// DefaultConcurrency is how many calls are up at once. Calls cost little CPU
// (RTP and codec work); it only shortens the run.
const DefaultConcurrency = 6

// LoadSentences reads a sentences file: one sentence a line, blank lines and
// lines starting with # ignored.
func LoadSentences(path string) ([]string, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	var out []string
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		out = append(out, line)
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("%s: %w", path, errNoSentences)
	}
	return out, nil
}

// Config is one run: one codec, some sentences.
type Config struct {
	Codec     string   // "G722" or "PCMU"
	Sentences []string // reference texts, spoken in this order
	// Voice is the simulator's flite voice; default DefaultVoice.
	Voice string
	// Lead is how many whole seconds the caller stays silent after the
	// call is up before speaking, as a caller waiting out a greeting does;
	// default 1 (the time the record action needs to start).
	Lead int
	// Engine transcribes the recordings; default pocketsphinx with its
	// defaults.
	Engine asr.Engine
	// Concurrency is how many calls are up at once; default
	// DefaultConcurrency.
	Concurrency int
	// Jobs is how many recordings are transcribed at once; default 1, so
	// each Transcribe has the machine to itself.
	Jobs int
	// TTSCacheDir caches flite renderings across runs (e.g. across codecs);
	// empty uses a temporary directory.
	TTSCacheDir string
	// Long also transcribes all the recordings joined into one audio, to
	// measure throughput without the engine's per-recording start-up cost.
	Long bool
	// SaveDir, when set, receives each recording's caller channel as
	// CODEC-NN.wav (NN the 1-based sentence number), to listen to.
	SaveDir string
	// FromDir, when set, takes the recordings from a SaveDir of an earlier
	// run instead of placing calls, to compare engines or their settings on
	// exactly the same audio.
	FromDir string
	// Logger receives the platform's and simulator's logs; default discarded.
	Logger *slog.Logger
	// Progress, when set, is told about each step (for a command's stderr).
	Progress func(format string, args ...any)
}

// Sentence is the outcome of one sentence.
type Sentence struct {
	Index      int     `json:"index"` // 0-based, in the sentences file order (after -n)
	Reference  string  `json:"reference"`
	Hypothesis string  `json:"hypothesis"`
	Errors     int     `json:"errors"`
	Words      int     `json:"words"`
	AudioSec   float64 `json:"audio_seconds"`      // length of the caller's channel
	WallSec    float64 `json:"transcribe_seconds"` // wall time in Transcribe
	CPUSec     float64 `json:"transcribe_cpu_seconds,omitempty"`
	Codec      string  `json:"codec"` // negotiated, as the simulator reported it
	SampleRate int     `json:"sample_rate"`
}

// WER is the sentence's word error rate in percent.
func (s Sentence) WER() float64 { return pct(s.Errors, s.Words) }

// Throughput is a transcription speed: seconds of audio per second of wall
// time (and of CPU time, when known).
type Throughput struct {
	AudioSec float64 `json:"audio_seconds"`
	WallSec  float64 `json:"wall_seconds"`
	CPUSec   float64 `json:"cpu_seconds,omitempty"` // this process and its children, 0 when unknown
}

// XRealTime is audio seconds per wall second ("2" = twice as fast as real time).
func (t Throughput) XRealTime() float64 { return ratio(t.AudioSec, t.WallSec) }

// XRealTimeCPU is audio seconds per CPU second (0 when unknown).
func (t Throughput) XRealTimeCPU() float64 { return ratio(t.AudioSec, t.CPUSec) }

// Result is one codec's run.
type Result struct {
	Codec     string     `json:"codec"`
	Engine    string     `json:"engine"`
	Voice     string     `json:"voice"`
	Sentences []Sentence `json:"sentences"`
	Errors    int        `json:"errors"`
	Words     int        `json:"words"`
	WERPct    float64    `json:"wer_percent"`
	// PerRecording is the transcription of each recording on its own, as the
	// pipeline transcribes one call's recording: the sums over the
	// recordings of their length and of the wall time of their Transcribe.
	PerRecording Throughput `json:"per_recording"`
	// Jobs is how many recordings were transcribed at once, and Phase the
	// whole transcription phase: its elapsed wall time and total CPU time.
	Jobs  int        `json:"jobs"`
	Phase Throughput `json:"phase"`
	// Long is the transcription of all recordings joined into one audio (nil
	// unless Config.Long): the engine's speed on a long call.
	Long      *Throughput `json:"long,omitempty"`
	LongWER   float64     `json:"long_wer_percent,omitempty"`
	CallsWall float64     `json:"calls_seconds"` // wall time placing and recording the calls
}

// Worst returns the n sentences with the highest word error rate, worst
// first (ties: more errors first, then file order).
func (r *Result) Worst(n int) []Sentence {
	s := slices.Clone(r.Sentences)
	slices.SortStableFunc(s, func(a, b Sentence) int {
		if c := cmp.Compare(b.WER(), a.WER()); c != 0 {
			return c
		}
		return cmp.Compare(b.Errors, a.Errors)
	})
	return s[:min(n, len(s))]
}

// Run places one call per sentence through a fresh platform and simulator
// offering only cfg.Codec, then transcribes the recordings one after the
// other (with no call running, so the timing is the engine's alone) and
// scores them.
func Run(ctx context.Context, cfg Config) (*Result, error) {
	if _, ok := Codecs[cfg.Codec]; !ok {
		return nil, fmt.Errorf("wer: codec %q (want G722 or PCMU)", cfg.Codec)
	}
	if len(cfg.Sentences) == 0 {
		return nil, errNoSentences
	}
	if cfg.Lead <= 0 {
		cfg.Lead = 1
	}
	if cfg.Voice == "" {
		cfg.Voice = DefaultVoice
	}
	if cfg.Engine == nil {
		cfg.Engine = asr.NewPocketsphinx(asr.PocketsphinxConfig{})
	}
	if cfg.Concurrency <= 0 {
		cfg.Concurrency = DefaultConcurrency
	}
	if cfg.Jobs <= 0 {
		cfg.Jobs = 1
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	progress := cfg.Progress
	if progress == nil {
		progress = func(string, ...any) {}
	}
	if err := cfg.Engine.Available(ctx); err != nil {
		return nil, fmt.Errorf("wer: engine %s: %w", cfg.Engine.Name(), err)
	}
	cacheDir := cfg.TTSCacheDir
	if cacheDir == "" {
		d, err := os.MkdirTemp("", "minivoice-asr-wer-tts-")
		if err != nil {
			return nil, err
		}
		defer os.RemoveAll(d)
		cacheDir = d
	}
	speaker, err := tts.New(tts.Config{CacheDir: cacheDir})
	if err != nil {
		return nil, fmt.Errorf("wer: tts: %w", err)
	}

	// Render every sentence before the first call: the simulator then
	// finds it in flite's cache, so how long flite takes on a busy machine
	// does not shift where the speech starts in the recording.
	if cfg.FromDir == "" {
		for _, text := range cfg.Sentences {
			if _, err := speaker.Render(ctx, cfg.Voice, text, Codecs[cfg.Codec]); err != nil {
				return nil, fmt.Errorf("wer: tts: %w", err)
			}
		}
	}

	res := &Result{Codec: cfg.Codec, Engine: cfg.Engine.Name(), Voice: cfg.Voice, Sentences: make([]Sentence, len(cfg.Sentences)),
		Jobs: cfg.Jobs}
	audio := make([]*media.PCM, len(cfg.Sentences))
	start := time.Now()
	if cfg.FromDir != "" {
		if err := load(cfg.FromDir, cfg, res, audio); err != nil {
			return nil, err
		}
	} else if err := record(ctx, cfg, speaker, res, audio, progress); err != nil {
		return nil, err
	}
	res.CallsWall = time.Since(start).Seconds()
	if cfg.SaveDir != "" {
		if err := save(cfg.SaveDir, cfg.Codec, audio); err != nil {
			return nil, err
		}
	}

	if err := transcribeAll(ctx, cfg, res, audio, progress); err != nil {
		return nil, err
	}
	res.WERPct = pct(res.Errors, res.Words)

	if cfg.Long {
		joined := &media.PCM{Rate: audio[0].Rate}
		refs := make([]string, len(audio))
		for i, a := range audio {
			joined.Samples = append(joined.Samples, a.Samples...)
			refs[i] = res.Sentences[i].Reference
		}
		wall, cpu, hyp, err := transcribe(ctx, cfg.Engine, joined)
		if err != nil {
			return nil, fmt.Errorf("wer: all recordings joined: %w", err)
		}
		res.Long = &Throughput{AudioSec: joined.Duration().Seconds(), WallSec: wall, CPUSec: cpu}
		res.LongWER = pct(asr.WordErrors(strings.Join(refs, " "), hyp))
		progress("%s joined: %.1f s audio in %.2f s", cfg.Codec, res.Long.AudioSec, wall)
	}
	return res, nil
}

// transcribeAll transcribes every recording, cfg.Jobs at a time, and
// scores them.
func transcribeAll(ctx context.Context, cfg Config, res *Result, audio []*media.PCM, progress func(string, ...any)) error {
	var (
		wg    sync.WaitGroup
		mu    sync.Mutex
		errs  []error
		next  = make(chan int)
		done  int
		phase = time.Now()
	)
	cpu0, cpuOK := cpuNow()
	for range cfg.Jobs {
		wg.Go(func() {
			for i := range next {
				s := &res.Sentences[i]
				wall, cpu, hyp, err := transcribe(ctx, cfg.Engine, audio[i])
				mu.Lock()
				if err != nil {
					errs = append(errs, fmt.Errorf("wer: %s sentence %d: %w", cfg.Codec, i+1, err))
				} else {
					s.WallSec, s.Hypothesis = wall, hyp
					if cfg.Jobs == 1 {
						// With several jobs, a child's CPU time cannot be told
						// from the others'; only the phase's total is kept.
						s.CPUSec = cpu
					}
					s.Errors, s.Words = asr.WordErrors(s.Reference, hyp)
					done++
					progress("%s %2d/%d  #%d  %.1f s audio in %.2f s  %d/%d errors  %q", cfg.Codec, done, len(res.Sentences),
						i+1, s.AudioSec, s.WallSec, s.Errors, s.Words, hyp)
				}
				mu.Unlock()
			}
		})
	}
	for i := range res.Sentences {
		next <- i
	}
	close(next)
	wg.Wait()
	if len(errs) > 0 {
		return errors.Join(errs...)
	}
	res.Phase = Throughput{WallSec: time.Since(phase).Seconds()}
	if cpu1, ok := cpuNow(); ok && cpuOK {
		res.Phase.CPUSec = (cpu1 - cpu0).Seconds()
	}
	for _, s := range res.Sentences {
		res.Errors += s.Errors
		res.Words += s.Words
		res.PerRecording.AudioSec += s.AudioSec
		res.PerRecording.WallSec += s.WallSec
		res.PerRecording.CPUSec += s.CPUSec
	}
	res.Phase.AudioSec = res.PerRecording.AudioSec
	if cfg.Jobs > 1 {
		res.PerRecording.CPUSec = res.Phase.CPUSec
	}
	return nil
}

// record places the calls, cfg.Concurrency at a time, and fills audio and
// each sentence's reference, audio length and codec.
func record(ctx context.Context, cfg Config, speaker *tts.Engine, res *Result, audio []*media.PCM,
	progress func(string, ...any)) error {
	st, err := startStack(ctx, cfg.Codec, cfg.Voice, speaker, cfg.Logger)
	if err != nil {
		return fmt.Errorf("wer: %w", err)
	}
	defer st.close()
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var (
		wg       sync.WaitGroup
		mu       sync.Mutex
		firstErr error
		next     = make(chan int)
		done     int
	)
	for range cfg.Concurrency {
		wg.Go(func() {
			for i := range next {
				// A distinct caller number per sentence finds its call in the API.
				from := fmt.Sprintf("+1555700%04d", i)
				pcm, codec, err := st.recordSentence(ctx, from, cfg.Sentences[i], cfg.Lead)
				if err == nil && pcm.Rate != Codecs[cfg.Codec] {
					err = fmt.Errorf("recording at %d Hz, want %d for %s", pcm.Rate, Codecs[cfg.Codec], cfg.Codec)
				}
				if err == nil && codec != cfg.Codec {
					err = fmt.Errorf("call negotiated %s, want %s", codec, cfg.Codec)
				}
				mu.Lock()
				if err != nil {
					if firstErr == nil {
						firstErr = fmt.Errorf("wer: %s sentence %d: %w", cfg.Codec, i+1, err)
						cancel()
					}
				} else {
					audio[i] = pcm
					res.Sentences[i] = Sentence{Index: i, Reference: cfg.Sentences[i], AudioSec: pcm.Duration().Seconds(),
						Codec: codec, SampleRate: pcm.Rate}
					done++
					progress("%s call %d/%d recorded (%.1f s)", cfg.Codec, done, len(cfg.Sentences), pcm.Duration().Seconds())
				}
				mu.Unlock()
			}
		})
	}
feed:
	for i := range cfg.Sentences {
		select {
		case next <- i:
		case <-ctx.Done():
			break feed
		}
	}
	close(next)
	wg.Wait()
	if firstErr != nil {
		return firstErr
	}
	return ctx.Err()
}

// transcribe runs the engine on one audio and returns the wall and CPU
// seconds it took (CPU: this process plus the child processes it waited
// for, 0 when the system cannot tell) and the text of all segments.
func transcribe(ctx context.Context, e asr.Engine, p *media.PCM) (wall, cpu float64, text string, err error) {
	cpu0, cpuOK := cpuNow()
	t0 := time.Now()
	r, err := e.Transcribe(ctx, asr.Audio{Samples: p.Samples, Rate: p.Rate})
	wall = time.Since(t0).Seconds()
	if cpu1, ok := cpuNow(); ok && cpuOK {
		cpu = (cpu1 - cpu0).Seconds()
	}
	if err != nil {
		return wall, cpu, "", err
	}
	parts := make([]string, 0, len(r.Segments))
	for _, s := range r.Segments {
		if t := strings.TrimSpace(s.Text); t != "" {
			parts = append(parts, t)
		}
	}
	return wall, cpu, strings.Join(parts, " "), nil
}

// load reads DIR/CODEC-NN.wav, as save wrote them, for each sentence.
func load(dir string, cfg Config, res *Result, audio []*media.PCM) error {
	for i := range audio {
		f, err := os.Open(filepath.Join(dir, fmt.Sprintf("%s-%02d.wav", cfg.Codec, i+1)))
		if err != nil {
			return fmt.Errorf("wer: %w", err)
		}
		chans, err := media.ReadWAVChannels(f, 64<<20)
		_ = f.Close()
		if err != nil || len(chans) == 0 {
			return fmt.Errorf("wer: %s: not a WAV: %v", f.Name(), err)
		}
		audio[i] = chans[0]
		res.Sentences[i] = Sentence{Index: i, Reference: cfg.Sentences[i], AudioSec: chans[0].Duration().Seconds(),
			Codec: cfg.Codec, SampleRate: chans[0].Rate}
	}
	return nil
}

// save writes each audio as DIR/CODEC-NN.wav.
func save(dir, codec string, audio []*media.PCM) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("wer: %w", err)
	}
	for i, a := range audio {
		f, err := os.Create(filepath.Join(dir, fmt.Sprintf("%s-%02d.wav", codec, i+1)))
		if err != nil {
			return fmt.Errorf("wer: %w", err)
		}
		err = media.WriteWAV(f, a)
		if cerr := f.Close(); err == nil {
			err = cerr
		}
		if err != nil {
			return fmt.Errorf("wer: saving %s: %w", f.Name(), err)
		}
	}
	return nil
}

func pct(errs, words int) float64 {
	if words == 0 {
		return 0
	}
	return 100 * float64(errs) / float64(words)
}

func ratio(a, b float64) float64 {
	if b <= 0 {
		return 0
	}
	return a / b
}
