package callctl

import (
	"context"
	"fmt"
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
	// Fetch gets a new action list from url (redirect), signed like answer_url.
	Fetch(ctx context.Context, url string) ([]Action, error)
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

// UnsupportedError is an action this build cannot run yet.
type UnsupportedError struct{ Kind string }

func (e *UnsupportedError) Error() string {
	return fmt.Sprintf("action %q is not supported by this MiniVoice version", e.Kind)
}

// Run executes actions in order until they run out, one ends the call, ctx
// ends, or a new list arrives on replace, which interrupts the current action
// and takes over (POST /v1/calls/{id}/actions). Each action runs with its own
// context so that interruption reaches whatever it is blocked in.
func Run(ctx context.Context, s Session, actions []Action, replace <-chan []Action) End {
	for i := 0; ; i++ {
		if ctx.Err() != nil {
			return End{Kind: EndCanceled, ActionIndex: -1}
		}
		if i >= len(actions) {
			// Wait for nothing: an exhausted list hangs up at once.
			return End{Kind: EndListDone, ActionIndex: -1}
		}
		a := actions[i]
		switch a.Kind {
		case KindHangup:
			return End{Kind: EndHangup, Reason: a.Hangup.Reason, ActionIndex: i}
		case KindReject:
			return End{Kind: EndReject, Reason: a.Reject.Reason, ActionIndex: i}
		}
		actx, cancel := context.WithCancel(ctx)
		done := make(chan runResult, 1)
		go func() { done <- runOne(actx, s, a) }()
		select {
		case r := <-done:
			cancel()
			if r.err != nil {
				if ctx.Err() != nil {
					return End{Kind: EndCanceled, ActionIndex: i}
				}
				return End{Kind: EndError, Err: r.err, ActionIndex: i}
			}
			if r.next != nil {
				actions, i = r.next, -1
			}
		case next := <-replace:
			cancel()
			<-done // the action must have stopped before the next one speaks
			actions, i = next, -1
		case <-ctx.Done():
			cancel()
			<-done
			return End{Kind: EndCanceled, ActionIndex: i}
		}
	}
}

type runResult struct {
	next []Action // a redirect's new list
	err  error
}

func runOne(ctx context.Context, s Session, a Action) runResult {
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
		next, err := s.Fetch(ctx, a.Redirect.URL)
		if err != nil {
			return runResult{err: err}
		}
		if next == nil {
			next = []Action{}
		}
		return runResult{next: next}
	}
	return runResult{err: &UnsupportedError{Kind: a.Kind}}
}
