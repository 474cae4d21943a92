package sip

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/emiago/diago"
	"github.com/emiago/sipgo"
	sipmsg "github.com/emiago/sipgo/sip"
	"github.com/minivoice/minivoice/internal/billing"
	"github.com/minivoice/minivoice/internal/callctl"
	"github.com/minivoice/minivoice/internal/voice"
)

// PlaceCall starts an outbound call that the API created in queued status
// and admitted with t (nil: unpriced); the ticket's concurrency slot is
// released when the call ends. The call is reachable by the API (hangup,
// actions) before PlaceCall returns, so a hangup sent right after the 201
// cancels it rather than racing the dialling; the rest runs in the background.
func (e *Engine) PlaceCall(c *voice.Call, t *billing.Ticket) {
	if t == nil {
		t = &billing.Ticket{Release: func() {}}
	}
	if !e.begin() {
		t.Release()
		return // closing; the call stays queued and is closed at the next start
	}
	rec := e.newRecord(c, nil)
	rec.rate = t.Rate
	lc := e.open(e.ctx, rec, true)
	lc.onRelease(t.Release)
	go func() {
		defer e.calls.Done()
		defer e.close(lc)
		e.runOutbound(lc)
	}()
}

// HasTrunk reports whether any active outbound trunk could carry the
// customer's calls (its own or a shared one), for the API's 503 no_trunk_available.
func (e *Engine) HasTrunk(ctx context.Context, customerID string) (bool, error) {
	ts, err := e.outboundTrunks(ctx, customerID)
	return len(ts) > 0, err
}

// outboundTrunks are the trunks to try in order: the customer's own, then
// shared ones, each by priority (telephony.md).
func (e *Engine) outboundTrunks(ctx context.Context, customerID string) ([]*voice.Trunk, error) {
	all, err := e.store.ActiveTrunks(ctx, voice.DirectionOutbound)
	if err != nil {
		return nil, err
	}
	var own, shared []*voice.Trunk
	for _, t := range all {
		switch {
		case t.CustomerID == nil:
			shared = append(shared, t)
		case *t.CustomerID == customerID:
			own = append(own, t)
		}
	}
	return append(own, shared...), nil
}

// requestURI is sip:TECHPREFIX+NUMBER@host:port;transport=... for a trunk.
func requestURI(t *voice.Trunk, to string) sipmsg.Uri {
	user := to
	if t.StripPlus {
		user = strings.TrimPrefix(user, "+")
	}
	u := sipmsg.Uri{Scheme: "sip", User: t.TechPrefix + user, Host: t.Host, Port: t.Port, UriParams: sipmsg.NewParams()}
	if t.Transport != "udp" {
		u.UriParams.Add("transport", t.Transport)
	}
	return u
}

// attemptResult is one trunk's answer to the INVITE.
type attemptResult struct {
	dialog  *diago.DialogClientSession
	media   *diago.DialogMedia
	outcome Outcome
	sipCode int
	reason  string
	// detail says what this trunk did, in words, naming it ("trunk
	// \"carrier\" answered 503 Service Unavailable"); tried is every attempt's detail, in order,
	// once dialTrunks is done.
	detail string
	tried  []string
	// noneTried is set when every trunk was skipped (at max_channels).
	noneTried bool
}

// callError is the error of a call that ended failed with this result: the
// hangup cause's word for a final response (carrier_error, unreachable,
// invalid_number, call_rejected), trunk_unreachable when no trunk answered
// at all, no_trunk_available when none could be tried; the message lists
// every trunk tried and what it did. Nil when the call did not fail.
func (r *attemptResult) callError() *voice.CallError {
	if r == nil {
		return noTrunkError()
	}
	if r.outcome.Status != voice.CallFailed {
		return nil
	}
	code := string(r.outcome.Cause)
	switch {
	case r.noneTried:
		code = ErrNoTrunkAvailable
	case r.sipCode == 0:
		code = ErrTrunkUnreachable
	}
	msg := strings.Join(r.tried, "; then ")
	if msg == "" {
		msg = r.detail
	}
	return &voice.CallError{Code: code, Message: msg}
}

// noTrunkError is the error of an outbound call no trunk could carry.
func noTrunkError() *voice.CallError {
	return &voice.CallError{Code: ErrNoTrunkAvailable, Message: "no active outbound trunk could carry the call"}
}

// trunkName names a trunk in a call's error, which its customer reads: by
// the name the operator gave it only. Its host and port may be an address
// inside the operator's network; the operator finds them in the trunk and
// in the log.
func trunkName(t *voice.Trunk) string {
	return fmt.Sprintf("trunk %q", t.Name)
}

// source is the hangup_source of an attempt that ended unanswered: the
// platform ("system") when it gave up itself, on no response at all or by
// CANCELing after the ring timeout (no_answer); else the callee's side, whose
// final response ended it.
func (r *attemptResult) source() voice.HangupSource {
	if r.sipCode == 0 || r.outcome.Cause == CauseNoAnswer {
		return SourceSystem
	}
	return SourceCallee
}

func (e *Engine) runOutbound(lc *liveCall) {
	ctx, rec := e.ctx, lc.rec
	c := rec.snapshot()
	log := callLog(e.log, c.ID)
	app, err := e.store.Application(ctx, voice.Scope{}, c.ApplicationID)
	if err != nil {
		// Without its application nothing about the call can be decided;
		// it is closed failed (not left queued for good).
		log.Error("outbound call without application", slog.Any("error", err))
		rec.end(ctx, ending{Status: voice.CallFailed, Cause: CauseUnreachable, Source: SourceSystem,
			Error: &voice.CallError{Code: ErrInternal, Message: "the call's application could not be read"}})
		return
	}
	rec.app = app // before any event: it decides their webhook delivery
	if err := rec.initiated(ctx); err != nil {
		log.Error("outbound call record", slog.Any("error", err))
		rec.end(ctx, ending{Status: voice.CallFailed, Cause: CauseUnreachable, Source: SourceSystem,
			Error: &voice.CallError{Code: ErrInternal, Message: "the call could not be recorded, so it was not placed"}})
		return
	}
	how := e.outboundEnding(lc, log)
	e.metrics.CallsByStatus.WithLabelValues(voice.DirectionOutbound, how.Status).Inc()
}

// outboundEnding dials an initiated outbound call, runs it if answered and
// returns how it ended (already recorded).
func (e *Engine) outboundEnding(lc *liveCall, log *slog.Logger) ending {
	ctx, rec := e.ctx, lc.rec
	end := func(how ending) ending {
		rec.end(ctx, how)
		return how
	}
	if src := lc.hungUpBy(); src != "" {
		return end(canceled(src, 0, "")) // hung up before anything was dialled
	}
	res := e.dialTrunks(lc, log)
	if src := lc.hungUpBy(); src != "" && (res == nil || res.dialog == nil) {
		if res == nil {
			return end(canceled(src, 0, ""))
		}
		return end(canceled(src, res.sipCode, res.reason))
	}
	if res == nil {
		return end(ending{Status: voice.CallFailed, Cause: CauseUnreachable, Source: SourceSystem, Error: noTrunkError()})
	}
	if res.dialog == nil {
		return end(ending{Status: res.outcome.Status, Cause: res.outcome.Cause, Source: res.source(), SIPCode: res.sipCode,
			SIPReason: res.reason, Error: res.callError()})
	}
	dialog, med := res.dialog, res.media
	defer dialog.Close()
	defer med.Close()
	l, err := newLeg(ctx, med, e.now(), e.metrics)
	if err != nil {
		log.Error("media", slog.Any("error", err))
		_ = dialog.Hangup(context.WithoutCancel(ctx))
		return end(ending{Status: voice.CallFailed, Cause: CauseCarrierError, Source: SourceSystem, SIPCode: 200, SIPReason: "OK",
			Error: mediaError()})
	}
	defer l.close()
	return *e.runAnswered(&answeredLeg{lc: lc, dlg: dialog, leg: l, invite: dialog.InviteRequest, response: dialog.InviteResponse,
		direction: voice.DirectionOutbound, platformSide: SourceCaller, farSide: SourceCallee, sipCode: res.sipCode,
		sipReason: res.reason, record: true, run: func(ctx context.Context) callctl.End {
			actions, err := e.outboundActions(ctx, rec, rec.app)
			if err != nil {
				if ctx.Err() != nil {
					return callctl.End{}
				}
				return callctl.End{Kind: callctl.EndError, Err: err}
			}
			var end callctl.End
			e.runActions(ctx, rec, l, actions, lc.replace, &end)
			return end
		}})
}

// dialTrunks tries the customer's trunks in order (telephony docs) until
// one answers or a failure that must not fail over, skipping trunks at
// their max_channels or max_cps; nil means no trunk was usable at all. The
// call holds a channel of the trunk it is on until it ends.
func (e *Engine) dialTrunks(lc *liveCall, log *slog.Logger) *attemptResult {
	ctx, rec := lc.ctx, lc.rec
	c := rec.snapshot()
	trunks, err := e.outboundTrunks(ctx, c.CustomerID)
	if err != nil || len(trunks) == 0 {
		return nil
	}
	var res *attemptResult
	var tried []string
	var releaseChannel func()
	for i, t := range trunks {
		release, skipped := e.admitTrunk(ctx, t, c.ID, log)
		if skipped != "" {
			tried = append(tried, trunkName(t)+" was skipped: "+skipped)
			continue
		}
		if releaseChannel != nil {
			releaseChannel() // the previous trunk failed: its channel is free again
		}
		releaseChannel = release
		lc.trunkID.Store(&t.ID)
		_ = rec.setTrunk(ctx, t.ID)
		res = e.invite(ctx, rec, t, log)
		if res.detail != "" {
			tried = append(tried, res.detail)
		}
		if res.dialog != nil || !res.outcome.Failover || ctx.Err() != nil || i == len(trunks)-1 {
			break
		}
		log.Info("failing over", slog.String("trunk_id", t.ID), slog.Int("sip_code", res.sipCode))
	}
	if releaseChannel != nil {
		lc.onRelease(releaseChannel)
	}
	if res == nil && len(tried) > 0 {
		// Every trunk left was at a limit: nothing more was sent.
		res = &attemptResult{outcome: Outcome{Status: voice.CallFailed, Cause: CauseUnreachable}, noneTried: releaseChannel == nil}
	}
	if res != nil {
		res.tried = tried
	}
	return res
}

// admitTrunk takes one of t's channels (and one of its INVITEs this
// second) for the call, or says why the trunk is skipped: at its
// max_channels or max_cps, or its limits could not be checked (a database
// error skips the trunk rather than risk passing its limits). With a gate
// the limits hold across every node sharing the database; an engine
// without one counts its own calls.
func (e *Engine) admitTrunk(ctx context.Context, t *voice.Trunk, callID string, log *slog.Logger) (release func(), skipped string) {
	if e.gate == nil {
		release, full := e.channels.take(t, e.now())
		switch full {
		case "max_channels":
			return nil, fmt.Sprintf("at its max_channels (%d)", t.MaxChannels)
		case "max_cps":
			return nil, fmt.Sprintf("at its max_cps (%d)", t.MaxCPS)
		}
		return release, ""
	}
	release, err := e.gate.AdmitTrunk(ctx, t, callID)
	switch {
	case err == nil:
		return release, ""
	case errors.Is(err, billing.ErrTrunkAtMaxChannels), errors.Is(err, billing.ErrTrunkAtMaxCPS):
		return nil, err.Error()
	}
	log.Warn("trunk limits not checked", slog.String("trunk_id", t.ID), slog.Any("error", err))
	return nil, "its limits could not be checked"
}

// outboundActions are the call's inline actions, or those of its answer_url
// (the call's override, else the application's).
func (e *Engine) outboundActions(ctx context.Context, rec *callRecord, app *voice.Application) ([]callctl.Action, error) {
	snap := rec.snapshot()
	if len(snap.Actions) > 0 {
		return callctl.Parse(snap.Actions)
	}
	url, method := snap.AnswerURL, "POST"
	if url == "" {
		url, method = app.AnswerURL, app.AnswerMethod
	}
	res, err := e.fetcher.Fetch(ctx, callctl.FetchRequest{URL: url, Method: method, FallbackURL: app.FallbackURL, App: app, Call: &snap})
	if err != nil {
		return nil, err
	}
	return res.Actions, nil
}

// inviteTrunk sends the INVITE through one trunk over the diago transport
// tid (its network, with or without SRTP: invite chooses) and waits for its
// outcome: an answered dialog, or how it failed. No response within
// setup_timeout gives up without CANCEL (nothing to cancel); ringing past
// the call's timeout sends CANCEL.
func (e *Engine) inviteTrunk(ctx context.Context, rec *callRecord, t *voice.Trunk, tid string, log *slog.Logger) *attemptResult {
	c := rec.snapshot()
	dialog, err := e.dg.NewDialog(requestURI(t, c.To), diago.NewDialogOptions{TransportID: tid})
	if err != nil {
		log.Warn("new dialog", slog.Any("error", err))
		return &attemptResult{outcome: Outcome{Status: voice.CallFailed, Cause: CauseUnreachable, Failover: true},
			detail: trunkName(t) + " could not be dialled (the INVITE could not be built)"}
	}
	inviteCtx, cancelInvite := context.WithCancelCause(ctx)
	defer cancelInvite(nil)
	var gotResponse atomic.Bool
	var noAnswer, setupExpired atomic.Bool
	setup := time.AfterFunc(time.Duration(t.SetupTimeout)*time.Second, func() {
		if !gotResponse.Load() {
			setupExpired.Store(true)
			cancelInvite(sipgo.WaitAnswerForceCancelErr)
		}
	})
	defer setup.Stop()
	var ring *time.Timer
	var ringMu sync.Mutex
	defer func() {
		ringMu.Lock()
		if ring != nil {
			ring.Stop()
		}
		ringMu.Unlock()
	}()
	opts := diago.InviteClientOptions{Username: t.Username, Password: t.Password,
		OnResponse: func(res *sipmsg.Response) error {
			if gotResponse.CompareAndSwap(false, true) {
				setup.Stop()
				ringMu.Lock()
				ring = time.AfterFunc(time.Duration(c.Timeout)*time.Second, func() {
					noAnswer.Store(true)
					cancelInvite(context.Canceled)
				})
				ringMu.Unlock()
			}
			if res.StatusCode == 180 || res.StatusCode == 183 {
				_ = rec.ringing(ctx, res.StatusCode)
			}
			return nil
		}}
	host := t.FromDomain
	if host == "" {
		host = e.addr.Addr().String()
	}
	from := c.From
	if t.StripPlus {
		from = strings.TrimPrefix(from, "+")
	}
	opts.WithCaller("", from, host)
	med, err := dialog.Invite(inviteCtx, opts)
	if err == nil {
		if err := dialog.Ack(context.WithoutCancel(ctx)); err != nil {
			log.Warn("ack", slog.Any("error", err))
		}
		code, reason := 200, "OK"
		if r := dialog.InviteResponse; r != nil {
			code, reason = r.StatusCode, r.Reason
		}
		return &attemptResult{dialog: dialog, media: med, sipCode: code, reason: reason,
			detail: fmt.Sprintf("%s answered %d %s", trunkName(t), code, reason)}
	}
	dialog.Close()
	var dr *sipgo.ErrDialogResponse
	switch {
	case errors.As(err, &dr):
		o := OutcomeForStatus(dr.Res.StatusCode)
		if noAnswer.Load() && dr.Res.StatusCode == 487 {
			o = Outcome{Status: voice.CallNoAnswer, Cause: CauseNoAnswer}
		}
		return &attemptResult{outcome: o, sipCode: dr.Res.StatusCode, reason: dr.Res.Reason,
			detail: fmt.Sprintf("%s answered %d %s", trunkName(t), dr.Res.StatusCode, dr.Res.Reason)}
	case noAnswer.Load():
		return &attemptResult{outcome: Outcome{Status: voice.CallNoAnswer, Cause: CauseNoAnswer}, sipCode: 487, reason: "Request Terminated"}
	case ctx.Err() != nil:
		return &attemptResult{outcome: Outcome{Status: voice.CallCanceled, Cause: CauseOriginatorCancel}, sipCode: 487, reason: "Request Terminated"}
	}
	log.Info("invite failed", slog.String("trunk_id", t.ID), slog.Any("error", err))
	return &attemptResult{outcome: Outcome{Status: voice.CallFailed, Cause: CauseUnreachable, Failover: true},
		detail: trunkName(t) + " " + unreachableWhy(t, err, setupExpired.Load())}
}

// unreachableWhy says how an INVITE got no response at all, in words that
// name only the trunk's own settings: the error's text may hold local
// addresses, so it goes to the log, not to the call.
func unreachableWhy(t *voice.Trunk, err error, setupExpired bool) string {
	switch {
	case setupExpired:
		return fmt.Sprintf("did not answer the INVITE within %d s (the trunk's setup_timeout)", t.SetupTimeout)
	case errors.Is(err, sipmsg.ErrTransactionTimeout):
		return fmt.Sprintf("did not answer the INVITE within %d s (timer B)", int(sipmsg.Timer_B/time.Second))
	case errors.Is(err, syscall.ECONNREFUSED):
		return "refused the connection over " + t.Transport
	case errors.Is(err, syscall.ECONNRESET), errors.Is(err, io.EOF):
		return "closed the connection over " + t.Transport + " before answering"
	}
	var certErr *tls.CertificateVerificationError
	if errors.As(err, &certErr) {
		// Not the x509 detail: it names certificates, not the trunk.
		return "presented a TLS certificate that failed verification (not from a trusted CA, or not for the trunk's host)"
	}
	var dnsErr *net.DNSError
	if errors.As(err, &dnsErr) {
		return "could not be resolved (the DNS lookup of the trunk's host failed)"
	}
	return "could not be reached over " + t.Transport + " (transport error)"
}
