package sim

import (
	"log/slog"
	"time"

	"github.com/emiago/diago"
	dmedia "github.com/emiago/diago/media"
)

// handleInvite is the carrier: it runs one INVITE from the platform, from 100
// Trying to the end of the call, with the behaviour of the called number.
// It runs inside track, which counts it in the calls wait group.
func (s *Sim) handleInvite(d *diago.DialogServerSession) {
	req := d.InviteRequest
	user := req.Recipient.User
	b := s.behaviourFor(user)
	callID := ""
	if h := req.CallID(); h != nil {
		callID = h.Value()
	}
	cs := s.addCall(CallReport{CallID: callID, From: e164(d.FromUser()), To: e164(user),
		Direction: DirectionInbound, Behaviour: b.name})
	defer s.finish(cs)
	log := s.log.With(slog.String("sip_call_id", callID), slog.String("to", user), slog.String("behaviour", b.name))
	log.Info("sim: incoming call")

	refuse := func(code int, reason string) {
		if err := d.Respond(code, reason, nil); err != nil {
			log.Info("sim: respond", slog.Int("code", code), slog.Any("error", err))
		}
		cs.update(func(r *CallReport) { r.SIPStatus, r.SIPReason, r.EndedBy = code, reason, EndedLocal })
	}
	// The caller's CANCEL ends d.Context(); sipgo answers it and the INVITE's
	// 487 itself.
	canceled := func() {
		cs.update(func(r *CallReport) { r.SIPStatus, r.SIPReason, r.EndedBy = 487, "Request Terminated", EndedRemote })
	}

	// ring waits d while the call rings, and says how the wait ended.
	ring := func(d2 time.Duration) ringEnd {
		t := time.NewTimer(d2)
		defer t.Stop()
		select {
		case <-t.C:
			return rangOut
		case <-d.Context().Done():
			return callerCanceled
		case <-s.ctx.Done():
			return simClosing
		}
	}
	_ = d.Trying()
	if err := d.Ringing(); err == nil {
		cs.update(func(r *CallReport) { r.Provisional = 180 })
	}
	if b.refuse != 0 {
		// A moment of ringing before the refusal, as a phone network gives:
		// a final response right behind the 180 can reach the platform's SIP
		// stack together with it, and sipgo's client transaction then passes
		// up only the final one, so whether the call showed call.ringing
		// would depend on scheduling.
		switch ring(refuseAfter) {
		case rangOut, simClosing:
			refuse(b.refuse, b.reason)
		case callerCanceled:
			canceled()
		}
		return
	}
	if b.ringForever {
		select {
		case <-d.Context().Done():
			canceled()
		case <-s.ctx.Done():
			refuse(480, "Temporarily Unavailable")
		}
		return
	}
	if s.answerDelay > 0 {
		switch ring(s.answerDelay) {
		case callerCanceled:
			canceled()
			return
		case simClosing:
			refuse(480, "Temporarily Unavailable")
			return
		}
	}
	med, err := d.Answer(diago.AnswerOptions{})
	if err != nil {
		if med != nil {
			_ = med.Close()
		}
		if res := d.InviteResponse; res != nil && res.StatusCode == 200 && d.Context().Err() != nil && med != nil {
			// The 200 OK went out and the caller hung up before diago saw
			// its ACK (a BYE right behind the ACK, as the platform sends
			// when an answer_url's actions are invalid): the call was
			// answered and ended by the far end, not canceled.
			codec := dmedia.CodecAudioFromSession(med.MediaSession())
			cs.update(func(r *CallReport) {
				r.SIPStatus, r.SIPReason, r.Answered, r.AnsweredAt, r.EndedBy = 200, "OK", true, time.Now(), EndedRemote
				r.Codec = codecName(codec)
			})
			return
		}
		if d.Context().Err() != nil {
			canceled()
			return
		}
		log.Warn("sim: answer", slog.Any("error", err))
		cs.update(func(r *CallReport) { r.Err, r.EndedBy = "answer: "+err.Error(), EndedLocal })
		return
	}
	defer med.Close()
	cs.update(func(r *CallReport) {
		r.SIPStatus, r.SIPReason, r.Answered, r.AnsweredAt = 200, "OK", true, time.Now()
	})
	s.converse(s.ctx, cs, med, d.Context(), d.Hangup, b.steps, b.hangupAfter, log)
	log.Info("sim: call ended")
}

// e164 writes a dialed user part as E.164 when it is a plain number
// ("15550000000" -> "+15550000000"); anything else is kept as it is.
func e164(user string) string {
	if user == "" {
		return ""
	}
	digits := digitsOnly(user)
	if digits == user || "+"+digits == user {
		return "+" + digits
	}
	return user
}

// ringEnd is how a ringing wait ended.
type ringEnd int

const (
	rangOut        ringEnd = iota // the wait is over
	callerCanceled                // the caller sent CANCEL
	simClosing                    // the simulator is closing
)
