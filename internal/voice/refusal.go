package voice

import (
	"context"
	"time"
)

// SIPRefusal is an inbound INVITE the platform turned away before it could
// be tied to a customer: no inbound trunk matched its source, its digest
// credentials failed, or its DID is not E.164 or not a number of any
// customer. These are the operator's business (a misconfigured carrier, a
// scanner), so they go to a bounded log only the operator reads
// (GET /v1/sip/refusals); an INVITE refused for a known DID becomes a failed
// call of the number's customer instead.
type SIPRefusal struct {
	ID        string    `json:"id"`
	CreatedAt time.Time `json:"created_at"`
	// Source is the address the INVITE came from, IP:port.
	Source    string `json:"source"`
	Transport string `json:"transport"`
	// From is the From header's user part, To the Request-URI's user part
	// (the dialled DID as sent).
	From string `json:"from"`
	To   string `json:"to"`
	// SIPCode and Reason are the final response sent.
	SIPCode int    `json:"sip_code"`
	Reason  string `json:"reason"`
	// Why says in words why it was refused.
	Why string `json:"why"`
	// CallID is the INVITE's SIP Call-ID, to find it in a packet capture.
	CallID string `json:"call_id"`
}

// SIPRefusalFilter narrows a refusal listing.
type SIPRefusalFilter struct {
	// Since keeps refusals created at or after it.
	Since *time.Time
	// SourceIP keeps refusals from this address, any port.
	SourceIP string
	// Source keeps refusals from exactly this IP:port.
	Source string
}

// SIPRefusalStore keeps the operator's bounded log of refused INVITEs.
type SIPRefusalStore interface {
	// AddSIPRefusal stores r and, in the same transaction, deletes the
	// oldest refusals beyond the newest keep, so the log never holds more
	// than keep rows whatever arrives.
	AddSIPRefusal(ctx context.Context, r *SIPRefusal, keep int) error
	// SIPRefusals lists refusals newest first.
	SIPRefusals(ctx context.Context, f SIPRefusalFilter, p Page) (List[*SIPRefusal], error)
}
