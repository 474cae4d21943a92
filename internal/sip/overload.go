package sip

import (
	"strconv"
	"sync/atomic"
)

// setupGate bounds the inbound calls being admitted at once: from the moment
// the INVITE's trunk is known until the call's record is written (routing,
// the credit check and its reservation, the record). Those steps queue on
// the database; past what it can take, every further INVITE only makes the
// queue, and so every caller's wait, longer, until calls time out and the
// rate answered falls far below the rate the node can carry (measured in
// docs/benchmarks.md: 400 calls/s clean, then 186/s answered at 500/s
// offered). Refusing the excess at once with 503 and Retry-After is cheap,
// keeps the admitted calls' setup short, and tells a proxy in front
// (Kamailio's dispatcher) to try another node.
type setupGate struct {
	limit int64 // 0: no limit
	n     atomic.Int64
}

// enter takes a place, or reports false when the gate is full.
func (g *setupGate) enter() bool {
	if g.n.Add(1) > g.limit && g.limit > 0 {
		g.n.Add(-1)
		return false
	}
	return true
}

// leave gives a place back.
func (g *setupGate) leave() { g.n.Add(-1) }

// overloaded is the refusal of an INVITE the gate has no place for. One
// second is what a retrying caller should wait: the queue it met drains in
// well under that.
func (e *Engine) overloaded() *Refusal {
	return &Refusal{Code: 503, Reason: "Service Unavailable", RetryAfter: 1,
		Why: "overloaded: " + strconv.FormatInt(e.setups.limit, 10) + " inbound calls already being admitted (serve --max-call-setups)"}
}
