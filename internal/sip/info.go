package sip

import (
	"errors"
	"log/slog"

	sipmsg "github.com/emiago/sipgo/sip"
	"github.com/minivoice/minivoice/internal/media/dtmf"
)

// dialogLeg is an answered leg with the tags that identify its dialog.
type dialogLeg struct {
	leg        *leg
	tagA, tagB string // the INVITE's From tag and the 2xx's To tag
}

// matches reports whether a request with these From and To tags belongs to
// the dialog, in either direction (RFC 3261 12.2.2: the far end's From tag is
// our remote tag and its To tag our local one, whichever side sent the INVITE).
func (d dialogLeg) matches(from, to string) bool {
	return from != "" && to != "" && (from == d.tagA && to == d.tagB || from == d.tagB && to == d.tagA)
}

func fromTag(m interface{ From() *sipmsg.FromHeader }) string {
	if h := m.From(); h != nil {
		t, _ := h.Params.Get("tag")
		return t
	}
	return ""
}

func toTag(m interface{ To() *sipmsg.ToHeader }) string {
	if h := m.To(); h != nil {
		t, _ := h.Params.Get("tag")
		return t
	}
	return ""
}

// callIDOf is a request's Call-ID.
func callIDOf(req *sipmsg.Request) string {
	if req == nil || req.CallID() == nil {
		return ""
	}
	return req.CallID().Value()
}

// registerLeg makes a leg reachable by its dialog (the INVITE and the 2xx
// that established it), so key presses sent as SIP INFO reach it; the
// returned func removes it. Several legs may share a Call-ID (a call the
// platform places to its own DID), hence a list per Call-ID.
func (e *Engine) registerLeg(invite *sipmsg.Request, ok *sipmsg.Response, l *leg) func() {
	callID := callIDOf(invite)
	if callID == "" || ok == nil {
		return func() {}
	}
	d := dialogLeg{leg: l, tagA: fromTag(invite), tagB: toTag(ok)}
	e.legMu.Lock()
	e.legs[callID] = append(e.legs[callID], d)
	e.legMu.Unlock()
	return func() {
		e.legMu.Lock()
		defer e.legMu.Unlock()
		list := e.legs[callID]
		for i, x := range list {
			if x.leg == l {
				list = append(list[:i], list[i+1:]...)
				break
			}
		}
		if len(list) == 0 {
			delete(e.legs, callID)
		} else {
			e.legs[callID] = list
		}
	}
}

// legFor finds the leg of the dialog req belongs to.
func (e *Engine) legFor(req *sipmsg.Request) *leg {
	from, to := fromTag(req), toTag(req)
	e.legMu.Lock()
	defer e.legMu.Unlock()
	for _, d := range e.legs[callIDOf(req)] {
		if d.matches(from, to) {
			return d.leg
		}
	}
	return nil
}

// onInfo takes DTMF sent as SIP INFO (application/dtmf-relay or
// application/dtmf) within an answered call. diago answers every INFO 406,
// so the engine registers this handler in its place.
func (e *Engine) onInfo(req *sipmsg.Request, tx sipmsg.ServerTransaction) {
	respond := func(code int, reason string, hdrs ...sipmsg.Header) {
		res := sipmsg.NewResponseFromRequest(req, code, reason, nil)
		for _, h := range hdrs {
			res.AppendHeader(h)
		}
		if err := tx.Respond(res); err != nil {
			e.log.Debug("info response", slog.Any("error", err))
		}
	}
	l := e.legFor(req)
	if l == nil {
		respond(481, "Call/Transaction Does Not Exist")
		return
	}
	ct := ""
	if h := req.ContentType(); h != nil {
		ct = h.Value()
	}
	d, err := dtmf.ParseInfo(ct, req.Body())
	switch {
	case errors.Is(err, dtmf.ErrContentType):
		// Other INFO packages (media control, etc.) are not ours to handle;
		// RFC 3261 21.4.16 wants the 415 to say what is accepted.
		respond(415, "Unsupported Media Type", sipmsg.NewHeader("Accept", "application/dtmf-relay, application/dtmf"))
	case err != nil:
		respond(400, "Bad Request")
	default:
		l.pushDigit(d)
		respond(200, "OK")
	}
}
