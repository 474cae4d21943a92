package sim

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/emiago/diago"
	"github.com/emiago/sipgo"
	sipmsg "github.com/emiago/sipgo/sip"
)

// CallOptions describes one call the simulator places into the platform, as
// the phone network delivering a caller to one of its DIDs.
type CallOptions struct {
	// Platform is the platform's SIP address, HOST:PORT.
	Platform string
	// From is the caller's number and To the DID called, E.164.
	From, To string
	// Transport is "udp" (default) or "tcp".
	Transport string
	// Script is run once the call is answered (same steps as Config.Scripts).
	Script []string
	// Username and Password answer a digest challenge (401/407), for a
	// platform trunk that authenticates its carrier that way.
	Username, Password string
	// HangupAfter hangs up this long after answer; 0 waits for the platform
	// to hang up, bounded by MaxDuration.
	HangupAfter time.Duration
	// MaxDuration ends a connected call that nobody hangs up. Default
	// DefaultMaxDuration.
	MaxDuration time.Duration
	// SetupTimeout gives up on a platform that sends no response at all,
	// not even 100 Trying (SIP's own timer would wait 32 s). Default
	// DefaultSetupTimeout.
	SetupTimeout time.Duration
}

// DefaultSetupTimeout is CallOptions.SetupTimeout's default, the same as a
// trunk's setup_timeout.
const DefaultSetupTimeout = 8 * time.Second

// errNoResponse is the cause of giving up on a silent platform.
var errNoResponse = errors.New("no response to INVITE")

// Call places one call to opts.To at opts.Platform and returns when it is
// over, with what happened: the final SIP status (a refusal such as 404 is an
// outcome, not an error), what was heard and who hung up. It returns an error
// only when the call could not be placed (bad options, transport failure, the
// simulator closing) or ctx ended before the platform answered, in which case
// it has sent CANCEL and the report says so.
func (s *Sim) Call(ctx context.Context, opts CallOptions) (CallReport, error) {
	host, portText, err := net.SplitHostPort(opts.Platform)
	if err != nil {
		return CallReport{}, fmt.Errorf("sim: call: platform %q is not HOST:PORT: %w", opts.Platform, err)
	}
	port, err := strconv.Atoi(portText)
	if err != nil || port <= 0 || port > 65535 {
		return CallReport{}, fmt.Errorf("sim: call: platform %q has a bad port", opts.Platform)
	}
	if digitsOnly(opts.To) == "" {
		return CallReport{}, fmt.Errorf("sim: call: To %q is not a phone number", opts.To)
	}
	steps, err := parseSteps(opts.To, opts.Script)
	if err != nil {
		return CallReport{}, err
	}
	transport := strings.ToLower(opts.Transport)
	switch transport {
	case "":
		transport = "udp"
	case "udp", "tcp":
	default:
		return CallReport{}, fmt.Errorf("sim: call: transport %q (want udp or tcp)", opts.Transport)
	}
	if opts.MaxDuration <= 0 {
		opts.MaxDuration = DefaultMaxDuration
	}
	if opts.SetupTimeout <= 0 {
		opts.SetupTimeout = DefaultSetupTimeout
	}
	hangupAfter := opts.MaxDuration
	if opts.HangupAfter > 0 {
		hangupAfter = min(opts.HangupAfter, opts.MaxDuration)
	}
	if !s.begin() {
		return CallReport{}, ErrClosed
	}
	defer s.calls.Done()
	s.Serve()

	// The call ends with the caller's ctx or with Close.
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	stopClose := context.AfterFunc(s.ctx, cancel)
	defer stopClose()

	callID := newCallID(s.fromHost)
	cs := s.addCall(CallReport{CallID: callID, From: opts.From, To: opts.To, Direction: DirectionOutbound, Behaviour: BehaviourCall})
	// end marks the call over before the report is read, so it has EndedAt.
	end := func(err error) (CallReport, error) {
		s.finish(cs)
		return cs.snapshot(), err
	}
	log := s.log.With(slog.String("sip_call_id", callID), slog.String("to", opts.To))

	uri := sipmsg.Uri{Scheme: "sip", User: opts.To, Host: host, Port: port, UriParams: sipmsg.NewParams(), Headers: sipmsg.NewParams()}
	dialog, err := s.dg.NewDialog(uri, diago.NewDialogOptions{Transport: transport})
	if err != nil {
		cs.update(func(r *CallReport) { r.Err, r.EndedBy = err.Error(), EndedLocal })
		return end(fmt.Errorf("sim: call %s: %w", opts.To, err))
	}
	defer dialog.Close()

	var lastStatus atomic.Int64
	// okAt is when the 200 OK arrived: the answer the post-answer delay is
	// measured from, before the ACK and media set-up that follow.
	var okAt atomic.Pointer[time.Time]
	hdr := sipmsg.CallIDHeader(callID)
	inv := diago.InviteClientOptions{Username: opts.Username, Password: opts.Password, Headers: []sipmsg.Header{&hdr},
		OnResponse: func(res *sipmsg.Response) error {
			lastStatus.Store(int64(res.StatusCode))
			if res.IsSuccess() {
				now := time.Now()
				okAt.CompareAndSwap(nil, &now)
			}
			if res.IsProvisional() {
				cs.update(func(r *CallReport) { r.Provisional = max(r.Provisional, res.StatusCode) })
			}
			return nil
		}}
	inv.WithCaller("", opts.From, s.fromHost)

	// Ending ctx before answer sends CANCEL, which SIP allows only after a
	// provisional response; before any response sipgo would wait out the
	// INVITE transaction (32 s), so the wait is forced short instead. The
	// same force ends the wait for a platform that does not answer at all.
	inviteCtx, cancelInvite := context.WithCancelCause(context.WithoutCancel(ctx))
	defer cancelInvite(nil)
	stopInvite := context.AfterFunc(ctx, func() {
		if lastStatus.Load() == 0 {
			cancelInvite(sipgo.WaitAnswerForceCancelErr)
			return
		}
		cancelInvite(context.Canceled)
	})
	defer stopInvite()
	var silent atomic.Bool
	setup := time.AfterFunc(opts.SetupTimeout, func() {
		if lastStatus.Load() == 0 {
			silent.Store(true)
			cancelInvite(sipgo.WaitAnswerForceCancelErr)
		}
	})
	defer setup.Stop()

	log.Info("sim: placing call")
	med, err := dialog.Invite(inviteCtx, inv)
	setup.Stop()
	if err != nil {
		if med != nil {
			_ = med.Close()
		}
		var dr *sipgo.ErrDialogResponse
		switch {
		case errors.As(err, &dr):
			cs.update(func(r *CallReport) {
				r.SIPStatus, r.SIPReason, r.EndedBy = dr.Res.StatusCode, dr.Res.Reason, EndedRemote
			})
			log.Info("sim: call refused", slog.Int("status", dr.Res.StatusCode))
			return end(nil)
		case silent.Load():
			cs.update(func(r *CallReport) { r.Err, r.EndedBy = errNoResponse.Error(), EndedLocal })
			return end(fmt.Errorf("sim: call %s: %w within %s", opts.To, errNoResponse, opts.SetupTimeout))
		case ctx.Err() != nil:
			code, reason := 487, "Request Terminated"
			if lastStatus.Load() == 0 {
				code, reason = 0, "" // nothing was sent back, nothing to cancel
			} else if res := dialog.InviteResponse; res != nil && res.StatusCode >= 300 {
				code, reason = res.StatusCode, res.Reason
			}
			cs.update(func(r *CallReport) { r.SIPStatus, r.SIPReason, r.EndedBy = code, reason, EndedLocal })
			if s.ctx.Err() != nil {
				return end(ErrClosed)
			}
			return end(fmt.Errorf("sim: call %s canceled: %w", opts.To, ctx.Err()))
		}
		cs.update(func(r *CallReport) {
			r.SIPStatus, r.Err, r.EndedBy = int(lastStatus.Load()), err.Error(), EndedLocal
			if r.SIPStatus < 300 {
				r.SIPStatus = 0 // no final response
			}
		})
		return end(fmt.Errorf("sim: call %s: %w", opts.To, err))
	}
	defer med.Close()
	actx, acancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
	if err := dialog.Ack(actx); err != nil {
		log.Warn("sim: ack", slog.Any("error", err))
	}
	acancel()
	code, reason := 200, "OK"
	if res := dialog.InviteResponse; res != nil {
		code, reason = res.StatusCode, res.Reason
	}
	answeredAt := time.Now()
	if t := okAt.Load(); t != nil {
		answeredAt = *t
	}
	cs.update(func(r *CallReport) {
		r.SIPStatus, r.SIPReason, r.Answered, r.AnsweredAt = code, reason, true, answeredAt
	})
	log.Info("sim: call answered")
	s.converse(ctx, cs, med, dialog.Context(), dialog.Hangup, steps, hangupAfter, log)
	log.Info("sim: call ended")
	return end(nil)
}

// newCallID makes a unique SIP Call-ID, set by the simulator rather than by
// sipgo so the report knows it before the INVITE leaves.
func newCallID(host string) string {
	var b [12]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:]) + "@" + host
}
