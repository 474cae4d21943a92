package cli

import (
	"context"
	"fmt"

	"github.com/minivoice/minivoice/internal/config"
	"github.com/minivoice/minivoice/internal/insights"
)

const versionUsage = `Usage: minivoice version [flags]

Prints the version, the commit, the build date and the Go version, then one
line per engine (tts, asr, llm): what serve would use with the same flags or
MINIVOICE_* variables, and whether it can run here.

Flags (serve's insights flags):
`

// version prints the version line, then one line per engine: what serve
// would use with the same flags or MINIVOICE_* variables, and whether it can
// run here.
func version(ctx context.Context, args []string, env Env) int {
	fs := newFlagSet("minivoice version", versionUsage, args, env)
	var c config.Insights
	config.AddInsightsFlags(fs, &c)
	if err := config.ParseFlags(fs, args, env.Getenv); err != nil {
		return usageExit(err, "minivoice version", env)
	}
	if err := c.Check(); err != nil {
		fmt.Fprintln(env.Stderr, "minivoice version:", err)
		return 2
	}
	fmt.Fprintln(env.Stdout, versionString())
	engines, err := insights.NewEngines(c)
	if err != nil {
		fmt.Fprintln(env.Stderr, "minivoice version:", err)
		return 2
	}
	for _, st := range engines.Status(ctx) {
		state := "available"
		switch {
		case st.Name == "none":
			state = "not configured"
		case !st.Available:
			state = "unavailable"
		}
		line := fmt.Sprintf("%s: %s (%s)", st.Kind, st.Name, state)
		if st.Name == "none" {
			line += ": summary, score and topics come from the offline analyser"
		}
		if st.Detail != "" && st.Name != "none" {
			line += ": " + st.Detail
		}
		fmt.Fprintln(env.Stdout, line)
	}
	return 0
}
