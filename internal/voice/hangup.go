package voice

// HangupCause is why a call ended: the stable word of a call's hangup_cause
// (telephony docs). Clients branch on it, so a value never changes once
// shipped.
type HangupCause string

// Hangup causes.
const (
	CauseNormalClearing      HangupCause = "normal_clearing"
	CauseUserBusy            HangupCause = "user_busy"
	CauseNoAnswer            HangupCause = "no_answer"
	CauseUnreachable         HangupCause = "unreachable"
	CauseCarrierError        HangupCause = "carrier_error"
	CauseInvalidNumber       HangupCause = "invalid_number"
	CauseCallRejected        HangupCause = "call_rejected"
	CauseOriginatorCancel    HangupCause = "originator_cancel"
	CauseTimeLimit           HangupCause = "time_limit"
	CauseInsufficientBalance HangupCause = "insufficient_balance"
	CauseMediaTimeout        HangupCause = "media_timeout"
	CauseApplicationError    HangupCause = "application_error"
	CauseAckTimeout          HangupCause = "ack_timeout"
	CauseSystemShutdown      HangupCause = "system_shutdown"
	CauseSystemRestart       HangupCause = "system_restart"
	// CauseNodeLost closes a call whose node stopped renewing its lease (a
	// cluster node died); a surviving node wrote the end.
	CauseNodeLost HangupCause = "node_lost"
)

// HangupCauses lists every hangup cause.
var HangupCauses = []HangupCause{CauseNormalClearing, CauseUserBusy, CauseNoAnswer, CauseUnreachable, CauseCarrierError,
	CauseInvalidNumber, CauseCallRejected, CauseOriginatorCancel, CauseTimeLimit, CauseInsufficientBalance,
	CauseMediaTimeout, CauseApplicationError, CauseAckTimeout, CauseSystemShutdown, CauseSystemRestart, CauseNodeLost}

// HangupSource is who ended a call: its hangup_source.
type HangupSource string

// Hangup sources.
const (
	SourceCaller HangupSource = "caller"
	SourceCallee HangupSource = "callee"
	SourceAPI    HangupSource = "api"
	SourceSystem HangupSource = "system"
)

// CanceledCause is the cause of a call hung up by source before it was
// answered: the platform's own hang-ups (a drain past its deadline) are
// system_shutdown, anyone else's originator_cancel.
func CanceledCause(source HangupSource) HangupCause {
	if source == SourceSystem {
		return CauseSystemShutdown
	}
	return CauseOriginatorCancel
}

// CompletedData is the data of a call's call.completed event: how it ended
// and what it cost.
func CompletedData(c *Call) map[string]any {
	return map[string]any{"hangup_cause": c.HangupCause, "hangup_source": c.HangupSource, "sip_code": c.SIPCode,
		"sip_reason": c.SIPReason, "duration": c.Duration, "billable_seconds": c.BillableSeconds, "price": c.Price,
		"currency": c.Currency}
}
