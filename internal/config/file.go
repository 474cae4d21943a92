package config

import (
	"bufio"
	"flag"
	"fmt"
	"os"
	"strings"
)

// ReadFile reads a configuration file (/etc/minivoice/minivoice.conf): one
// `key = value` a line, the key a flag's name without dashes, blank lines
// and lines starting with # ignored. A value may be quoted with "..." to
// keep leading or trailing spaces; it is never expanded. A key given twice
// is an error rather than a silent override, as is a line without "=".
func ReadFile(path string) (map[string]string, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("config file: %w", err)
	}
	defer f.Close()
	values := map[string]string{}
	sc := bufio.NewScanner(f)
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		key, value, ok := strings.Cut(line, "=")
		key, value = strings.TrimSpace(key), strings.TrimSpace(value)
		if !ok || key == "" {
			return nil, fmt.Errorf("config file %s:%d: want key = value", path, n)
		}
		if len(value) >= 2 && strings.HasPrefix(value, `"`) && strings.HasSuffix(value, `"`) {
			value = value[1 : len(value)-1]
		}
		if _, dup := values[key]; dup {
			return nil, fmt.Errorf("config file %s:%d: %s is set twice", path, n, key)
		}
		values[key] = value
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("config file %s: %w", path, err)
	}
	return values, nil
}

// applyFile sets each flag of fs that neither the command line nor its
// MINIVOICE_* variable set from the configuration file at path, so the
// order of precedence is flag, then environment, then file, then default.
// With strict, a key that is not a flag of fs is an error (a misspelt key
// would otherwise be ignored); other commands reading serve's file (backup)
// pass false and take only the keys they know.
func applyFile(fs *flag.FlagSet, path string, getenv func(string) string, strict bool) error {
	values, err := ReadFile(path)
	if err != nil {
		return err
	}
	given := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { given[f.Name] = true })
	for key, value := range values {
		f := fs.Lookup(key)
		if f == nil || key == "config" {
			if strict {
				return fmt.Errorf("config file %s: unknown key %q (keys are the flags of minivoice serve, without dashes)", path, key)
			}
			continue
		}
		if given[key] || getenv(EnvName(key)) != "" {
			continue
		}
		if err := f.Value.Set(value); err != nil {
			return fmt.Errorf("config file %s: %s: %w", path, key, err)
		}
	}
	return nil
}

// ParseFlagsWithFile is ParseFlags for a command that also reads serve's
// configuration file through its own --config flag (backup, restore): keys
// it has no flag for are skipped.
func ParseFlagsWithFile(fs *flag.FlagSet, args []string, getenv func(string) string, configFile *string) error {
	if err := parseWithEnv(fs, args, getenv); err != nil {
		return err
	}
	if *configFile == "" {
		return nil
	}
	return applyFile(fs, *configFile, getenv, false)
}
