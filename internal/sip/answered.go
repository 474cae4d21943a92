package sip

import (
	"context"
	"errors"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	sipmsg "github.com/emiago/sipgo/sip"
	"github.com/minivoice/minivoice/internal/billing"
	"github.com/minivoice/minivoice/internal/callctl"
	"github.com/minivoice/minivoice/internal/voice"
)

// byeTimeout bounds the BYE the platform sends: one nobody answers still
// ends the call (telephony docs).
const byeTimeout = 5 * time.Second

// dialog is an answered leg's SIP dialog as the runner needs it (diago's
// server and client sessions both are one).
type dialog interface {
	// Context ends when the dialog ends: the far end's BYE, or ours.
	Context() context.Context
	Hangup(ctx context.Context) error
}

// answeredLeg is an answered call leg for runAnswered.
type answeredLeg struct {
	lc  *liveCall
	dlg dialog
	leg *leg
	// invite and response are the dialog's INVITE and its 200 OK, which
	// identify the dialog for in-dialog INFO (nil in unit tests).
	invite   *sipmsg.Request
	response *sipmsg.Response
	// direction labels the in-progress metric (the caller counts the
	// final status, which every call has, answered or not).
	direction string
	// platformSide is the hangup source when the platform's side ends the
	// call (callee inbound, caller outbound and on dial legs), farSide when
	// the far end's BYE does.
	platformSide, farSide voice.HangupSource
	// sipCode and sipReason are the INVITE's final response.
	sipCode   int
	sipReason string
	// record starts the whole-call recording when the call asks for it.
	record bool
	// run is what happens while the call is up (a bridge, an outbound
	// call's actions), or nil: actions, with replace (runActions). It
	// returns when they end or ctx does.
	run     func(ctx context.Context) callctl.End
	actions []callctl.Action
	replace *callctl.Replacer
}

// runAnswered runs an answered leg to its end, the same way for inbound
// calls, outbound calls and dial legs: it records the answer, starts the
// recording, runs a.run (or the actions) under one watchdog (time_limit,
// balance, media timeout), sends the BYE unless the far end did, and records
// the end.
// It returns how the call ended.
//
// It stays on the call's stack while the call lasts, so what happens
// before and after the run is in functions of their own, whose frames are
// gone meanwhile (the garbage collector scans the frames of every live
// call at every cycle).
func (e *Engine) runAnswered(a *answeredLeg) *ending {
	r := e.beginAnswered(a)
	defer r.release()
	if a.run != nil {
		r.runFunc(a.run)
	} else {
		e.runActions(r.ctx, a.lc.rec, a.leg, a.actions, a.replace, &r.end)
	}
	return e.finishAnswered(a, r)
}

// answeredRun is what runAnswered started for the run: kept on the heap
// rather than in runAnswered's frame, which stays on the call's stack.
type answeredRun struct {
	ctx        context.Context // the run's: ends with the call, the far end's BYE or a limit
	cancel     context.CancelFunc
	stopBye    func() bool // unhooks cancel from the dialog's end
	unregister func()      // takes the leg off in-dialog INFO; nil if never registered
	wd         *watchdog
	callRec    *activeRecording // the whole-call recording, nil if none
	end        callctl.End      // how the run ended
}

// runFunc runs f as the call's run. (Not in runAnswered, for its frame's
// sake: a returned End is copied into the frame of the function that
// receives it.)
//
//go:noinline
func (r *answeredRun) runFunc(f func(ctx context.Context) callctl.End) {
	r.end = f(r.ctx)
}

// release undoes what beginAnswered hooked up, last first.
func (r *answeredRun) release() {
	r.stopBye()
	r.cancel()
	if r.unregister != nil {
		r.unregister()
	}
}

// beginAnswered registers the leg for in-dialog INFO, records the answer,
// starts the call's recording if it asks for one, and the run's context
// and watchdog.
func (e *Engine) beginAnswered(a *answeredLeg) *answeredRun {
	rec, l := a.lc.rec, a.leg
	r := &answeredRun{}
	if a.invite != nil {
		r.unregister = e.registerLeg(a.invite, a.response, l)
	}
	_ = rec.answered(e.ctx, l.name, a.sipCode, a.sipReason)
	if a.record {
		r.callRec = e.startCallRecording(e.ctx, rec, l)
	}
	e.metrics.CallsByStatus.WithLabelValues(a.direction, voice.CallInProgress).Inc()
	r.ctx, r.cancel = context.WithCancel(a.lc.ctx)
	r.stopBye = context.AfterFunc(a.dlg.Context(), r.cancel) // the far end's BYE
	r.wd = e.watch(r.ctx, rec, l.silentFor, r.cancel)
	return r
}

// finishAnswered ends an answered call whose run ended (r.end): the
// watchdog stopped, the BYE unless the far end sent it, the call's end
// recorded, its recording stopped.
func (e *Engine) finishAnswered(a *answeredLeg, r *answeredRun) *ending {
	end := r.end
	r.cancel()
	r.wd.end()
	lc, rec, l := a.lc, a.lc.rec, a.leg
	ctx := e.ctx
	if end.Kind == callctl.EndError && errors.Is(end.Err, errLegClosed) {
		// The media closed under an action: the call is ending (the far
		// end's BYE closes it a moment before the dialog's context ends),
		// which the application did not cause.
		end = callctl.End{Kind: callctl.EndCanceled, ActionIndex: end.ActionIndex}
		select {
		case <-a.dlg.Context().Done():
		case <-time.After(time.Second):
		}
	}
	if end.Kind == callctl.EndError {
		code, msg, url, status := fetchErrorFields(end.Err)
		_ = rec.appError(ctx, code, msg, url, status)
	}
	remoteBye := a.dlg.Context().Err() != nil
	if !remoteBye {
		hctx, hcancel := context.WithTimeout(context.WithoutCancel(ctx), byeTimeout)
		if err := a.dlg.Hangup(hctx); err != nil && !errors.Is(err, context.Canceled) {
			callLog(e.log, rec.id()).Info("bye", slog.Any("error", err))
		}
		hcancel()
	}
	how := endingFor(end, r.wd.cause(), remoteBye, lc.hungUpBy(), a.platformSide, a.farSide)
	how.SIPCode, how.SIPReason = a.sipCode, a.sipReason
	l.close()
	rec.end(ctx, how)
	if r.callRec != nil {
		e.stopCallRecording(ctx, rec, l, r.callRec)
	}
	return &how
}

// watchdog ends an answered call that reaches a limit: its time_limit, its
// balance (the next billing increment could not be reserved and the
// reserved ones are used up), or its media timeout (no RTP).
type watchdog struct {
	hit atomic.Pointer[voice.HangupCause]

	ctx            context.Context
	stopCall       func()
	silentFor      func(time.Time) time.Duration
	timeout, every time.Duration
	limitAt        time.Time      // time_limit after the answer
	meter          *billing.Meter // the call's running reservation, nil if none

	mu    sync.Mutex // guards the rest: check re-arms the timer it runs on
	timer *time.Timer
	ended bool
}

// cause is the limit that ended the call, "" when none did.
func (w *watchdog) cause() voice.HangupCause {
	if c := w.hit.Load(); c != nil {
		return *c
	}
	return ""
}

// watch starts the watchdog of rec's answered call; it calls stop when a
// limit is reached. It runs on one timer, not a goroutine of its own (every
// answered call has one), woken for the media check every watchTick and at
// the time limit, and on the Meter's; they stop with ctx, or at once with
// end. silentFor says how long the call's media has been silent at a
// moment.
func (e *Engine) watch(ctx context.Context, rec *callRecord, silentFor func(time.Time) time.Duration, stop func()) *watchdog {
	c := rec.snapshot()
	now := time.Now()
	w := &watchdog{ctx: ctx, stopCall: stop, silentFor: silentFor, timeout: e.mediaTimeout, every: e.watchTick,
		limitAt: now.Add(time.Duration(c.TimeLimit) * time.Second)}
	w.mu.Lock()
	w.timer = time.AfterFunc(w.nextIn(now), w.check)
	w.mu.Unlock()
	rec.watchBalance(ctx, func() { w.fire(CauseInsufficientBalance) })
	w.meter = rec.meter.Load()
	return w
}

// nextIn is how long from now the next check is due.
func (w *watchdog) nextIn(now time.Time) time.Duration {
	return max(0, min(w.every, w.limitAt.Sub(now)))
}

// fire ends the call for cause. The first limit reached is the cause; none
// is after the call ended.
func (w *watchdog) fire(cause voice.HangupCause) {
	if w.ctx.Err() == nil && w.hit.CompareAndSwap(nil, &cause) {
		w.stopCall()
	}
}

// check runs on the timer: the time limit, then the media.
func (w *watchdog) check() {
	if w.ctx.Err() != nil || w.hit.Load() != nil {
		return // the call is ending: no more checks
	}
	now := time.Now()
	if !now.Before(w.limitAt) {
		w.fire(CauseTimeLimit)
		return
	}
	if w.silentFor(now) > w.timeout {
		w.fire(CauseMediaTimeout)
		return
	}
	w.mu.Lock()
	if !w.ended {
		w.timer.Reset(w.nextIn(now))
	}
	w.mu.Unlock()
}

// end stops the watchdog's timers: the call ended.
func (w *watchdog) end() {
	w.mu.Lock()
	w.ended = true
	w.timer.Stop()
	w.mu.Unlock()
	if w.meter != nil {
		w.meter.Stop()
	}
}

// endingFor decides the hangup cause and source of an answered call.
// platformSide is the source when the platform ends it (callee for inbound,
// caller for outbound and dial legs); farSide when the far end's BYE ended
// it.
func endingFor(end callctl.End, limit voice.HangupCause, remoteBye bool, hungUpBy voice.HangupSource, platformSide, farSide voice.HangupSource) ending {
	how := ending{Status: voice.CallCompleted, Cause: CauseNormalClearing}
	switch {
	case hungUpBy != "":
		how.Source = hungUpBy
		if hungUpBy == SourceSystem {
			how.Cause = CauseSystemShutdown
		}
	case remoteBye:
		how.Source = farSide
	case limit != "":
		how.Cause, how.Source = limit, SourceSystem
	case end.Kind == callctl.EndError:
		how.Cause, how.Source = CauseApplicationError, SourceSystem
	default:
		how.Source = platformSide
	}
	return how
}
