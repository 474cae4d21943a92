// Command minivoice is the MiniVoice platform: see `minivoice --help`.
package main

import (
	"context"
	"os"

	"github.com/minivoice/minivoice/internal/cli"
)

func main() {
	os.Exit(cli.Main(context.Background(), os.Args[1:], cli.OSEnv()))
}
