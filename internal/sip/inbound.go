package sip

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/netip"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/emiago/diago"
	sipmsg "github.com/emiago/sipgo/sip"
	"github.com/minivoice/minivoice/internal/billing"
	"github.com/minivoice/minivoice/internal/callctl"
	"github.com/minivoice/minivoice/internal/voice"
)

// digestRealm is the realm of inbound digest challenges.
const digestRealm = "minivoice"

// inboundRoute is what an accepted INVITE resolved to.
type inboundRoute struct {
	trunk  *voice.Trunk
	number *voice.Number
	app    *voice.Application
	cust   *voice.Customer
	did    string
	ticket *billing.Ticket // the admission: rate and concurrency slot
}

// handleInbound runs one inbound call from INVITE to its final state
// (telephony.md, Inbound).
func (e *Engine) handleInbound(d *diago.DialogServerSession) {
	if !e.begin() {
		_ = d.Respond(503, "Service Unavailable", nil)
		return
	}
	defer e.calls.Done()
	req := d.InviteRequest
	ctx := e.ctx
	if e.draining.Load() {
		ref := &Refusal{Code: 503, Reason: "Service Unavailable", RetryAfter: 60, Why: "draining for shutdown"}
		e.logRefusal(req, ref)
		e.refuse(d, ref)
		return
	}
	route, ref := e.route(ctx, d)
	if ref != nil {
		if ref.Code == 0 {
			return // a digest challenge: the caller is expected to try again
		}
		// A known DID's customer sees the refusal as a failed call; anything
		// else is the operator's business. Either is written before the
		// answer, so whoever sees the answer can already read the record.
		if route != nil && ref.Err != nil {
			e.recordRefusedCall(req, route, ref)
		} else {
			e.logRefusal(req, ref)
		}
		e.refuse(d, ref)
		return
	}
	defer route.ticket.Release()
	now := e.clock()
	numberID := route.number.ID
	trunkID := route.trunk.ID
	from := callerNumber(req)
	c := &voice.Call{ID: route.ticket.CallID, CustomerID: route.cust.ID, ApplicationID: route.app.ID,
		Status: voice.CallRinging, Direction: voice.DirectionInbound, From: from, To: route.did, NumberID: &numberID,
		TrunkID: &trunkID, Record: route.app.RecordByDefault, RecordingChannels: "dual", Timeout: 30, TimeLimit: 14400,
		Variables: map[string]string{}, Currency: route.cust.Currency, RecordingIDs: []string{}, CreatedAt: now,
		UpdatedAt: now}
	rec := e.newRecord(c, route.app)
	rec.rate, rec.admitted = route.ticket.Rate, route.ticket.Customer
	if err := rec.create(ctx); err != nil {
		e.log.Error("inbound call record", slog.Any("error", err))
		e.refuse(d, &Refusal{Code: 500, Reason: "Server Internal Error", Why: err.Error()})
		return
	}
	e.metrics.CallsByStatus.WithLabelValues(voice.DirectionInbound, voice.CallRinging).Inc()
	log := e.log.With(slog.String("call_id", c.ID))

	// The call can be hung up (caller CANCEL/BYE, API) from here on.
	var apiHangup atomic.Value // source string
	var answered atomic.Bool
	callCtx, cancel := context.WithCancel(ctx)
	defer cancel()
	stop := context.AfterFunc(d.Context(), cancel) // CANCEL or BYE from the caller
	defer stop()
	replace := make(chan []callctl.Action)
	var hangOnce sync.Once
	untrack := e.track(c.ID, &activeCall{rec: rec, replace: replace, hangup: func(source string) {
		hangOnce.Do(func() {
			apiHangup.Store(source)
			cancel()
		})
	}})
	defer untrack()

	_ = d.Trying()
	if err := d.Ringing(); err == nil {
		_ = rec.ringing(ctx, 180)
	}

	// Media the platform cannot take is refused before the application is
	// asked (srtp.go): answering would fail after its answer_url ran.
	body, why := prepareOffer(req.Body())
	if why == "" {
		why = offerCodecProblem(body)
	}
	if why != "" {
		_ = d.Respond(488, "Not Acceptable Here", nil)
		_ = rec.end(ctx, ending{Status: voice.CallFailed, Cause: CauseCallRejected, Source: SourceSystem, SIPCode: 488,
			SIPReason: "Not Acceptable Here", Error: &voice.CallError{Code: ErrMediaFailed, Message: why}})
		log.Info("offer refused", slog.String("why", why))
		return
	}
	req.SetBody(body)

	snap := rec.snapshot()
	res, err := e.fetcher.Fetch(callCtx, callctl.FetchRequest{URL: route.app.AnswerURL, Method: route.app.AnswerMethod,
		FallbackURL: route.app.FallbackURL, App: route.app, Call: &snap})
	if err != nil {
		if callCtx.Err() != nil {
			e.endUnanswered(ctx, rec, d, &apiHangup, log)
			return
		}
		code, msg, url, status := fetchErrorFields(err)
		_ = rec.appError(ctx, code, msg, url, status)
		_ = d.Respond(500, "Server Internal Error", nil)
		_ = rec.end(ctx, ending{Status: voice.CallFailed, Cause: CauseApplicationError, Source: SourceSystem, SIPCode: 500,
			SIPReason: "Server Internal Error"})
		log.Info("answer_url failed", slog.String("code", code))
		return
	}
	actions := res.Actions
	if len(actions) > 0 && actions[0].Kind == callctl.KindReject {
		code, reason, status, cause := 603, "Decline", voice.CallFailed, CauseCallRejected
		if actions[0].Reject.Reason == "busy" {
			code, reason, status, cause = 486, "Busy Here", voice.CallBusy, CauseUserBusy
		}
		_ = d.Respond(code, reason, nil)
		how := ending{Status: status, Cause: cause, Source: SourceCallee, SIPCode: code, SIPReason: reason}
		if status == voice.CallFailed {
			how.Error = &voice.CallError{Code: ErrCallRejected, Message: "the application's reject action refused the call (603 Decline)"}
		}
		_ = rec.end(ctx, how)
		return
	}
	if callCtx.Err() != nil {
		e.endUnanswered(ctx, rec, d, &apiHangup, log)
		return
	}
	med, err := d.Answer(diago.AnswerOptions{})
	if err != nil {
		log.Warn("answer", slog.Any("error", err))
		how := ending{Status: voice.CallFailed, Cause: CauseAckTimeout, Source: SourceSystem, SIPCode: 200, SIPReason: "OK",
			Error: &voice.CallError{Code: ErrAckTimeout, Message: "the caller's side never acknowledged the 200 OK (no ACK within 32 s)"}}
		if d.Context().Err() != nil {
			how = ending{Status: voice.CallCanceled, Cause: CauseOriginatorCancel, Source: SourceCaller}
		} else {
			// The 200 OK went unacknowledged for 64*T1: end the dialog with a
			// BYE (RFC 3261 13.3.1.4); nobody may be there to answer it.
			bctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
			_ = d.Hangup(bctx)
			cancel()
		}
		_ = rec.end(ctx, how)
		return
	}
	defer med.Close()
	answered.Store(true)
	l, err := newLeg(ctx, med, e.now(), e.metrics)
	if err != nil {
		log.Error("media", slog.Any("error", err))
		_ = d.Hangup(context.WithoutCancel(ctx))
		_ = rec.end(ctx, ending{Status: voice.CallFailed, Cause: CauseCarrierError, Source: SourceSystem, Error: mediaError()})
		return
	}
	_ = rec.answered(ctx, l.name)
	defer l.close()
	unregister := e.registerLeg(d.InviteRequest, d.InviteResponse, l)
	defer unregister()
	callRec := e.startCallRecording(ctx, rec, l)
	e.metrics.CallsByStatus.WithLabelValues(voice.DirectionInbound, voice.CallInProgress).Inc()

	end, limit := e.runActions(callCtx, rec, l, actions, replace)
	if end.Kind == callctl.EndError {
		code, msg, url, status := fetchErrorFields(end.Err)
		_ = rec.appError(ctx, code, msg, url, status)
	}
	remoteBye := d.Context().Err() != nil
	if !remoteBye {
		hctx, hcancel := context.WithTimeout(context.WithoutCancel(ctx), 5e9)
		if err := d.Hangup(hctx); err != nil && !errors.Is(err, context.Canceled) {
			// A BYE nobody answers still ends the call (telephony.md).
			log.Info("bye", slog.Any("error", err))
		}
		hcancel()
	}
	src, _ := apiHangup.Load().(string)
	how := endingFor(end, limit, remoteBye, src, SourceCallee, SourceCaller)
	how.SIPCode, how.SIPReason = 200, "OK" // the final response the platform sent
	l.close()
	_ = rec.end(ctx, how)
	e.stopCallRecording(ctx, rec, l, callRec)
	e.metrics.CallsByStatus.WithLabelValues(voice.DirectionInbound, how.Status).Inc()
}

// endUnanswered closes a call that ended while ringing: the caller's CANCEL,
// or an API hangup (which refuses the INVITE with 487).
func (e *Engine) endUnanswered(ctx context.Context, rec *callRecord, d *diago.DialogServerSession, apiHangup *atomic.Value, log *slog.Logger) {
	if src, _ := apiHangup.Load().(string); src != "" {
		_ = d.Respond(487, "Request Terminated", nil)
		cause := CauseOriginatorCancel
		if src == SourceSystem {
			cause = CauseSystemShutdown
		}
		_ = rec.end(ctx, ending{Status: voice.CallCanceled, Cause: cause, Source: src, SIPCode: 487, SIPReason: "Request Terminated"})
		return
	}
	_ = rec.end(ctx, ending{Status: voice.CallCanceled, Cause: CauseOriginatorCancel, Source: SourceCaller})
	log.Info("caller canceled before answer")
}

// refuse answers an INVITE that will not become a call.
func (e *Engine) refuse(d *diago.DialogServerSession, r *Refusal) {
	var hdrs []sipmsg.Header
	if r.RetryAfter > 0 {
		hdrs = append(hdrs, sipmsg.NewHeader("Retry-After", itoa(r.RetryAfter)))
	}
	if err := d.Respond(r.Code, r.Reason, nil, hdrs...); err != nil {
		e.log.Warn("refuse", slog.Any("error", err))
	}
	e.metrics.InboundRefused.WithLabelValues(itoa(r.Code)).Inc()
	e.log.Info("inbound refused", slog.Int("sip_code", r.Code), slog.String("why", r.Why),
		slog.String("source", d.InviteRequest.Source()))
}

// route applies telephony.md's inbound checks in order. A nil Refusal with a
// nil route never happens; a Refusal with Code 0 means a response was already
// sent (a digest challenge). A refusal for a number that belongs to a
// customer comes with the route as far as it got (trunk, number, customer,
// application if any) and an Err for the customer's failed call.
func (e *Engine) route(ctx context.Context, d *diago.DialogServerSession) (*inboundRoute, *Refusal) {
	req := d.InviteRequest
	trunk, ref := e.authorizeTrunk(ctx, d)
	if ref != nil {
		return nil, ref
	}
	user := req.Recipient.User
	if user == "" && req.To() != nil {
		user = req.To().Address.User
	}
	did, ok := voice.NormalizeE164(strings.TrimSpace(user))
	if !ok {
		return nil, &Refusal{Code: 404, Reason: "Not Found", Why: "DID " + user + " is not an E.164 number"}
	}
	num, err := e.store.NumberByE164(ctx, did)
	if err != nil {
		why := "no customer has the number " + did
		if !voice.IsNotFound(err) {
			why = "number " + did + " could not be read: " + err.Error()
		}
		return nil, &Refusal{Code: 404, Reason: "Not Found", Why: why}
	}
	cust, err := e.store.Customer(ctx, voice.Scope{}, num.CustomerID)
	if err != nil {
		return nil, &Refusal{Code: 403, Reason: "Forbidden", Why: "customer of " + did + " could not be read: " + err.Error()}
	}
	r := &inboundRoute{trunk: trunk, number: num, cust: cust, did: did}
	refused := func(code int, reason, errCode, msg string) (*inboundRoute, *Refusal) {
		return r, &Refusal{Code: code, Reason: reason, Why: errCode + ": " + msg, Err: &voice.CallError{Code: errCode, Message: msg}}
	}
	if num.Status != voice.NumberActive {
		return refused(404, "Not Found", ErrNumberDisabled, "the number "+did+" is disabled")
	}
	if num.ApplicationID == nil {
		return refused(480, "Temporarily Unavailable", ErrNoApplication,
			"the number "+did+" is not routed to an application (set its application_id)")
	}
	app, err := e.store.Application(ctx, voice.Scope{}, *num.ApplicationID)
	if err != nil {
		return refused(480, "Temporarily Unavailable", ErrNoApplication,
			"the application the number "+did+" is routed to could not be found")
	}
	r.app = app
	if app.Status != voice.ApplicationActive {
		return refused(480, "Temporarily Unavailable", ErrApplicationInactive,
			fmt.Sprintf("the application %q (%s) that %s is routed to is inactive", app.Name, app.ID, did))
	}
	if cust.Status != voice.CustomerActive {
		return refused(403, "Forbidden", voice.ECodeCustomerSuspended, "the customer is suspended")
	}
	if app.AnswerURL == "" {
		return refused(480, "Temporarily Unavailable", ErrNoAnswerURL,
			fmt.Sprintf("the application %q (%s) has no answer_url, which an inbound call needs", app.Name, app.ID))
	}
	ticket, ref := e.admit(ctx, voice.NewID(voice.PrefixCall, e.clock()), cust.ID, voice.DirectionInbound, did)
	if ref != nil {
		if ref.Err != nil && ref.Err.Code == voice.ECodeDestinationNotAllowed && e.noInboundRate(cust, did) {
			// billing's words are about calling out; say which deck lacks it.
			ref.Err.Message = "no inbound rate matches " + did + " for this customer"
		}
		return r, ref
	}
	r.ticket = ticket
	return r, nil
}

// noInboundRate reports whether did is refused for want of an inbound rate
// (rather than a blocked prefix or max_rate_per_minute).
func (e *Engine) noInboundRate(cust *voice.Customer, did string) bool {
	if e.gate == nil {
		return false
	}
	if _, blocked := billing.BlockedPrefix(cust, did); blocked {
		return false
	}
	return e.gate.Book.Lookup(cust.ID, voice.DirectionInbound, strings.TrimPrefix(did, "+")) == nil
}

// authorizeTrunk finds the inbound trunk the INVITE comes from: by source
// address in a trunk's allowed_cidrs, else by digest credentials. Anything
// else is 403 with nothing revealed.
func (e *Engine) authorizeTrunk(ctx context.Context, d *diago.DialogServerSession) (*voice.Trunk, *Refusal) {
	req := d.InviteRequest
	trunks, err := e.store.ActiveTrunks(ctx, voice.DirectionInbound)
	if err != nil {
		return nil, &Refusal{Code: 500, Reason: "Server Internal Error", Why: err.Error()}
	}
	src, err := e.callerSource(req) // the caller's, also behind a trusted proxy (proxy.go)
	if err == nil {
		for _, t := range trunks {
			for _, c := range t.AllowedCIDRs {
				if p, err := netip.ParsePrefix(c); err == nil && p.Contains(src.Addr().Unmap()) {
					return t, nil
				}
			}
		}
	}
	var withAuth []*voice.Trunk
	for _, t := range trunks {
		if t.Username != "" && t.Password != "" {
			withAuth = append(withAuth, t)
		}
	}
	if len(withAuth) == 0 {
		return nil, &Refusal{Code: 403, Reason: "Forbidden", Why: "source " + src.String() + " matches no inbound trunk"}
	}
	user := ""
	if h := req.GetHeader("Authorization"); h != nil {
		user = digestUsername(h.Value())
	}
	if user == "" {
		// Challenge; the caller answers with credentials in a new INVITE.
		t := withAuth[0]
		res, _ := e.digest.AuthorizeRequest(req, diago.DigestAuth{Username: t.Username, Password: t.Password, Realm: digestRealm})
		if err := d.WriteResponse(res); err != nil {
			e.log.Warn("digest challenge", slog.Any("error", err))
		}
		return nil, &Refusal{Why: "digest challenge sent"}
	}
	for _, t := range withAuth {
		if user != t.Username {
			continue
		}
		auth := diago.DigestAuth{Username: t.Username, Password: t.Password, Realm: digestRealm}
		res, err := e.digest.AuthorizeRequest(req, auth)
		switch {
		case err == nil && res.StatusCode == 200:
			return t, nil
		case errors.Is(err, diago.ErrDigestAuthNoChallenge):
			// A nonce we no longer know (expired): challenge afresh.
			req.RemoveHeader("Authorization")
			res, _ := e.digest.AuthorizeRequest(req, auth)
			_ = d.WriteResponse(res)
			return nil, &Refusal{Why: "stale digest nonce, challenged again"}
		}
		return nil, &Refusal{Code: 403, Reason: "Forbidden", Why: "digest authentication failed for " + user}
	}
	return nil, &Refusal{Code: 403, Reason: "Forbidden", Why: "unknown digest user " + user}
}

// digestUsername extracts username="..." from an Authorization header.
func digestUsername(v string) string {
	i := strings.Index(v, `username="`)
	if i < 0 {
		return ""
	}
	rest := v[i+len(`username="`):]
	j := strings.IndexByte(rest, '"')
	if j < 0 {
		return ""
	}
	return rest[:j]
}

// callerNumber is the caller's number from the From header, E.164 when it
// can be made so, else the raw user part.
func callerNumber(req *sipmsg.Request) string {
	if req.From() == nil {
		return ""
	}
	u := req.From().Address.User
	if n, ok := voice.NormalizeE164(u); ok {
		return n
	}
	return u
}
