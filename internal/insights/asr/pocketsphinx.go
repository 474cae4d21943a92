package asr

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"math"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/minivoice/minivoice/internal/media"
)

// Defaults for PocketsphinxConfig fields left zero.
const (
	DefaultPocketsphinxBin      = "pocketsphinx_continuous"
	DefaultPocketsphinxModelDir = "/usr/share/pocketsphinx/model/en-us"
	// DefaultPocketsphinxTimeout is the fixed part of the default run
	// timeout; twice the audio's length is added to it. Pocketsphinx runs at
	// about real time on one core of a small machine, so this leaves room
	// for a loaded one without letting a wedged run live forever.
	DefaultPocketsphinxTimeout = 30 * time.Second
)

// Model files under PocketsphinxConfig.ModelDir, as the Debian package
// pocketsphinx-en-us lays them out.
const (
	psAcousticModel = "en-us"              // directory: mdef, means, ...
	psLanguageModel = "en-us.lm.bin"       // trigram language model
	psDictionary    = "cmudict-en-us.dict" // pronunciations
	psMdef          = "mdef"               // the file pocketsphinx needs first in the acoustic model
	psInstallHint   = "install Debian packages pocketsphinx and pocketsphinx-en-us"
	psTempPattern   = "minivoice-asr-*.wav" // temp file names, so litter is recognisable
)

// utterancePause is the silence between two words beyond which they go to
// separate segments even when pocketsphinx kept them in one utterance: a
// pause that long is a turn or a sentence boundary in conversation.
const utterancePause = 0.8

// psFrame is pocketsphinx's frame shift in seconds; the word times it prints
// are frame indices times this.
const psFrame = 0.01

// Output bounds. Stdout holds one short line per word (a few MiB is days of
// speech); of stderr only ERROR and FATAL lines are kept, since an ordinary
// run logs kilobytes of configuration and statistics there.
const (
	maxStdout = 64 << 20
	maxStderr = 4 << 10
)

// PocketsphinxConfig configures a Pocketsphinx engine.
type PocketsphinxConfig struct {
	// Bin is the pocketsphinx_continuous executable, a path or a name looked
	// up in PATH. Default DefaultPocketsphinxBin.
	Bin string
	// ModelDir holds the en-us acoustic model directory, en-us.lm.bin and
	// cmudict-en-us.dict. Default DefaultPocketsphinxModelDir.
	ModelDir string
	// TempDir receives the WAV handed to each run, deleted afterwards.
	// Default os.TempDir().
	TempDir string
	// Timeout bounds one pocketsphinx run (one utterance, see
	// voiceSpans), whatever the caller's context says, so a wedged
	// recogniser cannot hold a job forever. Default
	// DefaultPocketsphinxTimeout plus twice the utterance's length.
	Timeout time.Duration
	// DecoderArgs are extra pocketsphinx_continuous arguments, after the
	// model and input ones. nil means DefaultDecoderArgs; an empty non-nil
	// slice runs the decoder with pocketsphinx's own defaults.
	DecoderArgs []string
	// Narrowband is how audio sampled below 16 kHz (G.711's 8 kHz) gets
	// the upper band the acoustic model expects: "noise", "fold", "shift"
	// or "none", optionally "+noise" after fold or shift, and ":dB" for the
	// level (see narrowband.go). Empty means the default, the best measured
	// (docs/insights.md); the others are there to compare.
	Narrowband string
	// NarrowbandMLLR is the acoustic adaptation for audio sampled below
	// 16 kHz: empty for the built-in transform (used only with the model
	// it was made for, see mllr.go), a path to another pocketsphinx MLLR
	// file, or NarrowbandMLLRNone.
	NarrowbandMLLR string
	// T2PBin is flite's t2p, which pronounces vocabulary words the
	// dictionary lacks. Default DefaultT2PBin.
	T2PBin string
	// Nice is the scheduling niceness (0..19) of the pocketsphinx
	// processes: the insights pipeline runs them at 10 so that, on a busy
	// machine, calls in progress (their media, a speech gather's
	// recognition) get the CPU first. 0 leaves the priority alone.
	Nice int
}

// DefaultDecoderArgs bound the decoder's search as CMU Sphinx's speed tuning
// advice describes: at most 3000 HMMs and 5 word exits per frame, and a
// 5-frame phonetic lookahead. On this project's benchmark (bench/asr-wer,
// docs/benchmarks.md) they make transcription about 1.6 times faster, from
// 1.1-1.4x to about 2x real time per core, for 1.3 points more word errors
// on G.722 calls and several more on 8 kHz G.711 ones.
var DefaultDecoderArgs = []string{"-maxhmmpf", "3000", "-maxwpf", "5", "-pl_window", "5"}

// Pocketsphinx recognises US English with CMU pocketsphinx, run as a
// subprocess per transcription. It is safe for concurrent use; each
// Transcribe runs its own process, so callers bound concurrency (each run
// takes a CPU core and about 100 MB).
type Pocketsphinx struct {
	bin         string
	modelDir    string
	tempDir     string
	timeout     time.Duration
	decoderArgs []string
	nice        int
	narrowband  narrowband
	t2pBin      string
	mllrCfg     string
	mllrOnce    sync.Once
	mllrMatch   bool       // the model is the one the built-in transform fits
	vocabMu     sync.Mutex // builds one vocabulary at a time; guards lexicon
	lexicon     *Lexicon
	vocabFailed map[string]bool // vocabularies whose build failed, by key; guarded by vocabMu
	configErr   error           // a bad PocketsphinxConfig field, reported by Available and Transcribe
}

// NewPocketsphinx returns a Pocketsphinx engine. It checks nothing: call
// Available to find out whether the binary and model are installed.
func NewPocketsphinx(cfg PocketsphinxConfig) *Pocketsphinx {
	if cfg.Bin == "" {
		cfg.Bin = DefaultPocketsphinxBin
	}
	if cfg.ModelDir == "" {
		cfg.ModelDir = DefaultPocketsphinxModelDir
	}
	if cfg.DecoderArgs == nil {
		cfg.DecoderArgs = DefaultDecoderArgs
	}
	nb, err := parseNarrowband(cfg.Narrowband)
	if err != nil {
		err = fmt.Errorf("%w: %w", ErrUnavailable, err)
	}
	return &Pocketsphinx{bin: cfg.Bin, modelDir: cfg.ModelDir, tempDir: cfg.TempDir, timeout: cfg.Timeout,
		decoderArgs: slices.Clone(cfg.DecoderArgs), nice: min(max(cfg.Nice, 0), 19), narrowband: nb, configErr: err,
		t2pBin: cmpOr(cfg.T2PBin, DefaultT2PBin), mllrCfg: cfg.NarrowbandMLLR}
}

// Name returns "pocketsphinx".
func (p *Pocketsphinx) Name() string { return "pocketsphinx" }

// Available checks that the binary is found and the three model paths
// exist. It does not run the recogniser.
func (p *Pocketsphinx) Available(ctx context.Context) error {
	_, err := p.resolve()
	return err
}

// resolve finds the binary and checks the model, returning the binary's
// path.
func (p *Pocketsphinx) resolve() (string, error) {
	if p.configErr != nil {
		return "", p.configErr
	}
	bin, err := exec.LookPath(p.bin)
	if err != nil {
		where := "in PATH"
		if strings.ContainsRune(p.bin, filepath.Separator) {
			where = "or not executable"
		}
		return "", fmt.Errorf("%w: %s not found %s; %s: %w", ErrUnavailable, p.bin, where, psInstallHint, err)
	}
	hmm := filepath.Join(p.modelDir, psAcousticModel)
	for _, path := range []string{filepath.Join(hmm, psMdef), filepath.Join(p.modelDir, psLanguageModel), filepath.Join(p.modelDir, psDictionary)} {
		if _, err := os.Stat(path); err != nil {
			return "", fmt.Errorf("%w: pocketsphinx model file %s is missing; %s, or set the model directory: %w", ErrUnavailable, path, psInstallHint, err)
		}
	}
	return bin, nil
}

// Transcribe recognises a, resampled to 16 kHz, as US English; audio
// sampled below 16 kHz gets faint noise in its empty upper band (see
// fillUpperBand), which the model copes with far better than with nothing
// there. Near-digital silence before the first sound and after the last
// is cut off (see soundSpan); times still count from the start of a.
// Pocketsphinx separates utterances at silences; each utterance
// becomes a segment, split further where words are more than 0.8 s apart.
// A segment's confidence is the mean posterior probability of its words.
// With a.Vocabulary, its words are favoured (and words the dictionary lacks
// pronounced by t2p) through language-model classes built once per
// vocabulary and cached under TempDir (see vocabulary.go); a vocabulary
// that cannot be built is ignored.
func (p *Pocketsphinx) Transcribe(ctx context.Context, a Audio) (*Result, error) {
	sound, err := a.check()
	if err != nil {
		return nil, err
	}
	if !sound {
		return emptyResult("en"), nil
	}
	bin, err := p.resolve()
	if err != nil {
		return nil, err
	}
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("asr: pocketsphinx: %w", err)
	}
	pcm := a.at16k()
	spans := voiceSpans(pcm.Samples, pcm.Rate)
	if len(spans) == 0 {
		// Sound by check's measure but no utterance by voiceSpans': nothing
		// pocketsphinx could make words of.
		return emptyResult("en"), nil
	}
	// The band the audio really has: a wideband call can carry narrowband
	// speech (a G.722 leg bridged from the telephone network, an 8 kHz
	// prompt), which then needs the narrowband treatment as much as G.711.
	band := a.Rate
	// Judged from the first utterance on (a caller may be silent for minutes
	// first).
	if a.Rate >= modelRate && bandLimited(&media.PCM{Rate: pcm.Rate, Samples: pcm.Samples[spans[0].from:]}) {
		band = narrowRate
		pcm = media.Resample(media.Resample(pcm, narrowRate), modelRate)
	}
	if band < modelRate {
		p.narrowband.apply(pcm, band) // a fresh resampling: ours to modify
	}
	dur := a.duration()
	lm := []string{"-lm", filepath.Join(p.modelDir, psLanguageModel), "-dict", filepath.Join(p.modelDir, psDictionary)}
	if len(a.Vocabulary) > 0 {
		// A vocabulary that cannot be built (t2p missing, a full disk)
		// costs the bias, not the transcript.
		if vf, err := p.vocabulary(ctx, a.Vocabulary); err == nil && vf != nil {
			lm = []string{"-lmctl", vf.lmctl, "-lmname", "default", "-dict", vf.dict}
		} else if ctxErr := ctx.Err(); ctxErr != nil {
			return nil, fmt.Errorf("asr: pocketsphinx: %w", ctxErr)
		}
	}
	mllr, mllrDone := p.mllrFor(band)
	defer mllrDone()
	if mllr != "" {
		lm = append(lm, "-mllr", mllr)
	}
	segs := []Segment{}
	for _, sp := range spans {
		// Slicing shares pcm's samples, which nothing modifies from here.
		utt := &media.PCM{Rate: pcm.Rate, Samples: pcm.Samples[sp.from:sp.to]}
		got, err := p.decode(ctx, bin, lm, utt, float64(sp.from)/float64(pcm.Rate), dur)
		if err != nil {
			return nil, err
		}
		segs = append(segs, got...)
	}
	return &Result{Language: "en", Segments: segs}, nil
}

// decode runs pocketsphinx once on utt, a single utterance at modelRate
// that starts offset seconds into a recording of dur seconds, and returns
// its segments on the recording's clock.
func (p *Pocketsphinx) decode(ctx context.Context, bin string, lm []string, utt *media.PCM, offset, dur float64) ([]Segment, error) {
	wav, err := p.writeTemp(utt)
	if err != nil {
		return nil, err
	}
	defer os.Remove(wav)

	timeout := p.timeout
	if timeout <= 0 {
		uttDur := float64(len(utt.Samples)) / float64(utt.Rate)
		timeout = DefaultPocketsphinxTimeout + time.Duration(2*uttDur*float64(time.Second))
	}
	rctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	// No -logfn: pocketsphinx logs its errors to stderr, the only place a
	// useful failure message comes from; errorLines keeps just those.
	args := append(append([]string{
		"-infile", wav,
		"-hmm", filepath.Join(p.modelDir, psAcousticModel)}, lm...),
		"-time", "yes")
	args = append(args, p.decoderArgs...)
	cmd := exec.CommandContext(rctx, bin, args...)
	// It needs nothing from our environment, which may hold database URLs
	// and keys; and without LC_* variables it prints times with a decimal
	// point, as parsePocketsphinx expects.
	cmd.Env = []string{}
	// Killing the process on cancel is not enough if it somehow left a
	// child holding the pipes; WaitDelay bounds that wait too.
	cmd.WaitDelay = time.Second
	stdout := &limitedBuffer{max: maxStdout}
	stderr := &errorLines{}
	cmd.Stdout = stdout
	cmd.Stderr = stderr
	if err := runNiced(cmd, p.nice); err != nil {
		switch {
		case ctx.Err() != nil:
			return nil, fmt.Errorf("asr: pocketsphinx: %w", ctx.Err())
		case rctx.Err() != nil:
			return nil, fmt.Errorf("asr: pocketsphinx: no result after %s: %w", timeout, rctx.Err())
		case errors.Is(err, exec.ErrNotFound) || errors.Is(err, fs.ErrNotExist) || errors.Is(err, fs.ErrPermission):
			// Uninstalled between resolve and Run.
			return nil, fmt.Errorf("%w: running %s: %w; %s", ErrUnavailable, bin, err, psInstallHint)
		}
		if msg := stderr.String(); msg != "" {
			return nil, fmt.Errorf("asr: pocketsphinx: %w: %s", err, msg)
		}
		return nil, fmt.Errorf("asr: pocketsphinx: %w", err)
	}
	if stdout.overflow {
		return nil, fmt.Errorf("asr: pocketsphinx: more than %d bytes of output", maxStdout)
	}
	return parsePocketsphinx(stdout.buf.Bytes(), offset, dur), nil
}

// writeTemp writes pcm as a WAV file in the temp directory and returns its
// path. pocketsphinx_continuous reads its input by name only.
func (p *Pocketsphinx) writeTemp(pcm *media.PCM) (path string, err error) {
	f, err := os.CreateTemp(p.tempDir, psTempPattern)
	if err != nil {
		return "", fmt.Errorf("asr: pocketsphinx input: %w", err)
	}
	defer func() {
		if cerr := f.Close(); err == nil && cerr != nil {
			err = fmt.Errorf("asr: pocketsphinx input: %w", cerr)
		}
		if err != nil {
			_ = os.Remove(f.Name())
		}
	}()
	if err := media.WriteWAV(f, pcm); err != nil {
		return "", fmt.Errorf("asr: pocketsphinx input: %w", err)
	}
	return f.Name(), nil
}

// psWord is one word line of pocketsphinx_continuous -time yes output.
type psWord struct {
	text       string
	start, end float64 // seconds
	posterior  float64
}

// parsePocketsphinx turns the output of pocketsphinx_continuous -time yes
// into segments. For each utterance it prints the hypothesis on one line,
// then one line per word: "word start end posterior", times in seconds from
// the start of the file, with <s> and </s> bracketing the utterance, <sil>
// for pauses and [NOISE]-style fillers, and alternative pronunciations
// marked "to(3)". For example:
//
//	hello thank you
//	<s> 0.000 0.200 1.000000
//	hello 0.210 0.600 0.571972
//	<sil> 0.610 0.700 0.990000
//	thank 0.710 1.040 0.998501
//	you 1.050 1.200 1.000200
//	</s> 1.210 1.290 1.000000
//
// Hypothesis lines never have four fields ending in three numbers, so they
// are told apart by shape. offset, in seconds, is added to every time: where
// in the recording the audio pocketsphinx heard starts. dur is the
// recording's length in seconds.
func parsePocketsphinx(out []byte, offset, dur float64) []Segment {
	segs := []Segment{}
	var cur []psWord
	flush := func() {
		if len(cur) > 0 {
			segs = append(segs, psSegment(cur, dur))
			cur = cur[:0]
		}
	}
	sc := bufio.NewScanner(bytes.NewReader(out))
	sc.Buffer(make([]byte, 0, 64<<10), 1<<20)
	for sc.Scan() {
		w, ok := parseWordLine(sc.Text())
		if !ok {
			continue
		}
		w.start += offset
		w.end += offset
		switch {
		case w.text == "<s>" || w.text == "</s>":
			flush()
		case isFiller(w.text):
		default:
			if len(cur) > 0 && w.start-cur[len(cur)-1].end > utterancePause {
				flush()
			}
			cur = append(cur, w)
		}
	}
	flush()
	return segs
}

func parseWordLine(line string) (psWord, bool) {
	f := strings.Fields(line)
	if len(f) != 4 {
		return psWord{}, false
	}
	var v [3]float64
	for i, s := range f[1:] {
		x, err := strconv.ParseFloat(s, 64)
		if err != nil {
			return psWord{}, false
		}
		v[i] = x
	}
	// The printed end is the start of the word's last 10 ms frame.
	return psWord{text: stripAlias(stripVariant(f[0])), start: v[0], end: v[1] + psFrame, posterior: v[2]}, true
}

// isFiller reports whether a pocketsphinx word is a non-speech token: <sil>,
// [NOISE], [SPEECH], or ++NOISE++ in older models.
func isFiller(w string) bool {
	n := len(w)
	return n >= 2 && (w[0] == '<' && w[n-1] == '>' || w[0] == '[' && w[n-1] == ']') ||
		n >= 4 && strings.HasPrefix(w, "++") && strings.HasSuffix(w, "++")
}

// stripVariant removes the pronunciation-variant suffix of "the(2)".
func stripVariant(w string) string {
	i := strings.LastIndexByte(w, '(')
	if i <= 0 || !strings.HasSuffix(w, ")") || i+2 >= len(w) {
		return w
	}
	if _, err := strconv.Atoi(w[i+1 : len(w)-1]); err != nil {
		return w
	}
	return w[:i]
}

func psSegment(words []psWord, dur float64) Segment {
	texts := make([]string, len(words))
	var sum float64
	for i, w := range words {
		texts[i] = w.text
		// Posteriors come out of log arithmetic and can exceed 1 slightly.
		sum += clamp01(w.posterior)
	}
	start, end := fitSpan(words[0].start, words[len(words)-1].end, dur)
	return Segment{
		Start:      start,
		End:        end,
		Text:       strings.Join(texts, " "),
		Confidence: clamp01(sum / float64(len(words))),
	}
}

// limitedBuffer keeps the first max bytes written to it and notes whether
// more came, so a runaway subprocess cannot grow memory without bound.
type limitedBuffer struct {
	buf      bytes.Buffer
	max      int
	overflow bool
}

func (l *limitedBuffer) Write(p []byte) (int, error) {
	room := l.max - l.buf.Len()
	if len(p) > room {
		l.overflow = true
		p = p[:max(room, 0)]
	}
	l.buf.Write(p)
	return len(p), nil
}

// errorLines keeps the ERROR and FATAL lines pocketsphinx logs (the reason
// a run failed), up to maxStderr bytes, and drops its routine INFO chatter.
type errorLines struct {
	line []byte // current partial line, bounded
	kept []string
	size int
}

func (e *errorLines) Write(p []byte) (int, error) {
	n := len(p)
	for len(p) > 0 {
		i := bytes.IndexByte(p, '\n')
		chunk := p
		if i >= 0 {
			chunk = p[:i]
		}
		if room := 512 - len(e.line); room > 0 {
			e.line = append(e.line, chunk[:min(room, len(chunk))]...)
		}
		if i < 0 {
			break
		}
		e.endLine()
		p = p[i+1:]
	}
	return n, nil
}

func (e *errorLines) endLine() {
	s := strings.TrimSpace(string(e.line))
	e.line = e.line[:0]
	if !strings.HasPrefix(s, "ERROR") && !strings.HasPrefix(s, "FATAL") {
		return
	}
	// pocketsphinx logs most errors twice (to its log and to stderr).
	if len(e.kept) > 0 && e.kept[len(e.kept)-1] == s {
		return
	}
	if e.size+len(s) > maxStderr {
		return
	}
	e.kept = append(e.kept, s)
	e.size += len(s)
}

// String returns the kept lines, joined with "; ".
func (e *errorLines) String() string {
	if len(e.line) > 0 {
		e.endLine()
	}
	return strings.Join(e.kept, "; ")
}

// Band filling. Audio sampled below 16 kHz (G.711 calls: 8 kHz) has nothing
// above its Nyquist frequency once resampled, and the model's filterbank
// reaches 6.8 kHz: those empty mel bands take log energies far below
// anything seen in training and wreck the features. Faint white noise in
// the empty band, well below the speech, brings them back into range. On
// four flite sentences resampled to 8 kHz, at three levels 30 dB apart, it
// cut the word error rate from 90 % to 37 %; noise 24 to 36 dB below the
// speech did about equally well. 8 kHz audio still recognises worse than
// 16 kHz, since the upper band's information is gone; this only stops its
// absence from doing extra damage.
const (
	// fillBelowSpeech is how far below the speech level the noise sits, in
	// dB.
	fillBelowSpeech = 30
	// speechFrameDBFS picks the frames that count towards the speech level.
	speechFrameDBFS = -50
)

// fillUpperBand adds noise above srcRate/2 to p, a 16 kHz resampling of
// audio at srcRate, in place: at a steady level fillBelowSpeech dB under the
// speech, but only where the audio is not digital silence (with 200 ms
// either side). A floor running through an otherwise empty stretch (a
// caller waiting out a greeting before speaking) threw pocketsphinx's
// silence detection and normalisation off, and whole PCMU transcripts
// collapsed to one word. The noise comes from a fixed seed so the same
// audio always transcribes the same way.
func fillUpperBand(p *media.PCM, srcRate int) { fillUpperBandAt(p, srcRate, fillBelowSpeech) }

// fillUpperBandAt is fillUpperBand with the noise belowDB under the speech.
func fillUpperBandAt(p *media.PCM, srcRate int, belowDB float64) {
	if srcRate >= p.Rate || len(p.Samples) == 0 {
		return
	}
	level := speechLevel(p.Samples)
	// White noise keeps the fraction (1 - srcRate/p.Rate) of its power
	// above srcRate/2; scale it so that what remains is at the target.
	keep := 1 - float64(srcRate)/float64(p.Rate)
	sigma := level * math.Pow(10, -belowDB/20.0) / math.Sqrt(keep)
	if sigma < 1 {
		return // below one quantisation step: nothing to add
	}
	rng := rand.New(rand.NewPCG(0x6d696e69, 0x766f6963))
	noise := &media.PCM{Rate: p.Rate, Samples: make([]int16, len(p.Samples))}
	for i := range noise.Samples {
		noise.Samples[i] = int16(max(min(rng.NormFloat64()*sigma, math.MaxInt16), math.MinInt16))
	}
	// The same resampler that band-limited the speech gives the noise's
	// lower band, to subtract; what is left fills exactly the empty band.
	low := media.Resample(media.Resample(noise, srcRate), p.Rate)
	gate := soundGate(p.Samples, p.Rate)
	for i, s := range p.Samples {
		v := float64(s) + float64(int32(noise.Samples[i])-int32(low.Samples[i]))*gate[i]
		p.Samples[i] = int16(max(min(math.Round(v), math.MaxInt16), math.MinInt16))
	}
}

// silentFrameRMS is the 10 ms frame level below which soundGate counts a
// frame as digital silence: -70 dBFS, under any line noise a G.711 call
// carries.
var silentFrameRMS = 32768 * math.Pow(10, -70/20.0)

// soundGate is 1 for samples within 200 ms of a 10 ms frame louder than
// silentFrameRMS and 0 elsewhere, ramped over 20 ms so the noise does not
// click on and off.
func soundGate(samples []int16, rate int) []float64 {
	n := max(1, rate/100)
	var on []bool
	for s := samples; len(s) > 0; {
		f := s[:min(n, len(s))]
		s = s[len(f):]
		on = append(on, media.RMS(f) >= silentFrameRMS)
	}
	const hold = 20 // frames of 10 ms: 200 ms
	open := make([]bool, len(on))
	for i, v := range on {
		if !v {
			continue
		}
		for j := max(0, i-hold); j <= min(len(on)-1, i+hold); j++ {
			open[j] = true
		}
	}
	out := make([]float64, len(samples))
	ramp := 2 * n
	level := 0.0
	for i := range out {
		target := 0.0
		if open[min(i/n, len(open)-1)] {
			target = 1
		}
		switch {
		case level < target:
			level = min(target, level+1/float64(ramp))
		case level > target:
			level = max(target, level-1/float64(ramp))
		}
		out[i] = level
	}
	return out
}

// speechLevel is the RMS of the 20 ms frames louder than speechFrameDBFS,
// or of everything if none is.
func speechLevel(samples []int16) float64 {
	const frame = modelRate / 50
	var sum float64
	n := 0
	for s := samples; len(s) > 0; {
		f := s[:min(frame, len(s))]
		s = s[len(f):]
		if media.DBFS(f) <= speechFrameDBFS {
			continue
		}
		for _, v := range f {
			sum += float64(v) * float64(v)
		}
		n += len(f)
	}
	if n == 0 {
		return media.RMS(samples)
	}
	return math.Sqrt(sum / float64(n))
}

// Trimming. pocketsphinx's start-up is thrown by a recording that opens
// with more than about 1.1 s of near-digital silence: samples of a few units,
// below -70 dBFS, as a G.722 call decodes a caller who has not spoken yet.
// A voicemail whose speech started at 1.3 s ("Hi, this is Sam. Please call
// me back about my invoice. Thank you.") came out as "i read on you"; with
// 1.1 s or less of its silence left in front it came out right. The cause
// is its silence removal (-remove_silence no does not collapse; batch CMN
// does), most likely the noise level it learns from that stretch. Faint
// noise in the silent frames, -90 to -50 dBFS, did not help (11 or 12 of
// the 13 words still wrong), while 1 to 4 s of the same silence inside or
// after the speech did no such damage (inside, it split the utterance there
// and cost one word, whatever its length). Trimming the ends was the first
// fix; voiceSpans (vad.go) now cuts every utterance out on its own, with
// trimMargin of the silence either side, and the word times are offset back.
// For the ends, margins of
// 0.1 to 0.5 s decoded 12 G.722 calls' recordings (speech 1.0 to 1.3 s in)
// word for word as untrimmed, and the same again with 1 s more silence in
// front, where untrimmed ones lost 75 % of their words; with no margin one
// word more was wrong. docs/insights.md has the numbers.
const trimMargin = 0.3 // seconds
