package callctl

import (
	"context"
	"fmt"
	"sync"
	"time"
)

// Session is what running actions needs from a live call. The telephony engine
// implements it over a call leg; tests implement it over a recorder.
type Session interface {
	// Say speaks text; it returns when done or when ctx ends (interrupted).
	Say(ctx context.Context, a *Say) error
	// Play plays audio from a URL.
	Play(ctx context.Context, a *Play) error
	// Pause sends silence for d.
	Pause(ctx context.Context, d time.Duration) error
	// SetVariables merges vars into the call's variables.
	SetVariables(ctx context.Context, vars map[string]string) error
	// Fetch gets a new action list from url (redirect), signed like answer_url;
	// with a non-nil result it is an action_url request carrying it.
	Fetch(ctx context.Context, url string, result any) ([]Action, error)
	// Gather plays the prompt with barge-in and collects digits. When the
	// call goes away mid-gather it returns the result so far with reason
	// "hangup" and ctx's error.
	Gather(ctx context.Context, g *Gather) (*GatherResult, error)
	// Record records the caller into a new Recording.
	Record(ctx context.Context, r *Record) (*RecordResult, error)
	// Dial places child calls, bridges the first to answer and returns when
	// the bridge ends.
	Dial(ctx context.Context, d *Dial) (*DialResult, error)
	// Event records an event of the call (call.gather).
	Event(ctx context.Context, name string, data any) error
}

// Gather reasons (call-control.md).
const (
	ReasonFinishKey = "finish_key"
	ReasonMaxDigits = "max_digits"
	ReasonTimeout   = "timeout"
	ReasonHangup    = "hangup"
	ReasonSilence   = "silence"
	// ReasonSpeech ends a speech gather: the caller spoke, then was silent
	// for speech_timeout (or spoke for the longest utterance).
	ReasonSpeech    = "speech"
	ReasonMaxLength = "max_length"
)

// GatherResult is what a gather collected. Reason "timeout" with empty
// Digits (and Speech) is the no-input case.
type GatherResult struct {
	Digits string `json:"digits"`
	Reason string `json:"reason"`
	// Speech and Confidence are set (possibly "" and 0) by gathers with
	// "speech" in their input, and left out of the JSON of others.
	Speech     *string  `json:"speech,omitempty"`
	Confidence *float64 `json:"confidence,omitempty"`
	// SpeechError says why a spoken answer could not be recognised
	// ("busy": every live decoder was taken; "unavailable": no recogniser
	// installed; "failed"); Speech is then "".
	SpeechError string `json:"speech_error,omitempty"`
}

// Speech gather errors (GatherResult.SpeechError).
const (
	SpeechErrorBusy        = "busy"
	SpeechErrorUnavailable = "unavailable"
	SpeechErrorFailed      = "failed"
)

// mainValue is what a gather stores under its variable: the digits, or
// the speech when the gather ended on speech.
func (r *GatherResult) mainValue() string {
	if r.Digits == "" && r.Speech != nil {
		return *r.Speech
	}
	return r.Digits
}

// RecordResult is a finished record action.
type RecordResult struct {
	RecordingID string  `json:"recording_id"`
	Duration    float64 `json:"duration"`
	Reason      string  `json:"reason"`
}

// Dial statuses of a DialResult.
const (
	DialCompleted = "completed"
	DialBusy      = "busy"
	DialNoAnswer  = "no-answer"
	DialFailed    = "failed"
	DialCanceled  = "canceled"
)

// DialResult is a finished dial. ChildCallID is the call that answered, or
// the last one tried when none did; Duration is the bridged seconds.
type DialResult struct {
	DialStatus  string  `json:"dial_status"`
	ChildCallID *string `json:"child_call_id"`
	Duration    int     `json:"duration"`
}

// End kinds: why a run stopped.
const (
	EndListDone = "list_done" // the actions ran out: hang up normally
	EndHangup   = "hangup"    // a hangup action
	EndReject   = "reject"    // a reject action (before answer only)
	EndError    = "error"     // an application error: call.error, then hang up
	EndCanceled = "canceled"  // the call went away (ctx ended)
)

// End says how a run stopped.
type End struct {
	Kind string
	// Reason is the hangup or reject reason.
	Reason string
	// Err is the application error for EndError (a *FetchError or an unsupported action).
	Err error
	// ActionIndex is the action that ended the run, -1 if none.
	ActionIndex int
}

// Replacer hands a running Run new action lists (POST
// /v1/calls/{id}/actions): Replace keeps the list and cancels the action
// under way, and Run takes the list once that action has returned. It lets
// Run execute each action on its own goroutine (the call's) rather than on a
// goroutine per action waiting beside a select, one goroutine fewer on every
// live call. The zero value is not usable; make one with NewReplacer.
type Replacer struct {
	mu      sync.Mutex
	next    []Action
	pending bool
	cancel  context.CancelFunc // the current action's; nil between actions
	ended   bool               // Run has returned: nothing more is taken
}

// NewReplacer returns a Replacer for one Run.
func NewReplacer() *Replacer { return &Replacer{} }

// Replace interrupts the current action and has Run continue with actions
// instead; a list that arrives before Run took the previous one replaces
// it. It reports false once Run has returned.
func (r *Replacer) Replace(actions []Action) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.ended {
		return false
	}
	r.next, r.pending = actions, true
	if r.cancel != nil {
		r.cancel()
	}
	return true
}

// begin registers the cancel of the action about to run; it reports false
// (and cancels it) when a list is already waiting.
func (r *Replacer) begin(cancel context.CancelFunc) bool {
	if r == nil {
		return true
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	r.cancel = cancel
	if r.pending {
		cancel()
		return false
	}
	return true
}

// take ends the current action's registration and returns the waiting
// list, if any.
func (r *Replacer) take() ([]Action, bool) {
	if r == nil {
		return nil, false
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	r.cancel = nil
	next, ok := r.next, r.pending
	r.next, r.pending = nil, false
	return next, ok
}

// end marks Run as returned.
func (r *Replacer) end() {
	if r == nil {
		return
	}
	r.mu.Lock()
	r.ended, r.cancel = true, nil
	r.mu.Unlock()
}

// Run executes actions in order until they run out, one ends the call, ctx
// ends, or a new list arrives through replace (nil: none can), which
// interrupts the current action and takes over (POST
// /v1/calls/{id}/actions). Each action runs with its own context so that
// interruption reaches whatever it is blocked in.
func Run(ctx context.Context, s Session, actions []Action, replace *Replacer) End {
	defer replace.end()
	redirects := 0 // redirects in a row with nothing that takes time between
	for i := 0; ; i++ {
		if ctx.Err() != nil {
			return End{Kind: EndCanceled, ActionIndex: -1}
		}
		if next, ok := replace.take(); ok {
			actions, i, redirects = next, 0, 0
		}
		if i >= len(actions) {
			// Wait for nothing: an exhausted list hangs up at once.
			return End{Kind: EndListDone, ActionIndex: -1}
		}
		a := &actions[i]
		switch a.Kind {
		case KindHangup:
			return End{Kind: EndHangup, Reason: a.Hangup.Reason, ActionIndex: i}
		case KindReject:
			return End{Kind: EndReject, Reason: a.Reject.Reason, ActionIndex: i}
		case KindRedirect:
			if redirects++; redirects > MaxRedirects {
				return End{Kind: EndError, ActionIndex: i, Err: redirectLoop(a.Redirect.URL)}
			}
		case KindSet:
		case KindPause:
			if a.Pause.Length > 0 {
				redirects = 0
			}
		default: // say, play, gather, record, dial: the caller hears or does something
			redirects = 0
		}
		actx, cancel := context.WithCancel(ctx)
		var r runResult
		if replace.begin(cancel) {
			r = runOne(actx, s, a)
		}
		cancel()
		if next, ok := replace.take(); ok {
			// The action has stopped before the next list speaks.
			actions, i, redirects = next, -1, 0
			continue
		}
		if ctx.Err() != nil {
			return End{Kind: EndCanceled, ActionIndex: i}
		}
		if r.err != nil {
			return End{Kind: EndError, Err: r.err, ActionIndex: i}
		}
		if r.next != nil {
			actions, i = r.next, -1
		}
	}
}

// redirectLoop is the error that ends a list at a redirect to url, one too
// many in a row. (Not in Run: Run's frame stays on the call's stack while an
// action runs.)
//
//go:noinline
func redirectLoop(url string) error {
	return &LimitError{URL: url,
		Message: fmt.Sprintf("more than %d redirects in a row with nothing said, played, paused, gathered, recorded or dialled between them: a redirect loop?", MaxRedirects)}
}

type runResult struct {
	next []Action // a redirect's new list
	err  error
}

// runOne runs one action. The actions that do more than one thing have
// functions of their own: this frame stays on the call's stack while the
// action runs, and it is as large as its largest case.
func runOne(ctx context.Context, s Session, a *Action) runResult {
	switch a.Kind {
	case KindSay:
		return runResult{err: s.Say(ctx, a.Say)}
	case KindPlay:
		return runResult{err: s.Play(ctx, a.Play)}
	case KindPause:
		return runResult{err: s.Pause(ctx, time.Duration(a.Pause.Length)*time.Second)}
	case KindSet:
		return runResult{err: s.SetVariables(ctx, a.Set.Variables)}
	case KindRedirect:
		return runRedirect(ctx, s, a.Redirect)
	case KindGather:
		return runGather(ctx, s, a.Gather)
	case KindRecord:
		return runRecord(ctx, s, a.Record)
	case KindDial:
		return runDial(ctx, s, a.Dial)
	case KindStream:
		return runStream(ctx, s, a.Stream)
	}
	return unknownAction(a.Kind)
}

// unknownAction is the error of an action kind Run does not know (kept out
// of runOne's frame, like redirectLoop).
//
//go:noinline
func unknownAction(kind string) runResult {
	return runResult{err: fmt.Errorf("unknown action %q", kind)}
}

func runRedirect(ctx context.Context, s Session, r *Redirect) runResult {
	next, err := s.Fetch(ctx, r.URL, nil)
	if err != nil {
		return runResult{err: err}
	}
	if next == nil {
		next = []Action{}
	}
	return runResult{next: next}
}

func runGather(ctx context.Context, s Session, g *Gather) runResult {
	res, err := s.Gather(ctx, g)
	if res != nil {
		// The event goes out even when the caller hung up mid-gather:
		// what they had typed is still worth knowing.
		if verr := setNamed(ctx, s, g.Variable, res.mainValue()); verr != nil && err == nil {
			err = verr
		}
		if eerr := s.Event(context.WithoutCancel(ctx), "call.gather", res); eerr != nil && err == nil {
			err = eerr
		}
	}
	return afterResult(ctx, s, res, err, g.ActionURL)
}

func runRecord(ctx context.Context, s Session, r *Record) runResult {
	res, err := s.Record(ctx, r)
	if res != nil {
		if verr := setNamed(ctx, s, r.Variable, res.RecordingID); verr != nil && err == nil {
			err = verr
		}
	}
	return afterResult(ctx, s, res, err, r.ActionURL)
}

func runDial(ctx context.Context, s Session, d *Dial) runResult {
	res, err := s.Dial(ctx, d)
	if res != nil {
		if verr := setNamed(ctx, s, d.Variable, res.DialStatus); verr != nil && err == nil {
			err = verr
		}
	}
	return afterResult(ctx, s, res, err, d.ActionURL)
}

// setNamed stores a result's main value in variables[name], if the action
// names one; it runs even when the call is gone, so the final call object
// and the call.gather event carry it.
func setNamed(ctx context.Context, s Session, name, value string) error {
	if name == "" {
		return nil
	}
	return s.SetVariables(context.WithoutCancel(ctx), map[string]string{name: value})
}

// afterResult posts a result to action_url, whose answer replaces the rest of
// the list (an empty answer hangs up); without action_url the list goes on.
// A call that is gone posts nothing.
func afterResult[R any](ctx context.Context, s Session, res *R, err error, actionURL string) runResult {
	if err != nil || res == nil {
		if err == nil {
			err = fmt.Errorf("no result")
		}
		return runResult{err: err}
	}
	if actionURL == "" || ctx.Err() != nil {
		return runResult{}
	}
	next, err := s.Fetch(ctx, actionURL, res)
	if err != nil {
		return runResult{err: err}
	}
	if next == nil {
		next = []Action{}
	}
	return runResult{next: next}
}
