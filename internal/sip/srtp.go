package sip

// SRTP with SDES keys (RFC 4568 a=crypto, RFC 3711), as diago implements it
// with pion/srtp: AES_CM_128_HMAC_SHA1_80. Inbound calls get it whenever the
// caller offers it (diagoTransports); outbound calls as the trunk's srtp
// setting says (docs/tls.md).

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"strings"
	"time"

	"github.com/minivoice/minivoice/internal/voice"
)

// invite places one trunk's INVITE with the media its srtp setting asks
// for: plain RTP (off), SRTP with a plain answer accepted (optional; a 488
// to the SRTP offer is retried once with plain RTP, as peers that do not
// do SRTP answer it), or SRTP only (required: an answer without a=crypto is
// hung up and the trunk counts as failed, so the next one is tried).
func (e *Engine) invite(ctx context.Context, rec *callRecord, t *voice.Trunk, log *slog.Logger) *attemptResult {
	srtp := t.SRTP == voice.SRTPOptional || t.SRTP == voice.SRTPRequired
	tid, err := e.trunkTransport(t, srtp)
	if err != nil {
		return &attemptResult{outcome: Outcome{Status: voice.CallFailed, Cause: CauseUnreachable, Failover: true},
			detail: trunkName(t) + " " + err.Error()}
	}
	res := e.inviteTrunk(ctx, rec, t, tid, log)
	switch t.SRTP {
	case voice.SRTPOptional:
		if res.dialog == nil && res.sipCode == 488 && ctx.Err() == nil {
			log.Info("srtp offer refused with 488; offering plain rtp", slog.String("trunk_id", t.ID))
			plain, _ := e.trunkTransport(t, false)
			first := res.detail
			res = e.inviteTrunk(ctx, rec, t, plain, log)
			res.detail = first + " to the SRTP offer; offered plain RTP: " + trimTrunkName(t, res.detail)
		}
	case voice.SRTPRequired:
		if res.dialog != nil && !answerHasSDES(res.dialog.InviteResponse.Body()) {
			log.Warn("trunk answered without srtp; hanging up", slog.String("trunk_id", t.ID))
			hctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
			_ = res.dialog.Hangup(hctx)
			cancel()
			res.media.Close()
			res.dialog.Close()
			return &attemptResult{outcome: Outcome{Status: voice.CallFailed, Cause: CauseCarrierError, Failover: true},
				sipCode: res.sipCode, reason: res.reason,
				detail: fmt.Sprintf("%s answered %d %s without SRTP (no RTP/SAVP with a=crypto), which its srtp setting requires; hung up",
					trunkName(t), res.sipCode, res.reason)}
		}
	}
	return res
}

// trimTrunkName is an attempt's detail without the trunk's name in front.
func trimTrunkName(t *voice.Trunk, detail string) string {
	return strings.TrimPrefix(detail, trunkName(t)+" ")
}

// answerHasSDES reports whether an SDP answer accepts SRTP: its audio
// stream is RTP/SAVP and carries an a=crypto key. diago has already checked
// the key is of the suite offered when it applied the answer.
func answerHasSDES(sdp []byte) bool {
	savp, crypto, inAudio := false, false, false
	for _, line := range bytes.Split(sdp, []byte("\n")) {
		line = bytes.TrimRight(line, "\r")
		switch {
		case bytes.HasPrefix(line, []byte("m=")):
			f := bytes.Fields(line[2:])
			inAudio = len(f) >= 3 && string(f[0]) == "audio"
			if inAudio {
				savp = string(f[2]) == "RTP/SAVP"
			}
		case inAudio && bytes.HasPrefix(line, []byte("a=crypto:")):
			crypto = true
		}
	}
	return savp && crypto
}

// sdesSuite is the one SDES crypto suite diago implements.
const sdesSuite = "AES_CM_128_HMAC_SHA1_80"

// prepareOffer readies an inbound SDP offer for diago's SDES support, or
// says why the platform cannot take its media (the INVITE then gets 488).
// diago would otherwise fail the answer on what it does not understand:
// a key lifetime in an a=crypto key ("inline:KEY|2^31", common from
// carriers) is dropped here, as a lifetime only bounds how long the key may
// be used (RFC 4568 6.1) and calls end long before; keys with an MKI, which
// changes every packet's layout, and keys of other suites are left out so
// diago picks a usable one. DTLS-SRTP offers, and SRTP offers left without a
// usable key, are refused.
func prepareOffer(sdp []byte) ([]byte, string) {
	lines := bytes.SplitAfter(sdp, []byte("\n"))
	out := make([][]byte, 0, len(lines))
	proto, inAudio, usable, changed := "", false, false, false
	for _, line := range lines {
		text := strings.TrimRight(string(line), "\r\n")
		switch {
		case strings.HasPrefix(text, "m="):
			f := strings.Fields(text[2:])
			inAudio = len(f) >= 3 && f[0] == "audio"
			if inAudio && proto == "" {
				proto = f[2]
			}
		case inAudio && strings.HasPrefix(text, "a=crypto:"):
			f := strings.Fields(text)
			if len(f) < 3 || f[1] != sdesSuite || !strings.HasPrefix(f[2], "inline:") {
				changed = true
				continue // a suite diago cannot use
			}
			key, params, _ := strings.Cut(strings.TrimPrefix(f[2], "inline:"), "|")
			if strings.Contains(params, ":") || strings.Contains(f[2], ";") {
				changed = true
				continue // an MKI, or several keys: not supported
			}
			if params != "" {
				f[2] = "inline:" + key
				line = []byte(strings.Join(f, " ") + "\r\n")
				changed = true
			}
			usable = true
		}
		out = append(out, line)
	}
	switch {
	case strings.HasPrefix(proto, "UDP/TLS/"):
		return sdp, "the offer is DTLS-SRTP (" + proto + "), which is not supported; offer SDES (RTP/SAVP with a=crypto) or RTP/AVP"
	case proto == "RTP/SAVP" && !usable:
		return sdp, "the SRTP offer has no a=crypto key of " + sdesSuite + " without MKI, the only one supported"
	}
	if !changed {
		return sdp, ""
	}
	return bytes.Join(out, nil), ""
}
