package sip

import (
	"github.com/emiago/sipgo"
	sipmsg "github.com/emiago/sipgo/sip"
)

// rejectMalformed answers 400 to requests missing a header every request must
// carry (RFC 3261 8.1.1) before the dialog layer sees them: the layers below
// assume From, To, Call-ID, CSeq and Via exist, and a request without them
// must get a SIP error, not a crash (RFC 4475 "insuf").
func rejectMalformed(next sipgo.RequestHandler) sipgo.RequestHandler {
	return func(req *sipmsg.Request, tx sipmsg.ServerTransaction) {
		if reason := missingHeader(req); reason != "" {
			if req.IsAck() {
				return // ACKs get no response
			}
			_ = tx.Respond(sipmsg.NewResponseFromRequest(req, sipmsg.StatusBadRequest, reason, nil))
			return
		}
		next(req, tx)
	}
}

func missingHeader(req *sipmsg.Request) string {
	switch {
	case req.From() == nil:
		return "Missing From"
	case req.To() == nil:
		return "Missing To"
	case req.CallID() == nil:
		return "Missing Call-ID"
	case req.CSeq() == nil:
		return "Missing CSeq"
	case req.Via() == nil:
		return "Missing Via"
	}
	return ""
}
