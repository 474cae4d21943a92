package sip

import (
	"context"
	"fmt"
	"log/slog"
	"math"
	"sync"
	"time"

	"github.com/minivoice/minivoice/internal/billing"
	"github.com/minivoice/minivoice/internal/callctl"
	"github.com/minivoice/minivoice/internal/voice"
)

// child is one outbound leg of a dial: a live call of its own and, once
// its INVITE is done, how it went.
type child struct {
	lc  *liveCall
	res *attemptResult // nil: no trunk could carry it
}

// Dial rings every target at once through the trunks; the first to answer is
// bridged to the caller and the others are cancelled. While they ring the
// caller hears ringback. It returns when the bridge ends: either side hangs
// up, time_limit passes, or the call's actions are replaced.
func (s *session) Dial(ctx context.Context, d *callctl.Dial) (*callctl.DialResult, error) {
	e := s.e
	parent := s.rec.snapshot()
	from := d.CallerID(&parent)
	// The caller ID rule of POST /v1/calls (API docs): a refused from places
	// no leg, and the dial ends failed as when every target is refused,
	// so the application's action_url hears of it and the call goes on.
	if ok, err := e.callerIDAllowed(ctx, &parent, from); err != nil {
		return nil, fmt.Errorf("dial: %w", err)
	} else if !ok {
		return &callctl.DialResult{DialStatus: callctl.DialFailed}, nil
	}
	var children []*child
	defer func() {
		for _, ch := range children {
			e.close(ch.lc)
		}
	}()
	for _, to := range d.To {
		// Each child is a call of its own: admitted and rated on its own
		// (billing docs). A refused target is skipped, with no call record,
		// as POST /v1/calls would create none.
		ticket, ref := e.admit(ctx, voice.NewID(voice.PrefixCall, e.clock()), parent.CustomerID, voice.DirectionOutbound, to)
		if ref != nil {
			e.log.Info("dial target refused", slog.String("call_id", parent.ID), slog.String("to", to), slog.String("why", ref.Why))
			continue
		}
		ch, err := e.newChild(ctx, ticket, s.rec, parent, from, to, d)
		if err != nil {
			ticket.Release()
			for _, c := range children {
				c.lc.rec.end(ctx, ending{Status: voice.CallFailed, Cause: CauseUnreachable, Source: SourceSystem,
					Error: &voice.CallError{Code: ErrInternal, Message: "the dial could not record all of its calls, so none was placed"}})
			}
			return nil, fmt.Errorf("dial: %w", err)
		}
		children = append(children, ch)
	}
	if len(children) == 0 {
		return &callctl.DialResult{DialStatus: callctl.DialFailed}, nil
	}

	answered := make(chan *child, len(children))
	var wg sync.WaitGroup
	for _, ch := range children {
		wg.Add(1)
		go func() {
			defer wg.Done()
			ch.res = e.dialTrunks(ch.lc, callLog(e.log, ch.lc.rec.id()))
			if ch.res != nil && ch.res.dialog != nil {
				answered <- ch
			}
		}()
	}
	allDone := make(chan struct{})
	go func() { wg.Wait(); close(allDone) }()

	// Ringback until someone answers or nobody can.
	rbCtx, stopRingback := context.WithCancel(ctx)
	rbDone := make(chan struct{})
	go func() {
		defer close(rbDone)
		if d.Ringback {
			s.ringback(rbCtx)
		} else {
			_ = s.leg.silence(rbCtx, time.Duration(d.Timeout+60)*time.Second)
		}
	}()
	var winner *child
	select {
	case winner = <-answered:
	case <-allDone:
		select {
		case winner = <-answered:
		default:
		}
	case <-ctx.Done():
	}
	stopRingback()
	<-rbDone
	for _, ch := range children {
		if ch != winner {
			ch.lc.cancel()
		}
	}
	wg.Wait()
	// Losers that answered anyway in the race are hung up; the rest are
	// closed with what their INVITE came to.
	for _, ch := range children {
		if ch != winner {
			e.closeLoser(ctx, ch)
		}
	}
	if winner == nil {
		return dialFailure(ctx, children), ctx.Err()
	}
	dur := e.bridgeChild(s, winner, d)
	id := winner.lc.rec.id()
	return &callctl.DialResult{DialStatus: callctl.DialCompleted, ChildCallID: &id, Duration: dur}, ctx.Err()
}

// callerIDAllowed applies callctl.CheckDialCallerID; a refusal is logged
// (with the reason) and reported as false, a lookup failure as an error.
func (e *Engine) callerIDAllowed(ctx context.Context, parent *voice.Call, from string) (bool, error) {
	if e.store == nil {
		return true, nil
	}
	cust, err := e.store.Customer(ctx, voice.Scope{}, parent.CustomerID)
	if err != nil {
		return false, fmt.Errorf("read customer: %w", err)
	}
	err = callctl.CheckDialCallerID(ctx, e.store, cust, parent, from)
	if voice.ErrorCode(err) == voice.ECodeCallerIDNotAllowed {
		e.log.Info("dial refused", slog.String("call_id", parent.ID), slog.String("from", from), slog.String("why", err.Error()))
		return false, nil
	}
	return err == nil, err
}

// newChild creates a child call record (with call.initiated) admitted with
// ticket and makes it a live call, so POST /v1/calls/{child}/hangup works;
// it lives within ctx, the dial's.
func (e *Engine) newChild(ctx context.Context, ticket *billing.Ticket, prec *callRecord, parent voice.Call, from, to string, d *callctl.Dial) (*child, error) {
	now := e.clock()
	pid := parent.ID
	c := &voice.Call{ID: ticket.CallID, CustomerID: parent.CustomerID, ApplicationID: parent.ApplicationID,
		ParentCallID: &pid, Status: voice.CallQueued, Direction: voice.DirectionOutbound, From: from, To: to,
		RecordingChannels: voice.ChannelsDual, Timeout: d.Timeout, TimeLimit: d.TimeLimit, Variables: map[string]string{},
		Currency: parent.Currency, RecordingIDs: []string{}, CreatedAt: now, UpdatedAt: now}
	rec := e.newRecord(c, prec.app)
	rec.rate = ticket.Rate
	if err := rec.create(ctx); err != nil {
		return nil, err
	}
	lc := e.open(ctx, rec, false)
	lc.onRelease(ticket.Release)
	return &child{lc: lc}, nil
}

// closeLoser ends a child that did not win.
func (e *Engine) closeLoser(ctx context.Context, ch *child) {
	res, rec := ch.res, ch.lc.rec
	var how ending
	switch {
	case res == nil:
		how = ending{Status: voice.CallFailed, Cause: CauseUnreachable, Source: SourceSystem, Error: noTrunkError()}
	case res.dialog != nil:
		// Answered a moment after the winner: thank them and hang up.
		_ = rec.answered(ctx, "", res.sipCode, res.reason)
		hctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), byeTimeout)
		_ = res.dialog.Hangup(hctx)
		cancel()
		res.dialog.Close()
		_ = res.media.Close()
		how = ending{Status: voice.CallCompleted, Cause: CauseNormalClearing, Source: SourceSystem, SIPCode: res.sipCode,
			SIPReason: res.reason}
	default:
		how = ending{Status: res.outcome.Status, Cause: res.outcome.Cause, Source: res.source(), SIPCode: res.sipCode,
			SIPReason: res.reason, Error: res.callError()}
		if res.outcome.Status == voice.CallCanceled {
			how.Source = SourceSystem // another target answered, or the caller left
			if src := ch.lc.hungUpBy(); src != "" {
				how.Source = src
			}
		}
	}
	rec.end(ctx, how)
	e.metrics.CallsByStatus.WithLabelValues(voice.DirectionOutbound, how.Status).Inc()
}

// dialFailure sums up a dial nobody answered: busy if any target was busy,
// no-answer if any rang out, canceled if the caller left, else failed.
func dialFailure(ctx context.Context, children []*child) *callctl.DialResult {
	status := callctl.DialFailed
	seen := map[string]bool{}
	for _, ch := range children {
		if ch.res != nil {
			seen[ch.res.outcome.Status] = true
		}
	}
	switch {
	case ctx.Err() != nil:
		status = callctl.DialCanceled
	case seen[voice.CallBusy]:
		status = callctl.DialBusy
	case seen[voice.CallNoAnswer]:
		status = callctl.DialNoAnswer
	}
	id := children[len(children)-1].lc.rec.id()
	return &callctl.DialResult{DialStatus: status, ChildCallID: &id}
}

// bridgeChild connects the answered child to the caller until one side
// leaves or a limit passes (the answered-call runner's), and ends the
// child; it returns the child's billed duration in seconds.
func (e *Engine) bridgeChild(s *session, ch *child, d *callctl.Dial) int {
	ctx, res, rec := e.ctx, ch.res, ch.lc.rec
	log := callLog(e.log, rec.id())
	defer res.dialog.Close()
	defer res.media.Close()
	l, err := newLeg(ctx, res.media, e.now(), e.metrics)
	if err != nil {
		log.Error("child media", slog.Any("error", err))
		hctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), byeTimeout)
		_ = res.dialog.Hangup(hctx)
		cancel()
		rec.end(ctx, ending{Status: voice.CallFailed, Cause: CauseCarrierError, Source: SourceSystem, SIPCode: 200, SIPReason: "OK",
			Error: mediaError()})
		e.metrics.CallsByStatus.WithLabelValues(voice.DirectionOutbound, voice.CallFailed).Inc()
		return 0
	}
	defer l.close()
	var dialRec *activeRecording
	how := *e.runAnswered(&answeredLeg{lc: ch.lc, dlg: res.dialog, leg: l, invite: res.dialog.InviteRequest,
		response: res.dialog.InviteResponse, direction: voice.DirectionOutbound, platformSide: SourceCaller,
		farSide: SourceCallee, sipCode: res.sipCode, sipReason: res.reason,
		run: func(ctx context.Context) callctl.End {
			if d.Record {
				ar, err := e.startRecording(ctx, s.rec, voice.RecordingSourceDial, voice.ChannelsDual, s.leg.rate)
				if err != nil {
					log.Warn("dial recording", slog.Any("error", err))
				} else {
					dialRec = ar
					s.leg.addRecorder(ar.w)
					defer s.leg.removeRecorder(ar.w)
				}
			}
			bridge(ctx, s.leg, l)
			return callctl.End{}
		}})
	e.metrics.CallsByStatus.WithLabelValues(voice.DirectionOutbound, how.Status).Inc()
	if dialRec != nil {
		e.finishRecording(ctx, s.rec, dialRec)
	}
	return rec.snapshot().Duration
}

// ringback plays the North American ringback cadence (440+480 Hz, 2 s on,
// 4 s off) to the caller until ctx ends.
func (s *session) ringback(ctx context.Context) {
	rate := s.leg.rate
	tone := make([]int16, 6*rate)
	for i := 0; i < 2*rate; i++ {
		t := float64(i) / float64(rate)
		tone[i] = int16(3000 * (math.Sin(2*math.Pi*440*t) + math.Sin(2*math.Pi*480*t)))
	}
	for ctx.Err() == nil {
		if err := s.leg.play(ctx, tone); err != nil {
			return
		}
	}
}
