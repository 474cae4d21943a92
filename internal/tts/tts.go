// Package tts is MiniVoice's offline text-to-speech: it renders text with the
// flite command-line synthesiser, caches each (voice, text) rendering on disk
// so a prompt is synthesised once however many calls speak it, and returns
// PCM at whatever rate the call's codec needs.
//
// The `say` action and the network simulator both use it, so a test call
// exercises the same TTS a production call does.
package tts

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
	"unicode/utf8"

	"github.com/minivoice/minivoice/internal/media"
)

// MaxTextLen is the longest text, in characters, Render accepts: the `say`
// action's limit. At flite's speaking rate it is about four minutes of audio
// and a few seconds of CPU.
const MaxTextLen = 4000

// Defaults for Config fields left zero.
const (
	DefaultFliteBin = "flite"
	DefaultTimeout  = 30 * time.Second
)

// Errors Render wraps for caller mistakes, so the call engine can report them
// as invalid actions rather than platform failures.
var (
	// ErrUnknownVoice means the voice is not one flite has installed.
	ErrUnknownVoice = errors.New("tts: unknown voice")
	// ErrInvalidText means the text is empty or longer than MaxTextLen.
	ErrInvalidText = errors.New("tts: invalid text")
)

// tempPrefix marks in-progress files in the cache directory; they are
// renamed into place when complete, so a reader never sees half a WAV.
const tempPrefix = ".render-"

// staleTemp is how old an in-progress file must be before New deletes it as
// the leftover of a crash. Generous, because another process may share the
// cache directory and be rendering right now.
const staleTemp = time.Hour

// Config configures an Engine.
type Config struct {
	// CacheDir holds rendered WAVs, one per (voice, text); created if
	// missing. Required.
	CacheDir string
	// FliteBin is the flite executable, a path or a name looked up in PATH.
	// Default DefaultFliteBin.
	FliteBin string
	// Timeout bounds one flite run, whatever the callers' contexts say, so a
	// wedged synthesiser cannot pin a render forever. Default DefaultTimeout.
	Timeout time.Duration
}

// Engine renders text to speech. It is safe for concurrent use; concurrent
// renders of the same (voice, text) share one flite run.
type Engine struct {
	cacheDir string
	bin      string
	timeout  time.Duration
	voices   []string
	renders  atomic.Int64

	mu       sync.Mutex
	inflight map[string]*render

	// decoded keeps recent renders decoded at a call's rate: a prompt that
	// every call plays would otherwise be read and resampled again per call,
	// which profiles showed as the largest cost after the UDP writes.
	decodedMu    sync.Mutex
	decoded      map[string]*media.PCM
	decodedOrder []string
	decodedSize  int // samples held
}

// maxDecodedSamples bounds the decoded cache: 16 Mi samples (32 MiB), about
// half an hour of 8 kHz prompts.
const maxDecodedSamples = 16 << 20

func (e *Engine) cachedPCM(key string) *media.PCM {
	e.decodedMu.Lock()
	defer e.decodedMu.Unlock()
	return e.decoded[key]
}

func (e *Engine) storePCM(key string, p *media.PCM) {
	e.decodedMu.Lock()
	defer e.decodedMu.Unlock()
	if e.decoded == nil {
		e.decoded = map[string]*media.PCM{}
	}
	if _, ok := e.decoded[key]; ok || len(p.Samples) > maxDecodedSamples/4 {
		return
	}
	for e.decodedSize+len(p.Samples) > maxDecodedSamples && len(e.decodedOrder) > 0 {
		old := e.decodedOrder[0]
		e.decodedOrder = e.decodedOrder[1:]
		e.decodedSize -= len(e.decoded[old].Samples)
		delete(e.decoded, old)
	}
	e.decoded[key] = p
	e.decodedOrder = append(e.decodedOrder, key)
	e.decodedSize += len(p.Samples)
}

// render is one flite run that any number of Render calls wait on.
type render struct {
	done    chan struct{} // closed when err is set and the run is over
	err     error
	waiters int                // Render calls still waiting; guarded by Engine.mu
	cancel  context.CancelFunc // stops flite once no one waits any more
}

// New checks that flite runs, learns which voices it has, and prepares the
// cache directory.
func New(cfg Config) (*Engine, error) {
	if cfg.CacheDir == "" {
		return nil, errors.New("tts: CacheDir is required")
	}
	if cfg.FliteBin == "" {
		cfg.FliteBin = DefaultFliteBin
	}
	if cfg.Timeout <= 0 {
		cfg.Timeout = DefaultTimeout
	}
	bin, err := exec.LookPath(cfg.FliteBin)
	if err != nil {
		return nil, fmt.Errorf("tts: finding flite: %w", err)
	}
	if err := os.MkdirAll(cfg.CacheDir, 0o700); err != nil {
		return nil, fmt.Errorf("tts: cache directory: %w", err)
	}
	e := &Engine{cacheDir: cfg.CacheDir, bin: bin, timeout: cfg.Timeout, inflight: map[string]*render{}}
	if e.voices, err = e.listVoices(); err != nil {
		return nil, err
	}
	e.removeStaleTemps()
	return e, nil
}

// listVoices asks flite which voices it was built with ("flite -lv" prints
// "Voices available: kal awb_time kal16 awb rms slt"). Render accepts only
// these names: flite treats any other -voice value as a file path or URL to
// load a voice from, which must never be reachable from an API request.
func (e *Engine) listVoices() ([]string, error) {
	// Not Config.Timeout: that bounds renders, and may be tuned tight.
	ctx, cancel := context.WithTimeout(context.Background(), DefaultTimeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, e.bin, "-lv")
	cmd.Env = []string{}
	cmd.WaitDelay = time.Second
	out, err := cmd.Output()
	if err != nil {
		return nil, fmt.Errorf("tts: flite -lv: %w", err)
	}
	_, list, ok := strings.Cut(string(out), ":")
	voices := strings.Fields(list)
	if !ok || len(voices) == 0 {
		return nil, fmt.Errorf("tts: flite -lv: no voices in %q", out)
	}
	slices.Sort(voices)
	return voices, nil
}

// removeStaleTemps deletes in-progress files a crashed render left behind.
// Best effort: a failure only leaves litter.
func (e *Engine) removeStaleTemps() {
	entries, err := os.ReadDir(e.cacheDir)
	if err != nil {
		return
	}
	for _, de := range entries {
		if !strings.HasPrefix(de.Name(), tempPrefix) {
			continue
		}
		if fi, err := de.Info(); err == nil && time.Since(fi.ModTime()) > staleTemp {
			_ = os.Remove(filepath.Join(e.cacheDir, de.Name()))
		}
	}
}

// Voices lists the voice names Render accepts, sorted.
func (e *Engine) Voices() []string { return slices.Clone(e.voices) }

// Renders is how many times flite has actually been run to synthesise text;
// tests use it to observe cache hits and coalescing.
func (e *Engine) Renders() int64 { return e.renders.Load() }

// Render speaks text in voice and returns mono PCM at rate. The first render
// of a (voice, text) runs flite and caches the WAV; later ones, including
// concurrent ones, reuse it, and recent ones are kept decoded in memory. The
// returned PCM may be shared between callers: read it, never modify it. Cancelling ctx abandons this call; flite itself is
// killed once no caller is waiting for it.
func (e *Engine) Render(ctx context.Context, voice, text string, rate int) (*media.PCM, error) {
	if !slices.Contains(e.voices, voice) {
		return nil, fmt.Errorf("%w %q (have %s)", ErrUnknownVoice, voice, strings.Join(e.voices, ", "))
	}
	if strings.TrimSpace(text) == "" {
		return nil, fmt.Errorf("%w: empty", ErrInvalidText)
	}
	if n := utf8.RuneCountInString(text); n > MaxTextLen {
		return nil, fmt.Errorf("%w: %d characters (max %d)", ErrInvalidText, n, MaxTextLen)
	}
	if rate <= 0 {
		return nil, fmt.Errorf("tts: invalid rate %d", rate)
	}
	sum := sha256.Sum256([]byte(voice + "\x00" + text))
	key := hex.EncodeToString(sum[:])
	memKey := key + "@" + strconv.Itoa(rate)
	if p := e.cachedPCM(memKey); p != nil {
		return p, nil
	}
	path := filepath.Join(e.cacheDir, key+".wav")
	// A cache file that does not decode (say, torn by a power cut despite
	// the fsync) is thrown away and rendered again, once.
	for attempt := 0; ; attempt++ {
		if err := e.ensure(ctx, key, path, voice, text); err != nil {
			return nil, err
		}
		p, err := decodeFile(path, rate)
		if err == nil {
			e.storePCM(memKey, p)
			return p, nil
		}
		if attempt > 0 || !errors.Is(err, media.ErrMalformedWAV) && !errors.Is(err, media.ErrUnsupportedWAV) {
			return nil, err
		}
		_ = os.Remove(path)
	}
}

func decodeFile(path string, rate int) (*media.PCM, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("tts: reading cache: %w", err)
	}
	defer f.Close()
	p, err := media.DecodeWAV(f, rate)
	if err != nil {
		return nil, fmt.Errorf("tts: decoding %s: %w", filepath.Base(path), err)
	}
	trimLead(p)
	return p, nil
}

// The leading silence trimmed from renders: speech starts at the first
// 5 ms block above leadDBFS (line noise in some voices sits near -55 dBFS),
// and leadKeep before it is kept so the onset is not clipped. (With 20 ms
// kept, pocketsphinx misheard the onset of a G.722 recording with line noise
// a little more often: insights/asr's long-silence test.)
const (
	leadBlock = 5 * time.Millisecond
	leadKeep  = 50 * time.Millisecond
	leadDBFS  = -45
)

// trimLead drops the silence flite puts before the speech (about 200 ms):
// the caller would otherwise hear nothing for that long after each prompt
// starts, which is most of the delay from the answer to the first word
// (docs/benchmarks.md, Post-answer delay).
func trimLead(p *media.PCM) {
	block := p.Rate * int(leadBlock/time.Millisecond) / 1000
	keep := p.Rate * int(leadKeep/time.Millisecond) / 1000
	if block <= 0 {
		return
	}
	for i := 0; i+block <= len(p.Samples); i += block {
		if media.DBFS(p.Samples[i:i+block]) > leadDBFS {
			p.Samples = p.Samples[max(0, i-keep):]
			return
		}
	}
	// All silence: leave it as rendered.
}

// ensure returns once path holds the rendering of key, starting a flite run
// or joining the one already in flight.
func (e *Engine) ensure(ctx context.Context, key, path, voice, text string) error {
	if exists(path) {
		return nil
	}
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("tts: render: %w", err)
	}
	e.mu.Lock()
	r, ok := e.inflight[key]
	if !ok {
		// Look again under the lock: a run that finished since the check
		// above has renamed its file into place and left the map.
		if exists(path) {
			e.mu.Unlock()
			return nil
		}
		// The run gets its own context: it must outlive whichever caller
		// started it if others are still waiting.
		rctx, cancel := context.WithTimeout(context.Background(), e.timeout)
		r = &render{done: make(chan struct{}), cancel: cancel}
		e.inflight[key] = r
		go e.run(rctx, r, key, path, voice, text)
	}
	r.waiters++
	e.mu.Unlock()

	select {
	case <-r.done:
		return r.err
	case <-ctx.Done():
		e.mu.Lock()
		r.waiters--
		if r.waiters == 0 {
			// Nobody wants this render any more: kill flite, and let the
			// next caller start afresh rather than join a dying run.
			r.cancel()
			if e.inflight[key] == r {
				delete(e.inflight, key)
			}
		}
		e.mu.Unlock()
		return fmt.Errorf("tts: render: %w", ctx.Err())
	}
}

func (e *Engine) run(ctx context.Context, r *render, key, path, voice, text string) {
	r.err = e.synthesize(ctx, path, voice, text)
	e.mu.Lock()
	if e.inflight[key] == r {
		delete(e.inflight, key)
	}
	e.mu.Unlock()
	r.cancel()
	close(r.done)
}

// synthesize runs flite once and moves its validated output to path.
func (e *Engine) synthesize(ctx context.Context, path, voice, text string) (err error) {
	// The text goes through a file, never argv: text starting with "-"
	// would otherwise be parsed as an option, and a file has no length
	// limit. No shell is involved anywhere.
	txt, err := os.CreateTemp(e.cacheDir, tempPrefix+"*.txt")
	if err != nil {
		return fmt.Errorf("tts: %w", err)
	}
	defer os.Remove(txt.Name())
	_, werr := txt.WriteString(text)
	if cerr := txt.Close(); werr == nil {
		werr = cerr
	}
	if werr != nil {
		return fmt.Errorf("tts: writing text: %w", werr)
	}
	wav, err := os.CreateTemp(e.cacheDir, tempPrefix+"*.wav")
	if err != nil {
		return fmt.Errorf("tts: %w", err)
	}
	wavPath := wav.Name()
	_ = wav.Close()
	defer func() {
		if err != nil {
			_ = os.Remove(wavPath)
		}
	}()

	cmd := exec.CommandContext(ctx, e.bin, "-voice", voice, "-f", txt.Name(), "-o", wavPath)
	cmd.Env = []string{} // flite needs nothing from ours
	cmd.WaitDelay = time.Second
	var stderr bytes.Buffer
	cmd.Stderr = &limitedBuffer{buf: &stderr, max: 4 << 10}
	e.renders.Add(1)
	if rerr := cmd.Run(); rerr != nil {
		if cerr := ctx.Err(); cerr != nil {
			return fmt.Errorf("tts: flite: %w", cerr)
		}
		return fmt.Errorf("tts: flite: %w: %s", rerr, bytes.TrimSpace(stderr.Bytes()))
	}
	// Check the output before caching it, so a broken run is retried next
	// time instead of served forever; and fsync so the rename below never
	// publishes a file whose contents a power cut could lose.
	if err := validate(wavPath); err != nil {
		return err
	}
	if err := os.Rename(wavPath, path); err != nil {
		return fmt.Errorf("tts: caching render: %w", err)
	}
	return nil
}

func validate(path string) error {
	f, err := os.OpenFile(path, os.O_RDWR, 0)
	if err != nil {
		return fmt.Errorf("tts: flite output: %w", err)
	}
	defer f.Close()
	if _, err := media.ReadWAV(f); err != nil {
		return fmt.Errorf("tts: flite output: %w", err)
	}
	if err := f.Sync(); err != nil {
		return fmt.Errorf("tts: flite output: %w", err)
	}
	return nil
}

func exists(path string) bool {
	_, err := os.Stat(path)
	return err == nil
}

// limitedBuffer keeps the first max bytes written to it and discards the
// rest, so a chatty subprocess cannot grow memory without bound.
type limitedBuffer struct {
	buf *bytes.Buffer
	max int
}

func (l *limitedBuffer) Write(p []byte) (int, error) {
	if room := l.max - l.buf.Len(); room > 0 {
		l.buf.Write(p[:min(room, len(p))])
	}
	return len(p), nil
}
