// Command asr-wer is MiniVoice's speech recognition benchmark: it speaks a
// fixed set of sentences with flite through real SIP/RTP calls in G.722 and
// in G.711 µ-law (PCMU), has the platform record them, fetches the
// recordings through the API and transcribes them with pocketsphinx, then
// prints the word error rate and the transcription speed per codec.
//
//	go run ./bench/asr-wer                      # both codecs, all sentences
//	go run ./bench/asr-wer -codec G722 -n 6 -out /tmp/wer.json
//	go run ./bench/asr-wer -smoke               # 2 sentences in G.722: does the chain work at all
//
// -smoke (or SMOKE=1 in the environment) places two calls in G.722, two at
// once, and fails (exit 1) unless at least one recording had audio and came
// back with a transcript; its WER says nothing about accuracy.
//
// Everything runs in this process on 127.0.0.1. See README.md.
package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"path/filepath"
	"runtime"
	"strings"
	"syscall"
	"time"

	"github.com/minivoice/minivoice/bench/asr-wer/wer"
	"github.com/minivoice/minivoice/internal/insights/asr"
)

// Targets of the spec (insights.md, via docs/benchmarks.md).
const (
	targetWER = 10.0 // percent, G.722
	targetXRT = 2.0  // audio seconds per wall second
)

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

func run(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("asr-wer", flag.ContinueOnError)
	fs.SetOutput(stderr)
	codec := fs.String("codec", "both", "G722, PCMU or both")
	sentences := fs.String("sentences", defaultSentences(), "sentences file (one a line, # comments)")
	n := fs.Int("n", 0, "use only the first n sentences (0: all)")
	voice := fs.String("voice", wer.DefaultVoice, "flite voice the simulated callers speak with")
	lead := fs.Int("lead", 1, "seconds the caller stays silent before speaking (the position of the speech in the call)")
	out := fs.String("out", "", "also write the results as JSON to this file")
	conc := fs.Int("concurrency", wer.DefaultConcurrency, "calls up at once while recording")
	long := fs.Bool("long", false, "also transcribe each codec's recordings joined into one audio (throughput without per-file start-up)")
	asrURL := fs.String("asr-url", "", "transcribe with an OpenAI-compatible server (whisper.cpp, faster-whisper) at this base URL instead of pocketsphinx")
	asrModel := fs.String("asr-model", asr.DefaultOpenAIModel, "model name sent to -asr-url")
	jobs := fs.Int("jobs", 1, "recordings transcribed at once (1: each Transcribe has the machine to itself)")
	psBin := fs.String("pocketsphinx-bin", "", "pocketsphinx_continuous executable (default: found in PATH)")
	decArgs := fs.String("decoder-args", "", `pocketsphinx decoder arguments replacing the engine's defaults, e.g. "-maxhmmpf 3000"; "none" for pocketsphinx's own defaults`)
	save := fs.String("save", "", "also write each recording's caller channel to this directory as CODEC-NN.wav")
	from := fs.String("from", "", "transcribe the WAVs an earlier run saved with -save in this directory instead of placing calls")
	verbose := fs.Bool("v", false, "log the platform and simulator to stderr")
	quiet := fs.Bool("q", false, "no progress lines on stderr")
	smoke := fs.Bool("smoke", os.Getenv("SMOKE") == "1", "quick check: 2 sentences in G.722, 2 calls at once; fail unless a recording was transcribed (default true when SMOKE=1)")
	dialogue := fs.Bool("dialogue", false, "realistic calls: up to 3 caller utterances per call between the platform's prompts and after a silence, every voice of -voices; WER per voice, codec and position")
	voices := fs.String("voices", strings.Join(defaultVoices, ","), "with -dialogue: voices, comma separated (flite voices, awb_time for its time sentences, human for pocketsphinx-testdata's recordings)")
	gap := fs.Float64("gap", 6, "with -dialogue: seconds of silence before the third utterance of a call")
	humanDir := fs.String("human-dir", "/usr/share/pocketsphinx/test/data", "with -dialogue: where human.txt's recordings are")
	narrow := fs.String("narrowband", "", `how the engine fills 8 kHz audio's upper band: "noise", "fold", "shift", "none", with "+noise" and ":dB" (asr.PocketsphinxConfig.Narrowband); empty for the engine's default`)
	timeout := fs.Duration("timeout", 10*time.Minute, "bound on one pocketsphinx run (asr.PocketsphinxConfig.Timeout): generous, so a loaded machine measures accuracy instead of failing")
	mllr := fs.String("mllr", "", `narrowband MLLR transform: a file, "none", or empty for the engine's built-in one (asr.PocketsphinxConfig.NarrowbandMLLR)`)
	vocab := fs.String("vocab", "", "a file of vocabulary phrases (one a line) handed to the engine with every recording (asr.Audio.Vocabulary)")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	if *dialogue {
		return runDialogue(dialogueFlags{codec: *codec, sentences: *sentences, n: *n, voices: *voices, gap: *gap, humanDir: *humanDir,
			vocab: *vocab, narrowband: *narrow, mllr: *mllr, timeout: *timeout, out: *out, conc: *conc, jobs: *jobs, psBin: *psBin, decArgs: *decArgs, save: *save, from: *from,
			asrURL: *asrURL, asrModel: *asrModel, verbose: *verbose, quiet: *quiet, smoke: *smoke}, stdout, stderr)
	}
	if *smoke {
		*codec, *n, *conc, *long = "G722", 2, 2, false
	}
	var codecs []string
	switch strings.ToUpper(*codec) {
	case "BOTH":
		codecs = []string{"G722", "PCMU"}
	case "G722", "G.722":
		codecs = []string{"G722"}
	case "PCMU", "G711", "G.711":
		codecs = []string{"PCMU"}
	default:
		fmt.Fprintf(stderr, "asr-wer: -codec %q: want G722, PCMU or both\n", *codec)
		return 2
	}
	refs, err := wer.LoadSentences(*sentences)
	if err != nil {
		fmt.Fprintf(stderr, "asr-wer: %v\n", err)
		return 2
	}
	if *n > 0 && *n < len(refs) {
		refs = refs[:*n]
	}

	psCfg := asr.PocketsphinxConfig{Bin: *psBin, Narrowband: *narrow, NarrowbandMLLR: *mllr, Timeout: *timeout}
	engineDesc := fmt.Sprintf("pocketsphinx, decoder args %q (the engine's defaults)", asr.DefaultDecoderArgs)
	if *narrow != "" {
		engineDesc += ", narrowband " + *narrow
	}
	if *mllr != "" {
		engineDesc += ", narrowband MLLR " + *mllr
	}
	if *decArgs != "" {
		psCfg.DecoderArgs = []string{}
		if *decArgs != "none" {
			psCfg.DecoderArgs = strings.Fields(*decArgs)
		}
		engineDesc = fmt.Sprintf("pocketsphinx, decoder args %q", psCfg.DecoderArgs)
	}
	if *psBin != "" {
		engineDesc += ", binary " + *psBin
	}
	var engine asr.Engine = asr.NewPocketsphinx(psCfg)
	if *asrURL != "" {
		oa, err := asr.NewOpenAI(asr.OpenAIConfig{URL: *asrURL, Model: *asrModel, Language: "en"})
		if err != nil {
			fmt.Fprintf(stderr, "asr-wer: -asr-url: %v\n", err)
			return 2
		}
		engine = oa
		engineDesc = "OpenAI-compatible server at " + *asrURL + ", model " + *asrModel
	}

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	logger := slog.New(slog.DiscardHandler)
	if *verbose {
		logger = slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: slog.LevelInfo}))
	}
	progress := func(format string, args ...any) { fmt.Fprintf(stderr, format+"\n", args...) }
	if *quiet {
		progress = nil
	}
	cache, err := os.MkdirTemp("", "minivoice-asr-wer-tts-")
	if err != nil {
		fmt.Fprintf(stderr, "asr-wer: %v\n", err)
		return 1
	}
	defer os.RemoveAll(cache)

	where := machine()
	fmt.Fprintf(stdout, "asr-wer: %d sentences from %s, voice %s, %s\nengine: %s\n", len(refs), *sentences, *voice, where, engineDesc)
	start := time.Now()
	var results []*wer.Result
	for _, c := range codecs {
		res, err := wer.Run(ctx, wer.Config{Codec: c, Sentences: refs, Voice: *voice, Lead: *lead, Concurrency: *conc, Jobs: *jobs,
			TTSCacheDir: cache, SaveDir: *save, FromDir: *from, Long: *long, Engine: engine,
			Logger: logger, Progress: progress})
		if err != nil {
			fmt.Fprintf(stderr, "asr-wer: %v\n", err)
			return 1
		}
		results = append(results, res)
	}
	printReport(stdout, results)
	fmt.Fprintf(stdout, "\nwhole run: %.0f s wall\n", time.Since(start).Seconds())
	if *smoke {
		got := transcribed(results)
		if got == 0 {
			fmt.Fprintln(stderr, "asr-wer smoke: FAIL: no recording was transcribed")
			return 1
		}
		fmt.Fprintf(stdout, "asr-wer smoke: ok, %d recordings with audio and a transcript\n", got)
	}

	if *out != "" {
		b, err := json.MarshalIndent(map[string]any{"sentences_file": *sentences, "voice": *voice, "engine": engineDesc, "machine": where,
			"date": time.Now().UTC().Format(time.RFC3339), "results": results}, "", "  ")
		if err == nil {
			err = os.WriteFile(*out, append(b, '\n'), 0o644)
		}
		if err != nil {
			fmt.Fprintf(stderr, "asr-wer: -out: %v\n", err)
			return 1
		}
	}
	return 0
}

// printReport writes the summary table, throughput, the worst sentences per
// codec, and the verdict on the targets.
func printReport(w io.Writer, results []*wer.Result) {
	fmt.Fprintf(w, "\n| codec | engine | sentences | reference words | errors | WER | audio s | transcription wall s | x real time | CPU s | x real time per CPU s |\n")
	fmt.Fprintf(w, "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|\n")
	for _, r := range results {
		t := r.PerRecording
		fmt.Fprintf(w, "| %s | %s | %d | %d | %d | %.1f %% | %.1f | %.1f | %.2f | %s | %s |\n", r.Codec, r.Engine,
			len(r.Sentences), r.Words, r.Errors, r.WERPct, t.AudioSec, t.WallSec, t.XRealTime(), cpuCell(t.CPUSec),
			xCell(t.XRealTimeCPU()))
	}
	fmt.Fprintln(w)
	for _, r := range results {
		fmt.Fprintf(w, "%s transcription phase: %d at a time, %.1f s elapsed, %s CPU s (pocketsphinx and this process): %.2fx real time overall\n",
			r.Codec, r.Jobs, r.Phase.WallSec, cpuCell(r.Phase.CPUSec), r.Phase.XRealTime())
	}
	if results[0].Long != nil {
		fmt.Fprintf(w, "\nAll recordings of a codec joined into one audio (one Transcribe call):\n\n")
		fmt.Fprintf(w, "| codec | audio s | transcription wall s | x real time | CPU s | x real time per CPU s | WER |\n")
		fmt.Fprintf(w, "|---|---:|---:|---:|---:|---:|---:|\n")
		for _, r := range results {
			t := r.Long
			fmt.Fprintf(w, "| %s | %.1f | %.1f | %.2f | %s | %s | %.1f %% |\n", r.Codec, t.AudioSec, t.WallSec, t.XRealTime(),
				cpuCell(t.CPUSec), xCell(t.XRealTimeCPU()), r.LongWER)
		}
	}
	for _, r := range results {
		fmt.Fprintf(w, "\n%s: worst 5 sentences (calls placed and recorded in %.0f s)\n", r.Codec, r.CallsWall)
		for _, s := range r.Worst(5) {
			fmt.Fprintf(w, "  #%-2d %d/%d errors (%.0f %%)\n      ref: %s\n      hyp: %s\n", s.Index+1, s.Errors, s.Words,
				s.WER(), s.Reference, s.Hypothesis)
		}
	}
	fmt.Fprintln(w)
	for _, r := range results {
		if r.Codec == "G722" {
			fmt.Fprintf(w, "target WER <= %.0f %% on G.722: %s (%.1f %%)\n", targetWER, verdict(r.WERPct <= targetWER), r.WERPct)
		}
		fmt.Fprintf(w, "target transcription >= %.0fx real time (%s): %s (%.2fx)\n", targetXRT, r.Codec,
			verdict(r.PerRecording.XRealTime() >= targetXRT), r.PerRecording.XRealTime())
	}
}

// transcribed counts the recordings that had audio and gave a transcript.
func transcribed(results []*wer.Result) int {
	n := 0
	for _, r := range results {
		for _, s := range r.Sentences {
			if s.AudioSec > 0 && strings.TrimSpace(s.Hypothesis) != "" {
				n++
			}
		}
	}
	return n
}

func verdict(ok bool) string {
	if ok {
		return "MET"
	}
	return "NOT MET"
}

func cpuCell(s float64) string {
	if s <= 0 {
		return "n/a"
	}
	return fmt.Sprintf("%.1f", s)
}

func xCell(x float64) string {
	if x <= 0 {
		return "n/a"
	}
	return fmt.Sprintf("%.2f", x)
}

// machine describes where the benchmark runs: CPUs, model, load average.
func machine() string {
	model := "unknown CPU"
	if b, err := os.ReadFile("/proc/cpuinfo"); err == nil {
		for _, line := range strings.Split(string(b), "\n") {
			if k, v, ok := strings.Cut(line, ":"); ok && strings.TrimSpace(k) == "model name" {
				model = strings.TrimSpace(v)
				break
			}
		}
	}
	load := "n/a"
	if b, err := os.ReadFile("/proc/loadavg"); err == nil {
		if f := strings.Fields(string(b)); len(f) >= 3 {
			load = strings.Join(f[:3], " ")
		}
	}
	return fmt.Sprintf("%d CPUs (%s), load average %s, %s", runtime.NumCPU(), model, load, runtime.Version())
}

// defaultSentences is sentences.txt next to this source file when run from
// the repository root or from bench/asr-wer.
func defaultSentences() string {
	for _, p := range []string{"bench/asr-wer/sentences.txt", "sentences.txt"} {
		if _, err := os.Stat(p); err == nil {
			return p
		}
	}
	return filepath.Join("bench", "asr-wer", "sentences.txt")
}
