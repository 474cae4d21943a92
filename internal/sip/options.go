package sip

import (
	"context"
	"log/slog"
	"strings"

	sipmsg "github.com/emiago/sipgo/sip"
)

// drainRetryAfter is the Retry-After (seconds) of a draining node's 503 to
// OPTIONS: a hint for a proxy that honours it; Kamailio's dispatcher
// probes on its own interval regardless.
const drainRetryAfter = "60"

// onOptions answers OPTIONS, which a SIP load balancer in front of the
// nodes (deploy/kamailio) sends as its health check: 200 while the node
// takes new calls, 503 while it drains or a listener is down, so the
// balancer stops sending INVITEs here before the process goes away. It
// replaces diago's handler, which answers 200 always. OPTIONS never passes
// the edge's trunk screen: a node with no trunks yet, or a proxy whose
// address no trunk lists, still gets an answer.
func (e *Engine) onOptions(req *sipmsg.Request, tx sipmsg.ServerTransaction) {
	res := optionsResponse(req, e.Ready(context.Background()), e.server.RegisteredMethods())
	if err := tx.Respond(res); err != nil {
		e.log.Debug("sip options answer", slog.Any("error", err))
	}
}

// optionsResponse is the answer to an OPTIONS request: 503 with
// Retry-After when notReady says why the node takes no calls, else 200 with
// what the node accepts.
func optionsResponse(req *sipmsg.Request, notReady error, methods []string) *sipmsg.Response {
	if notReady != nil {
		res := sipmsg.NewResponseFromRequest(req, 503, "Service Unavailable", nil)
		res.AppendHeader(sipmsg.NewHeader("Retry-After", drainRetryAfter))
		return res
	}
	res := sipmsg.NewResponseFromRequest(req, 200, "OK", nil)
	if len(methods) > 0 {
		res.AppendHeader(sipmsg.NewHeader("Allow", strings.Join(methods, ", ")))
	}
	res.AppendHeader(sipmsg.NewHeader("Accept", "application/sdp"))
	return res
}
