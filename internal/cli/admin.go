package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/minivoice/minivoice/internal/config"
)

const adminUsage = `Usage: minivoice admin RESOURCE create|import [flags]

  customers create    --name NAME [--currency EUR] [--credit-limit 0]
  rates import FILE   [--customer cust_...] [--direction outbound]
  trunks create       --name NAME --host HOST [--port 5060] [--transport udp] [--srtp off] [--username U --password P]
                        an outbound trunk (--direction outbound, the default): calls out go to HOST
  trunks create       --name NAME --direction inbound --allowed-cidrs CIDR,...
                        an inbound trunk, no host: accepts calls from these sources
                      (--direction both takes both sets of flags)
  numbers create      --number +E164 --customer cust_... [--application app_...]
  applications create --customer cust_... --name NAME [--answer-url URL] [--webhook-url URL]
  keys create         --customer cust_... | --application app_...
  rotate-secret-key   [--data DIR] [--database URL]   (works on the database, not the API)

Common flags: --api URL (MINIVOICE_API, default http://127.0.0.1:8080), --key KEY
(MINIVOICE_KEY, else MINIVOICE_ADMIN_KEY, else DATA/admin.key with --data DIR).
`

// adminCmd is one `minivoice admin` subcommand: its flags and how it turns them
// into an API request.
type adminCmd struct {
	flags   func(fs *flag.FlagSet) func(args []string) (method, path, contentType string, body []byte, err error)
	minArgs int
}

func admin(ctx context.Context, args []string, env Env) int {
	if len(args) > 0 && args[0] == "rotate-secret-key" {
		return rotateSecretKey(ctx, args[1:], env)
	}
	if len(args) < 2 || wantsHelp(args[:2]) {
		// `admin --help` and `admin trunks --help` ask for this summary;
		// `admin trunks create --help` gets the subcommand's flags below.
		if wantsHelp(args) {
			fmt.Fprint(env.Stdout, adminUsage)
			return 0
		}
		fmt.Fprint(env.Stderr, adminUsage)
		return 2
	}
	name := args[0] + " " + args[1]
	cmd, ok := adminCmds[name]
	if !ok {
		fmt.Fprintf(env.Stderr, "minivoice admin: unknown command %q\n%s", name, adminUsage)
		return 2
	}
	// A positional argument (the CSV file) may come first; flags follow it.
	rest := args[2:]
	var positional []string
	for len(rest) > 0 && !strings.HasPrefix(rest[0], "-") {
		positional = append(positional, rest[0])
		rest = rest[1:]
	}
	head := "Usage: minivoice admin " + name
	if cmd.minArgs > 0 {
		head += " FILE"
	}
	head += " [flags]\n\nSends one API request with the operator key and prints the JSON answer.\n\nFlags:\n"
	fs := newFlagSet("minivoice admin "+name, head, rest, env)
	apiURL := fs.String("api", "http://127.0.0.1:8080", "MiniVoice API base URL")
	key := fs.String("key", "", "operator key (else MINIVOICE_ADMIN_KEY, else DATA/admin.key)")
	data := fs.String("data", "./minivoice-data", "data directory holding admin.key, when no key is given")
	build := cmd.flags(fs)
	if err := config.ParseFlags(fs, rest, env.Getenv); err != nil {
		return usageExit(err, "minivoice admin "+name, env)
	}
	if len(positional) < cmd.minArgs {
		fmt.Fprintf(env.Stderr, "minivoice admin %s: missing argument\n%s", name, adminUsage)
		return 2
	}
	method, path, ctype, body, err := build(positional)
	if err != nil {
		fmt.Fprintf(env.Stderr, "minivoice admin %s: %v\n", name, err)
		return 2
	}
	k, err := operatorKey(*key, *data, env.Getenv)
	if err != nil {
		fmt.Fprintf(env.Stderr, "minivoice admin: %v\n", err)
		return 2
	}
	ctx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, method, strings.TrimSuffix(*apiURL, "/")+path, bytes.NewReader(body))
	if err != nil {
		fmt.Fprintf(env.Stderr, "minivoice admin %s: %v\n", name, err)
		return 2
	}
	req.Header.Set("Authorization", "Bearer "+k)
	req.Header.Set("Content-Type", ctype)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		fmt.Fprintf(env.Stderr, "minivoice admin %s: %v\n", name, err)
		return 1
	}
	defer resp.Body.Close()
	out, _ := io.ReadAll(io.LimitReader(resp.Body, 10<<20))
	var pretty bytes.Buffer
	if json.Indent(&pretty, out, "", "  ") == nil {
		out = pretty.Bytes()
	}
	if resp.StatusCode >= 300 {
		fmt.Fprintf(env.Stderr, "%s\n", out)
		return 1
	}
	fmt.Fprintf(env.Stdout, "%s\n", out)
	return 0
}

// operatorKey is the key a command talks to the API with: --key, else
// MINIVOICE_ADMIN_KEY, else the admin.key file in the data directory.
func operatorKey(key, data string, getenv func(string) string) (string, error) {
	if key != "" {
		return key, nil
	}
	if k := getenv("MINIVOICE_ADMIN_KEY"); k != "" {
		return k, nil
	}
	b, err := os.ReadFile(filepath.Join(data, "admin.key"))
	if err != nil {
		return "", fmt.Errorf("no operator key: give --key, set MINIVOICE_ADMIN_KEY, or --data DIR with admin.key (%w)", err)
	}
	return strings.TrimSpace(string(b)), nil
}

func jsonBody(method, path string, fields map[string]any) (string, string, string, []byte, error) {
	for k, v := range fields {
		if s, ok := v.(string); ok && s == "" {
			delete(fields, k)
		}
	}
	b, err := json.Marshal(fields)
	return method, path, "application/json", b, err
}

var adminCmds = map[string]adminCmd{
	"customers create": {flags: func(fs *flag.FlagSet) func([]string) (string, string, string, []byte, error) {
		name := fs.String("name", "", "customer name")
		currency := fs.String("currency", "", "ISO 4217 currency (default EUR)")
		credit := fs.String("credit-limit", "", "credit limit, a decimal")
		return func([]string) (string, string, string, []byte, error) {
			if *name == "" {
				return "", "", "", nil, errors.New("--name is required")
			}
			return jsonBody(http.MethodPost, "/v1/customers", map[string]any{"name": *name, "currency": *currency, "credit_limit": *credit})
		}
	}},
	"rates import": {minArgs: 1, flags: func(fs *flag.FlagSet) func([]string) (string, string, string, []byte, error) {
		customer := fs.String("customer", "", "customer id (default: the default deck)")
		direction := fs.String("direction", "outbound", "outbound or inbound")
		return func(args []string) (string, string, string, []byte, error) {
			b, err := os.ReadFile(args[0])
			if err != nil {
				return "", "", "", nil, err
			}
			q := url.Values{"direction": {*direction}}
			if *customer != "" {
				q.Set("customer_id", *customer)
			}
			return http.MethodPost, "/v1/rates/import?" + q.Encode(), "text/csv", b, nil
		}
	}},
	"trunks create": {flags: func(fs *flag.FlagSet) func([]string) (string, string, string, []byte, error) {
		name := fs.String("name", "", "trunk name")
		host := fs.String("host", "", "carrier host name or IP address (required unless --direction inbound)")
		port := fs.Int("port", 5060, "carrier port")
		transport := fs.String("transport", "udp", "udp, tcp or tls")
		srtp := fs.String("srtp", "off", "media encryption offered on outbound calls: off, optional or required")
		direction := fs.String("direction", "outbound", "outbound, inbound or both")
		user := fs.String("username", "", "digest username")
		pass := fs.String("password", "", "digest password")
		cidrs := fs.String("allowed-cidrs", "", "comma-separated CIDRs whose calls an inbound trunk accepts")
		return func([]string) (string, string, string, []byte, error) {
			f := map[string]any{"name": *name, "host": *host, "port": *port, "transport": *transport, "srtp": *srtp,
				"direction": *direction, "username": *user, "password": *pass}
			if *cidrs != "" {
				f["allowed_cidrs"] = strings.Split(*cidrs, ",")
			}
			return jsonBody(http.MethodPost, "/v1/trunks", f)
		}
	}},
	"numbers create": {flags: func(fs *flag.FlagSet) func([]string) (string, string, string, []byte, error) {
		number := fs.String("number", "", "E.164 number")
		customer := fs.String("customer", "", "customer id")
		app := fs.String("application", "", "application id")
		return func([]string) (string, string, string, []byte, error) {
			return jsonBody(http.MethodPost, "/v1/numbers", map[string]any{"number": *number, "customer_id": *customer, "application_id": *app})
		}
	}},
	"applications create": {flags: func(fs *flag.FlagSet) func([]string) (string, string, string, []byte, error) {
		customer := fs.String("customer", "", "customer id")
		name := fs.String("name", "", "application name")
		answer := fs.String("answer-url", "", "answer_url")
		webhook := fs.String("webhook-url", "", "webhook_url")
		return func([]string) (string, string, string, []byte, error) {
			return jsonBody(http.MethodPost, "/v1/applications", map[string]any{"customer_id": *customer, "name": *name,
				"answer_url": *answer, "webhook_url": *webhook})
		}
	}},
	"keys create": {flags: func(fs *flag.FlagSet) func([]string) (string, string, string, []byte, error) {
		customer := fs.String("customer", "", "customer id (a customer key)")
		app := fs.String("application", "", "application id (an application key)")
		name := fs.String("name", "", "key name")
		return func([]string) (string, string, string, []byte, error) {
			switch {
			case (*customer == "") == (*app == ""):
				return "", "", "", nil, errors.New("give exactly one of --customer and --application")
			case *customer != "":
				return jsonBody(http.MethodPost, "/v1/customers/"+url.PathEscape(*customer)+"/keys", map[string]any{"name": *name})
			default:
				return jsonBody(http.MethodPost, "/v1/applications/"+url.PathEscape(*app)+"/keys", map[string]any{"name": *name})
			}
		}
	}},
}
