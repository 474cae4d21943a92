package sip

import (
	"strings"
)

// offerCodecProblem says why an SDP offer has no audio codec the platform
// takes (G.722, PCMU, PCMA; telephone-event alone is no codec), or "" when
// it has one or is not an audio offer at all (no body, no m=audio line: a
// late offer is left to the SIP stack). Such an offer is refused with 488
// before the application is asked (telephony.md), rather than answered and
// then failed, which the caller would see as a 480 after a long wait.
func offerCodecProblem(sdp []byte) string {
	var formats []string // payload types of the audio streams
	names := map[string]string{}
	inAudio, audio := false, false
	for _, line := range strings.Split(string(sdp), "\n") {
		line = strings.TrimRight(line, "\r")
		switch {
		case strings.HasPrefix(line, "m="):
			f := strings.Fields(line[2:])
			inAudio = len(f) >= 4 && f[0] == "audio" && f[1] != "0"
			if inAudio {
				audio = true
				formats = append(formats, f[3:]...)
			}
		case inAudio && strings.HasPrefix(line, "a=rtpmap:"):
			pt, enc, ok := strings.Cut(strings.TrimPrefix(line, "a=rtpmap:"), " ")
			if ok {
				names[pt] = strings.ToUpper(strings.TrimSpace(enc))
			}
		}
	}
	if !audio {
		return ""
	}
	for _, pt := range formats {
		if name, ok := names[pt]; ok {
			if strings.HasPrefix(name, "PCMU/8000") || strings.HasPrefix(name, "PCMA/8000") || strings.HasPrefix(name, "G722/8000") {
				return ""
			}
			continue
		}
		switch pt { // static payload types need no rtpmap (RFC 3551)
		case "0", "8", "9":
			return ""
		}
	}
	return "the offer has no audio codec the platform takes (G.722, PCMU or PCMA)"
}
