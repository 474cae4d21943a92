package cli

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os/signal"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/minivoice/minivoice/internal/config"
	"github.com/minivoice/minivoice/webhook"
)

const webhooksUsage = `Usage:
  minivoice webhooks listen --forward-to URL [--listen 127.0.0.1:8090] [--secret whsec_...] [--tolerance 5m]
      a local webhook receiver: verifies each request's signature (with --secret),
      prints one line per request and forwards it unchanged to URL, answering the
      sender with URL's answer (point the application's webhook_url at --listen)
  minivoice webhooks verify --secret whsec_... [--tolerance 0] < request.txt
      verifies the signature of one captured request: a raw HTTP request, or its
      header lines, a blank line and the body; exit 0 valid, 1 invalid, 2 bad usage

Every flag also reads MINIVOICE_<FLAG> (--forward-to <-> MINIVOICE_FORWARD_TO,
--secret <-> MINIVOICE_SECRET). "minivoice webhooks listen --help" and
"minivoice webhooks verify --help" list every flag.
`

const webhooksListenUsage = `Usage: minivoice webhooks listen --forward-to URL [flags]

A local webhook receiver: verifies each request's signature (with --secret),
prints one line per request and forwards it unchanged to URL, answering the
sender with URL's answer. Point the application's webhook_url at --listen.

Flags:
`

const webhooksVerifyUsage = `Usage: minivoice webhooks verify --secret whsec_... [flags] < request.txt

Verifies the signature of one captured request read from stdin: a raw HTTP
request, or its header lines, a blank line and the body. Exit 0 valid, 1
invalid, 2 bad usage.

Flags:
`

// webhooks runs `minivoice webhooks listen|verify`.
func webhooks(ctx context.Context, args []string, env Env) int {
	if len(args) == 0 {
		fmt.Fprint(env.Stderr, webhooksUsage)
		return 2
	}
	switch args[0] {
	case "listen":
		return webhooksListen(ctx, args[1:], env)
	case "verify":
		return webhooksVerify(args[1:], env)
	case "help", "-h", "--help":
		fmt.Fprint(env.Stdout, webhooksUsage)
		return 0
	}
	fmt.Fprintf(env.Stderr, "minivoice webhooks: unknown command %q\n%s", args[0], webhooksUsage)
	return 2
}

// webhooksFlags makes a subcommand's flag set with the --secret and
// --tolerance flags both subcommands take; head starts its --help.
func webhooksFlags(name, head string, args []string, env Env, tolerance time.Duration, toleranceHelp string) (*flag.FlagSet, *string, *time.Duration) {
	fs := newFlagSet("minivoice webhooks "+name, head, args, env)
	secret := fs.String("secret", "", "the application's webhook_secret, whsec_...")
	tol := fs.Duration("tolerance", tolerance, toleranceHelp)
	return fs, secret, tol
}

// checkSecretFlag validates --secret when given (or when required).
func checkSecretFlag(secret string, required bool) error {
	if secret == "" {
		if required {
			return errors.New("--secret is required")
		}
		return nil
	}
	if _, err := webhook.DecodeSecret(secret); err != nil {
		return errors.New("--secret: must be whsec_ followed by base64")
	}
	return nil
}

// webhooksListen runs the local receiver until SIGINT/SIGTERM.
func webhooksListen(ctx context.Context, args []string, env Env) int {
	fs, secret, tolerance := webhooksFlags("listen", webhooksListenUsage, args, env, webhook.DefaultTolerance, "how far a request's timestamp may be from now")
	forwardTo := fs.String("forward-to", "", "URL each request is forwarded to, unchanged (required)")
	listen := fs.String("listen", "127.0.0.1:8090", "address to receive webhooks on")
	if err := config.ParseFlags(fs, args, env.Getenv); err != nil {
		return usageExit(err, fs.Name(), env)
	}
	target, err := url.Parse(*forwardTo)
	switch {
	case *forwardTo == "":
		err = errors.New("--forward-to is required")
	case err != nil || (target.Scheme != "http" && target.Scheme != "https") || target.Host == "":
		err = fmt.Errorf("--forward-to: %q is not an http or https URL", *forwardTo)
	case *tolerance <= 0:
		err = errors.New("--tolerance: must be positive")
	default:
		err = checkSecretFlag(*secret, false)
	}
	if err == nil {
		if _, _, e := net.SplitHostPort(*listen); e != nil {
			err = fmt.Errorf("--listen: %q is not HOST:PORT", *listen)
		}
	}
	if err != nil {
		fmt.Fprintf(env.Stderr, "%s: %v\n", fs.Name(), err)
		return 2
	}
	ln, err := net.Listen("tcp", *listen)
	if err != nil {
		fmt.Fprintf(env.Stderr, "%s: %v\n", fs.Name(), err)
		return 1
	}
	fw := &forwarder{target: target.String(), secret: *secret, tolerance: *tolerance, out: env.Stdout,
		client: &http.Client{Timeout: 30 * time.Second, CheckRedirect: func(*http.Request, []*http.Request) error {
			return http.ErrUseLastResponse // the sender sees the redirect, as it would without us
		}}}
	srv := &http.Server{Handler: fw, ReadHeaderTimeout: 10 * time.Second}
	ctx, stop := signal.NotifyContext(ctx, syscall.SIGTERM, syscall.SIGINT)
	defer stop()
	served := make(chan error, 1)
	go func() { served <- srv.Serve(ln) }()
	fmt.Fprintf(env.Stdout, "Receiving webhooks on http://%s, forwarding them to %s (Ctrl-C to stop)\n", ln.Addr(), fw.target)
	if *secret == "" {
		fmt.Fprintln(env.Stderr, "warning: no --secret: signatures are not checked and every request shows verified=no")
	}
	select {
	case err := <-served:
		fmt.Fprintf(env.Stderr, "%s: %v\n", fs.Name(), err)
		return 1
	case <-ctx.Done():
	}
	sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	_ = srv.Shutdown(sctx)
	return 0
}

// forwarder is the listen command's handler: it verifies, prints and
// forwards each request, and answers with the forward target's answer.
type forwarder struct {
	target    string
	secret    string
	tolerance time.Duration
	client    *http.Client
	mu        sync.Mutex // serializes lines on out
	out       io.Writer
}

// hopByHop are the headers that belong to one connection, not to the request.
var hopByHop = []string{"Connection", "Keep-Alive", "Proxy-Authenticate", "Proxy-Authorization", "Proxy-Connection",
	"Te", "Trailer", "Transfer-Encoding", "Upgrade"}

// endToEnd copies h without its hop-by-hop headers.
func endToEnd(h http.Header) http.Header {
	out := h.Clone()
	for _, f := range h["Connection"] {
		for _, name := range strings.Split(f, ",") {
			out.Del(strings.TrimSpace(name))
		}
	}
	for _, name := range hopByHop {
		out.Del(name)
	}
	return out
}

func (f *forwarder) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	received := time.Now()
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, webhook.MaxBodyBytes))
	if err != nil {
		http.Error(w, "cannot read the body: "+err.Error(), http.StatusRequestEntityTooLarge)
		return
	}
	verified := "no"
	if f.secret != "" {
		if err := webhook.Verify(f.secret, r.Header, body, received, f.tolerance); err != nil {
			verified = "no (" + strings.TrimPrefix(err.Error(), "webhook: ") + ")"
		} else {
			verified = "yes"
		}
	}
	outcome := f.forward(w, r, body)
	event, id, callID := summarize(r.Header, body)
	f.mu.Lock()
	defer f.mu.Unlock()
	fmt.Fprintf(f.out, "%s %s %s %s verified=%s -> %s\n", received.UTC().Format(time.RFC3339), event, id, callID, verified, outcome)
}

// forward sends the request on unchanged (method, body, end-to-end headers)
// and relays the answer; it returns the outcome for the log line.
func (f *forwarder) forward(w http.ResponseWriter, r *http.Request, body []byte) string {
	req, err := http.NewRequestWithContext(r.Context(), r.Method, f.target, bytes.NewReader(body))
	if err != nil {
		http.Error(w, "forward: "+err.Error(), http.StatusBadGateway)
		return "forward failed: " + err.Error()
	}
	req.Header = endToEnd(r.Header)
	start := time.Now()
	resp, err := f.client.Do(req)
	if err != nil {
		http.Error(w, "minivoice webhooks listen could not reach "+f.target, http.StatusBadGateway)
		return "502, " + f.target + " unreachable: " + err.Error()
	}
	defer resp.Body.Close()
	for k, v := range endToEnd(resp.Header) {
		w.Header()[k] = v
	}
	w.WriteHeader(resp.StatusCode)
	_, _ = io.Copy(w, resp.Body)
	return fmt.Sprintf("%d (%s)", resp.StatusCode, time.Since(start).Round(time.Millisecond))
}

// summarize picks a request's event type, id and call id for display ("-"
// where there is none): a webhook carries all three in its body; an answer
// or action request only a call and its webhook-id.
func summarize(h http.Header, body []byte) (event, id, callID string) {
	var ev webhook.Payload
	var call struct {
		ID string `json:"id"`
	}
	_ = json.Unmarshal(body, &ev)
	_ = json.Unmarshal(ev.Call, &call)
	event, id, callID = ev.Event, ev.ID, call.ID
	if id == "" {
		id = h.Get(webhook.HeaderID)
	}
	orDash := func(s string) string {
		if s == "" {
			return "-"
		}
		return s
	}
	return orDash(event), orDash(id), orDash(callID)
}

// webhooksVerify checks one captured request read from stdin.
func webhooksVerify(args []string, env Env) int {
	fs, secret, tolerance := webhooksFlags("verify", webhooksVerifyUsage, args, env, 0,
		"refuse a request whose timestamp is further than this from now (0: any age, for captured requests)")
	if err := config.ParseFlags(fs, args, env.Getenv); err != nil {
		return usageExit(err, fs.Name(), env)
	}
	err := checkSecretFlag(*secret, true)
	if err == nil && *tolerance < 0 {
		err = errors.New("--tolerance: must not be negative")
	}
	if err != nil {
		fmt.Fprintf(env.Stderr, "%s: %v\n", fs.Name(), err)
		return 2
	}
	raw, err := io.ReadAll(io.LimitReader(env.Stdin, webhook.MaxBodyBytes+(1<<20)))
	if err != nil {
		fmt.Fprintf(env.Stderr, "%s: reading stdin: %v\n", fs.Name(), err)
		return 1
	}
	h, bodies, err := parseCaptured(raw)
	if err != nil {
		fmt.Fprintf(env.Stdout, "invalid: %v\n", err)
		return 1
	}
	tol := *tolerance
	if tol == 0 {
		tol = -1 // any age
	}
	now := time.Now()
	for _, body := range bodies {
		if err = webhook.Verify(*secret, h, body, now, tol); err == nil {
			event, id, callID := summarize(h, body)
			fmt.Fprintf(env.Stdout, "valid: %s %s %s, %s\n", event, id, callID, signedAt(h, now))
			return 0
		}
	}
	fmt.Fprintf(env.Stdout, "invalid: %s (webhook-id %q, %s, %d signature(s))\n", strings.TrimPrefix(err.Error(), "webhook: "),
		h.Get(webhook.HeaderID), signedAt(h, now), len(strings.Fields(h.Get(webhook.HeaderSignature))))
	return 1
}

// signedAt describes webhook-timestamp: when, and how long ago.
func signedAt(h http.Header, now time.Time) string {
	var sec int64
	if _, err := fmt.Sscan(h.Get(webhook.HeaderTimestamp), &sec); err != nil {
		return "no valid timestamp"
	}
	t := time.Unix(sec, 0)
	if d := now.Sub(t).Round(time.Second); d < 0 {
		return fmt.Sprintf("signed %s (%s in the future)", t.UTC().Format(time.RFC3339), -d)
	}
	return fmt.Sprintf("signed %s (%s ago)", t.UTC().Format(time.RFC3339), now.Sub(t).Round(time.Second))
}

// parseCaptured reads a captured request: a raw HTTP/1.x request, or a bare
// header block, a blank line and the body. It returns the headers and the
// bodies to try: the exact one when Content-Length or chunking delimits it;
// else the rest of the input, and that without a final newline, which
// editors and shells tend to add.
func parseCaptured(raw []byte) (http.Header, [][]byte, error) {
	raw = bytes.TrimLeft(raw, "\r\n")
	br := bufio.NewReader(bytes.NewReader(raw))
	req, err := http.ReadRequest(br)
	if err != nil {
		br = bufio.NewReader(io.MultiReader(strings.NewReader("POST / HTTP/1.1\r\n"), bytes.NewReader(raw)))
		if req, err = http.ReadRequest(br); err != nil {
			return nil, nil, fmt.Errorf("not an HTTP request nor a header block: %v", err)
		}
	}
	if req.ContentLength > 0 || len(req.TransferEncoding) > 0 {
		body, err := io.ReadAll(req.Body)
		if err != nil {
			return nil, nil, fmt.Errorf("the body is shorter than its Content-Length or chunks say: %v", err)
		}
		return req.Header, [][]byte{body}, nil
	}
	if req.Header.Get("Content-Length") != "" {
		return req.Header, [][]byte{nil}, nil
	}
	rest, _ := io.ReadAll(br)
	bodies := [][]byte{rest}
	if trimmed := bytes.TrimSuffix(bytes.TrimSuffix(rest, []byte("\n")), []byte("\r")); len(trimmed) != len(rest) {
		bodies = append(bodies, trimmed)
	}
	return req.Header, bodies, nil
}
