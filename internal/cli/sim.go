package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/netip"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"

	"github.com/minivoice/minivoice/internal/config"
	"github.com/minivoice/minivoice/internal/media"
	netsim "github.com/minivoice/minivoice/internal/sim"
	"github.com/minivoice/minivoice/internal/tts"
)

const simUsage = `Usage:
  minivoice sim [--sip 127.0.0.1:5080] [--script FILE] [--record-dir DIR]
      run the network simulator (the platform's carrier) until SIGTERM/SIGINT
  minivoice sim call --platform HOST:PORT --to DID --from NUMBER [--script FILE] [--hangup-after DURATION]
      place one call into the platform and print its outcome
      (exit 0 answered, 1 refused or failed, 2 bad usage)

Run "minivoice sim --help" or "minivoice sim call --help" for every flag.
`

// simServeUsage heads `minivoice sim --help`, which lists the simulator's
// flags and points to sim call's (not to itself).
const simServeUsage = `Usage: minivoice sim [flags]

Runs the network simulator until SIGTERM/SIGINT: the carrier the platform's
outbound trunk points at (--sip), whose numbers behave as --script says.
"minivoice sim call --help" lists the flags of one call into the platform.

Flags:
`

// simCallUsage heads `minivoice sim call --help`.
const simCallUsage = `Usage: minivoice sim call --platform HOST:PORT --to DID --from NUMBER [flags]

Places one call into the platform with its own short-lived user agent and
prints its outcome on one line: exit 0 answered, 1 refused or failed, 2 bad
usage.

Flags:
`

// sim runs `minivoice sim` (the simulator as a long-running carrier) or
// `minivoice sim call` (one call into the platform).
func sim(ctx context.Context, args []string, env Env) int {
	if len(args) > 0 && args[0] == "call" {
		return simCall(ctx, args[1:], env)
	}
	if len(args) > 0 && !strings.HasPrefix(args[0], "-") {
		fmt.Fprintf(env.Stderr, "minivoice sim: unknown command %q\n%s", args[0], simUsage)
		return 2
	}
	fs := newFlagSet("minivoice sim", simServeUsage, args, env)
	listen := fs.String("sip", "127.0.0.1:5080", "SIP listen address (UDP and TCP on one port)")
	scriptFile := fs.String("script", "", `JSON file of per-number scripts: {"+15550000101": ["wait 2", "dtmf 42#", "hangup"]}`)
	recordDir := fs.String("record-dir", "", "directory for the WAV of what each call heard (default: a temporary directory, removed at exit)")
	platform := fs.String("platform", "127.0.0.1:5060", "the platform's SIP address, shown at start so the trunk set-up can be checked")
	data := fs.String("data", "", "data directory whose media/tts caches rendered speech (default: a temporary cache)")
	delay := fs.Duration("answer-delay", netsim.DefaultAnswerDelay, "how long answering numbers ring")
	codecs := fs.String("codecs", "G722,PCMU,PCMA", "codecs offered, in order of preference")
	logLevel := fs.String("log-level", "info", "debug, info, warn or error")
	if err := config.ParseFlags(fs, args, env.Getenv); err != nil {
		return usageExit(err, "minivoice sim", env)
	}
	scripts, err := simLoadScripts(*scriptFile)
	if err != nil {
		fmt.Fprintf(env.Stderr, "minivoice sim: %v\n", err)
		return 2
	}
	if _, _, err := net.SplitHostPort(*platform); err != nil {
		fmt.Fprintf(env.Stderr, "minivoice sim: --platform %q is not HOST:PORT\n", *platform)
		return 2
	}
	log := newSimLogger(env.Stderr, *logLevel)
	speaker, cleanup := simSpeaker(*data, log, env)
	defer cleanup()
	ctx, stop := signal.NotifyContext(ctx, syscall.SIGTERM, syscall.SIGINT)
	defer stop()
	s, err := netsim.New(netsim.Config{Listen: *listen, Scripts: scripts, RecordDir: *recordDir, Speaker: speaker, Logger: log,
		AnswerDelay: *delay, Codecs: simSplitList(*codecs)})
	if err != nil {
		fmt.Fprintf(env.Stderr, "minivoice sim: %v\n", err)
		if errors.Is(err, netsim.ErrBadScript) {
			return 2
		}
		return 1
	}
	s.Serve()
	fmt.Fprintf(env.Stdout, "minivoice sim listening on %s (UDP and TCP); recordings in %s; platform expected at %s\n",
		s.Addr(), s.RecordDir(), *platform)
	<-ctx.Done()
	if err := s.Close(); err != nil {
		fmt.Fprintf(env.Stderr, "minivoice sim: %v\n", err)
		return 1
	}
	return 0
}

// simCall runs `minivoice sim call`: its own short-lived user agent places
// one call and the outcome is printed as one line.
func simCall(ctx context.Context, args []string, env Env) int {
	fs := newFlagSet("minivoice sim call", simCallUsage, args, env)
	platform := fs.String("platform", "", "the platform's SIP address, HOST:PORT (required)")
	to := fs.String("to", "", "the DID to call, E.164 (required)")
	from := fs.String("from", "", "the caller's number, E.164 (required)")
	scriptFile := fs.String("script", "", `JSON steps run once answered: ["say hi", "dtmf 1"] or {"+1555...": [...]} keyed by --from (or --to)`)
	hangupAfter := fs.Duration("hangup-after", 0, "hang up this long after answer (0: wait for the platform, at most --max-duration)")
	maxDuration := fs.Duration("max-duration", netsim.DefaultMaxDuration, "longest a call may stay up")
	transport := fs.String("transport", "udp", "udp or tcp")
	username := fs.String("username", "", "digest username, if the platform challenges")
	password := fs.String("password", "", "digest password")
	listen := fs.String("listen", "", "local SIP address (default: a free port, on 127.0.0.1 when the platform is on loopback, else on all interfaces)")
	recordDir := fs.String("record-dir", "", "keep the WAV of what the call heard in this directory")
	data := fs.String("data", "", "data directory whose media/tts caches rendered speech (default: a temporary cache)")
	logLevel := fs.String("log-level", "warn", "debug, info, warn or error")
	if err := config.ParseFlags(fs, args, env.Getenv); err != nil {
		return usageExit(err, "minivoice sim call", env)
	}
	var missing []string
	for _, f := range []struct{ name, v string }{{"--platform", *platform}, {"--to", *to}, {"--from", *from}} {
		if f.v == "" {
			missing = append(missing, f.name)
		}
	}
	if len(missing) > 0 {
		fmt.Fprintf(env.Stderr, "minivoice sim call: %s required\n", strings.Join(missing, ", "))
		return 2
	}
	host, _, err := net.SplitHostPort(*platform)
	if err != nil {
		fmt.Fprintf(env.Stderr, "minivoice sim call: --platform %q is not HOST:PORT\n", *platform)
		return 2
	}
	steps, err := simLoadCallScript(*scriptFile, *from, *to)
	if err != nil {
		fmt.Fprintf(env.Stderr, "minivoice sim call: %v\n", err)
		return 2
	}
	if *listen == "" {
		*listen = "0.0.0.0:0"
		if ip, err := netip.ParseAddr(host); (err == nil && ip.IsLoopback()) || host == "localhost" {
			*listen = "127.0.0.1:0"
		}
	}
	log := newSimLogger(env.Stderr, *logLevel)
	speaker, cleanup := simSpeaker(*data, log, env)
	defer cleanup()
	ctx, stop := signal.NotifyContext(ctx, syscall.SIGTERM, syscall.SIGINT)
	defer stop()
	s, err := netsim.New(netsim.Config{Listen: *listen, RecordDir: *recordDir, Speaker: speaker, Logger: log})
	if err != nil {
		fmt.Fprintf(env.Stderr, "minivoice sim call: %v\n", err)
		return 1
	}
	defer s.Close()
	rep, err := s.Call(ctx, netsim.CallOptions{Platform: *platform, From: *from, To: *to, Transport: *transport, Script: steps,
		Username: *username, Password: *password, HangupAfter: *hangupAfter, MaxDuration: *maxDuration})
	line, code := simCallOutcome(rep, err, *recordDir != "")
	fmt.Fprintln(env.Stdout, line)
	return code
}

// maxHeardSpans bounds the spans `sim call` prints.
const maxHeardSpans = 8

// heardSpans says where the call's recording had sound, in seconds of
// audio received: "at 0.0-1.5 s, 3.0-6.5 s", the first maxHeardSpans of
// them.
func heardSpans(spans []media.Span) string {
	var b strings.Builder
	b.WriteString("at ")
	for i, sp := range spans[:min(len(spans), maxHeardSpans)] {
		if i > 0 {
			b.WriteString(", ")
		}
		fmt.Fprintf(&b, "%.1f-%.1f s", sp.Start.Seconds(), sp.End.Seconds())
	}
	if n := len(spans) - maxHeardSpans; n > 0 {
		fmt.Fprintf(&b, " and %d more", n)
	}
	return b.String()
}

// simCallOutcome is `sim call`'s one-line summary and exit code.
func simCallOutcome(rep netsim.CallReport, err error, showRecording bool) (string, int) {
	switch {
	case rep.Answered:
		line := fmt.Sprintf("answered, %.1f s, heard %.1f s of audio", rep.Duration().Seconds(), rep.HeardActive.Seconds())
		if len(rep.HeardSpans) > 0 {
			line += " (" + heardSpans(rep.HeardSpans) + ")"
		}
		if rep.DTMFSent != "" {
			line += ", pressed " + rep.DTMFSent
		}
		if rep.DTMFHeard != "" {
			line += ", heard DTMF " + rep.DTMFHeard
		}
		if rep.EndedBy == netsim.EndedRemote {
			line += ", the platform hung up"
		} else {
			line += ", hung up by the simulator"
		}
		if showRecording && rep.HeardPath != "" {
			line += ", recording " + rep.HeardPath
		}
		return line, 0
	case err != nil && rep.SIPStatus == 0:
		return fmt.Sprintf("failed: %v", err), 1
	case err != nil:
		return fmt.Sprintf("canceled after %d %s", rep.SIPStatus, rep.SIPReason), 1
	}
	return fmt.Sprintf("refused: %d %s", rep.SIPStatus, rep.SIPReason), 1
}

// simLoadScripts reads the simulator's per-number scripts (JSON; YAML is
// not supported).
func simLoadScripts(path string) (map[string][]string, error) {
	if path == "" {
		return nil, nil
	}
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("--script: %w", err)
	}
	defer f.Close()
	scripts, err := netsim.LoadScripts(f)
	if err != nil {
		return nil, fmt.Errorf("--script %s: %w", path, err)
	}
	return scripts, nil
}

// simLoadCallScript reads `sim call`'s script: a JSON list of steps, or the
// simulator's number -> steps object, from which the caller's entry (else
// the called number's, else the only one) is taken.
func simLoadCallScript(path, from, to string) ([]string, error) {
	if path == "" {
		return nil, nil
	}
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("--script: %w", err)
	}
	var steps []string
	if trimmed := bytes.TrimSpace(b); len(trimmed) > 0 && trimmed[0] == '[' {
		if err := json.Unmarshal(trimmed, &steps); err != nil {
			return nil, fmt.Errorf("--script %s: %w: %w", path, netsim.ErrBadScript, err)
		}
	} else {
		scripts, err := netsim.LoadScripts(bytes.NewReader(b))
		if err != nil {
			return nil, fmt.Errorf("--script %s: %w", path, err)
		}
		steps, err = simPickScript(scripts, from, to)
		if err != nil {
			return nil, fmt.Errorf("--script %s: %w", path, err)
		}
	}
	if err := netsim.ValidateScript(from, steps); err != nil {
		return nil, fmt.Errorf("--script %s: %w", path, err)
	}
	return steps, nil
}

// simPickScript chooses the entry of a number -> steps object that applies to
// a call from -> to.
func simPickScript(scripts map[string][]string, from, to string) ([]string, error) {
	for _, want := range []string{from, to} {
		for number, steps := range scripts {
			if simSameNumber(number, want) {
				return steps, nil
			}
		}
	}
	if len(scripts) == 1 {
		for _, steps := range scripts {
			return steps, nil
		}
	}
	return nil, fmt.Errorf("%w: no entry for %s or %s", netsim.ErrBadScript, from, to)
}

// simSameNumber compares two phone numbers by their digits.
func simSameNumber(a, b string) bool {
	digits := func(s string) string {
		return strings.Map(func(r rune) rune {
			if r >= '0' && r <= '9' {
				return r
			}
			return -1
		}, s)
	}
	da := digits(a)
	return da != "" && da == digits(b)
}

// simSpeaker is flite with its cache under DATA/media/tts (or a temporary
// directory the returned cleanup removes); without flite the simulator
// speaks tones, and says so.
func simSpeaker(data string, log *slog.Logger, env Env) (netsim.Speaker, func()) {
	cleanup := func() {}
	dir := ""
	if data != "" {
		dir = filepath.Join(data, "media", "tts")
	} else {
		tmp, err := os.MkdirTemp("", "minivoice-sim-tts-")
		if err != nil {
			fmt.Fprintf(env.Stderr, "minivoice sim: no TTS cache (%v); speaking tones instead\n", err)
			return nil, cleanup
		}
		dir = tmp
		cleanup = func() { _ = os.RemoveAll(tmp) }
	}
	e, err := tts.New(tts.Config{CacheDir: dir})
	if err != nil {
		fmt.Fprintf(env.Stderr, "minivoice sim: text-to-speech unavailable (%v); speaking tones instead\n", err)
		log.Warn("sim: no tts", slog.Any("error", err))
		return nil, cleanup
	}
	return e, cleanup
}

// newSimLogger logs JSON to w at level (info when level does not parse).
func newSimLogger(w io.Writer, level string) *slog.Logger {
	lv := new(slog.LevelVar)
	if err := lv.UnmarshalText([]byte(level)); err != nil {
		lv.Set(slog.LevelInfo)
	}
	return slog.New(slog.NewJSONHandler(w, &slog.HandlerOptions{Level: lv}))
}

// simSplitList splits a comma-separated flag value, dropping empty items.
func simSplitList(s string) []string {
	var out []string
	for _, item := range strings.Split(s, ",") {
		if item = strings.TrimSpace(item); item != "" {
			out = append(out, item)
		}
	}
	return out
}
