package sip

import (
	"net"
	"strings"
	"testing"

	dmedia "github.com/emiago/diago/media"

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

// TestPrepareOffer: what diago's SDES support is given for each kind of
// inbound offer, checked against diago's own media session: a key with a
// lifetime, which diago fails on as sent, is taken once the lifetime is
// dropped; keys with an MKI or of other suites are left out when a usable
// one remains; DTLS-SRTP and SRTP offers without a usable key are refused.
func TestPrepareOffer(t *testing.T) {
	const key = "WVNfX19zZW1jdGwgKCkgewkyMjA7fQp9CnVubGVz"
	offer := func(proto string, cryptos ...string) string {
		s := "v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\nm=audio 4000 " + proto +
			" 0\r\na=rtpmap:0 PCMU/8000\r\n"
		for _, c := range cryptos {
			s += c + "\r\n"
		}
		return s
	}
	lifetime := "a=crypto:1 AES_CM_128_HMAC_SHA1_80 inline:" + key + "|2^31"
	mki := "a=crypto:2 AES_CM_128_HMAC_SHA1_80 inline:" + key + "|2^20|1:4"
	aes256 := "a=crypto:3 AES_256_CM_HMAC_SHA1_80 inline:" + key + key
	plainKey := "a=crypto:4 AES_CM_128_HMAC_SHA1_80 inline:" + key
	for _, tc := range []struct {
		name       string
		sdp        string
		refused    bool
		wantCrypto string // the a=crypto line left, "" for none
		diagoFails bool   // whether diago fails on the offer as sent
	}{
		{"plain", offer("RTP/AVP"), false, "", false},
		{"savp", offer("RTP/SAVP", plainKey), false, plainKey, false},
		{"lifetime", offer("RTP/SAVP", lifetime), false, "a=crypto:1 AES_CM_128_HMAC_SHA1_80 inline:" + key, true},
		{"mki first, plain second", offer("RTP/SAVP", mki, plainKey), false, plainKey, true},
		{"aes256 first", offer("RTP/SAVP", aes256, plainKey), false, plainKey, false},
		{"only mki", offer("RTP/SAVP", mki), true, "", true},
		{"only aes256", offer("RTP/SAVP", aes256), true, "", true},
		{"savp without key", offer("RTP/SAVP"), true, "", true},
		{"best effort", offer("RTP/AVP", plainKey), false, plainKey, false},
		{"dtls", offer("UDP/TLS/RTP/SAVP") + "a=fingerprint:sha-256 AB:CD\r\na=setup:actpass\r\n", true, "", false},
	} {
		got, why := prepareOffer([]byte(tc.sdp))
		if (why != "") != tc.refused {
			t.Errorf("%s: refused %q, want refused %v", tc.name, why, tc.refused)
			continue
		}
		if diagoErr(tc.sdp) != tc.diagoFails {
			t.Errorf("%s: diago fails on the offer as sent: %v, want %v", tc.name, !tc.diagoFails, tc.diagoFails)
		}
		if tc.refused {
			continue
		}
		var cryptos []string
		for _, l := range strings.Split(string(got), "\r\n") {
			if strings.HasPrefix(l, "a=crypto:") {
				cryptos = append(cryptos, l)
			}
		}
		if (tc.wantCrypto == "" && len(cryptos) != 0) || (tc.wantCrypto != "" && (len(cryptos) != 1 || cryptos[0] != tc.wantCrypto)) {
			t.Errorf("%s: crypto lines %q, want %q", tc.name, cryptos, tc.wantCrypto)
		}
		if diagoErr(string(got)) {
			t.Errorf("%s: diago fails on the prepared offer:\n%s", tc.name, got)
		}
	}
}

// diagoErr reports whether diago's media session, with SDES on as the
// platform's inbound transports have it, fails to take sdp as an offer.
func diagoErr(sdp string) bool {
	s := &dmedia.MediaSession{Codecs: []dmedia.Codec{dmedia.CodecAudioUlaw}, Laddr: net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)},
		Mode: "sendrecv", SecureRTP: 1, SRTPAlg: 1}
	if err := s.Init(); err != nil {
		panic(err)
	}
	defer s.Close()
	return s.RemoteSDP([]byte(sdp), false) != nil
}
