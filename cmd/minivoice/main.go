// Command minivoice is the MiniVoice platform: see `minivoice --help`.
package main

import (
	"context"
	"log/slog"
	"os"

	sipmsg "github.com/emiago/sipgo/sip"
	"github.com/minivoice/minivoice/internal/cli"
)

func main() {
	// What the SIP stack logs outside an engine's own logger (its TCP and
	// TLS transports, connection bookkeeping) goes to stderr as JSON, like
	// serve's log, and only from warnings up. Set here, once, before any
	// goroutine: sipgo keeps it in an unsynchronised package variable.
	sipmsg.SetDefaultLogger(slog.New(slog.NewJSONHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn})))
	os.Exit(cli.Main(context.Background(), os.Args[1:], cli.OSEnv()))
}
