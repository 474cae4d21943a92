package asr

// Live recognition of short spoken commands, for a call's speech gather
// (call-control.md, gather). Unlike Transcribe, which works through whole
// recordings in the insights pipeline at low priority, this runs while a
// caller waits on the line: one utterance of a few seconds, at normal
// priority, with a bounded number of decoders per process.
//
// With hints (the phrases the application expects, "sales", "speak to a
// person") the decoder searches a JSGF grammar: any of the hint phrases,
// with a loop of single phones before and after it, or the phone loop
// alone. The phone loop is the garbage model of keyword spotting: speech
// that is not a hint ("um", "I would like", a different request) is
// absorbed by it, and a hint is reported only when its words explain the
// audio better than free phones do, by the word insertion penalty each
// phone pays. Without hints, or when no hint is heard, the general
// language model transcribes the utterance.

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/minivoice/minivoice/internal/media"
)

// Bounds on the hints one recognition takes. A gather's list is validated
// against them (callctl), and Recognize enforces them again.
const (
	MaxHints      = 100
	MaxHintChars  = 100
	MaxHintWords  = 10
	maxCommandOut = 1 << 20
	// MaxCommandAudio bounds the utterance handed to Recognize, in seconds:
	// a gather's speech ends there (call-control.md).
	MaxCommandAudio = 30
)

// ErrBusy is returned when every live decoder stayed busy for the whole
// queue wait: the process is at its budget of concurrent recognitions.
var ErrBusy = errors.New("asr: every live decoder is busy")

// DefaultCommandQueueWait is how long a recognition waits for a free
// decoder before giving up with ErrBusy.
const DefaultCommandQueueWait = 3 * time.Second

// DefaultCommandWIP is the word insertion penalty of the hint grammar:
// what each garbage phone pays. Lower makes hints easier to report (more
// false hints on other speech), higher makes them harder (more hints
// missed). Chosen on TestCommandsEval's 120 answers, against 1e-1, 1e-2
// and 1e-3 (docs/call-control.md, "Speech recognition accuracy and
// latency").
const DefaultCommandWIP = "3e-3"

// CommandConfig configures a Commands recogniser.
type CommandConfig struct {
	// Bin and ModelDir are as in PocketsphinxConfig (defaults the same).
	Bin, ModelDir string
	// TempDir receives each run's files (WAV, grammar, dictionary), in a
	// directory of their own removed when the run ends. Default os.TempDir().
	TempDir string
	// Lexicon pronounces hint words; nil uses the model's dictionary with
	// flite's t2p for the words it lacks.
	Lexicon *Lexicon
	// MaxDecoders bounds the recognitions that run at once; default
	// runtime.NumCPU(). Each takes a core for a fraction of a second.
	MaxDecoders int
	// QueueWait bounds how long a recognition waits for a free decoder;
	// default DefaultCommandQueueWait.
	QueueWait time.Duration
	// Timeout bounds one recognition (both decoder runs when the grammar
	// hears no hint); default 15 s plus twice the audio's length.
	Timeout time.Duration
	// WIP is the grammar's word insertion penalty; "" is DefaultCommandWIP.
	WIP string
}

// Commands recognises one short utterance at a time, biased to hint
// phrases, within a budget of concurrent decoders. Safe for concurrent use.
type Commands struct {
	cfg     CommandConfig
	lex     *Lexicon
	general *Pocketsphinx
	slots   chan struct{}
}

// NewCommands returns a recogniser; it checks nothing (see Available).
func NewCommands(cfg CommandConfig) *Commands {
	if cfg.Bin == "" {
		cfg.Bin = DefaultPocketsphinxBin
	}
	if cfg.ModelDir == "" {
		cfg.ModelDir = DefaultPocketsphinxModelDir
	}
	if cfg.MaxDecoders <= 0 {
		cfg.MaxDecoders = runtime.NumCPU()
	}
	if cfg.QueueWait <= 0 {
		cfg.QueueWait = DefaultCommandQueueWait
	}
	if cfg.WIP == "" {
		cfg.WIP = DefaultCommandWIP
	}
	lex := cfg.Lexicon
	if lex == nil {
		lex = NewLexicon(filepath.Join(cfg.ModelDir, psDictionary), "")
	}
	// The general model's path is the insights engine's, at normal
	// priority: the caller is waiting.
	general := NewPocketsphinx(PocketsphinxConfig{Bin: cfg.Bin, ModelDir: cfg.ModelDir, TempDir: cfg.TempDir, Timeout: cfg.Timeout})
	return &Commands{cfg: cfg, lex: lex, general: general, slots: make(chan struct{}, cfg.MaxDecoders)}
}

// Available reports whether pocketsphinx and its model are installed.
func (c *Commands) Available(ctx context.Context) error { return c.general.Available(ctx) }

// MaxDecoders is the number of recognitions that may run at once.
func (c *Commands) MaxDecoders() int { return cap(c.slots) }

// CommandResult is what was heard.
type CommandResult struct {
	// Text is the hint phrase heard, as the application wrote it, or the
	// general model's transcript when no hint was heard (or none given).
	// Empty when nothing was recognised.
	Text string
	// Confidence is 0..1. A hint heard scores 0.5 and more: by the
	// grammar, by the share of the speech it covers (see bestHint); in the
	// general model's transcript, 0.5 plus half its words' posterior mean.
	// A transcript with hints given but none heard is capped at 0.3.
	Confidence float64
	// Hint is set when Text is one of the hints.
	Hint bool
}

// NoHintConfidence caps the confidence of a transcript when hints were
// given and none was heard, so an application can tell the two apart by
// confidence alone (below 0.5: not one of your phrases).
const NoHintConfidence = 0.3

// Recognize recognises one utterance a (at most MaxCommandAudio seconds are
// used), preferring the hints. It waits at most the queue wait for a free
// decoder (else ErrBusy); cancelling ctx kills the decoder and removes its
// files.
func (c *Commands) Recognize(ctx context.Context, a Audio, hints []string) (*CommandResult, error) {
	sound, err := a.check()
	if err != nil {
		return nil, err
	}
	if !sound {
		return &CommandResult{}, nil
	}
	if max := MaxCommandAudio * a.Rate; len(a.Samples) > max {
		a.Samples = a.Samples[:max]
	}
	if err := c.acquire(ctx); err != nil {
		return nil, err
	}
	defer func() { <-c.slots }()
	// One deadline for the whole recognition, grammar and general model
	// together, so the caller's wait is bounded whichever runs.
	limit := c.cfg.Timeout
	if limit <= 0 {
		limit = 15*time.Second + time.Duration(2*a.duration()*float64(time.Second))
	}
	ctx, cancel := context.WithTimeoutCause(ctx, limit, fmt.Errorf("asr: no recognition after %s", limit))
	defer cancel()

	phrases := normalizeHints(hints)
	if len(phrases) > 0 {
		res, err := c.spot(ctx, a, phrases)
		if err != nil {
			return nil, err
		}
		if res != nil {
			return res, nil
		}
	}
	tr, err := c.general.Transcribe(ctx, Audio{Samples: a.Samples, Rate: a.Rate})
	if err != nil {
		return nil, err
	}
	var words []string
	var conf float64
	for _, s := range tr.Segments {
		words = append(words, s.Text)
		conf += s.Confidence
	}
	if len(words) == 0 {
		return &CommandResult{}, nil
	}
	conf /= float64(len(words))
	text := strings.Join(words, " ")
	if len(phrases) > 0 {
		// The grammar's garbage loop can outscore a short hint said
		// alone ("sales" over G.711); the general model may still have
		// heard it word for word.
		if p, ok := hintIn(text, phrases); ok {
			return &CommandResult{Text: p.text, Confidence: 0.5 + 0.5*conf, Hint: true}, nil
		}
		conf = min(conf, NoHintConfidence)
	}
	return &CommandResult{Text: text, Confidence: conf}, nil
}

// hintIn finds the longest hint whose words occur in a row in text.
func hintIn(text string, phrases []hintPhrase) (hintPhrase, bool) {
	padded := " " + text + " "
	var best hintPhrase
	found := false
	for _, p := range phrases {
		if strings.Contains(padded, " "+strings.Join(p.words, " ")+" ") && (!found || len(p.words) > len(best.words)) {
			best, found = p, true
		}
	}
	return best, found
}

// Prepare looks up the pronunciations of the hints' words (loading the
// dictionary on first use, running t2p for words it lacks), which the
// Lexicon keeps, so that Recognize does not wait for them. Errors are left
// for Recognize to report.
func (c *Commands) Prepare(ctx context.Context, hints []string) {
	var words []string
	for _, p := range normalizeHints(hints) {
		words = append(words, p.words...)
	}
	if len(words) > 0 {
		_, _, _ = c.lex.Entries(ctx, words)
	}
}

// acquire takes a decoder slot, waiting at most the queue wait.
func (c *Commands) acquire(ctx context.Context) error {
	select {
	case c.slots <- struct{}{}:
		return nil
	default:
	}
	t := time.NewTimer(c.cfg.QueueWait)
	defer t.Stop()
	select {
	case c.slots <- struct{}{}:
		return nil
	case <-t.C:
		return fmt.Errorf("%w (%d at once, waited %s)", ErrBusy, cap(c.slots), c.cfg.QueueWait)
	case <-ctx.Done():
		return fmt.Errorf("asr: waiting for a live decoder: %w", ctx.Err())
	}
}

// hintPhrase is a hint as the application wrote it and as dictionary words.
type hintPhrase struct {
	text  string
	words []string
}

var digitWords = []string{"zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine"}

// hintWordRe is what a hint word must be, after normalisation, to go into a
// grammar: letters and apostrophes, as the dictionary and t2p spell words.
var hintWordRe = regexp.MustCompile(`^[a-z][a-z']*$`)

// normalizeHints turns hints into dictionary words, dropping empty and
// duplicate ones and bounding their number and length. A digit is spoken
// as its name ("press 1" is "press one").
func normalizeHints(hints []string) []hintPhrase {
	var out []hintPhrase
	seen := map[string]bool{}
	for _, h := range hints {
		if len(out) >= MaxHints {
			break
		}
		if utf8.RuneCountInString(h) > MaxHintChars {
			continue
		}
		var words []string
		ok := true
		for _, f := range strings.FieldsFunc(h, func(r rune) bool { return r == ' ' || r == '-' || r == '\t' || r == ',' || r == '/' }) {
			if len(f) == 1 && f[0] >= '0' && f[0] <= '9' {
				words = append(words, digitWords[f[0]-'0'])
				continue
			}
			w := NormalizeWord(f)
			if w == "" {
				continue
			}
			if !hintWordRe.MatchString(w) {
				ok = false
				break
			}
			words = append(words, w)
		}
		if !ok || len(words) == 0 || len(words) > MaxHintWords {
			continue
		}
		key := strings.Join(words, " ")
		if seen[key] {
			continue
		}
		seen[key] = true
		out = append(out, hintPhrase{text: strings.TrimSpace(h), words: words})
	}
	return out
}

// garbagePhones are the phone-loop's "words": one per CMU phone, named so
// that no hint word can collide with them (hint words start with a letter).
func garbageWord(phone string) string { return "_" + strings.ToLower(phone) }

// spot decodes a with the hint grammar. It returns nil (no error) when no
// hint was heard.
func (c *Commands) spot(ctx context.Context, a Audio, phrases []hintPhrase) (*CommandResult, error) {
	var all []string
	for _, p := range phrases {
		all = append(all, p.words...)
	}
	entries, missing, err := c.lex.Entries(ctx, all)
	if err != nil {
		return nil, err
	}
	// A hint with a word that has no pronunciation cannot be in the grammar.
	if len(missing) > 0 {
		phrases = slices.DeleteFunc(slices.Clone(phrases), func(p hintPhrase) bool {
			return slices.ContainsFunc(p.words, func(w string) bool { return slices.Contains(missing, w) })
		})
	}
	if len(phrases) == 0 {
		return nil, nil
	}
	if err := c.general.Available(ctx); err != nil {
		return nil, err
	}
	bin, err := exec.LookPath(c.cfg.Bin)
	if err != nil {
		return nil, fmt.Errorf("%w: %s: %w", ErrUnavailable, c.cfg.Bin, err)
	}
	dir, err := os.MkdirTemp(c.cfg.TempDir, "minivoice-gather-*")
	if err != nil {
		return nil, fmt.Errorf("asr: gather files: %w", err)
	}
	defer os.RemoveAll(dir)

	entries = rhoticVariants(entries)
	if a.Rate < modelRate {
		entries = narrowbandVariants(entries)
	}
	pcm := commandAudio(a)
	wavPath, gramPath, dictPath := filepath.Join(dir, "in.wav"), filepath.Join(dir, "hints.gram"), filepath.Join(dir, "hints.dict")
	if err := cmdWriteFile(wavPath, func(f *os.File) error { return media.WriteWAV(f, pcm) }); err != nil {
		return nil, err
	}
	phones := make([]string, 0, len(cmuPhones))
	for p := range cmuPhones {
		phones = append(phones, p)
	}
	slices.Sort(phones)
	for _, p := range phones {
		entries = append(entries, Entry{Word: garbageWord(p), Phones: [][]string{{p}}})
	}
	if err := cmdWriteFile(dictPath, func(f *os.File) error { return WriteDictionary(f, entries) }); err != nil {
		return nil, err
	}
	if err := cmdWriteFile(gramPath, func(f *os.File) error {
		_, err := f.WriteString(hintGrammar(phrases, phones))
		return err
	}); err != nil {
		return nil, err
	}

	timeout := c.cfg.Timeout
	if timeout <= 0 {
		timeout = 10*time.Second + time.Duration(2*a.duration()*float64(time.Second))
	}
	rctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	cmd := exec.CommandContext(rctx, bin, "-infile", wavPath,
		"-hmm", filepath.Join(c.cfg.ModelDir, psAcousticModel),
		"-jsgf", gramPath, "-dict", dictPath, "-wip", c.cfg.WIP, "-time", "yes")
	cmd.Env = []string{}
	cmd.WaitDelay = time.Second
	// Its log is long; only the end, where a failure is told, is kept.
	var stdout cmdCapped
	var stderr cmdTail
	stdout.max, stderr.max = maxCommandOut, 4<<10
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		switch {
		case ctx.Err() != nil:
			return nil, fmt.Errorf("asr: gather: %w", ctx.Err())
		case rctx.Err() != nil:
			return nil, fmt.Errorf("asr: gather: no result after %s: %w", timeout, rctx.Err())
		}
		return nil, fmt.Errorf("asr: gather: pocketsphinx: %w: %s", err, lastErrorLine(string(stderr.buf)))
	}
	return bestHint(stdout.buf.Bytes(), phrases), nil
}

// narrowbandVariants adds to each word pronounced with a leading or
// trailing sibilant (S, Z) a variant without it. Over G.711 a sibilant's
// energy, mostly above 4 kHz, is gone: flite's slt voice saying "sales"
// through PCMU decoded as the phones "EY L" and lost to the garbage loop,
// and came back once "sales" could be "EY L Z" (docs/call-control.md).
func narrowbandVariants(entries []Entry) []Entry {
	out := make([]Entry, len(entries))
	for i, e := range entries {
		prons := slices.Clone(e.Phones)
		has := func(p []string) bool {
			return slices.ContainsFunc(prons, func(q []string) bool { return slices.Equal(p, q) })
		}
		for _, p := range e.Phones {
			if len(p) < 3 {
				continue
			}
			for _, v := range [][]string{trimSibilant(p, true), trimSibilant(p, false)} {
				if v != nil && !has(v) {
					prons = append(prons, v)
				}
			}
		}
		out[i] = Entry{Word: e.Word, Phones: prons, Guessed: e.Guessed}
	}
	return out
}

// rhoticVariants adds, to each pronunciation with AO or OW before R, the
// same with the other vowel: American English has merged the two there
// ("north" and "force"), and the CMU dictionary spells them either way.
// flite's slt saying "support" (S AH P AO R T in the dictionary) was heard
// as garbage over PCMU until "S AH P OW R T" was allowed.
func rhoticVariants(entries []Entry) []Entry {
	out := make([]Entry, len(entries))
	for i, e := range entries {
		prons := slices.Clone(e.Phones)
		for _, p := range e.Phones {
			v := slices.Clone(p)
			changed := false
			for j := 0; j+1 < len(v); j++ {
				if v[j+1] != "R" {
					continue
				}
				switch v[j] {
				case "AO":
					v[j], changed = "OW", true
				case "OW":
					v[j], changed = "AO", true
				}
			}
			if changed && !slices.ContainsFunc(prons, func(q []string) bool { return slices.Equal(q, v) }) {
				prons = append(prons, v)
			}
		}
		out[i] = Entry{Word: e.Word, Phones: prons, Guessed: e.Guessed}
	}
	return out
}

// trimSibilant returns p without its first (or last) phone if that is S or
// Z, else nil.
func trimSibilant(p []string, first bool) []string {
	i := len(p) - 1
	if first {
		i = 0
	}
	if p[i] != "S" && p[i] != "Z" {
		return nil
	}
	if first {
		return slices.Clone(p[1:])
	}
	return slices.Clone(p[:i])
}

// hintGrammar is the JSGF grammar: garbage, one hint, garbage; or garbage
// alone.
func hintGrammar(phrases []hintPhrase, phones []string) string {
	var b strings.Builder
	b.WriteString("#JSGF V1.0;\ngrammar hints;\npublic <utt> = <g>* <hint> <g>* | <g>+ ;\n<hint> = ")
	for i, p := range phrases {
		if i > 0 {
			b.WriteString(" | ")
		}
		b.WriteString(strings.Join(p.words, " "))
	}
	b.WriteString(" ;\n<g> = ")
	for i, p := range phones {
		if i > 0 {
			b.WriteString(" | ")
		}
		b.WriteString(garbageWord(p))
	}
	b.WriteString(" ;\n")
	return b.String()
}

// commandWord is one word of the grammar decoder's output.
type commandWord struct {
	text       string
	start, end float64
}

// minHintCover is the least share of an utterance's speech a hint the
// grammar found must cover to count. A hint in a short stretch of a long
// utterance was, on the command set (docs/call-control.md), mostly a false
// one: "what are your opening hours" and "I need help with my bill" came
// out as "billing" covering a fifth of the speech, while "sales please" and
// "I want to speak to a person" covered 35 to 70 %. On TestCommandsEval
// the rule took PCMU from 44 to 52 right of 60, G.722 from 45 to 55.
const minHintCover = 0.3

// bestHint finds the hint in pocketsphinx's -time yes output, if it covers
// at least minHintCover of the utterance's speech time (from the first
// word or phone to the last). Confidence grows from 0.5 at that share to 1
// when the hint is all that was said.
func bestHint(out []byte, phrases []hintPhrase) *CommandResult {
	var words []commandWord
	sc := bufio.NewScanner(bytes.NewReader(out))
	sc.Buffer(make([]byte, 0, 64<<10), 1<<20)
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		if len(f) != 4 {
			continue
		}
		start, err1 := strconv.ParseFloat(f[1], 64)
		end, err2 := strconv.ParseFloat(f[2], 64)
		if err1 != nil || err2 != nil {
			continue
		}
		w := f[0]
		if i := strings.IndexByte(w, '('); i > 0 {
			w = w[:i]
		}
		if w == "<s>" || w == "</s>" || w == "<sil>" || w == "(NULL)" || strings.HasPrefix(w, "[") || strings.HasPrefix(w, "+") {
			continue
		}
		words = append(words, commandWord{text: w, start: start, end: end + psFrame})
	}
	if len(words) == 0 {
		return nil
	}
	span := words[len(words)-1].end - words[0].start
	for i := 0; i < len(words); i++ {
		if strings.HasPrefix(words[i].text, "_") {
			continue
		}
		// The grammar allows one hint: the run of non-garbage words.
		j := i
		var got []string
		for j < len(words) && !strings.HasPrefix(words[j].text, "_") {
			got = append(got, words[j].text)
			j++
		}
		key := strings.Join(got, " ")
		for _, p := range phrases {
			if strings.Join(p.words, " ") == key {
				cover := 1.0
				if span > 0 {
					cover = math.Min(1, (words[j-1].end-words[i].start)/span)
				}
				if cover < minHintCover {
					return nil
				}
				conf := 0.5 + 0.5*(cover-minHintCover)/(1-minHintCover)
				return &CommandResult{Text: p.text, Confidence: conf, Hint: true}
			}
		}
		i = j
	}
	return nil
}

// commandAudio is a at 16 kHz, the acoustic model's rate. 8 kHz audio
// (G.711) gets its upper band from spectral folding: the images that
// upsampling by zero-stuffing leaves between 4 and 8 kHz, kept at
// cmdFoldGain. The model's filterbank reaches 6.8 kHz; an empty upper band
// gives log energies it never saw in training.
func commandAudio(a Audio) *media.PCM {
	base := a.at16k()
	if a.Rate != modelRate/2 {
		return base
	}
	out := &media.PCM{Rate: modelRate, Samples: make([]int16, len(base.Samples))}
	for i := range out.Samples {
		// Zero-stuffed at twice the rate, scaled by 2 to keep the level:
		// its difference from the band-limited version is the image.
		var stuffed float64
		if i%2 == 0 && i/2 < len(a.Samples) {
			stuffed = 2 * float64(a.Samples[i/2])
		}
		b := float64(base.Samples[i])
		v := b + cmdFoldGain*(stuffed-b)
		out.Samples[i] = int16(max(min(math.Round(v), math.MaxInt16), math.MinInt16))
	}
	return out
}

// cmdFoldGain is the level of the folded upper band relative to the lower:
// -12 dB.
var cmdFoldGain = math.Pow(10, -12/20.0)

// cmdWriteFile creates path and fills it with write.
func cmdWriteFile(path string, write func(*os.File) error) error {
	f, err := os.Create(path)
	if err != nil {
		return fmt.Errorf("asr: gather files: %w", err)
	}
	if err := write(f); err != nil {
		f.Close()
		return fmt.Errorf("asr: gather files: %w", err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("asr: gather files: %w", err)
	}
	return nil
}

// cmdCapped keeps the first max bytes written to it.
type cmdCapped struct {
	buf bytes.Buffer
	max int
}

func (c *cmdCapped) Write(p []byte) (int, error) {
	if room := c.max - c.buf.Len(); room > 0 {
		c.buf.Write(p[:min(room, len(p))])
	}
	return len(p), nil
}

// cmdTail keeps the last max bytes written to it.
type cmdTail struct {
	buf []byte
	max int
}

func (t *cmdTail) Write(p []byte) (int, error) {
	t.buf = append(t.buf, p...)
	if over := len(t.buf) - t.max; over > 0 {
		t.buf = append(t.buf[:0], t.buf[over:]...)
	}
	return len(p), nil
}

// lastErrorLine is pocketsphinx's last ERROR or FATAL log line, if any.
func lastErrorLine(log string) string {
	lines := strings.Split(log, "\n")
	for i := len(lines) - 1; i >= 0; i-- {
		if l := strings.TrimSpace(lines[i]); strings.HasPrefix(l, "ERROR") || strings.HasPrefix(l, "FATAL") {
			return l
		}
	}
	return "no error message"
}
