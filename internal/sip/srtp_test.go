package sip

import (
	"testing"

	"github.com/minivoice/minivoice/internal/voice"
)

var voiceTrunkTLS = voice.Trunk{Name: "carrier", Host: "sip.example.net", Port: 5061, Transport: "tls"}

// TestAnswerHasSDES: an answer accepts SRTP only with an RTP/SAVP audio
// stream carrying an a=crypto key; keys on another stream, or a plain
// profile with a key (best-effort SRTP), do not count.
func TestAnswerHasSDES(t *testing.T) {
	const head = "v=0\r\no=- 1 1 IN IP4 192.0.2.1\r\ns=-\r\nc=IN IP4 192.0.2.1\r\nt=0 0\r\n"
	const key = "a=crypto:1 AES_CM_128_HMAC_SHA1_80 inline:WVNfX19zZW1jdGwgKCkgewkyMjA7fQp9CnVubGVz\r\n"
	for _, tc := range []struct {
		name string
		sdp  string
		want bool
	}{
		{"savp with key", head + "m=audio 4000 RTP/SAVP 0\r\n" + key, true},
		{"savp with key, LF only", "v=0\nc=IN IP4 192.0.2.1\nm=audio 4000 RTP/SAVP 0\n" + key[:len(key)-2] + "\n", true},
		{"plain", head + "m=audio 4000 RTP/AVP 0\r\na=rtpmap:0 PCMU/8000\r\n", false},
		{"avp with key", head + "m=audio 4000 RTP/AVP 0\r\n" + key, false},
		{"savp without key", head + "m=audio 4000 RTP/SAVP 0\r\n", false},
		{"key on video only", head + "m=audio 4000 RTP/SAVP 0\r\nm=video 4002 RTP/SAVP 96\r\n" + key, false},
		{"empty", "", false},
	} {
		if got := answerHasSDES([]byte(tc.sdp)); got != tc.want {
			t.Errorf("%s: %v, want %v", tc.name, got, tc.want)
		}
	}
}

// TestTransportIDs: every network has an SDES transport and a plain one,
// and a trunk with transport tls cannot be dialled without the TLS
// listener its Contact would have to name.
func TestTransportIDs(t *testing.T) {
	if transportID("udp", true) == transportID("udp", false) || transportID("tls", false) != "tls" {
		t.Error("transport ids do not tell SDES from plain")
	}
	e := &Engine{}
	if _, err := e.trunkTransport(&voiceTrunkTLS, true); err == nil {
		t.Error("a tls trunk was dialled without a TLS listener")
	}
	e.tls = &tlsListener{}
	if id, err := e.trunkTransport(&voiceTrunkTLS, true); err != nil || id != "tls+sdes" {
		t.Errorf("tls trunk with a listener: %q %v", id, err)
	}
}
