// Package cli is the `minivoice` command: main hands it the arguments and
// standard streams, and it returns the exit code.
package cli

import (
	"context"
	"fmt"
	"io"
	"os"
	"runtime"
	"runtime/debug"
	"strings"
)

// Version, Commit and BuildDate are set at build time by scripts/release.sh
// with -ldflags "-X github.com/minivoice/minivoice/internal/cli.Version=...".
// BuildDate is the commit's time, not the clock's, so that two builds of
// one commit are the same bytes.
var (
	Version   = "dev"
	Commit    = ""
	BuildDate = ""
)

// Env is what a command sees of the process.
type Env struct {
	Stdin  io.Reader
	Stdout io.Writer
	Stderr io.Writer
	Getenv func(string) string
}

// OSEnv is the real process environment.
func OSEnv() Env {
	return Env{Stdin: os.Stdin, Stdout: os.Stdout, Stderr: os.Stderr, Getenv: os.Getenv}
}

const usage = `minivoice: a self-hostable programmable voice platform

Usage:
  minivoice demo [flags]      see it work: platform, simulator and a sample app, every case end to end
  minivoice serve [flags]     run the platform (API, SIP/RTP, job workers)
  minivoice checklist ...     the end-to-end checklist against a running platform (fixtures, replay)
  minivoice admin ...         operator chores through the API
  minivoice sim [call] ...    the network simulator (carrier, or one call into the platform)
  minivoice webhooks ...      a local webhook receiver (listen) and a signature checker (verify)
  minivoice backup --to DIR   copy a SQLite deployment's database, recordings and keys while it runs
  minivoice restore --from DIR  restore such a copy into an empty data directory
  minivoice version           print version, commit, build date, Go version and the TTS/ASR/LLM engines

Run "minivoice COMMAND --help" for a command's flags.
`

// Main runs the command named by args (without the program name) and returns
// the exit code: 0 success, 1 failure, 2 bad usage.
func Main(ctx context.Context, args []string, env Env) int {
	if len(args) == 0 {
		fmt.Fprint(env.Stderr, usage)
		return 2
	}
	switch args[0] {
	case "serve":
		return serve(ctx, args[1:], env)
	case "demo":
		return demo(ctx, args[1:], env)
	case "checklist":
		return checklistCmd(ctx, args[1:], env)
	case "admin":
		return admin(ctx, args[1:], env)
	case "sim":
		return sim(ctx, args[1:], env)
	case "webhooks":
		return webhooks(ctx, args[1:], env)
	case "backup":
		return backupCmd(ctx, args[1:], env)
	case "restore":
		return restoreCmd(ctx, args[1:], env)
	case "version", "--version":
		return version(ctx, args[1:], env)
	case "help", "-h", "--help":
		fmt.Fprint(env.Stdout, usage)
		return 0
	}
	fmt.Fprintf(env.Stderr, "minivoice: unknown command %q\n%s", args[0], usage)
	return 2
}

// versionString is the first line of `minivoice version`: the release's
// version, commit and build date, or for a plain `go build` or `go install`
// from a checkout what the Go toolchain stamped from it.
func versionString() string {
	var settings []debug.BuildSetting
	if info, ok := debug.ReadBuildInfo(); ok {
		settings = info.Settings
	}
	commit, date := buildStamp(Commit, BuildDate, settings)
	return strings.Join([]string{"minivoice " + Version, "commit " + commit, "built " + date, runtime.Version()}, ", ")
}

// buildStamp is the commit and build date to print: the -ldflags values
// (scripts/release.sh) win; else vcs.revision (with "-dirty" when the
// checkout had uncommitted changes) and vcs.time from the build info; else
// "unknown".
func buildStamp(commit, date string, settings []debug.BuildSetting) (string, string) {
	var rev, at string
	dirty := false
	for _, s := range settings {
		switch s.Key {
		case "vcs.revision":
			rev = s.Value
		case "vcs.time":
			at = s.Value
		case "vcs.modified":
			dirty = s.Value == "true"
		}
	}
	if commit == "" && rev != "" {
		commit = rev
		if dirty {
			commit += "-dirty"
		}
	}
	if date == "" {
		date = at
	}
	if commit == "" {
		commit = "unknown"
	}
	if date == "" {
		date = "unknown"
	}
	return commit, date
}
