package config_test

import (
	"bytes"
	"flag"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/minivoice/minivoice/internal/config"
)

func writeConf(t *testing.T, body string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "minivoice.conf")
	if err := os.WriteFile(path, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// TestConfigFilePrecedence: the file sets what neither a flag nor a
// MINIVOICE_* variable sets; the variable beats the file; the flag beats both.
func TestConfigFilePrecedence(t *testing.T) {
	path := writeConf(t, `# comment
data = /srv/mv
http = 127.0.0.1:9000
sip = 127.0.0.1:5070
rtp-ports = 30000-30100
drain-timeout = "90s"

webhook-retry-schedule = 1s,2s
`)
	c, err := config.ParseServe([]string{"--config", path, "--sip", "127.0.0.1:5090"},
		env(map[string]string{"MINIVOICE_HTTP": "127.0.0.1:9100"}), &bytes.Buffer{})
	if err != nil {
		t.Fatal(err)
	}
	if c.Data != "/srv/mv" || c.HTTP != "127.0.0.1:9100" || c.SIP != "127.0.0.1:5090" {
		t.Errorf("data %q http %q sip %q: want the file's, the variable's, the flag's", c.Data, c.HTTP, c.SIP)
	}
	if c.RTPPortMin != 30000 || c.RTPPortMax != 30100 || c.DrainTimeout != 90*time.Second || len(c.WebhookRetrySchedule) != 2 {
		t.Errorf("file values not applied: %+v", c)
	}
	// MINIVOICE_CONFIG names the file like any flag's variable.
	c, err = config.ParseServe(nil, env(map[string]string{"MINIVOICE_CONFIG": path}), &bytes.Buffer{})
	if err != nil || c.Data != "/srv/mv" {
		t.Errorf("MINIVOICE_CONFIG: %v, data %q", err, c.Data)
	}
}

func TestConfigFileErrors(t *testing.T) {
	for name, body := range map[string]string{
		"unknown key":  "htttp = 127.0.0.1:1\n",
		"no equals":    "http 127.0.0.1:1\n",
		"twice":        "http = 127.0.0.1:1\nhttp = 127.0.0.1:2\n",
		"bad value":    "drain-timeout = soon\n",
		"config in it": "config = /etc/other.conf\n",
	} {
		if _, err := config.ParseServe([]string{"--config", writeConf(t, body)}, noEnv, &bytes.Buffer{}); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
	if _, err := config.ParseServe([]string{"--config", filepath.Join(t.TempDir(), "missing")}, noEnv, &bytes.Buffer{}); err == nil {
		t.Error("missing file: accepted")
	}
}

// TestPackagedConfigListsEveryFlag: the Debian package's
// /etc/minivoice/minivoice.conf names every serve flag (set or commented
// out with its default), parses, and serve accepts it.
func TestPackagedConfigListsEveryFlag(t *testing.T) {
	const path = "../../deploy/debian/minivoice.conf"
	body, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var help bytes.Buffer
	if _, err := config.ParseServe([]string{"--help"}, noEnv, &help); err != flag.ErrHelp {
		t.Fatalf("--help: %v", err)
	}
	flagLine := regexp.MustCompile(`(?m)^  -([a-z0-9-]+)`)
	for _, m := range flagLine.FindAllStringSubmatch(help.String(), -1) {
		name := m[1]
		if name == "config" {
			continue
		}
		if !regexp.MustCompile(`(?m)^#?` + regexp.QuoteMeta(name) + ` =`).Match(body) {
			t.Errorf("%s does not list the serve flag %q", path, name)
		}
	}
	if _, err := config.ReadFile(path); err != nil {
		t.Fatal(err)
	}
	c, err := config.ParseServe([]string{"--config", path}, noEnv, &bytes.Buffer{})
	if err != nil {
		t.Fatal(err)
	}
	if c.Data != "/var/lib/minivoice" || !strings.HasPrefix(c.HTTP, "127.0.0.1:") {
		t.Errorf("packaged config: data %q http %q", c.Data, c.HTTP)
	}
}
