// Package config parses the `minivoice serve` settings from flags, each of
// which also reads an environment variable (--http <-> MINIVOICE_HTTP), as
// cli.md requires. A flag given on the command line wins over the variable.
package config

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/netip"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/minivoice/minivoice/internal/netguard"
)

// Serve is the configuration of `minivoice serve`.
type Serve struct {
	Data                 string
	HTTP                 string
	SIP                  string
	RTPPortMin           int
	RTPPortMax           int
	PublicIP             string
	Database             string
	AllowPrivateURLs     []netip.Prefix
	DrainTimeout         time.Duration
	WebhookRetrySchedule []time.Duration
	// WebhookTimeout bounds one webhook attempt (webhooks.md: 15 s).
	WebhookTimeout time.Duration
	// WebhookMaxPerHost bounds the webhook requests in flight to one
	// receiver host, per process.
	WebhookMaxPerHost int
	LogLevel          string
	// Insights holds the engines of the offline AI pipeline.
	Insights Insights
	// TLS holds the certificates for SIP over TLS and HTTPS (docs/tls.md).
	TLS TLS
	// Edge bounds what strangers may cost the SIP listeners (telephony.md,
	// The SIP edge).
	Edge SIPEdge
	// NodeID names this process among the nodes sharing one PostgreSQL
	// database (docs/cluster.md); empty: the host name plus a random suffix.
	NodeID string
	// NodeLease is how long this node counts as alive after it last renewed
	// its lease; it renews every third of it.
	NodeLease time.Duration
	// SIPTrustedProxies are the SIP proxies in front of the node
	// (Kamailio, deployment.md) whose X-MiniVoice-Source header gives the
	// caller's address; empty: the header is ignored.
	SIPTrustedProxies []netip.Prefix
	// MaxStreamsPerCustomer is how many live media streams one customer may
	// have open at once on this node (docs/streams.md).
	MaxStreamsPerCustomer int
	// MaxCallSetups is how many inbound calls this node admits at once
	// (routing, credit check, call record); more are refused with 503 and
	// Retry-After (docs/telephony.md, Overload). 0: no limit.
	MaxCallSetups int
	// ConfigFile is the `key = value` file read for the flags neither the
	// command line nor the environment set (file.go); empty: none.
	ConfigFile string
}

// SIPEdge configures the SIP edge: SIP over TCP (and TLS) connection
// timeouts and caps, and what INVITEs from unknown sources get.
type SIPEdge struct {
	// DropUnknown answers INVITEs from sources no trunk matches with
	// silence instead of 403.
	DropUnknown bool
	// IdleTimeout closes a connection silent this long between messages.
	IdleTimeout time.Duration
	// HeaderTimeout closes a connection whose message (or first message)
	// is not complete this long after it began.
	HeaderTimeout time.Duration
	// MaxConnsPerSource and MaxConns cap open connections per source IP
	// address and in total; 0 for MaxConns picks the default.
	MaxConnsPerSource int
	MaxConns          int
}

// TLS configures SIP over TLS and HTTPS. Certificate and key files are PEM,
// read at start and again on SIGHUP.
type TLS struct {
	// SIPListen is the SIP over TLS address; empty: no TLS listener.
	SIPListen string
	// SIPCert and SIPKey are the TLS listener's certificate and key.
	SIPCert, SIPKey string
	// TrunkCA is a PEM file of CAs (or self-signed certificates) trusted for
	// trunks with transport tls, on top of the system's roots.
	TrunkCA string
	// HTTPCert and HTTPKey make the API and console serve HTTPS; empty:
	// plain HTTP (behind a TLS-terminating proxy, say).
	HTTPCert, HTTPKey string
	// TrustedProxies are the reverse proxies whose X-Forwarded-For and
	// X-Forwarded-Proto are believed; empty: the headers are ignored.
	TrustedProxies []netip.Prefix
}

// Insights configures the speech recognition and analysis engines
// (insights.md). The defaults run everything on this machine: pocketsphinx
// and the offline analyser.
type Insights struct {
	// ASRURL is an operator-run server speaking the OpenAI-compatible
	// POST /v1/audio/transcriptions; empty uses pocketsphinx.
	ASRURL      string
	ASRModel    string
	ASRAPIKey   string
	ASRLanguage string
	// PocketsphinxModel is the directory of the en-us model.
	PocketsphinxModel string
	// LLMURL is an operator-run OpenAI-compatible chat server for summary,
	// score and topics; empty uses the offline analyser.
	LLMURL    string
	LLMModel  string
	LLMAPIKey string
	// Workers bounds the pipeline steps run at once by this process.
	Workers int
	// SpeechDecoders bounds the speech gathers recognised at once by this
	// process; 0 means one per CPU core.
	SpeechDecoders int
}

// EnvName is the environment variable a flag reads: MINIVOICE_ + upper snake case.
func EnvName(flagName string) string {
	return "MINIVOICE_" + strings.ToUpper(strings.ReplaceAll(flagName, "-", "_"))
}

// ParseServe parses args (without the command name) for `serve`; the flag
// package's own messages go to stderr.
func ParseServe(args []string, getenv func(string) string, stderr io.Writer) (*Serve, error) {
	fs := flag.NewFlagSet("minivoice serve", flag.ContinueOnError)
	fs.SetOutput(stderr)
	return ParseServeFlags(fs, args, getenv)
}

// ParseServeFlags defines serve's flags on fs and parses args with them. The
// command passes its own fs so that --help and usage errors look like every
// other command's (the cli package's formatter), while the flags stay here.
func ParseServeFlags(fs *flag.FlagSet, args []string, getenv func(string) string) (*Serve, error) {
	c := &Serve{}
	var rtp, allow, retry string
	fs.StringVar(&c.Data, "data", "./minivoice-data", "directory for the SQLite database, recordings, media and admin.key")
	fs.StringVar(&c.HTTP, "http", "127.0.0.1:8080", "API listen address")
	fs.StringVar(&c.SIP, "sip", "127.0.0.1:5060", "SIP listen address (UDP and TCP)")
	fs.StringVar(&rtp, "rtp-ports", "10000-20000", "RTP port range")
	fs.StringVar(&c.PublicIP, "public-ip", "", "address written into SDP and Contact (default: the SIP listen address)")
	fs.StringVar(&c.Database, "database", "", "postgres://... to use PostgreSQL instead of the embedded SQLite")
	fs.StringVar(&c.NodeID, "node-id", "", "this node's id among the serve processes sharing --database (default: host name plus a random suffix)")
	fs.DurationVar(&c.NodeLease, "node-lease", 20*time.Second, "with --database: a node that has not renewed its lease for this long is taken over by a surviving node")
	fs.StringVar(&allow, "allow-private-urls", "", "comma-separated CIDRs that customer URLs may point to although private")
	fs.DurationVar(&c.DrainTimeout, "drain-timeout", 10*time.Minute, "how long shutdown waits for live calls to end")
	fs.StringVar(&retry, "webhook-retry-schedule", "5s,5m,30m,2h,5h,10h,10h", "webhook retry delays after the first attempt")
	fs.DurationVar(&c.WebhookTimeout, "webhook-timeout", 15*time.Second, "how long a webhook receiver has to answer with a 2xx")
	fs.IntVar(&c.WebhookMaxPerHost, "webhook-max-per-host", 4, "webhook requests in flight to one receiver host, per process")
	fs.StringVar(&c.LogLevel, "log-level", "info", "debug, info, warn or error")
	AddInsightsFlags(fs, &c.Insights)
	fs.StringVar(&c.TLS.SIPListen, "sip-tls", "", "SIP over TLS listen address, e.g. 0.0.0.0:5061 (off by default)")
	fs.StringVar(&c.TLS.SIPCert, "sip-tls-cert", "", "PEM certificate (chain) of the SIP TLS listener, reloaded on SIGHUP")
	fs.StringVar(&c.TLS.SIPKey, "sip-tls-key", "", "PEM private key of the SIP TLS listener, reloaded on SIGHUP")
	fs.StringVar(&c.TLS.TrunkCA, "sip-tls-ca", "", "PEM file of extra CAs trusted for trunks with transport tls (on top of the system's)")
	fs.StringVar(&c.TLS.HTTPCert, "tls-cert", "", "PEM certificate (chain): serve the API and console over HTTPS; reloaded on SIGHUP")
	fs.StringVar(&c.TLS.HTTPKey, "tls-key", "", "PEM private key for --tls-cert")
	var proxies string
	fs.StringVar(&proxies, "trusted-proxies", "", "comma-separated CIDRs of reverse proxies whose X-Forwarded-For and X-Forwarded-Proto are believed (default: none, the headers are ignored)")
	fs.BoolVar(&c.Edge.DropUnknown, "sip-drop-unknown", false, "send nothing (instead of 403) to INVITEs from sources no inbound trunk matches")
	fs.DurationVar(&c.Edge.IdleTimeout, "sip-idle-timeout", 60*time.Second, "close a SIP TCP/TLS connection silent this long between messages")
	fs.DurationVar(&c.Edge.HeaderTimeout, "sip-header-timeout", 20*time.Second, "close a SIP TCP/TLS connection whose message is not complete this long after it began")
	fs.IntVar(&c.Edge.MaxConnsPerSource, "sip-max-conns-per-source", 100, "SIP TCP/TLS connections one source IP address may hold open")
	fs.IntVar(&c.Edge.MaxConns, "sip-max-conns", 0, "SIP TCP/TLS connections open in total, per listener (0: 10000, or half the open-file limit if lower)")
	var sipProxies string
	fs.StringVar(&sipProxies, "sip-trusted-proxies", "", "comma-separated CIDRs of SIP proxies (Kamailio) whose X-MiniVoice-Source header gives the caller's address for trunk ACLs (default: none, the header is ignored)")
	fs.IntVar(&c.MaxStreamsPerCustomer, "max-streams-per-customer", 100, "live media streams one customer may have open at once on this node")
	fs.IntVar(&c.MaxCallSetups, "max-call-setups", 300, "inbound calls this node admits at once (routing, credit check, call record); more are refused with 503 and Retry-After (0: no limit)")
	fs.StringVar(&c.ConfigFile, "config", "", "file of key = value lines, one per serve flag (e.g. /etc/minivoice/minivoice.conf); flags and MINIVOICE_* variables override it")
	if err := parseWithEnv(fs, args, getenv); err != nil {
		return nil, err
	}
	if c.ConfigFile != "" {
		if err := applyFile(fs, c.ConfigFile, getenv, true); err != nil {
			return nil, err
		}
	}
	if err := c.Insights.Check(); err != nil {
		return nil, err
	}
	var err error
	if c.RTPPortMin, c.RTPPortMax, err = ParsePortRange(rtp); err != nil {
		return nil, fmt.Errorf("--rtp-ports: %w", err)
	}
	if c.TLS.TrustedProxies, err = netguard.ParseCIDRs(proxies); err != nil {
		return nil, fmt.Errorf("--trusted-proxies: %w", err)
	}
	if c.SIPTrustedProxies, err = netguard.ParseCIDRs(sipProxies); err != nil {
		return nil, fmt.Errorf("--sip-trusted-proxies: %w", err)
	}
	if c.AllowPrivateURLs, err = netguard.ParseCIDRs(allow); err != nil {
		return nil, fmt.Errorf("--allow-private-urls: %w", err)
	}
	if c.WebhookRetrySchedule, err = ParseDurations(retry); err != nil {
		return nil, fmt.Errorf("--webhook-retry-schedule: %w", err)
	}
	for name, addr := range map[string]string{"--http": c.HTTP, "--sip": c.SIP} {
		if _, _, err := net.SplitHostPort(addr); err != nil {
			return nil, fmt.Errorf("%s: %q is not HOST:PORT", name, addr)
		}
	}
	if c.PublicIP != "" {
		if _, err := netip.ParseAddr(c.PublicIP); err != nil {
			return nil, fmt.Errorf("--public-ip: %q is not an IP address", c.PublicIP)
		}
	}
	if c.Database != "" && !strings.HasPrefix(c.Database, "postgres://") && !strings.HasPrefix(c.Database, "postgresql://") {
		return nil, fmt.Errorf("--database: must be a postgres:// URL (SQLite is the default and needs none)")
	}
	if c.NodeLease < 3*time.Second || c.NodeLease > 5*time.Minute {
		return nil, fmt.Errorf("--node-lease: must be between 3s and 5m")
	}
	if len(c.NodeID) > 100 {
		return nil, fmt.Errorf("--node-id: at most 100 characters")
	}
	if c.DrainTimeout < 0 {
		return nil, fmt.Errorf("--drain-timeout: must not be negative")
	}
	if c.WebhookTimeout <= 0 {
		return nil, fmt.Errorf("--webhook-timeout: must be positive")
	}
	if c.MaxStreamsPerCustomer < 1 || c.MaxStreamsPerCustomer > 100000 {
		return nil, fmt.Errorf("--max-streams-per-customer: must be between 1 and 100000")
	}
	if c.MaxCallSetups < 0 || c.MaxCallSetups > 1000000 {
		return nil, fmt.Errorf("--max-call-setups: must be between 0 (no limit) and 1000000")
	}
	if c.WebhookMaxPerHost < 1 {
		return nil, fmt.Errorf("--webhook-max-per-host: must be at least 1")
	}
	switch c.LogLevel {
	case "debug", "info", "warn", "error":
	default:
		return nil, fmt.Errorf("--log-level: must be debug, info, warn or error")
	}
	if err := c.TLS.check(); err != nil {
		return nil, err
	}
	if err := c.Edge.check(); err != nil {
		return nil, err
	}
	return c, nil
}

// check validates the SIP edge settings.
func (e *SIPEdge) check() error {
	switch {
	case e.IdleTimeout <= 0:
		return errors.New("--sip-idle-timeout: must be positive")
	case e.HeaderTimeout <= 0:
		return errors.New("--sip-header-timeout: must be positive")
	case e.MaxConnsPerSource < 1:
		return errors.New("--sip-max-conns-per-source: must be at least 1")
	case e.MaxConns < 0:
		return errors.New("--sip-max-conns: must not be negative")
	}
	return nil
}

// check validates the TLS settings: the files come in pairs and a TLS
// listener needs its pair. Whether the files load is checked at start.
func (t *TLS) check() error {
	if t.SIPListen != "" {
		if _, _, err := net.SplitHostPort(t.SIPListen); err != nil {
			return fmt.Errorf("--sip-tls: %q is not HOST:PORT", t.SIPListen)
		}
		if t.SIPCert == "" || t.SIPKey == "" {
			return errors.New("--sip-tls: needs --sip-tls-cert and --sip-tls-key")
		}
	} else if t.SIPCert != "" || t.SIPKey != "" {
		return errors.New("--sip-tls-cert and --sip-tls-key: need --sip-tls")
	}
	if (t.HTTPCert == "") != (t.HTTPKey == "") {
		return errors.New("--tls-cert and --tls-key: give both or neither")
	}
	return nil
}

// AddInsightsFlags defines the insights engine flags on fs (serve, and
// version, which reports the engines).
func AddInsightsFlags(fs *flag.FlagSet, c *Insights) {
	fs.StringVar(&c.ASRURL, "asr-url", "", "OpenAI-compatible speech recognition server (POST /v1/audio/transcriptions) instead of pocketsphinx")
	fs.StringVar(&c.ASRModel, "asr-model", "whisper-1", "model name sent to the --asr-url server")
	fs.StringVar(&c.ASRAPIKey, "asr-api-key", "", "bearer token for the --asr-url server")
	fs.StringVar(&c.ASRLanguage, "asr-language", "", "language hint (ISO 639-1) for the --asr-url server")
	fs.StringVar(&c.PocketsphinxModel, "pocketsphinx-model", "/usr/share/pocketsphinx/model/en-us", "pocketsphinx en-us model directory")
	fs.StringVar(&c.LLMURL, "llm-url", "", "OpenAI-compatible chat server (POST /v1/chat/completions) for summary, score and topics instead of the offline analyser")
	fs.StringVar(&c.LLMModel, "llm-model", "default", "model name sent to the --llm-url server")
	fs.StringVar(&c.LLMAPIKey, "llm-api-key", "", "bearer token for the --llm-url server")
	fs.IntVar(&c.Workers, "insights-workers", 1, "transcriptions and analyses run at once by this process")
	fs.IntVar(&c.SpeechDecoders, "speech-decoders", 0, "spoken gather answers recognised at once by this process (0: one per CPU core)")
}

// Check validates the insights settings.
func (c *Insights) Check() error {
	for name, u := range map[string]string{"--asr-url": c.ASRURL, "--llm-url": c.LLMURL} {
		if u == "" {
			continue
		}
		if !strings.HasPrefix(u, "http://") && !strings.HasPrefix(u, "https://") {
			return fmt.Errorf("%s: must be an http:// or https:// URL", name)
		}
	}
	if c.Workers < 1 {
		return errors.New("--insights-workers: must be at least 1")
	}
	if c.SpeechDecoders < 0 || c.SpeechDecoders > 256 {
		return errors.New("--speech-decoders: must be from 0 (one per CPU core) to 256")
	}
	return nil
}

// parseWithEnv parses the command line, then sets each flag it did not name
// from its environment variable, so a flag always beats the variable (and a bad
// variable does not matter when the flag overrides it). Positional arguments
// are refused: every command here takes flags only.
func parseWithEnv(fs *flag.FlagSet, args []string, getenv func(string) string) error {
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("unexpected argument %q", fs.Arg(0))
	}
	given := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { given[f.Name] = true })
	var envErr error
	fs.VisitAll(func(f *flag.Flag) {
		if given[f.Name] || envErr != nil {
			return
		}
		if v := getenv(EnvName(f.Name)); v != "" {
			if err := f.Value.Set(v); err != nil {
				envErr = fmt.Errorf("%s: %w", EnvName(f.Name), err)
			}
		}
	})
	return envErr
}

// ParseFlags is parseWithEnv for other commands' flag sets.
func ParseFlags(fs *flag.FlagSet, args []string, getenv func(string) string) error {
	return parseWithEnv(fs, args, getenv)
}

// ParsePortRange parses "LOW-HIGH".
func ParsePortRange(s string) (int, int, error) {
	lo, hi, ok := strings.Cut(s, "-")
	if !ok {
		return 0, 0, errors.New("want LOW-HIGH")
	}
	a, err1 := strconv.Atoi(lo)
	b, err2 := strconv.Atoi(hi)
	if err1 != nil || err2 != nil || a < 1024 || b > 65535 || a > b {
		return 0, 0, fmt.Errorf("%q: want LOW-HIGH within 1024-65535", s)
	}
	return a, b, nil
}

// ParseDurations parses a comma-separated list of positive durations.
func ParseDurations(s string) ([]time.Duration, error) {
	var out []time.Duration
	for _, part := range strings.Split(s, ",") {
		d, err := time.ParseDuration(strings.TrimSpace(part))
		if err != nil || d <= 0 {
			return nil, fmt.Errorf("%q is not a positive duration", part)
		}
		out = append(out, d)
	}
	return out, nil
}

// Getenv is os.Getenv, named for injection in tests.
var Getenv = os.Getenv
