package sip

import "testing"

func TestOfferCodecProblem(t *testing.T) {
	t.Parallel()
	const head = "v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\n"
	cases := []struct {
		name, sdp string
		refused   bool
	}{
		{"static PCMU", head + "m=audio 4000 RTP/AVP 0 101\r\n", false},
		{"static PCMA", head + "m=audio 4000 RTP/AVP 8\r\n", false},
		{"G.722 by name", head + "m=audio 4000 RTP/AVP 96\r\na=rtpmap:96 g722/8000\r\n", false},
		{"opus and telephone-event only", head + "m=audio 4000 RTP/AVP 111 101\r\na=rtpmap:111 opus/48000/2\r\na=rtpmap:101 telephone-event/8000\r\n", true},
		{"GSM", head + "m=audio 4000 RTP/AVP 3\r\n", true},
		{"PCMU in a rejected stream", head + "m=audio 0 RTP/AVP 0\r\nm=audio 4002 RTP/AVP 18\r\n", true},
		{"PCMU in a video stream", head + "m=video 4000 RTP/AVP 0\r\n", false},
		{"no body", "", false},
		{"a dynamic type renamed", head + "m=audio 4000 RTP/AVP 0\r\na=rtpmap:0 opus/48000/2\r\n", true},
	}
	for _, c := range cases {
		if got := offerCodecProblem([]byte(c.sdp)) != ""; got != c.refused {
			t.Errorf("%s: refused = %v, want %v", c.name, got, c.refused)
		}
	}
}
