package cli

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/minivoice/minivoice/internal/checklist"
	"github.com/minivoice/minivoice/internal/config"
	"github.com/minivoice/minivoice/internal/insights/asr"
	"github.com/minivoice/minivoice/internal/platform"
	"github.com/minivoice/minivoice/internal/voice"
)

const demoUsage = `Usage: minivoice demo [flags]

Starts a whole MiniVoice on free loopback ports — the platform with an
embedded SQLite database in a fresh data directory, the network simulator as
carrier and callers, and a sample application (answer_url, action_url and a
webhook receiver that verifies every signature) — configures it through the
public API, and runs every case of the end-to-end checklist with a live
progress view: a recorded outbound call with say + gather, an inbound
voicemail, caller no-input and hang-up, busy, no answer, an unreachable
carrier, rejected requests, webhook retries and a failing webhook test. It
ends with a table and the recordings' transcripts, summaries, scores and
topics. Exit 0 only if every step really happened.

Needs Debian's flite, pocketsphinx and pocketsphinx-en-us; --with-deps
installs them (apt-get as root, sudo otherwise).

Flags:
`

// demoPackages are the Debian packages the demo's speech needs.
var demoPackages = []string{"flite", "pocketsphinx", "pocketsphinx-en-us"}

func demo(ctx context.Context, args []string, env Env) int {
	fs := newFlagSet("minivoice demo", demoUsage, args, env)
	keep := fs.Bool("keep", false, "leave everything running afterwards and print the URLs and keys to explore with (Ctrl-C stops)")
	withDeps := fs.Bool("with-deps", false, "install missing Debian packages ("+strings.Join(demoPackages, ", ")+") first")
	data := fs.String("data", "", "data `directory` (default: a fresh temporary one, removed afterwards unless --keep)")
	httpAddr := fs.String("http", "127.0.0.1:0", "API listen `address` (port 0: a free one)")
	sipAddr := fs.String("sip", "127.0.0.1:0", "SIP listen `address` (port 0: a free one)")
	only := fs.String("cases", "", "comma-separated checklist `cases` to run (default all: "+strings.Join(checklist.CaseNames(), ", ")+")")
	fixtures := fs.String("fixtures", "", "also save each case's fixture under `DIR`/<case>/")
	if err := config.ParseFlags(fs, args, env.Getenv); err != nil {
		return usageExit(err, "minivoice demo", env)
	}
	cases, err := caseList(*only)
	if err != nil {
		fmt.Fprintf(env.Stderr, "minivoice demo: %v\n", err)
		return 2
	}
	out := env.Stdout
	ctx, stop := signal.NotifyContext(ctx, syscall.SIGINT, syscall.SIGTERM)
	defer stop()

	fmt.Fprintln(out, "MiniVoice demo: a platform, a phone network and an application, all on this machine.")
	if missing := missingDemoDeps(); len(missing) > 0 {
		fmt.Fprintf(out, "\nMissing Debian packages: %s (speech for say, and transcription).\n", strings.Join(missing, " "))
		if !*withDeps {
			fmt.Fprintf(out, "Install them with:  minivoice demo --with-deps   (or: sudo apt-get install %s)\n", strings.Join(missing, " "))
			return 1
		}
		if err := installPackages(ctx, out, missing); err != nil {
			fmt.Fprintf(env.Stderr, "minivoice demo: %v\n", err)
			return 1
		}
		if still := missingDemoDeps(); len(still) > 0 {
			fmt.Fprintf(env.Stderr, "minivoice demo: still missing after installing: %s\n", strings.Join(still, " "))
			return 1
		}
	}

	dir := *data
	if dir == "" {
		d, err := os.MkdirTemp("", "minivoice-demo-")
		if err != nil {
			fmt.Fprintf(env.Stderr, "minivoice demo: %v\n", err)
			return 1
		}
		dir = d
		if !*keep {
			defer os.RemoveAll(dir)
		}
	}
	// The first retry comes after a second, not five, so the webhook retry
	// case does not keep the demo waiting.
	cfg, err := config.ParseServe([]string{"--data", dir, "--http", *httpAddr, "--sip", *sipAddr,
		"--allow-private-urls", "127.0.0.0/8", "--webhook-retry-schedule", "1s,5s,30s,2m"}, env.Getenv, env.Stderr)
	if err != nil {
		fmt.Fprintf(env.Stderr, "minivoice demo: %v\n", err)
		return 2
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		fmt.Fprintf(env.Stderr, "minivoice demo: %v\n", err)
		return 1
	}
	logPath := filepath.Join(dir, "platform.log")
	logFile, err := os.OpenFile(logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		fmt.Fprintf(env.Stderr, "minivoice demo: %v\n", err)
		return 1
	}
	defer logFile.Close()
	log := slog.New(slog.NewJSONHandler(logFile, nil))

	step := func(format string, a ...any) { fmt.Fprintf(out, "  - "+format+"\n", a...) }
	fmt.Fprintln(out)
	adminKey := voice.NewID("mvk_op_demo", time.Now())
	p, err := platform.Start(ctx, platform.Config{Serve: cfg, AdminKey: adminKey, Logger: log, Version: Version})
	if err != nil {
		fmt.Fprintf(env.Stderr, "minivoice demo: starting the platform: %v\n", err)
		return 1
	}
	defer func() {
		sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 15*time.Second)
		defer cancel()
		p.Drain(sctx)
		if err := p.Shutdown(sctx); err != nil {
			fmt.Fprintf(env.Stderr, "minivoice demo: shutdown: %v\n", err)
		}
	}()
	api := "http://" + p.HTTPAddr
	step("platform: API %s, SIP %s (UDP and TCP), SQLite in %s (log: %s)", api, p.SIP.Addr(), dir, logPath)

	names := cases
	if len(names) == 0 {
		names = checklist.CaseNames()
	}
	sess, err := checklist.Start(ctx, checklist.Config{API: api, Key: adminKey, SIP: p.SIP.Addr().String(), Cases: cases})
	if err != nil {
		fmt.Fprintf(env.Stderr, "minivoice demo: %s\n", strings.TrimPrefix(err.Error(), "checklist: "))
		return 1
	}
	defer sess.Close()
	step("configured through the API: customers, rates, trunks, numbers, applications (names checklist-*)")
	fmt.Fprintf(out, "\nRunning %d cases:\n", len(names))
	view := newProgressView(out, isTerminal(out, env.Getenv), names)
	rep := runSession(ctx, sess, view)
	code := finishChecklist(env, rep, *fixtures, "")
	printInsights(out, rep)
	if !*keep {
		return code
	}
	sess.KeepKey()
	fmt.Fprintf(out, `
Everything is still running (Ctrl-C stops it):
  API               %s   (OpenAPI: %s/v1/openapi.json)
  console           %s/   (sign in with the operator key below)
  operator key      %s
  application key   %s   (application %s)
  webhook secret    %s
  SIP               %s   (the simulator: %s)
  numbers           +15557010001 (voicemail), +15557010002 (menu, press a key), +15557010003 (menu)
  data directory    %s
Try (from the clone; or minivoice ... if installed):
  curl -sS "%s/v1/calls?limit=5" -H "Authorization: Bearer %s"
  go run ./cmd/minivoice sim call --platform %s --to +15557010001 --from +15550001111
`, api, api, api, adminKey, rep.AppKey, rep.Applications["main"], rep.WebhookSecret, p.SIP.Addr(), rep.SimAddr,
		dir, api, rep.AppKey, p.SIP.Addr())
	<-ctx.Done()
	fmt.Fprintf(out, "\nstopped; the data is kept in %s\n", dir)
	return code
}

// runSession runs the session's cases with view showing progress.
func runSession(ctx context.Context, sess *checklist.Session, view *progressView) *checklist.Report {
	sess.SetProgress(view.Event)
	rep := sess.Run(ctx)
	view.Close()
	return rep
}

// printInsights prints, for each case with a recording, what the insights
// pipeline made of it.
func printInsights(w io.Writer, rep *checklist.Report) {
	printed := false
	for _, r := range rep.Results {
		if r.Transcript == "" && r.Summary == "" {
			continue
		}
		fmt.Fprintf(w, "\n%s (call %s, recording %.1f s)\n", r.Case, r.CallID, r.Recording)
		fmt.Fprintln(w, "  transcript:")
		for _, line := range strings.Split(r.Transcript, "\n") {
			fmt.Fprintf(w, "    %s\n", line)
		}
		fmt.Fprintln(w, "  summary:")
		for _, line := range strings.Split(r.Summary, "\n") {
			fmt.Fprintf(w, "    %s\n", line)
		}
		fmt.Fprintf(w, "  score: %d (%s)\n", r.Score, r.Rating)
		topics := strings.Join(r.Topics, ", ")
		if topics == "" {
			topics = "(none found)"
		}
		fmt.Fprintf(w, "  topics: %s\n", topics)
		printed = true
	}
	if printed {
		fmt.Fprintln(w, "\nTranscribed offline by pocketsphinx on this machine: on realistic calls expect about one")
		fmt.Fprintln(w, "word in four wrong on G.722, one in three on G.711 (docs/insights.md); an application's")
		fmt.Fprintln(w, "vocabulary helps with names. serve --asr-url points it at a Whisper-style server instead,")
		fmt.Fprintln(w, "--llm-url at a chat model for the summary, score and topics.")
	}
}

// missingDemoDeps lists the Debian packages whose programs or files are
// not on this machine.
func missingDemoDeps() []string {
	var missing []string
	if _, err := exec.LookPath("flite"); err != nil {
		missing = append(missing, "flite")
	}
	if _, err := exec.LookPath(asr.DefaultPocketsphinxBin); err != nil {
		missing = append(missing, "pocketsphinx")
	}
	if _, err := os.Stat(asr.DefaultPocketsphinxModelDir); err != nil {
		missing = append(missing, "pocketsphinx-en-us")
	}
	return missing
}

// installPackages installs Debian packages the way `playwright install
// --with-deps` does: apt-get directly as root, through sudo otherwise, and
// a plain explanation when neither is possible.
func installPackages(ctx context.Context, out io.Writer, pkgs []string) error {
	if _, err := exec.LookPath("apt-get"); err != nil {
		return fmt.Errorf("apt-get not found: install %s with your system's package manager", strings.Join(pkgs, " "))
	}
	var prefix []string
	if os.Geteuid() != 0 {
		if _, err := exec.LookPath("sudo"); err != nil {
			return fmt.Errorf("not root and no sudo: as root, run apt-get install %s", strings.Join(pkgs, " "))
		}
		prefix = []string{"sudo"}
	}
	run := func(args ...string) error {
		all := append(append([]string{}, prefix...), args...)
		fmt.Fprintf(out, "  $ %s\n", strings.Join(all, " "))
		cmd := exec.CommandContext(ctx, all[0], all[1:]...)
		cmd.Env = append(os.Environ(), "DEBIAN_FRONTEND=noninteractive")
		cmd.Stdout, cmd.Stderr = out, out
		if err := cmd.Run(); err != nil {
			return fmt.Errorf("%s: %w", strings.Join(all, " "), err)
		}
		return nil
	}
	if err := run("apt-get", "update", "-qq"); err != nil {
		return err
	}
	return run(append([]string{"apt-get", "install", "-y", "-qq", "--no-install-recommends"}, pkgs...)...)
}
