package cli

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"strings"

	"github.com/minivoice/minivoice/internal/config"
)

// newFlagSet makes the flag set of the command name ("minivoice serve").
// --help prints head (which ends with "Flags:\n" or the like) and then the
// flags in printFlags' style to standard output. On a usage error the flag
// package prints nothing: the caller prints the one-line reason
// (usageExit), because the whole flag list on stderr buries it.
func newFlagSet(name, head string, args []string, env Env) *flag.FlagSet {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	help := wantsHelp(args)
	if help {
		fs.SetOutput(env.Stdout)
	}
	fs.Usage = func() {
		if help {
			fmt.Fprint(fs.Output(), head)
			printFlags(fs.Output(), fs)
		}
	}
	return fs
}

// usageExit turns a flag parsing error of command name into its exit code:
// 0 for --help (the help is already printed), else 2 after one line on
// stderr. An unknown flag is named with two dashes, as the docs write flags,
// and the line says where the flags are listed.
func usageExit(err error, name string, env Env) int {
	if errors.Is(err, flag.ErrHelp) {
		return 0
	}
	msg := err.Error()
	if f, ok := strings.CutPrefix(msg, "flag provided but not defined: "); ok {
		msg = fmt.Sprintf("unknown flag --%s (`%s --help` lists the flags)", strings.TrimLeft(f, "-"), name)
	}
	fmt.Fprintf(env.Stderr, "%s: %s\n", name, msg)
	return 2
}

// printFlags lists fs's flags the way the docs write them: --name VALUE,
// what it does, its default and the environment variable it also reads.
func printFlags(w io.Writer, fs *flag.FlagSet) {
	fs.VisitAll(func(f *flag.Flag) {
		name, usage := flag.UnquoteUsage(f)
		left := "  --" + f.Name
		if name != "" {
			left += " " + strings.ToUpper(name)
		}
		def := ""
		if f.DefValue != "" && f.DefValue != "false" {
			def = " (default " + f.DefValue + ")"
		}
		fmt.Fprintf(w, "%-28s %s%s [%s]\n", left, usage, def, config.EnvName(f.Name))
	})
}

// wantsHelp reports whether args ask for help, which goes to standard
// output (so it can be paged), not to standard error like usage errors.
func wantsHelp(args []string) bool {
	for _, a := range args {
		switch a {
		case "-h", "-help", "--help":
			return true
		}
	}
	return false
}
