package cli

import (
	"context"
	"fmt"
	"os/signal"
	"slices"
	"strings"
	"syscall"

	"github.com/minivoice/minivoice/internal/checklist"
	"github.com/minivoice/minivoice/internal/config"
)

const checklistUsage = `Usage: minivoice checklist [flags]

Runs the end-to-end checklist against a running MiniVoice: it provisions its
own customers, rates, trunks, numbers and applications (named checklist-*,
reused on later runs), starts its own network simulator and signed-webhook
receiver on loopback, runs every case and prints a pass/fail table. Exit 0
only when every case passed (and, with --replay, matched its fixture).

The platform must accept loopback URLs for the receiver
(serve --allow-private-urls 127.0.0.0/8) unless --receiver-url is given.

Cases: ` + "%s" + `

Flags:
`

func checklistCmd(ctx context.Context, args []string, env Env) int {
	fs := newFlagSet("minivoice checklist", fmt.Sprintf(checklistUsage, strings.Join(checklist.CaseNames(), ", ")), args, env)
	apiURL := fs.String("api", "http://127.0.0.1:8080", "MiniVoice API base URL")
	key := fs.String("key", "", "operator key (else MINIVOICE_ADMIN_KEY, else DATA/admin.key)")
	data := fs.String("data", "./minivoice-data", "data directory holding admin.key, when no key is given")
	sipAddr := fs.String("sip", "", "the platform's SIP address HOST:PORT (default: the API's host, port 5060)")
	app := fs.String("application", "", "an existing application to test instead of checklist-main")
	receiver := fs.String("receiver", "127.0.0.1:0", "address the webhook receiver listens on")
	receiverURL := fs.String("receiver-url", "", "URL MiniVoice reaches the receiver by, if not http://RECEIVER")
	fixtures := fs.String("fixtures", "", "save each case's call id, request, response and webhooks under `DIR`/<case>/")
	replay := fs.String("replay", "", "run the cases saved under `DIR` again and name every difference")
	only := fs.String("cases", "", "comma-separated `cases` to run (default all)")
	timeout := fs.Duration("case-timeout", checklist.DefaultCaseTimeout, "longest one case may take")
	if err := config.ParseFlags(fs, args, env.Getenv); err != nil {
		return usageExit(err, "minivoice checklist", env)
	}
	cases, err := caseList(*only)
	if err != nil {
		fmt.Fprintf(env.Stderr, "minivoice checklist: %v\n", err)
		return 2
	}
	k, err := operatorKey(*key, *data, env.Getenv)
	if err != nil {
		fmt.Fprintf(env.Stderr, "minivoice checklist: %v\n", err)
		return 2
	}
	if *replay != "" {
		saved, err := checklist.FixtureCases(*replay)
		if err != nil {
			fmt.Fprintf(env.Stderr, "minivoice checklist: %v\n", err)
			return 2
		}
		if cases == nil {
			cases = saved
		}
	}
	ctx, stop := signal.NotifyContext(ctx, syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	names := cases
	if len(names) == 0 {
		names = checklist.CaseNames()
	}
	sess, err := checklist.Start(ctx, checklist.Config{API: *apiURL, Key: k, SIP: *sipAddr, Application: *app,
		Receiver: *receiver, ReceiverURL: *receiverURL, Cases: cases, CaseTimeout: *timeout})
	if err != nil {
		fmt.Fprintf(env.Stderr, "minivoice checklist: %s\n", strings.TrimPrefix(err.Error(), "checklist: "))
		return 1
	}
	defer sess.Close()
	fmt.Fprintf(env.Stdout, "checklist against %s; inbound calls to the platform's SIP at %s (--sip); "+
		"simulator on %s; webhook receiver at %s\n\nRunning %d cases:\n", *apiURL, sess.SIP(), sess.SimAddr(), sess.ReceiverURL(), len(names))
	view := newProgressView(env.Stdout, isTerminal(env.Stdout, env.Getenv), names)
	rep := runSession(ctx, sess, view)
	return finishChecklist(env, rep, *fixtures, *replay)
}

// caseList splits a --cases value and checks every name.
func caseList(s string) ([]string, error) {
	if s == "" {
		return nil, nil
	}
	cases := strings.Split(s, ",")
	for _, c := range cases {
		if !slices.Contains(checklist.CaseNames(), c) {
			return nil, fmt.Errorf("unknown case %q (cases: %s)", c, strings.Join(checklist.CaseNames(), ", "))
		}
	}
	return cases, nil
}

// finishChecklist saves or compares fixtures, prints the table and returns
// the exit code.
func finishChecklist(env Env, rep *checklist.Report, fixtures, replay string) int {
	if replay != "" {
		if _, err := checklist.CompareFixtures(replay, rep.Results); err != nil {
			fmt.Fprintf(env.Stderr, "minivoice checklist: replay: %v\n", err)
			return 1
		}
	}
	fmt.Fprintln(env.Stdout)
	printResults(env.Stdout, rep)
	if fixtures != "" {
		if err := checklist.WriteFixtures(fixtures, rep.Results); err != nil {
			fmt.Fprintf(env.Stderr, "minivoice checklist: %v\n", err)
			return 1
		}
		fmt.Fprintf(env.Stdout, "\nfixtures saved under %s/<case>/\n", fixtures)
	}
	passed, diffs := 0, 0
	for _, r := range rep.Results {
		if r.Passed() {
			passed++
		}
		if len(r.Differences) > 0 {
			diffs++
		}
	}
	fmt.Fprintf(env.Stdout, "\n%d passed, %d failed\n", passed, len(rep.Results)-passed)
	if replay != "" {
		fmt.Fprintf(env.Stdout, "replay: %d of %d cases differ from %s\n", diffs, len(rep.Results), replay)
	}
	if !rep.Passed() || diffs > 0 {
		return 1
	}
	return 0
}
