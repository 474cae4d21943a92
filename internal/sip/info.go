package sip

import (
	"log/slog"

	sipmsg "github.com/emiago/sipgo/sip"
	"github.com/minivoice/minivoice/internal/media/dtmf"
)

// callIDOf is a request's Call-ID, which names its dialog for INFO.
func callIDOf(req *sipmsg.Request) string {
	if req == nil || req.CallID() == nil {
		return ""
	}
	return req.CallID().Value()
}

// registerLeg makes a leg reachable by its dialog's Call-ID, so key presses
// sent as SIP INFO reach it; the returned func removes it.
func (e *Engine) registerLeg(callID string, l *leg) func() {
	if callID == "" {
		return func() {}
	}
	e.legMu.Lock()
	e.legs[callID] = l
	e.legMu.Unlock()
	return func() {
		e.legMu.Lock()
		if e.legs[callID] == l {
			delete(e.legs, callID)
		}
		e.legMu.Unlock()
	}
}

// onInfo takes DTMF sent as SIP INFO (application/dtmf-relay or
// application/dtmf) within an answered call. diago answers every INFO 406,
// so the engine registers this handler in its place.
func (e *Engine) onInfo(req *sipmsg.Request, tx sipmsg.ServerTransaction) {
	respond := func(code int, reason string) {
		if err := tx.Respond(sipmsg.NewResponseFromRequest(req, code, reason, nil)); err != nil {
			e.log.Debug("info response", slog.Any("error", err))
		}
	}
	e.legMu.Lock()
	l := e.legs[callIDOf(req)]
	e.legMu.Unlock()
	if l == nil {
		respond(481, "Call/Transaction Does Not Exist")
		return
	}
	ct := ""
	if h := req.ContentType(); h != nil {
		ct = h.Value()
	}
	d, err := dtmf.ParseInfo(ct, req.Body())
	if err != nil {
		// Other INFO packages (media control, etc.) are not ours to handle.
		respond(415, "Unsupported Media Type")
		return
	}
	l.pushDigit(d)
	respond(200, "OK")
}
