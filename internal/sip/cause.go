// Package sip is MiniVoice's telephony engine: SIP signalling and RTP media
// through sipgo and diago, wrapped so the rest of the platform sees call legs,
// not library types. Inbound (DID routing) and outbound (trunks) handling live
// in separate files; both drive the same call lifecycle, which records every
// state change and its event in one transaction.
package sip

import (
	"github.com/minivoice/minivoice/internal/voice"
)

// The engine's names for voice's hangup causes and sources.
const (
	CauseNormalClearing      = voice.CauseNormalClearing
	CauseUserBusy            = voice.CauseUserBusy
	CauseNoAnswer            = voice.CauseNoAnswer
	CauseUnreachable         = voice.CauseUnreachable
	CauseCarrierError        = voice.CauseCarrierError
	CauseInvalidNumber       = voice.CauseInvalidNumber
	CauseCallRejected        = voice.CauseCallRejected
	CauseOriginatorCancel    = voice.CauseOriginatorCancel
	CauseTimeLimit           = voice.CauseTimeLimit
	CauseInsufficientBalance = voice.CauseInsufficientBalance
	CauseMediaTimeout        = voice.CauseMediaTimeout
	CauseApplicationError    = voice.CauseApplicationError
	CauseAckTimeout          = voice.CauseAckTimeout
	CauseSystemShutdown      = voice.CauseSystemShutdown
	CauseSystemRestart       = voice.CauseSystemRestart

	SourceCaller = voice.SourceCaller
	SourceCallee = voice.SourceCallee
	SourceAPI    = voice.SourceAPI
	SourceSystem = voice.SourceSystem
)

// Outcome is how a call attempt ended before or without answer: the call's
// final status and cause, and whether another trunk should be tried.
type Outcome struct {
	Status   string
	Cause    voice.HangupCause
	Failover bool
}

// OutcomeForStatus maps a final SIP response to an outbound INVITE onto the
// call's outcome (telephony.md, Outbound).
func OutcomeForStatus(code int) Outcome {
	switch code {
	case 486, 600:
		return Outcome{Status: voice.CallBusy, Cause: CauseUserBusy}
	case 404, 484, 604:
		return Outcome{Status: voice.CallFailed, Cause: CauseInvalidNumber}
	case 403, 603:
		return Outcome{Status: voice.CallFailed, Cause: CauseCallRejected}
	case 408, 480:
		return Outcome{Status: voice.CallFailed, Cause: CauseUnreachable, Failover: true}
	case 500, 502, 503, 504:
		return Outcome{Status: voice.CallFailed, Cause: CauseCarrierError, Failover: true}
	}
	switch {
	case code >= 500:
		return Outcome{Status: voice.CallFailed, Cause: CauseCarrierError}
	case code >= 400:
		return Outcome{Status: voice.CallFailed, Cause: CauseCallRejected}
	}
	return Outcome{Status: voice.CallFailed, Cause: CauseCarrierError}
}

// Refusal is an inbound INVITE turned away before a call record exists.
type Refusal struct {
	Code       int
	Reason     string
	RetryAfter int
	// Why is logged and counted, never sent: the caller learns only the status.
	Why string
	// Err is what the refused call of a known DID tells its customer (nil
	// for refusals that go to the operator's log).
	Err *voice.CallError
}

// Error codes of a call's error object for failures the engine itself
// decides (an application's failures carry the fetcher's codes, and an
// admission refusal the API's: destination_not_allowed, insufficient_balance,
// customer_suspended, concurrency_limit, cps_limit, daily_spend_limit).
// Clients branch on them, so they never change once shipped.
const (
	// Inbound, refused for a known DID.
	ErrNumberDisabled      = "number_disabled"
	ErrNoApplication       = "no_application"
	ErrApplicationInactive = voice.ECodeApplicationInactive
	ErrNoAnswerURL         = "no_answer_url"
	// Outbound: no trunk could be tried, none answered at all, or the last
	// one tried answered with a failure (the hangup_cause's word).
	ErrNoTrunkAvailable = voice.ECodeNoTrunkAvailable
	ErrTrunkUnreachable = "trunk_unreachable"
	// Either direction.
	ErrCallRejected  = string(CauseCallRejected)
	ErrAckTimeout    = string(CauseAckTimeout)
	ErrMediaFailed   = "media_failed"
	ErrSystemRestart = string(CauseSystemRestart)
	ErrNodeLost      = string(voice.CauseNodeLost)
	ErrInternal      = voice.ECodeInternal
)

func (r *Refusal) Error() string { return r.Reason + ": " + r.Why }

// mediaError is the error of a call answered whose media could not be set up.
func mediaError() *voice.CallError {
	return &voice.CallError{Code: ErrMediaFailed, Message: "the call was answered but its audio (RTP) could not be set up"}
}
