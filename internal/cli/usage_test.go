package cli_test

import (
	"strings"
	"testing"
)

// helpCommands are the commands (and subcommands) that take flags, so
// that every one is held to the same help and usage-error style.
var helpCommands = [][]string{
	{"serve"}, {"demo"}, {"checklist"}, {"sim"}, {"sim", "call"}, {"backup"}, {"restore"}, {"version"},
	{"admin", "customers", "create"}, {"admin", "trunks", "create"}, {"admin", "rates", "import", "deck.csv"},
	{"admin", "rotate-secret-key"}, {"webhooks", "listen"}, {"webhooks", "verify"},
}

// TestEveryHelpOneStyle: --help on every command prints its usage and its
// flags as the docs write them (--flag VALUE ... [MINIVOICE_FLAG]) to
// stdout and exits 0; never Go's default "Usage of" with single dashes.
func TestEveryHelpOneStyle(t *testing.T) {
	t.Parallel()
	for _, cmd := range helpCommands {
		name := "minivoice " + strings.Join(cmd, " ")
		name = strings.TrimSuffix(name, " deck.csv")
		code, stdout, stderr := run(t, append(cmd, "--help")...)
		if code != 0 || stderr != "" {
			t.Errorf("%s --help: exit %d, stderr %q; want 0 and nothing on stderr", name, code, stderr)
		}
		if !strings.HasPrefix(stdout, "Usage: "+name) || !strings.Contains(stdout, "\n  --") ||
			!strings.Contains(stdout, "[MINIVOICE_") || strings.Contains(stdout, "Usage of") {
			t.Errorf("%s --help: stdout %q; want the usage and --flag ... [MINIVOICE_X] lines", name, stdout)
		}
	}
}

// TestEveryBadFlagOneLine: an unknown flag gets one line on stderr, naming
// the flag and where the flags are listed, and exit 2 (docs/cli.md).
func TestEveryBadFlagOneLine(t *testing.T) {
	t.Parallel()
	for _, cmd := range helpCommands {
		name := strings.TrimSuffix("minivoice "+strings.Join(cmd, " "), " deck.csv")
		code, stdout, stderr := run(t, append(cmd, "--bogus")...)
		want := name + ": unknown flag --bogus (`" + name + " --help` lists the flags)\n"
		if code != 2 || stdout != "" || stderr != want {
			t.Errorf("%s --bogus: exit %d, stdout %q, stderr %q; want 2 and %q", name, code, stdout, stderr, want)
		}
	}
}

// TestAdminSummary: `admin --help` shows how to make an inbound trunk too
// (no host, --allowed-cidrs), on stdout with exit 0.
func TestAdminSummary(t *testing.T) {
	t.Parallel()
	for _, args := range [][]string{{"admin", "--help"}, {"admin", "trunks", "--help"}} {
		code, stdout, _ := run(t, args...)
		if code != 0 || !strings.Contains(stdout, "--direction inbound --allowed-cidrs CIDR,...") ||
			!strings.Contains(stdout, "--host HOST") {
			t.Errorf("%v: exit %d, stdout %q; want 0 and both kinds of trunk", args, code, stdout)
		}
	}
	if code, _, stderr := run(t, "admin"); code != 2 || !strings.Contains(stderr, "Usage: minivoice admin") {
		t.Errorf("admin: exit %d, stderr %q; want 2 and the summary", code, stderr)
	}
}

// TestSimHelpPointsElsewhere: `sim --help` points to sim call's flags, not
// back to itself.
func TestSimHelpPointsElsewhere(t *testing.T) {
	t.Parallel()
	_, stdout, _ := run(t, "sim", "--help")
	if strings.Contains(stdout, "minivoice sim --help") || !strings.Contains(stdout, "minivoice sim call --help") {
		t.Errorf("sim --help: %q; want a pointer to sim call --help only", stdout)
	}
}
