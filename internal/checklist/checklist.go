// Package checklist is MiniVoice's end-to-end checklist as a repeatable
// test of a running deployment (`minivoice checklist`, and the heart of
// `minivoice demo`): with an operator key it provisions its own customers,
// rates, trunks, numbers and applications (named checklist-*, reused on
// later runs), starts its own network simulator as the carrier and the
// caller and its own signed-webhook receiver as the application, and runs
// every case — a recorded outbound call with say + gather, an inbound
// voicemail, caller no-input and hang-up, busy, no answer, an unreachable
// carrier, rejected requests, webhook retries and a failing webhook test —
// checking every step through the public API and the webhooks that arrive.
//
// Each case's four reproduction artefacts (call id, the exact request, the
// HTTP response, every webhook received for the call) can be saved as
// fixtures and replayed later: the same cases run again and every
// difference, ids, times and signatures aside, is named.
package checklist

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/url"
	"os"
	"os/exec"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/minivoice/minivoice/internal/sim"
	"github.com/minivoice/minivoice/internal/tts"
)

// DefaultCaseTimeout bounds one case: the longest, a recorded call whose
// transcription, summary, score and topics are awaited, takes about a
// minute on a loaded 2-core machine.
const DefaultCaseTimeout = 4 * time.Minute

// Config configures a run.
type Config struct {
	// API is the platform's base URL, e.g. http://127.0.0.1:8080.
	API string
	// Key is an operator key (mvk_op_...).
	Key string
	// SIP is the platform's SIP address (HOST:PORT) the simulator calls for
	// the inbound cases. Default: the API's host, port 5060.
	SIP string
	// Application, when set, is an existing application the main cases use
	// instead of checklist-main. Its answer_url and webhook_url are pointed
	// at the checklist's receiver and its webhook secret rotated.
	Application string
	// Receiver is the address the webhook receiver listens on; default a
	// free loopback port. ReceiverURL is the URL MiniVoice reaches it by,
	// when that is not http://<Receiver> (a tunnel, a reverse proxy).
	Receiver, ReceiverURL string
	// Cases limits the run to these case names; empty runs every case.
	Cases []string
	// CaseTimeout bounds each case; default DefaultCaseTimeout.
	CaseTimeout time.Duration
	// Progress, when set, is told every step as it happens (from several
	// goroutines, one per case: it must be safe for that).
	Progress func(Event)
	// Logger receives the simulator's and receiver's logs; default discarded.
	Logger *slog.Logger
}

// Event is one step of a case, as it happens.
type Event struct {
	Case  string
	Step  string
	State State
	// Detail says what was seen, or why the step failed.
	Detail string
}

// State is a step's or a case's state.
type State string

// States.
const (
	Running State = "running"
	Passed  State = "passed"
	Failed  State = "failed"
)

// Step is one checked step of a case.
type Step struct {
	Name   string `json:"name"`
	State  State  `json:"state"`
	Detail string `json:"detail,omitempty"`
}

// Result is what one case did.
type Result struct {
	Case  string `json:"case"`
	Title string `json:"title"`
	State State  `json:"state"`
	// Failure is the first failed step's reason.
	Failure string        `json:"failure,omitempty"`
	Steps   []Step        `json:"steps"`
	Elapsed time.Duration `json:"-"`
	// Fixture is what reproduces the case.
	Fixture Fixture `json:"-"`
	// Call summary for the tables (empty for cases without a call).
	CallID, Status, HangupCause string
	// Recording is the length of the call's recording in seconds (0: none).
	Recording float64
	// Insights of the recording, when the case waited for them.
	Transcript, Summary, Rating string
	Score                       int
	Topics                      []string
	// Differences against the replayed fixture, one line each.
	Differences []string `json:"differences,omitempty"`
}

// Passed reports whether the case passed.
func (r *Result) Passed() bool { return r.State == Passed }

// Report is the outcome of a run.
type Report struct {
	Results []*Result
	// AppKey is the key of the main application created for this run,
	// revoked at the end unless the run was asked to keep it.
	AppKey string
	// Applications maps role (main, flaky, failing, unreachable, broke) to
	// the application id; Customers maps name to id.
	Applications, Customers map[string]string
	// WebhookSecret is the main application's webhook secret.
	WebhookSecret string
	// SimAddr is the simulator's SIP address; ReceiverURL the receiver's.
	SimAddr, ReceiverURL string
}

// Passed reports whether every case passed.
func (rep *Report) Passed() bool {
	for _, r := range rep.Results {
		if !r.Passed() {
			return false
		}
	}
	return len(rep.Results) > 0
}

// run is one run's state.
type run struct {
	cfg  Config
	op   *client // operator key
	app  *client // the main application's key
	rcv  *receiver
	sim  *sim.Sim
	sip  string
	dep  *deployment
	log  *slog.Logger
	dead *net.UDPConn
}

// Session is a started run: the receiver, simulator and provisioned
// deployment, ready to run cases (more than once, for --keep).
type Session struct {
	r       *run
	tmp     string
	keepKey bool
}

// Start provisions the deployment and starts the receiver and simulator.
// Close stops them.
func Start(ctx context.Context, cfg Config) (*Session, error) {
	if cfg.API == "" || cfg.Key == "" {
		return nil, errors.New("checklist: the API URL and an operator key are needed")
	}
	u, err := url.Parse(cfg.API)
	if err != nil || u.Host == "" {
		return nil, fmt.Errorf("checklist: API URL %q is not a URL", cfg.API)
	}
	if cfg.SIP == "" {
		cfg.SIP = net.JoinHostPort(u.Hostname(), "5060")
	}
	if cfg.CaseTimeout <= 0 {
		cfg.CaseTimeout = DefaultCaseTimeout
	}
	for _, c := range cfg.Cases {
		if caseByName(c) == nil {
			return nil, fmt.Errorf("checklist: unknown case %q (cases: %s)", c, strings.Join(CaseNames(), ", "))
		}
	}
	log := cfg.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	s := &Session{}
	r := &run{cfg: cfg, op: newClient(cfg.API, cfg.Key, "operator"), sip: cfg.SIP, log: log}
	s.r = r
	ok := false
	defer func() {
		if !ok {
			s.Close()
		}
	}()
	if s.tmp, err = os.MkdirTemp("", "minivoice-checklist-"); err != nil {
		return nil, fmt.Errorf("checklist: %w", err)
	}
	if r.rcv, err = startReceiver(cfg.Receiver, cfg.ReceiverURL, log); err != nil {
		return nil, fmt.Errorf("checklist: %w", err)
	}
	// The unreachable carrier: a bound loopback port that reads and drops
	// every packet, so the platform's INVITE gets no answer at all (a closed
	// port could answer with ICMP, which is a different failure).
	r.dead, err = net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		return nil, fmt.Errorf("checklist: %w", err)
	}
	go func() {
		buf := make([]byte, 2048)
		for {
			if _, _, err := r.dead.ReadFrom(buf); err != nil {
				return
			}
		}
	}()
	var speaker sim.Speaker
	if _, err := exec.LookPath("flite"); err == nil {
		sp, err := tts.New(tts.Config{CacheDir: s.tmp + "/tts"})
		if err != nil {
			return nil, fmt.Errorf("checklist: text to speech: %w", err)
		}
		speaker = sp
	}
	r.sim, err = sim.New(sim.Config{Listen: "127.0.0.1:0", RecordDir: s.tmp + "/sim", Speaker: speaker, Logger: log,
		Scripts: simScripts()})
	if err != nil {
		return nil, fmt.Errorf("checklist: simulator: %w", err)
	}
	r.sim.Serve()
	if err := r.provision(ctx, int(r.sim.Addr().Port()), r.dead.LocalAddr().(*net.UDPAddr).Port); err != nil {
		var ae *APIError
		switch {
		case errorCode(err) == "invalid_request" && strings.Contains(err.Error(), "private"):
			return nil, fmt.Errorf("checklist: %w\n(the receiver is on loopback: start serve with --allow-private-urls 127.0.0.0/8, or give --receiver-url)", err)
		case errors.As(err, &ae) && (ae.Status == 401 || ae.Status == 403):
			return nil, fmt.Errorf("checklist: %w\n(the checklist needs an operator key, mvk_op_...: it creates customers, rates and trunks)", err)
		case !errors.As(err, &ae):
			return nil, fmt.Errorf("checklist: %w\n(is minivoice serve running at %s?)", err, cfg.API)
		}
		return nil, fmt.Errorf("checklist: %w", err)
	}
	for _, c := range cases {
		c := c
		r.rcv.handle(c.name, func(body map[string]any) []map[string]any { return c.answer(r, body) })
	}
	// The numbers' application answers at "default": the DID says which case.
	r.rcv.handle("default", func(body map[string]any) []map[string]any {
		call, _ := body["call"].(map[string]any)
		for _, c := range cases {
			if c.did != "" && c.did == str(call["to"]) {
				return c.answer(r, body)
			}
		}
		return []map[string]any{{"action": "hangup"}}
	})
	ok = true
	return s, nil
}

// SIP is the platform's SIP address the inbound cases call.
func (s *Session) SIP() string { return s.r.sip }

// SimAddr is the simulator's SIP address (the carrier's and the callers').
func (s *Session) SimAddr() string { return s.r.sim.Addr().String() }

// ReceiverURL is the base URL of the webhook receiver.
func (s *Session) ReceiverURL() string { return s.r.rcv.base }

// SetProgress sets Config.Progress for the next Run.
func (s *Session) SetProgress(f func(Event)) { s.r.cfg.Progress = f }

// KeepKey leaves the run's application key valid after Close (for --keep).
func (s *Session) KeepKey() { s.keepKey = true }

// Run runs the configured cases at the same time and returns their results
// in the order of CaseNames.
func (s *Session) Run(ctx context.Context) *Report {
	r := s.r
	want := r.cfg.Cases
	if len(want) == 0 {
		want = CaseNames()
	}
	rep := &Report{AppKey: r.dep.appKey, Applications: r.dep.apps, Customers: r.dep.customers,
		SimAddr: r.sim.Addr().String(), ReceiverURL: r.rcv.base}
	r.rcv.mu.Lock()
	rep.WebhookSecret = r.rcv.secrets[roleMain]
	r.rcv.mu.Unlock()
	var wg sync.WaitGroup
	for _, c := range cases {
		if !slices.Contains(want, c.name) {
			continue
		}
		res := &Result{Case: c.name, Title: c.title, State: Running}
		rep.Results = append(rep.Results, res)
		wg.Add(1)
		go func() {
			defer wg.Done()
			cctx, cancel := context.WithTimeout(ctx, r.cfg.CaseTimeout)
			defer cancel()
			start := time.Now()
			t := &tally{r: r, res: res}
			t.progress("start", Running, c.title)
			err := c.run(cctx, t)
			res.Elapsed = time.Since(start)
			if err == nil && cctx.Err() != nil {
				err = cctx.Err()
			}
			if err != nil {
				res.State = Failed
				if res.Failure == "" {
					res.Failure = err.Error()
					t.step("case", Failed, err.Error())
				}
			} else {
				res.State = Passed
			}
			t.progress("done", res.State, res.Failure)
		}()
	}
	wg.Wait()
	return rep
}

// Close revokes the run's application key (unless kept) and stops the
// simulator and the receiver.
func (s *Session) Close() {
	r := s.r
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if r.dep != nil && r.dep.appKeyID != "" && !s.keepKey {
		if _, err := r.op.do(ctx, "DELETE", "/v1/keys/"+r.dep.appKeyID, nil, 204); err != nil {
			r.log.Warn("checklist: revoking the run's key", slog.Any("error", err))
		}
	}
	if r.sim != nil {
		_ = r.sim.Close()
	}
	if r.rcv != nil {
		_ = r.rcv.close(ctx)
	}
	if r.dead != nil {
		_ = r.dead.Close()
	}
	if s.tmp != "" {
		_ = os.RemoveAll(s.tmp)
	}
}

// Run is Start, Session.Run and Close in one.
func Run(ctx context.Context, cfg Config) (*Report, error) {
	s, err := Start(ctx, cfg)
	if err != nil {
		return nil, err
	}
	defer s.Close()
	return s.Run(ctx), nil
}

// tally records a case's steps and artefacts.
type tally struct {
	r   *run
	res *Result
	mu  sync.Mutex
}

func (t *tally) progress(step string, st State, detail string) {
	if t.r.cfg.Progress != nil {
		t.r.cfg.Progress(Event{Case: t.res.Case, Step: step, State: st, Detail: detail})
	}
}

// step records a finished step.
func (t *tally) step(name string, st State, detail string) {
	t.mu.Lock()
	t.res.Steps = append(t.res.Steps, Step{Name: name, State: st, Detail: detail})
	if st == Failed && t.res.Failure == "" {
		t.res.Failure = name + ": " + detail
	}
	t.mu.Unlock()
	t.progress(name, st, detail)
}

// check records step name as passed when err is nil, failed otherwise, and
// returns err wrapped with the step's name.
func (t *tally) check(name string, err error, detail string) error {
	if err != nil {
		t.step(name, Failed, err.Error())
		return fmt.Errorf("%s: %w", name, err)
	}
	t.step(name, Passed, detail)
	return nil
}

// expect is check for a condition: failed with why when !ok.
func (t *tally) expect(name string, ok bool, detail, why string) error {
	if !ok {
		return t.check(name, errors.New(why), "")
	}
	return t.check(name, nil, detail)
}
