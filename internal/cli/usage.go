package cli

import (
	"flag"
	"fmt"
	"io"
	"strings"

	"github.com/minivoice/minivoice/internal/config"
)

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
