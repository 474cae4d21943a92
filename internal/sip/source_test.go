package sip

import (
	"testing"

	"github.com/minivoice/minivoice/internal/callctl"
	"github.com/minivoice/minivoice/internal/voice"
)

// An unanswered attempt is the platform's doing ("system") when it gave up
// itself (no response at all, or CANCEL after the ring timeout), and the
// callee's when its final response ended it.
func TestAttemptResultSource(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name string
		res  attemptResult
		want voice.HangupSource
	}{
		{"ring timeout, CANCEL answered 487", attemptResult{outcome: Outcome{Status: voice.CallNoAnswer, Cause: CauseNoAnswer},
			sipCode: 487, reason: "Request Terminated"}, SourceSystem},
		{"no response at all", attemptResult{outcome: Outcome{Status: voice.CallFailed, Cause: CauseUnreachable}}, SourceSystem},
		{"busy", attemptResult{outcome: OutcomeForStatus(486), sipCode: 486}, SourceCallee},
		{"declined", attemptResult{outcome: OutcomeForStatus(603), sipCode: 603}, SourceCallee},
		{"480 from the far end", attemptResult{outcome: OutcomeForStatus(480), sipCode: 480}, SourceCallee},
	} {
		if got := tc.res.source(); got != tc.want {
			t.Errorf("%s: source %q, want %q", tc.name, got, tc.want)
		}
	}
}

// Whenever the platform ends an answered call itself (time_limit, balance
// cut-off, media timeout, an application error, a drain), the source is
// "system", on either direction.
func TestEndingForPlatformEnds(t *testing.T) {
	t.Parallel()
	for _, dir := range []struct {
		name                  string
		platformSide, farSide voice.HangupSource
	}{
		{"inbound", SourceCallee, SourceCaller}, {"outbound", SourceCaller, SourceCallee},
	} {
		for _, tc := range []struct {
			name      string
			end       callctl.End
			limit     voice.HangupCause
			api       voice.HangupSource
			wantCause voice.HangupCause
		}{
			{name: "time_limit", limit: CauseTimeLimit, wantCause: CauseTimeLimit},
			{name: "balance", limit: CauseInsufficientBalance, wantCause: CauseInsufficientBalance},
			{name: "media_timeout", limit: CauseMediaTimeout, wantCause: CauseMediaTimeout},
			{name: "application_error", end: callctl.End{Kind: callctl.EndError}, wantCause: CauseApplicationError},
			{name: "drain", api: SourceSystem, wantCause: CauseSystemShutdown},
		} {
			how := endingFor(tc.end, tc.limit, false, tc.api, dir.platformSide, dir.farSide)
			if how.Source != SourceSystem || how.Cause != tc.wantCause {
				t.Errorf("%s %s: %s from %s, want %s from system", dir.name, tc.name, how.Cause, how.Source, tc.wantCause)
			}
		}
	}
}
