package main

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/minivoice/minivoice/bench/asr-wer/wer"
	"github.com/minivoice/minivoice/internal/insights/asr"
)

// defaultVoices are every voice of Debian's flite (awb_time speaking its
// time sentences) and the human recordings.
var defaultVoices = []string{"kal", "kal16", "awb", "rms", "slt", wer.TimeVoice, wer.HumanVoice}

type dialogueFlags struct {
	codec, sentences, voices, humanDir, vocab, narrowband, mllr, out, psBin, decArgs, save, from, asrURL, asrModel string
	n, conc, jobs                                                                                                  int
	gap                                                                                                            float64
	timeout                                                                                                        time.Duration
	verbose, quiet, smoke                                                                                          bool
}

// runDialogue is asr-wer -dialogue.
func runDialogue(f dialogueFlags, stdout, stderr io.Writer) int {
	fail := func(code int, format string, args ...any) int {
		fmt.Fprintf(stderr, "asr-wer: "+format+"\n", args...)
		return code
	}
	var codecs []string
	switch c := strings.ToUpper(f.codec); c {
	case "BOTH":
		codecs = []string{"G722", "PCMU"}
	case "ALL":
		codecs = []string{"G722", "PCMU", "PCMA"}
	default:
		for _, x := range strings.Split(c, ",") {
			x = strings.ReplaceAll(strings.TrimSpace(x), ".", "")
			if _, ok := wer.Codecs[x]; !ok {
				return fail(2, "-codec %q: want G722, PCMU, PCMA, both, all or a comma-separated list", f.codec)
			}
			codecs = append(codecs, x)
		}
	}
	voices := strings.Split(f.voices, ",")
	if f.smoke {
		codecs, voices, f.n, f.conc = []string{"G722"}, []string{"slt"}, 3, 2
	}
	refs, err := wer.LoadSentences(f.sentences)
	if err != nil {
		return fail(2, "%v", err)
	}
	if f.n > 0 && f.n < len(refs) {
		refs = refs[:f.n]
	}
	dir := filepath.Dir(f.sentences)
	var clips []wer.Clip
	flite := 0 // flite voices so far
	for _, v := range voices {
		v = strings.TrimSpace(v)
		switch v {
		case wer.HumanVoice:
			hc, err := loadHuman(filepath.Join(dir, "human.txt"), f.humanDir)
			if err != nil {
				return fail(2, "%v (install Debian's pocketsphinx-testdata, or leave %q out of -voices)", err, v)
			}
			clips = append(clips, hc...)
		case wer.TimeVoice:
			ts, err := wer.LoadSentences(filepath.Join(dir, "time-sentences.txt"))
			if err != nil {
				return fail(2, "%v", err)
			}
			for _, t := range ts {
				clips = append(clips, wer.Clip{Voice: v, Text: t})
			}
		default:
			// Rotated by one per voice, so a sentence falls in a different
			// position of its call for different voices.
			k := flite % len(refs)
			flite++
			for i := range refs {
				clips = append(clips, wer.Clip{Voice: v, Text: refs[(i+k)%len(refs)]})
			}
		}
	}
	var vocabulary []string
	if f.vocab != "" {
		if vocabulary, err = wer.LoadSentences(f.vocab); err != nil {
			return fail(2, "-vocab: %v", err)
		}
	}
	psCfg := asr.PocketsphinxConfig{Bin: f.psBin, Narrowband: f.narrowband, NarrowbandMLLR: f.mllr, Timeout: f.timeout}
	engineDesc := fmt.Sprintf("pocketsphinx, decoder args %q (the engine's defaults)", asr.DefaultDecoderArgs)
	if f.narrowband != "" {
		engineDesc += ", narrowband " + f.narrowband
	}
	if f.mllr != "" {
		engineDesc += ", narrowband MLLR " + f.mllr
	}
	if f.decArgs != "" {
		psCfg.DecoderArgs = []string{}
		if f.decArgs != "none" {
			psCfg.DecoderArgs = strings.Fields(f.decArgs)
		}
		engineDesc = fmt.Sprintf("pocketsphinx, decoder args %q", psCfg.DecoderArgs)
	}
	var engine asr.Engine = asr.NewPocketsphinx(psCfg)
	if f.asrURL != "" {
		oa, err := asr.NewOpenAI(asr.OpenAIConfig{URL: f.asrURL, Model: f.asrModel, Language: "en"})
		if err != nil {
			return fail(2, "-asr-url: %v", err)
		}
		engine, engineDesc = oa, "OpenAI-compatible server at "+f.asrURL+", model "+f.asrModel
	}
	if len(vocabulary) > 0 {
		engineDesc += fmt.Sprintf(", vocabulary of %d phrases from %s", len(vocabulary), f.vocab)
	}

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	logger := slog.New(slog.DiscardHandler)
	if f.verbose {
		logger = slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: slog.LevelInfo}))
	}
	progress := func(format string, args ...any) { fmt.Fprintf(stderr, format+"\n", args...) }
	if f.quiet {
		progress = nil
	}
	cache, err := os.MkdirTemp("", "minivoice-asr-wer-tts-")
	if err != nil {
		return fail(1, "%v", err)
	}
	defer os.RemoveAll(cache)
	where := machine()
	what := fmt.Sprintf("%d utterances", len(clips))
	if f.from != "" {
		what = "the recordings in " + f.from
	}
	fmt.Fprintf(stdout, "asr-wer -dialogue: %s (voices %s), codecs %s, %s\nengine: %s\n", what,
		strings.Join(voices, ","), strings.Join(codecs, ","), where, engineDesc)
	var only []string
	if f.from != "" {
		only = voices // the recordings of these voices only
	}
	start := time.Now()
	var results []*wer.DialogueResult
	for _, c := range codecs {
		res, err := wer.RunDialogues(ctx, wer.DialogueConfig{Codec: c, Clips: clips, Gap: f.gap, Engine: engine,
			Concurrency: f.conc, Jobs: f.jobs, TTSCacheDir: cache, SaveDir: f.save, FromDir: f.from, Logger: logger,
			Progress: progress, Vocabulary: vocabulary, OnlyVoices: only})
		if err != nil {
			return fail(1, "%v", err)
		}
		results = append(results, res)
	}
	printDialogueReport(stdout, results)
	fmt.Fprintf(stdout, "\nwhole run: %.0f s wall\n", time.Since(start).Seconds())
	if f.smoke {
		n := 0
		for _, r := range results {
			for _, c := range r.Calls {
				for _, u := range c.Utterances {
					if strings.TrimSpace(u.Hypothesis) != "" {
						n++
					}
				}
			}
		}
		if n == 0 {
			fmt.Fprintln(stderr, "asr-wer smoke: FAIL: no utterance was recognised")
			return 1
		}
		fmt.Fprintf(stdout, "asr-wer smoke: ok, %d utterances recognised\n", n)
	}
	if f.out != "" {
		b, err := json.MarshalIndent(map[string]any{"mode": "dialogue", "voices": voices, "engine": engineDesc, "machine": where,
			"date": time.Now().UTC().Format(time.RFC3339), "results": results}, "", "  ")
		if err == nil {
			err = os.WriteFile(f.out, append(b, '\n'), 0o644)
		}
		if err != nil {
			return fail(1, "-out: %v", err)
		}
	}
	return 0
}

// loadHuman reads human.txt: path TAB transcript per line.
func loadHuman(list, dir string) ([]wer.Clip, error) {
	fh, err := os.Open(list)
	if err != nil {
		return nil, err
	}
	defer fh.Close()
	var out []wer.Clip
	sc := bufio.NewScanner(fh)
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		path, text, ok := strings.Cut(line, "\t")
		if !ok {
			return nil, fmt.Errorf("%s: %q: want path<TAB>transcript", list, line)
		}
		path = filepath.Join(dir, path)
		if _, err := os.Stat(path); err != nil {
			return nil, err
		}
		out = append(out, wer.Clip{Voice: wer.HumanVoice, Text: strings.TrimSpace(text), Path: path})
	}
	return out, sc.Err()
}

// printDialogueReport writes WER per codec and voice, per codec and
// position, speed, and the worst utterances.
func printDialogueReport(w io.Writer, results []*wer.DialogueResult) {
	cell := func(t wer.Tally) string {
		if t.Words == 0 {
			return "-"
		}
		return fmt.Sprintf("%.1f %% (%d/%d)", t.WER(), t.Errors, t.Words)
	}
	voices := results[0].Voices()
	fmt.Fprintf(w, "\nWER per voice (errors/words):\n\n| codec | %s | all |\n|---|", strings.Join(voices, " | "))
	fmt.Fprint(w, strings.Repeat("---:|", len(voices)+1), "\n")
	for _, r := range results {
		fmt.Fprintf(w, "| %s |", r.Codec)
		for _, v := range voices {
			fmt.Fprintf(w, " %s |", cell(r.ByVoice[v]))
		}
		fmt.Fprintf(w, " **%s** |\n", cell(r.Total))
	}
	fmt.Fprintf(w, "\nWER per position in the call:\n\n| codec |")
	for _, p := range wer.Positions {
		fmt.Fprintf(w, " %s |", p)
	}
	fmt.Fprint(w, "\n|---|", strings.Repeat("---:|", len(wer.Positions)), "\n")
	for _, r := range results {
		fmt.Fprintf(w, "| %s |", r.Codec)
		for _, p := range wer.Positions {
			fmt.Fprintf(w, " %s |", cell(r.ByPosition[p]))
		}
		fmt.Fprintln(w)
	}
	fmt.Fprintf(w, "\nSpeed (caller channels transcribed whole, one Transcribe per call):\n\n")
	fmt.Fprintf(w, "| codec | calls | audio s | transcription wall s | x real time | CPU s | x real time per CPU s | jobs | phase wall s |\n")
	fmt.Fprintf(w, "|---|---:|---:|---:|---:|---:|---:|---:|---:|\n")
	for _, r := range results {
		t := r.Throughput
		fmt.Fprintf(w, "| %s | %d | %.1f | %.1f | %.2f | %s | %s | %d | %.1f |\n", r.Codec, len(r.Calls), t.AudioSec, t.WallSec,
			t.XRealTime(), cpuCell(t.CPUSec), xCell(t.XRealTimeCPU()), r.Jobs, r.Phase.WallSec)
	}
	for _, r := range results {
		fmt.Fprintf(w, "\n%s: worst 5 utterances (calls placed and recorded in %.0f s)\n", r.Codec, r.CallsWall)
		for _, u := range r.Worst(5) {
			fmt.Fprintf(w, "  %-8s %-13s %d/%d errors\n      ref: %s\n      hyp: %s\n", u.Voice, u.Position, u.Errors, u.Words, u.Text, u.Hypothesis)
		}
	}
}
