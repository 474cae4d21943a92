package wer

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"math"
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

// Dialogue mode. Real calls are not one sentence after a second of silence:
// the platform greets, the caller waits it out and speaks, the platform
// answers, the caller speaks again, and sometimes nobody says anything for
// seconds (the caller looks for a number). Each dialogue call here has up to
// three caller utterances, one per Position, on a whole-call dual recording
// whose channel 0 (the caller alone) is transcribed as the pipeline does.

// Position is where an utterance falls in a dialogue call.
type Position string

// The three positions of a dialogue call, in call order.
const (
	// PosFirst is the caller's first utterance, after the platform's
	// greeting: the channel was silent while the greeting played.
	PosFirst Position = "first"
	// PosLater follows the platform's second prompt, after the caller's
	// first utterance.
	PosLater Position = "later"
	// PosAfterSilence follows Gap seconds in which neither side spoke.
	PosAfterSilence Position = "after-silence"
)

// Positions lists the positions in call order.
var Positions = []Position{PosFirst, PosLater, PosAfterSilence}

// The platform's two prompts, spoken with its default voice (slt). They are
// the only platform speech; the caller's channel is silent meanwhile.
const (
	promptGreeting = "Thank you for calling. How can I help you today?"
	promptFollowUp = "I see. Is there anything else I can help you with?"
	promptVoice    = "slt"
)

// HumanVoice is the pseudo-voice of recorded human speech (Debian's
// pocketsphinx-testdata), played by the simulated caller instead of flite.
const HumanVoice = "human"

// TimeVoice is flite's limited-domain voice: unit selection from recordings
// of one speaker saying the time. Anything else comes out as noise, so it
// speaks TimeSentences only.
const TimeVoice = "awb_time"

// Clip is one utterance a caller can say: a flite rendering of Text in
// Voice, or, for HumanVoice, the recording at Path whose transcript is Text.
type Clip struct {
	Voice string `json:"voice"`
	Text  string `json:"text"`
	Path  string `json:"path,omitempty"`
}

// DialogueConfig is a dialogue-mode run over several voices of one codec.
type DialogueConfig struct {
	Codec string
	// Clips are the utterances, grouped by voice in the order given; each
	// voice's clips fill its calls three at a time.
	Clips []Clip
	// Gap is the silence, in seconds, before the after-silence utterance;
	// default 6.
	Gap float64
	// Engine, Concurrency, Jobs, TTSCacheDir, SaveDir, FromDir, Logger and
	// Progress are as in Config. SaveDir/FromDir hold CODEC-VOICE-NN.wav
	// (the caller channel of call NN of that voice) and
	// CODEC-dialogue.json (where each utterance is).
	Engine      asr.Engine
	Concurrency int
	Jobs        int
	TTSCacheDir string
	SaveDir     string
	FromDir     string
	Logger      *slog.Logger
	Progress    func(format string, args ...any)
	// OnlyVoices, when set, keeps only the calls of these voices (with
	// FromDir: a subset of saved recordings).
	OnlyVoices []string
	// Vocabulary is handed to the engine with every recording
	// (asr.Audio.Vocabulary).
	Vocabulary []string
}

// Utterance is one caller utterance of a dialogue call and how it was
// recognised.
type Utterance struct {
	Clip
	Position Position `json:"position"`
	// Start and End are where the caller's script placed it, in seconds
	// from the answer (the recording starts within a few tens of
	// milliseconds of it).
	Start      float64 `json:"start"`
	End        float64 `json:"end"`
	Hypothesis string  `json:"hypothesis"`
	Errors     int     `json:"errors"`
	Words      int     `json:"words"`
}

// DialogueCall is one call and its recording's caller channel.
type DialogueCall struct {
	Voice      string      `json:"voice"`
	Number     int         `json:"number"` // 1-based within the voice
	Utterances []Utterance `json:"utterances"`
	AudioSec   float64     `json:"audio_seconds"`
	WallSec    float64     `json:"transcribe_seconds"`
	CPUSec     float64     `json:"transcribe_cpu_seconds,omitempty"`
	// Extra is recognised text that fell in no utterance's window: it
	// counts as insertions against the nearest utterance.
	Extra string `json:"extra,omitempty"`
}

// Tally is errors over reference words.
type Tally struct {
	Errors int `json:"errors"`
	Words  int `json:"words"`
}

// WER is the tally's word error rate in percent.
func (t Tally) WER() float64 { return pct(t.Errors, t.Words) }

func (t *Tally) add(errs, words int) { t.Errors += errs; t.Words += words }

// DialogueResult is one codec's dialogue run.
type DialogueResult struct {
	Codec  string         `json:"codec"`
	Engine string         `json:"engine"`
	Calls  []DialogueCall `json:"calls"`
	Total  Tally          `json:"total"`
	// ByVoice and ByPosition split Total; ByVoicePosition both ways.
	ByVoice         map[string]Tally              `json:"by_voice"`
	ByPosition      map[Position]Tally            `json:"by_position"`
	ByVoicePosition map[string]map[Position]Tally `json:"by_voice_position"`
	Throughput      Throughput                    `json:"throughput"` // per recording, summed
	Phase           Throughput                    `json:"phase"`
	Jobs            int                           `json:"jobs"`
	CallsWall       float64                       `json:"calls_seconds"`
}

// RunDialogues places cfg's dialogue calls (or loads them from FromDir),
// transcribes each recording's caller channel whole and scores every
// utterance against the text nearest in time.
func RunDialogues(ctx context.Context, cfg DialogueConfig) (*DialogueResult, error) {
	rate, ok := Codecs[cfg.Codec]
	if !ok {
		return nil, fmt.Errorf("wer: codec %q (want one of G722, PCMU, PCMA)", cfg.Codec)
	}
	if len(cfg.Clips) == 0 {
		return nil, errNoSentences
	}
	if cfg.Gap <= 0 {
		cfg.Gap = 6
	}
	if cfg.Engine == nil {
		cfg.Engine = asr.NewPocketsphinx(asr.PocketsphinxConfig{})
	}
	cfg.Concurrency = cmp.Or(max(cfg.Concurrency, 0), DefaultConcurrency)
	cfg.Jobs = cmp.Or(max(cfg.Jobs, 0), 1)
	progress := cfg.Progress
	if progress == nil {
		progress = func(string, ...any) {}
	}
	if err := cfg.Engine.Available(ctx); err != nil {
		return nil, fmt.Errorf("wer: engine %s: %w", cfg.Engine.Name(), err)
	}
	res := &DialogueResult{Codec: cfg.Codec, Engine: cfg.Engine.Name(), Jobs: cfg.Jobs}
	var audio []*media.PCM
	start := time.Now()
	if cfg.FromDir != "" {
		var err error
		if res.Calls, audio, err = loadDialogues(cfg.FromDir, cfg.Codec); err != nil {
			return nil, err
		}
		if len(cfg.OnlyVoices) > 0 {
			var calls []DialogueCall
			var kept []*media.PCM
			for k, c := range res.Calls {
				if slices.Contains(cfg.OnlyVoices, c.Voice) {
					calls, kept = append(calls, c), append(kept, audio[k])
				}
			}
			res.Calls, audio = calls, kept
		}
	} else {
		var err error
		if res.Calls, audio, err = recordDialogues(ctx, cfg, rate, progress); err != nil {
			return nil, err
		}
	}
	res.CallsWall = time.Since(start).Seconds()
	if cfg.SaveDir != "" {
		if err := saveDialogues(cfg.SaveDir, cfg.Codec, res.Calls, audio); err != nil {
			return nil, err
		}
	}
	if err := transcribeDialogues(ctx, cfg, res, audio, progress); err != nil {
		return nil, err
	}
	res.tally()
	return res, nil
}

// plan lays out the calls: each voice's clips three to a call, and the
// scripts' timing from the rendered lengths.
type plannedCall struct {
	call   DialogueCall
	clips  []string // speaker keys, in order
	script []string
	answer string
}

// recordDialogues renders every clip, plans the calls and places them.
func recordDialogues(ctx context.Context, cfg DialogueConfig, rate int, progress func(string, ...any)) ([]DialogueCall, []*media.PCM, error) {
	cacheDir := cfg.TTSCacheDir
	if cacheDir == "" {
		d, err := os.MkdirTemp("", "minivoice-asr-wer-tts-")
		if err != nil {
			return nil, nil, err
		}
		defer os.RemoveAll(d)
		cacheDir = d
	}
	flite, err := tts.New(tts.Config{CacheDir: cacheDir})
	if err != nil {
		return nil, nil, fmt.Errorf("wer: tts: %w", err)
	}
	sp := &clipSpeaker{clips: map[string]*media.PCM{}}
	length := func(p *media.PCM) float64 { return p.Duration().Seconds() }
	var prompts [2]float64
	for i, text := range []string{promptGreeting, promptFollowUp} {
		p, err := flite.Render(ctx, promptVoice, text, rate)
		if err != nil {
			return nil, nil, fmt.Errorf("wer: tts: %w", err)
		}
		prompts[i] = length(p)
	}
	keys := make([]string, len(cfg.Clips))
	lens := make([]float64, len(cfg.Clips))
	for i, c := range cfg.Clips {
		var p *media.PCM
		if c.Voice == HumanVoice {
			p, err = readClip(c.Path)
		} else {
			p, err = flite.Render(ctx, c.Voice, c.Text, rate)
		}
		if err != nil {
			return nil, nil, fmt.Errorf("wer: clip %d (%s): %w", i+1, c.Voice, err)
		}
		keys[i] = fmt.Sprintf("clip-%d", i)
		sp.clips[keys[i]] = p
		lens[i] = length(p)
	}

	var plans []*plannedCall
	perVoice := map[string]int{}
	for i := 0; i < len(cfg.Clips); {
		v := cfg.Clips[i].Voice
		j := i
		for j < len(cfg.Clips) && j-i < len(Positions) && cfg.Clips[j].Voice == v {
			j++
		}
		perVoice[v]++
		plans = append(plans, planCall(v, perVoice[v], cfg.Clips[i:j], keys[i:j], lens[i:j], prompts, cfg.Gap))
		i = j
	}

	answers := map[string]string{}
	for k, p := range plans {
		answers[callerNumber(k)] = p.answer
	}
	st, err := startStackWith(ctx, &stack{recordAll: true, answer: func(from string) string {
		if a, ok := answers[from]; ok {
			return a
		}
		return `[{"action":"hangup"}]`
	}}, cfg.Codec, promptVoice, sp, cmp.Or(cfg.Logger, slog.New(slog.DiscardHandler)))
	if err != nil {
		return nil, nil, fmt.Errorf("wer: %w", err)
	}
	defer st.close()

	calls := make([]DialogueCall, len(plans))
	audio := make([]*media.PCM, len(plans))
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
			for k := range next {
				pcm, codec, err := st.recordCall(ctx, callerNumber(k), plans[k].script)
				if err == nil && pcm.Rate != rate {
					err = fmt.Errorf("recording at %d Hz, want %d for %s", pcm.Rate, rate, cfg.Codec)
				}
				if err == nil && codec != cfg.Codec {
					err = fmt.Errorf("call negotiated %s, want %s", codec, cfg.Codec)
				}
				mu.Lock()
				if err != nil {
					if firstErr == nil {
						firstErr = fmt.Errorf("wer: %s dialogue %s #%d: %w", cfg.Codec, plans[k].call.Voice, plans[k].call.Number, err)
						cancel()
					}
				} else {
					audio[k] = pcm
					calls[k] = plans[k].call
					calls[k].AudioSec = pcm.Duration().Seconds()
					done++
					progress("%s dialogue %d/%d recorded (%s, %.1f s)", cfg.Codec, done, len(plans), calls[k].Voice, calls[k].AudioSec)
				}
				mu.Unlock()
			}
		})
	}
feed:
	for k := range plans {
		select {
		case next <- k:
		case <-ctx.Done():
			break feed
		}
	}
	close(next)
	wg.Wait()
	if firstErr != nil {
		return nil, nil, firstErr
	}
	return calls, audio, ctx.Err()
}

// callerNumber is the simulated caller's number for call k, which finds
// the call in the API and its answer in the application.
func callerNumber(k int) string { return fmt.Sprintf("+1555710%04d", k) }

// Timing margins of a dialogue call, in seconds: how long after the other
// side stops a speaker starts, so that neither talks over the other even if
// the platform's actions start a little after the caller's script.
const (
	turnGap = 0.8
	tailGap = 1.0
)

// planCall lays out one call of up to three clips: the platform greets;
// the caller waits it out and says clip 1; the platform pauses until the
// caller is done and asks its follow-up; the caller waits that out, says
// clip 2, stays silent gap seconds (the platform too) and says clip 3.
func planCall(voice string, number int, clips []Clip, keys []string, lens []float64, prompts [2]float64, gap float64) *plannedCall {
	pc := &plannedCall{call: DialogueCall{Voice: voice, Number: number}, clips: keys}
	t := 0.0 // caller's clock: seconds since answer
	wait := func(until float64) {
		if d := until - t; d > 0 {
			pc.script = append(pc.script, fmt.Sprintf("wait %.2f", d))
			t = until
		}
	}
	// The platform: greeting, a pause long enough for the first utterance,
	// the follow-up, then silence until the caller hangs up.
	first := prompts[0] + turnGap
	pause := 1.0
	if len(lens) > 0 {
		pause = math.Ceil(turnGap + lens[0] + turnGap)
	}
	followUpEnd := prompts[0] + pause + prompts[1]
	starts := []float64{first, followUpEnd + turnGap}
	for i, k := range keys {
		at := 0.0
		if i < 2 {
			at = starts[i]
		} else {
			at = t + gap
		}
		wait(at)
		pc.script = append(pc.script, "say "+k)
		pc.call.Utterances = append(pc.call.Utterances, Utterance{Clip: clips[i], Position: Positions[i], Start: t, End: t + lens[i]})
		t += lens[i]
	}
	wait(t + tailGap)
	pc.script = append(pc.script, "hangup")
	answer, _ := json.Marshal([]map[string]any{
		{"action": "say", "text": promptGreeting, "voice": promptVoice},
		{"action": "pause", "length": int(pause)},
		{"action": "say", "text": promptFollowUp, "voice": promptVoice},
		{"action": "pause", "length": int(math.Ceil(t + 10))},
		{"action": "hangup"},
	})
	pc.answer = string(answer)
	return pc
}

// clipSpeaker is the simulator's Speaker in dialogue mode: the script's
// "say clip-N" steps play prepared audio (a flite rendering in any voice,
// or a human recording), so one simulator speaks every voice.
type clipSpeaker struct {
	clips map[string]*media.PCM // read-only once the calls start
}

func (c *clipSpeaker) Render(_ context.Context, _, text string, rate int) (*media.PCM, error) {
	p, ok := c.clips[text]
	if !ok {
		return nil, fmt.Errorf("wer: no clip %q", text)
	}
	if p.Rate != rate {
		return media.Resample(p, rate), nil
	}
	return p, nil
}

// readClip reads a WAV file, or a headerless 16 kHz 16-bit little-endian
// .raw file as pocketsphinx's test data has, as mono PCM.
func readClip(path string) (*media.PCM, error) {
	if strings.HasSuffix(path, ".raw") {
		b, err := os.ReadFile(path)
		if err != nil {
			return nil, err
		}
		p := &media.PCM{Rate: 16000, Samples: make([]int16, len(b)/2)}
		for i := range p.Samples {
			p.Samples[i] = int16(uint16(b[2*i]) | uint16(b[2*i+1])<<8)
		}
		return p, nil
	}
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	chans, err := media.ReadWAVChannels(f, 64<<20)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	if len(chans) == 0 {
		return nil, fmt.Errorf("%s: no audio", path)
	}
	return chans[0], nil
}

// transcribeDialogues transcribes every call's caller channel, cfg.Jobs at
// a time, and scores its utterances.
func transcribeDialogues(ctx context.Context, cfg DialogueConfig, res *DialogueResult, audio []*media.PCM, progress func(string, ...any)) error {
	var (
		wg    sync.WaitGroup
		mu    sync.Mutex
		errs  []error
		next  = make(chan int)
		phase = time.Now()
		done  int
	)
	cpu0, cpuOK := cpuNow()
	for range cfg.Jobs {
		wg.Go(func() {
			for k := range next {
				c := &res.Calls[k]
				cpuA, okA := cpuNow()
				t0 := time.Now()
				r, err := cfg.Engine.Transcribe(ctx, asr.Audio{Samples: audio[k].Samples, Rate: audio[k].Rate, Vocabulary: cfg.Vocabulary})
				wall := time.Since(t0).Seconds()
				cpuB, okB := cpuNow()
				mu.Lock()
				if err != nil {
					errs = append(errs, fmt.Errorf("wer: %s dialogue %s #%d: %w", cfg.Codec, c.Voice, c.Number, err))
				} else {
					c.WallSec = wall
					if cfg.Jobs == 1 && okA && okB {
						c.CPUSec = (cpuB - cpuA).Seconds()
					}
					score(c, r.Segments)
					done++
					e, w := 0, 0
					for _, u := range c.Utterances {
						e += u.Errors
						w += u.Words
					}
					progress("%s %3d/%d  %-8s #%d  %.1f s audio in %.2f s  %d/%d errors", cfg.Codec, done, len(res.Calls), c.Voice,
						c.Number, c.AudioSec, wall, e, w)
				}
				mu.Unlock()
			}
		})
	}
feed:
	for k := range res.Calls {
		select {
		case next <- k:
		case <-ctx.Done():
			break feed
		}
	}
	close(next)
	wg.Wait()
	if len(errs) > 0 {
		return errors.Join(errs...)
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	res.Phase = Throughput{WallSec: time.Since(phase).Seconds()}
	if cpu1, ok := cpuNow(); ok && cpuOK {
		res.Phase.CPUSec = (cpu1 - cpu0).Seconds()
	}
	return nil
}

// score assigns each recognised segment to the utterance nearest its
// middle (the utterances are seconds apart; a segment never spans two) and
// counts each utterance's word errors.
func score(c *DialogueCall, segs []asr.Segment) {
	hyps := make([][]string, len(c.Utterances))
	var extra []string
	for _, s := range segs {
		text := strings.TrimSpace(s.Text)
		if text == "" {
			continue
		}
		mid := (s.Start + s.End) / 2
		best, bestD := -1, math.Inf(1)
		for i, u := range c.Utterances {
			d := max(u.Start-mid, mid-u.End, 0)
			if d < bestD {
				best, bestD = i, d
			}
		}
		if best < 0 {
			extra = append(extra, text)
			continue
		}
		hyps[best] = append(hyps[best], text)
		if bestD > 2 {
			extra = append(extra, text)
		}
	}
	c.Extra = strings.Join(extra, " | ")
	for i := range c.Utterances {
		u := &c.Utterances[i]
		u.Hypothesis = strings.Join(hyps[i], " ")
		u.Errors, u.Words = asr.WordErrors(u.Text, u.Hypothesis)
	}
}

// tally sums the utterances up by voice and position.
func (r *DialogueResult) tally() {
	r.ByVoice = map[string]Tally{}
	r.ByPosition = map[Position]Tally{}
	r.ByVoicePosition = map[string]map[Position]Tally{}
	r.Total, r.Throughput = Tally{}, Throughput{}
	for _, c := range r.Calls {
		r.Throughput.AudioSec += c.AudioSec
		r.Throughput.WallSec += c.WallSec
		r.Throughput.CPUSec += c.CPUSec
		if r.ByVoicePosition[c.Voice] == nil {
			r.ByVoicePosition[c.Voice] = map[Position]Tally{}
		}
		for _, u := range c.Utterances {
			r.Total.add(u.Errors, u.Words)
			t := r.ByVoice[c.Voice]
			t.add(u.Errors, u.Words)
			r.ByVoice[c.Voice] = t
			t = r.ByPosition[u.Position]
			t.add(u.Errors, u.Words)
			r.ByPosition[u.Position] = t
			t = r.ByVoicePosition[c.Voice][u.Position]
			t.add(u.Errors, u.Words)
			r.ByVoicePosition[c.Voice][u.Position] = t
		}
	}
	r.Phase.AudioSec = r.Throughput.AudioSec
	if r.Jobs > 1 {
		r.Throughput.CPUSec = r.Phase.CPUSec
	}
}

// Voices returns the voices of r in first-seen order.
func (r *DialogueResult) Voices() []string {
	var out []string
	for _, c := range r.Calls {
		if !slices.Contains(out, c.Voice) {
			out = append(out, c.Voice)
		}
	}
	return out
}

// Worst returns up to n utterances with the most errors per word.
func (r *DialogueResult) Worst(n int) []Utterance {
	var all []Utterance
	for _, c := range r.Calls {
		all = append(all, c.Utterances...)
	}
	slices.SortStableFunc(all, func(a, b Utterance) int {
		if c := cmp.Compare(pct(b.Errors, b.Words), pct(a.Errors, a.Words)); c != 0 {
			return c
		}
		return cmp.Compare(b.Errors, a.Errors)
	})
	return all[:min(n, len(all))]
}

func dialogueWAV(dir, codec, voice string, number int) string {
	return filepath.Join(dir, fmt.Sprintf("%s-%s-%02d.wav", codec, voice, number))
}

func dialogueManifest(dir, codec string) string {
	return filepath.Join(dir, codec+"-dialogue.json")
}

// saveDialogues writes each call's caller channel and the manifest.
func saveDialogues(dir, codec string, calls []DialogueCall, audio []*media.PCM) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("wer: %w", err)
	}
	for k, c := range calls {
		f, err := os.Create(dialogueWAV(dir, codec, c.Voice, c.Number))
		if err != nil {
			return fmt.Errorf("wer: %w", err)
		}
		err = media.WriteWAV(f, audio[k])
		if cerr := f.Close(); err == nil {
			err = cerr
		}
		if err != nil {
			return fmt.Errorf("wer: saving %s: %w", f.Name(), err)
		}
	}
	b, err := json.MarshalIndent(calls, "", "  ")
	if err != nil {
		return err
	}
	return os.WriteFile(dialogueManifest(dir, codec), b, 0o644)
}

// loadDialogues reads what saveDialogues wrote; the transcripts in it are
// dropped.
func loadDialogues(dir, codec string) ([]DialogueCall, []*media.PCM, error) {
	b, err := os.ReadFile(dialogueManifest(dir, codec))
	if err != nil {
		return nil, nil, fmt.Errorf("wer: %w", err)
	}
	var calls []DialogueCall
	if err := json.Unmarshal(b, &calls); err != nil {
		return nil, nil, fmt.Errorf("wer: %s: %w", dialogueManifest(dir, codec), err)
	}
	audio := make([]*media.PCM, len(calls))
	for k := range calls {
		c := &calls[k]
		c.WallSec, c.CPUSec, c.Extra = 0, 0, ""
		for i := range c.Utterances {
			c.Utterances[i].Hypothesis, c.Utterances[i].Errors, c.Utterances[i].Words = "", 0, 0
		}
		if audio[k], err = readClip(dialogueWAV(dir, codec, c.Voice, c.Number)); err != nil {
			return nil, nil, fmt.Errorf("wer: %w", err)
		}
	}
	return calls, audio, nil
}
