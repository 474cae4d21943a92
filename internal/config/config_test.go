package config_test

import (
	"bytes"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/netip"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/minivoice/minivoice/internal/config"
)

// env returns a getenv over a fixed map, so the machine's environment never leaks in.
func env(vars map[string]string) func(string) string {
	return func(k string) string { return vars[k] }
}

func noEnv(string) string { return "" }

func TestEnvName(t *testing.T) {
	for flagName, want := range map[string]string{
		"http":                   "MINIVOICE_HTTP",
		"rtp-ports":              "MINIVOICE_RTP_PORTS",
		"allow-private-urls":     "MINIVOICE_ALLOW_PRIVATE_URLS",
		"webhook-retry-schedule": "MINIVOICE_WEBHOOK_RETRY_SCHEDULE",
	} {
		if got := config.EnvName(flagName); got != want {
			t.Errorf("EnvName(%q) = %q, want %q", flagName, got, want)
		}
	}
}

func TestParseServeDefaults(t *testing.T) {
	c, err := config.ParseServe(nil, noEnv, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	if c.Data != "./minivoice-data" || c.HTTP != "127.0.0.1:8080" || c.SIP != "127.0.0.1:5060" {
		t.Errorf("addresses: %+v", c)
	}
	if c.RTPPortMin != 10000 || c.RTPPortMax != 20000 {
		t.Errorf("rtp ports %d-%d, want 10000-20000", c.RTPPortMin, c.RTPPortMax)
	}
	if c.PublicIP != "" || c.Database != "" || len(c.AllowPrivateURLs) != 0 {
		t.Errorf("optional settings not empty: %+v", c)
	}
	if c.DrainTimeout != 10*time.Minute {
		t.Errorf("drain timeout %v, want 10m", c.DrainTimeout)
	}
	want := []time.Duration{5 * time.Second, 5 * time.Minute, 30 * time.Minute, 2 * time.Hour, 5 * time.Hour, 10 * time.Hour, 10 * time.Hour}
	if !slices.Equal(c.WebhookRetrySchedule, want) {
		t.Errorf("retry schedule %v, want %v", c.WebhookRetrySchedule, want)
	}
	if c.LogLevel != "info" {
		t.Errorf("log level %q, want info", c.LogLevel)
	}
	if c.MaxStreamsPerCustomer != 100 {
		t.Errorf("max streams per customer %d, want 100", c.MaxStreamsPerCustomer)
	}
}

func TestParseServeFlags(t *testing.T) {
	c, err := config.ParseServe([]string{
		"--data", "/tmp/mv", "--http", "0.0.0.0:9000", "--sip=127.0.0.1:5070", "--rtp-ports", "30000-30100",
		"--public-ip", "203.0.113.7", "--database", "postgres://u@db/minivoice", "--allow-private-urls", "10.0.0.0/8, 192.168.1.5",
		"--drain-timeout", "30s", "--webhook-retry-schedule", "1s, 2m", "-log-level", "debug",
	}, noEnv, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	if c.Data != "/tmp/mv" || c.HTTP != "0.0.0.0:9000" || c.SIP != "127.0.0.1:5070" || c.PublicIP != "203.0.113.7" ||
		c.Database != "postgres://u@db/minivoice" || c.DrainTimeout != 30*time.Second || c.LogLevel != "debug" {
		t.Errorf("flags not applied: %+v", c)
	}
	if c.RTPPortMin != 30000 || c.RTPPortMax != 30100 {
		t.Errorf("rtp ports %d-%d", c.RTPPortMin, c.RTPPortMax)
	}
	wantAllow := []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8"), netip.MustParsePrefix("192.168.1.5/32")}
	if !slices.Equal(c.AllowPrivateURLs, wantAllow) {
		t.Errorf("allow-private-urls %v, want %v", c.AllowPrivateURLs, wantAllow)
	}
	if !slices.Equal(c.WebhookRetrySchedule, []time.Duration{time.Second, 2 * time.Minute}) {
		t.Errorf("retry schedule %v", c.WebhookRetrySchedule)
	}
}

func TestParseServeEnvFallback(t *testing.T) {
	c, err := config.ParseServe(nil, env(map[string]string{
		"MINIVOICE_DATA":                   "/srv/mv",
		"MINIVOICE_HTTP":                   "127.0.0.1:8181",
		"MINIVOICE_SIP":                    "127.0.0.1:5080",
		"MINIVOICE_RTP_PORTS":              "40000-40010",
		"MINIVOICE_PUBLIC_IP":              "2001:db8::1",
		"MINIVOICE_DATABASE":               "postgresql://localhost/mv",
		"MINIVOICE_ALLOW_PRIVATE_URLS":     "127.0.0.0/8",
		"MINIVOICE_DRAIN_TIMEOUT":          "1m",
		"MINIVOICE_WEBHOOK_RETRY_SCHEDULE": "10s",
		"MINIVOICE_LOG_LEVEL":              "warn",
	}), io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	if c.Data != "/srv/mv" || c.HTTP != "127.0.0.1:8181" || c.SIP != "127.0.0.1:5080" || c.PublicIP != "2001:db8::1" ||
		c.Database != "postgresql://localhost/mv" || c.DrainTimeout != time.Minute || c.LogLevel != "warn" {
		t.Errorf("env not applied: %+v", c)
	}
	if c.RTPPortMin != 40000 || c.RTPPortMax != 40010 {
		t.Errorf("rtp ports %d-%d", c.RTPPortMin, c.RTPPortMax)
	}
	if !slices.Equal(c.AllowPrivateURLs, []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8")}) {
		t.Errorf("allow-private-urls %v", c.AllowPrivateURLs)
	}
	if !slices.Equal(c.WebhookRetrySchedule, []time.Duration{10 * time.Second}) {
		t.Errorf("retry schedule %v", c.WebhookRetrySchedule)
	}
}

func TestParseServeFlagBeatsEnv(t *testing.T) {
	getenv := env(map[string]string{
		"MINIVOICE_HTTP":      "127.0.0.1:1111",
		"MINIVOICE_LOG_LEVEL": "error",
		"MINIVOICE_RTP_PORTS": "2000-3000",
		"MINIVOICE_DATA":      "/from/env",
	})
	c, err := config.ParseServe([]string{"--http", "127.0.0.1:2222", "--log-level=debug", "--rtp-ports", "5000-6000"}, getenv, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	if c.HTTP != "127.0.0.1:2222" || c.LogLevel != "debug" || c.RTPPortMin != 5000 || c.RTPPortMax != 6000 {
		t.Errorf("flags did not win over env: %+v", c)
	}
	if c.Data != "/from/env" {
		t.Errorf("data %q: the env should apply where no flag is given", c.Data)
	}
}

func TestParseServeBadValues(t *testing.T) {
	tests := []struct {
		name string
		args []string
		env  map[string]string
		want string // a substring of the error
	}{
		{"rtp not a range", []string{"--rtp-ports", "10000"}, nil, "--rtp-ports"},
		{"rtp not numbers", []string{"--rtp-ports", "a-b"}, nil, "--rtp-ports"},
		{"rtp reversed", []string{"--rtp-ports", "20000-10000"}, nil, "--rtp-ports"},
		{"rtp privileged", []string{"--rtp-ports", "80-90"}, nil, "--rtp-ports"},
		{"rtp too high", []string{"--rtp-ports", "60000-70000"}, nil, "--rtp-ports"},
		{"rtp from env", nil, map[string]string{"MINIVOICE_RTP_PORTS": "x"}, "--rtp-ports"},
		{"allow not a cidr", []string{"--allow-private-urls", "10.0.0.0/33"}, nil, "--allow-private-urls"},
		{"allow not an address", []string{"--allow-private-urls", "10.0.0.0/8,intranet"}, nil, "--allow-private-urls"},
		{"allow from env", nil, map[string]string{"MINIVOICE_ALLOW_PRIVATE_URLS": "nope"}, "--allow-private-urls"},
		{"retry not a duration", []string{"--webhook-retry-schedule", "5s,soon"}, nil, "--webhook-retry-schedule"},
		{"retry empty item", []string{"--webhook-retry-schedule", "5s,,1m"}, nil, "--webhook-retry-schedule"},
		{"retry zero", []string{"--webhook-retry-schedule", "0s"}, nil, "--webhook-retry-schedule"},
		{"retry negative", []string{"--webhook-retry-schedule", "-5s"}, nil, "--webhook-retry-schedule"},
		{"retry empty", []string{"--webhook-retry-schedule", ""}, nil, "--webhook-retry-schedule"},
		{"asr url scheme", []string{"--asr-url", "ftp://asr"}, nil, "--asr-url"},
		{"llm url scheme", nil, map[string]string{"MINIVOICE_LLM_URL": "llm.local:8080"}, "--llm-url"},
		{"insights workers", []string{"--insights-workers", "0"}, nil, "--insights-workers"},
		{"http no port", []string{"--http", "localhost"}, nil, "--http"},
		{"http from env", nil, map[string]string{"MINIVOICE_HTTP": "8080"}, "--http"},
		{"sip no port", []string{"--sip", "127.0.0.1"}, nil, "--sip"},
		{"public ip not an ip", []string{"--public-ip", "sip.example.com"}, nil, "--public-ip"},
		{"database mysql", []string{"--database", "mysql://localhost/mv"}, nil, "--database"},
		{"database sqlite path", []string{"--database", "/var/lib/mv.db"}, nil, "--database"},
		{"database from env", nil, map[string]string{"MINIVOICE_DATABASE": "sqlite://x"}, "--database"},
		{"log level", []string{"--log-level", "verbose"}, nil, "--log-level"},
		{"log level upper", []string{"--log-level", "INFO"}, nil, "--log-level"},
		{"log level from env", nil, map[string]string{"MINIVOICE_LOG_LEVEL": "trace"}, "--log-level"},
		{"drain negative", []string{"--drain-timeout", "-1s"}, nil, "--drain-timeout"},
		{"drain not a duration", []string{"--drain-timeout", "ten"}, nil, "drain-timeout"},
		{"drain env not a duration", nil, map[string]string{"MINIVOICE_DRAIN_TIMEOUT": "ten"}, "MINIVOICE_DRAIN_TIMEOUT"},
		{"no streams", []string{"--max-streams-per-customer", "0"}, nil, "--max-streams-per-customer"},
		{"too many streams", nil, map[string]string{"MINIVOICE_MAX_STREAMS_PER_CUSTOMER": "100001"}, "--max-streams-per-customer"},
		{"unknown flag", []string{"--colour"}, nil, "colour"},
		{"positional", []string{"extra"}, nil, `unexpected argument "extra"`},
		{"positional after flags", []string{"--http", "127.0.0.1:1", "extra"}, nil, `unexpected argument "extra"`},
		{"flag after positional", []string{"extra", "--http", "127.0.0.1:1"}, nil, `unexpected argument "extra"`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var stderr bytes.Buffer
			c, err := config.ParseServe(tc.args, env(tc.env), &stderr)
			if err == nil {
				t.Fatalf("accepted: %+v", c)
			}
			if c != nil {
				t.Errorf("returned a config with the error: %+v", c)
			}
			if !strings.Contains(err.Error(), tc.want) {
				t.Errorf("error %q does not mention %q", err, tc.want)
			}
		})
	}
}

func TestParseServeHelp(t *testing.T) {
	var stderr bytes.Buffer
	_, err := config.ParseServe([]string{"--help"}, noEnv, &stderr)
	if !errors.Is(err, flag.ErrHelp) {
		t.Fatalf("--help: %v, want flag.ErrHelp", err)
	}
	for _, f := range []string{"-data", "-http", "-sip", "-rtp-ports", "-public-ip", "-database", "-allow-private-urls",
		"-drain-timeout", "-webhook-retry-schedule", "-log-level"} {
		if !strings.Contains(stderr.String(), f) {
			t.Errorf("--help does not list %s:\n%s", f, stderr.String())
		}
	}
}

func TestParseFlags(t *testing.T) {
	newFS := func() (*flag.FlagSet, *string, *int) {
		fs := flag.NewFlagSet("x", flag.ContinueOnError)
		fs.SetOutput(io.Discard)
		return fs, fs.String("api", "http://127.0.0.1:8080", ""), fs.Int("port", 5060, "")
	}
	fs, api, port := newFS()
	if err := config.ParseFlags(fs, []string{"--port", "5080"}, env(map[string]string{"MINIVOICE_API": "http://h:1", "MINIVOICE_PORT": "1"})); err != nil {
		t.Fatal(err)
	}
	if *api != "http://h:1" || *port != 5080 {
		t.Errorf("api %q port %d, want env api and flag port", *api, *port)
	}
	fs, _, _ = newFS()
	if err := config.ParseFlags(fs, nil, env(map[string]string{"MINIVOICE_PORT": "many"})); err == nil || !strings.Contains(err.Error(), "MINIVOICE_PORT") {
		t.Errorf("bad env value: %v, want an error naming MINIVOICE_PORT", err)
	}
	fs, _, _ = newFS()
	if err := config.ParseFlags(fs, []string{"file.csv"}, noEnv); err == nil {
		t.Error("positional argument accepted")
	}
}

func TestParsePortRange(t *testing.T) {
	for _, tc := range []struct {
		in     string
		lo, hi int
		ok     bool
	}{
		{"10000-20000", 10000, 20000, true},
		{"1024-65535", 1024, 65535, true},
		{"5000-5000", 5000, 5000, true},
		{"1023-2000", 0, 0, false},
		{"2000-65536", 0, 0, false},
		{"2000", 0, 0, false},
		{"-", 0, 0, false},
		{"", 0, 0, false},
		{"2000-1999", 0, 0, false},
		{" 2000-3000", 0, 0, false},
	} {
		lo, hi, err := config.ParsePortRange(tc.in)
		if (err == nil) != tc.ok || lo != tc.lo || hi != tc.hi {
			t.Errorf("ParsePortRange(%q) = %d, %d, %v", tc.in, lo, hi, err)
		}
	}
}

func TestParseDurations(t *testing.T) {
	got, err := config.ParseDurations(" 1s ,2m,3h")
	if err != nil || !slices.Equal(got, []time.Duration{time.Second, 2 * time.Minute, 3 * time.Hour}) {
		t.Fatalf("ParseDurations = %v, %v", got, err)
	}
	for _, bad := range []string{"", ",", "1s,", "0", "-1s", "1x"} {
		if got, err := config.ParseDurations(bad); err == nil {
			t.Errorf("ParseDurations(%q) = %v, want an error", bad, got)
		}
	}
}

func TestFlagOverridesBadEnv(t *testing.T) {
	t.Parallel()
	env := map[string]string{"MINIVOICE_DRAIN_TIMEOUT": "soon", "MINIVOICE_HTTP": "127.0.0.1:9999"}
	c, err := config.ParseServe([]string{"--drain-timeout", "1m"}, func(k string) string { return env[k] }, io.Discard)
	if err != nil {
		t.Fatalf("a valid flag should override a bad variable: %v", err)
	}
	if c.DrainTimeout != time.Minute || c.HTTP != "127.0.0.1:9999" {
		t.Fatalf("got drain %v http %s", c.DrainTimeout, c.HTTP)
	}
	if _, err := config.ParseServe(nil, func(k string) string { return env[k] }, io.Discard); err == nil {
		t.Fatal("a bad variable without the flag must be an error")
	}
}

// TestParseServeTLS: the TLS flags and their MINIVOICE_* variables, off by
// default; files come in pairs and the SIP TLS listener needs its pair.
func TestParseServeTLS(t *testing.T) {
	c, err := config.ParseServe(nil, noEnv, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	if c.TLS.SIPListen != "" || c.TLS.SIPCert != "" || c.TLS.HTTPCert != "" || c.TLS.TrunkCA != "" || len(c.TLS.TrustedProxies) != 0 {
		t.Errorf("TLS defaults: %+v, want all off", c.TLS)
	}
	c, err = config.ParseServe([]string{"--sip-tls", "0.0.0.0:5061", "--sip-tls-cert", "s.pem", "--sip-tls-key", "s.key",
		"--sip-tls-ca", "ca.pem"}, env(map[string]string{"MINIVOICE_TLS_CERT": "h.pem", "MINIVOICE_TLS_KEY": "h.key"}), io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	want := config.TLS{SIPListen: "0.0.0.0:5061", SIPCert: "s.pem", SIPKey: "s.key", TrunkCA: "ca.pem", HTTPCert: "h.pem", HTTPKey: "h.key"}
	got := c.TLS
	got.TrustedProxies = nil
	if !reflect.DeepEqual(got, want) {
		t.Errorf("TLS = %+v, want %+v", c.TLS, want)
	}
	c, err = config.ParseServe([]string{"--trusted-proxies", "10.0.0.0/8, 192.0.2.1"}, noEnv, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	if fmt.Sprint(c.TLS.TrustedProxies) != "[10.0.0.0/8 192.0.2.1/32]" {
		t.Errorf("--trusted-proxies: %v", c.TLS.TrustedProxies)
	}
	for _, args := range [][]string{
		{"--sip-tls", "5061", "--sip-tls-cert", "s.pem", "--sip-tls-key", "s.key"},
		{"--sip-tls", "0.0.0.0:5061"},
		{"--sip-tls", "0.0.0.0:5061", "--sip-tls-cert", "s.pem"},
		{"--sip-tls-cert", "s.pem", "--sip-tls-key", "s.key"},
		{"--tls-cert", "h.pem"},
		{"--tls-key", "h.key"},
		{"--trusted-proxies", "proxy.example.net"},
	} {
		if _, err := config.ParseServe(args, noEnv, io.Discard); err == nil {
			t.Errorf("%v accepted", args)
		}
	}
}
