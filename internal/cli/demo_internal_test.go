package cli

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestInstallPackages runs --with-deps's installer against a stand-in
// apt-get (and sudo, for a user who is not root) that records its
// arguments.
func TestInstallPackages(t *testing.T) {
	bin := t.TempDir()
	log := filepath.Join(t.TempDir(), "calls")
	record := "#!/bin/sh\necho \"${0##*/} $*\" >> " + log + "\n"
	for _, name := range []string{"apt-get", "sudo"} {
		script := record
		if name == "sudo" {
			script += "exec \"$@\"\n" // sudo runs the command it is given
		}
		if err := os.WriteFile(filepath.Join(bin, name), []byte(script), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	t.Setenv("PATH", bin)
	var out bytes.Buffer
	if err := installPackages(context.Background(), &out, []string{"flite", "pocketsphinx"}); err != nil {
		t.Fatalf("installPackages: %v\n%s", err, out.String())
	}
	calls, err := os.ReadFile(log)
	if err != nil {
		t.Fatal(err)
	}
	want := "apt-get update -qq\napt-get install -y -qq --no-install-recommends flite pocketsphinx\n"
	if os.Geteuid() != 0 {
		want = "sudo apt-get update -qq\napt-get update -qq\nsudo apt-get install -y -qq --no-install-recommends flite pocketsphinx\n" +
			"apt-get install -y -qq --no-install-recommends flite pocketsphinx\n"
	}
	if string(calls) != want {
		t.Errorf("commands run:\n%s\nwant:\n%s", calls, want)
	}
	if !strings.Contains(out.String(), "$ ") {
		t.Errorf("the commands are not shown to the user: %q", out.String())
	}

	// No apt-get at all: a plain message naming the packages.
	t.Setenv("PATH", t.TempDir())
	err = installPackages(context.Background(), &out, []string{"flite"})
	if err == nil || !strings.Contains(err.Error(), "apt-get not found") || !strings.Contains(err.Error(), "flite") {
		t.Errorf("without apt-get: %v", err)
	}
}
