package sip

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/netip"
	"strings"
	"sync"
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
// (telephony docs, Inbound).
func (e *Engine) handleInbound(d *diago.DialogServerSession) {
	if !e.begin() {
		_ = d.Respond(503, "Service Unavailable", nil)
		return
	}
	defer e.calls.Done()
	route, leave := e.admitInbound(d)
	if route == nil {
		return
	}
	e.runRouted(e.ctx, d, route, leave)
}

// admitInbound takes an INVITE through the trunk's checks, the setup gate
// and routing; nil (refused, or challenged) when it is not to become a
// call. leave gives the setup gate's place back (once). (Not in
// handleInbound: its frame stays on the call's stack while the call lasts.)
func (e *Engine) admitInbound(d *diago.DialogServerSession) (route *inboundRoute, leave func()) {
	req := d.InviteRequest
	ctx := e.ctx
	if e.draining.Load() {
		ref := &Refusal{Code: 503, Reason: "Service Unavailable", RetryAfter: 60, Why: "draining for shutdown"}
		e.logRefusal(req, ref)
		e.refuse(d, ref)
		return nil, nil
	}
	trunk, ref := e.authorizeTrunk(ctx, d)
	// Only INVITEs from known trunks count towards the setup gate, and only
	// they may learn the node is busy (unknown sources get the edge's answer
	// whatever the load).
	if ref == nil && !e.setups.enter() {
		ref = e.overloaded()
	}
	if ref != nil {
		if ref.Code == 0 {
			return nil, nil // a digest challenge: the caller is expected to try again
		}
		e.logRefusal(req, ref)
		e.refuse(d, ref)
		return nil, nil
	}
	leave = sync.OnceFunc(e.setups.leave)
	route, ref = e.route(ctx, d, trunk)
	if ref != nil {
		// A known DID's customer sees the refusal as a failed call; anything
		// else is the operator's business. Either is written before the
		// answer, so whoever sees the answer can already read the record.
		if route != nil && ref.Err != nil {
			e.recordRefusedCall(req, route, ref)
		} else {
			e.logRefusal(req, ref)
		}
		e.refuse(d, ref)
		leave()
		return nil, nil
	}
	return route, leave
}

// runRouted takes an admitted inbound call to its end: leave gives its
// place in the setup gate back once the call's record is written.
func (e *Engine) runRouted(ctx context.Context, d *diago.DialogServerSession, route *inboundRoute, leave func()) {
	rec := e.recordInbound(ctx, d, route, leave)
	if rec == nil {
		return
	}
	// The call can be hung up (caller CANCEL/BYE, API) from here on.
	lc := e.open(ctx, rec, true)
	lc.onRelease(route.ticket.Release)
	defer e.close(lc)
	defer context.AfterFunc(d.Context(), lc.cancel)() // CANCEL or BYE from the caller
	// The offer checked, the application asked, the call answered (or
	// refused as the application says) and run. The steps before the
	// answer are functions of their own: this frame stays on the call's
	// stack for as long as the call lasts, and the garbage collector scans
	// it at every cycle, while theirs are gone once the call is answered.
	a, med := e.startInbound(lc, d, route.app)
	if a == nil {
		return
	}
	defer med.Close()
	defer a.leg.close()
	e.countInbound(e.runAnswered(a).Status)
}

// countInbound counts an inbound call's final status. (A function of its
// own, like the steps of runRouted, for the frames that stay on a call's
// stack.)
//
//go:noinline
func (e *Engine) countInbound(status string) {
	e.metrics.CallsByStatus.WithLabelValues(voice.DirectionInbound, status).Inc()
}

// recordInbound sends 100 and 180 and writes the ringing call's record; nil
// (the INVITE refused, the admission released) if it could not be written.
func (e *Engine) recordInbound(ctx context.Context, d *diago.DialogServerSession, route *inboundRoute, leave func()) *callRecord {
	defer leave() // also if this panics; once the record is written otherwise
	req := d.InviteRequest
	now := e.clock()
	numberID := route.number.ID
	trunkID := route.trunk.ID
	c := &voice.Call{ID: route.ticket.CallID, CustomerID: route.cust.ID, ApplicationID: route.app.ID,
		Status: voice.CallRinging, Direction: voice.DirectionInbound, From: callerNumber(req), To: route.did, NumberID: &numberID,
		TrunkID: &trunkID, Record: route.app.RecordByDefault, RecordingChannels: "dual", Timeout: 30, TimeLimit: 14400,
		Variables: map[string]string{}, Currency: route.cust.Currency, RecordingIDs: []string{}, CreatedAt: now,
		UpdatedAt: now}
	// 100 and 180 go out before the record is written, so the record is
	// created ringing in one write, not created and then updated.
	_ = d.Trying()
	if err := d.Ringing(); err == nil {
		c.RingingAt = &now
	}
	rec := e.newRecord(c, route.app)
	rec.rate = route.ticket.Rate
	err := rec.create(ctx)
	leave()
	if err != nil {
		route.ticket.Release()
		e.log.Error("inbound call record", slog.Any("error", err))
		e.refuse(d, &Refusal{Code: 500, Reason: "Server Internal Error", Why: err.Error()})
		return nil
	}
	e.metrics.CallsByStatus.WithLabelValues(voice.DirectionInbound, voice.CallRinging).Inc()
	return rec
}

// startInbound asks the application and answers: it returns the answered
// leg (on the heap, not in runRouted's frame) and its media; nil when the
// call was not answered (its end is recorded and counted then).
func (e *Engine) startInbound(lc *liveCall, d *diago.DialogServerSession, app *voice.Application) (*answeredLeg, *diago.DialogMedia) {
	actions, how, ok := e.askApplication(lc, d, app)
	if !ok {
		e.countInbound(how.Status)
		return nil, nil
	}
	med, l, how, ok := e.answerInbound(lc, d)
	if !ok {
		e.countInbound(how.Status)
		return nil, nil
	}
	return &answeredLeg{lc: lc, dlg: d, leg: l, invite: d.InviteRequest, response: d.InviteResponse, direction: voice.DirectionInbound,
		platformSide: SourceCallee, farSide: SourceCaller, sipCode: 200, sipReason: "OK", record: true, actions: actions, replace: lc.replace}, med
}

// endInbound records how an inbound call ended, and returns it.
func (e *Engine) endInbound(lc *liveCall, how ending) ending {
	lc.rec.end(e.ctx, how)
	return how
}

// respondInbound is the platform's final response to the INVITE, and the
// ending it makes.
func (e *Engine) respondInbound(lc *liveCall, d *diago.DialogServerSession, code int, reason string, how ending) ending {
	_ = d.Respond(code, reason, nil)
	how.SIPCode, how.SIPReason = code, reason
	return e.endInbound(lc, how)
}

// askApplication checks the offer and fetches the call's actions from its
// application; ok is false, with how the call ended, when it is not to be
// answered.
func (e *Engine) askApplication(lc *liveCall, d *diago.DialogServerSession, app *voice.Application) (actions []callctl.Action, how ending, ok bool) {
	rec, req := lc.rec, d.InviteRequest
	log := callLog(e.log, rec.id())
	// unanswered ends a call that was hung up while ringing: by the
	// caller's CANCEL, or through hangup (487 to the INVITE).
	unanswered := func() ending {
		if src := lc.hungUpBy(); src != "" {
			return e.respondInbound(lc, d, 487, "Request Terminated", canceled(src, 0, ""))
		}
		log.Info("caller canceled before answer")
		return e.endInbound(lc, canceled(SourceCaller, 0, ""))
	}

	// Media the platform cannot take is refused before the application is
	// asked (srtp.go): answering would fail after its answer_url ran.
	body, why := prepareOffer(req.Body())
	if why == "" {
		why = offerCodecProblem(body)
	}
	if why != "" {
		log.Info("offer refused", slog.String("why", why))
		return nil, e.respondInbound(lc, d, 488, "Not Acceptable Here", ending{Status: voice.CallFailed, Cause: CauseCallRejected, Source: SourceSystem,
			Error: &voice.CallError{Code: ErrMediaFailed, Message: why}}), false
	}
	req.SetBody(body)

	snap := rec.snapshot()
	res, err := e.fetcher.Fetch(lc.ctx, callctl.FetchRequest{URL: app.AnswerURL, Method: app.AnswerMethod,
		FallbackURL: app.FallbackURL, App: app, Call: &snap})
	if err != nil {
		if lc.ctx.Err() != nil {
			return nil, unanswered(), false
		}
		code, msg, url, status := fetchErrorFields(err)
		_ = rec.appError(e.ctx, code, msg, url, status)
		log.Info("answer_url failed", slog.String("code", code))
		return nil, e.respondInbound(lc, d, 500, "Server Internal Error", ending{Status: voice.CallFailed, Cause: CauseApplicationError, Source: SourceSystem}), false
	}
	actions = res.Actions
	if len(actions) > 0 && actions[0].Kind == callctl.KindReject {
		if actions[0].Reject.Reason == "busy" {
			return nil, e.respondInbound(lc, d, 486, "Busy Here", ending{Status: voice.CallBusy, Cause: CauseUserBusy, Source: SourceCallee}), false
		}
		return nil, e.respondInbound(lc, d, 603, "Decline", ending{Status: voice.CallFailed, Cause: CauseCallRejected, Source: SourceCallee,
			Error: &voice.CallError{Code: ErrCallRejected, Message: "the application's reject action refused the call (603 Decline)"}}), false
	}
	if lc.ctx.Err() != nil {
		return nil, unanswered(), false
	}
	return actions, ending{}, true
}

// answerInbound answers the call (200 OK) and opens its media; ok is false,
// with how the call ended, when either fails.
func (e *Engine) answerInbound(lc *liveCall, d *diago.DialogServerSession) (med *diago.DialogMedia, l *leg, how ending, ok bool) {
	ctx := e.ctx
	log := callLog(e.log, lc.rec.id())
	med, err := d.Answer(diago.AnswerOptions{})
	if err != nil {
		log.Warn("answer", slog.Any("error", err))
		if d.Context().Err() != nil {
			return nil, nil, e.endInbound(lc, canceled(SourceCaller, 0, "")), false
		}
		// The 200 OK went unacknowledged for 64*T1: end the dialog with a
		// BYE (RFC 3261 13.3.1.4); nobody may be there to answer it.
		bctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), byeTimeout)
		_ = d.Hangup(bctx)
		cancel()
		return nil, nil, e.endInbound(lc, ending{Status: voice.CallFailed, Cause: CauseAckTimeout, Source: SourceSystem, SIPCode: 200, SIPReason: "OK",
			Error: &voice.CallError{Code: ErrAckTimeout, Message: fmt.Sprintf("the caller's side never acknowledged the 200 OK (no ACK within %d s, timer H)", int(sipmsg.Timer_H/time.Second))}}), false
	}
	l, err = newLeg(ctx, med, e.now(), e.metrics)
	if err != nil {
		log.Error("media", slog.Any("error", err))
		_ = d.Hangup(context.WithoutCancel(ctx))
		how := e.endInbound(lc, ending{Status: voice.CallFailed, Cause: CauseCarrierError, Source: SourceSystem, Error: mediaError()})
		_ = med.Close()
		return nil, nil, how, false
	}
	return med, l, ending{}, true
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
		slog.String("source", e.sourceText(d.InviteRequest)))
}

// route applies telephony.md's inbound checks that follow the trunk's
// (authorizeTrunk) in order. A nil Refusal with a nil route never happens.
// A refusal for a number that belongs to a
// customer comes with the route as far as it got (trunk, number, customer,
// application if any) and an Err for the customer's failed call.
func (e *Engine) route(ctx context.Context, d *diago.DialogServerSession, trunk *voice.Trunk) (*inboundRoute, *Refusal) {
	req := d.InviteRequest
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
	ticket, ref := e.admitCustomer(ctx, voice.NewID(voice.PrefixCall, e.clock()), cust.ID, cust, voice.DirectionInbound, did)
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
	// The edge's reader: a read that started after this INVITE asked,
	// shared with the INVITEs asking meanwhile (one query at a time, not
	// two per call).
	trunks, err := e.edge.trunks.getWaiting(e.ctx, ctx)
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
