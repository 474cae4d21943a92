package e2e

// What an outbound call offers for each trunk srtp setting, and what it does
// with an answer that ignores an SRTP offer (answers plain RTP/AVP without
// a=crypto, which some carriers do): a peer written with sipgo on loopback
// UDP records every offer and answers plain RTP.

import (
	"context"
	"fmt"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/emiago/sipgo"
	"github.com/emiago/sipgo/sip"
	"github.com/minivoice/minivoice/internal/store/storetest"
)

// plainPeer answers every INVITE 200 with a plain RTP/AVP PCMU answer.
type plainPeer struct {
	port   int
	mu     sync.Mutex
	offers []string
	byes   int
}

func startPlainPeer(t *testing.T) *plainPeer {
	t.Helper()
	conn, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	rtp, err := net.ListenPacket("udp", "127.0.0.1:0") // takes RTP, never reads it
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { rtp.Close() })
	p := &plainPeer{port: conn.LocalAddr().(*net.UDPAddr).Port}
	ua, err := sipgo.NewUA(sipgo.WithUserAgent("plain-peer"))
	if err != nil {
		t.Fatal(err)
	}
	srv, err := sipgo.NewServer(ua)
	if err != nil {
		t.Fatal(err)
	}
	answer := fmt.Sprintf("v=0\r\no=peer 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\n"+
		"m=audio %d RTP/AVP 0\r\na=rtpmap:0 PCMU/8000\r\na=sendrecv\r\n", rtp.LocalAddr().(*net.UDPAddr).Port)
	srv.OnInvite(func(req *sip.Request, tx sip.ServerTransaction) {
		p.mu.Lock()
		p.offers = append(p.offers, string(req.Body()))
		p.mu.Unlock()
		res := sip.NewResponseFromRequest(req, 200, "OK", []byte(answer))
		res.AppendHeader(sip.NewHeader("Content-Type", "application/sdp"))
		res.AppendHeader(&sip.ContactHeader{Address: sip.Uri{Scheme: "sip", User: "peer", Host: "127.0.0.1", Port: p.port}})
		_ = tx.Respond(res)
	})
	srv.OnAck(func(*sip.Request, sip.ServerTransaction) {})
	srv.OnBye(func(req *sip.Request, tx sip.ServerTransaction) {
		p.mu.Lock()
		p.byes++
		p.mu.Unlock()
		_ = tx.Respond(sip.NewResponseFromRequest(req, 200, "OK", nil))
	})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		_ = srv.ServeUDP(conn)
	}()
	t.Cleanup(func() {
		cancel()
		conn.Close()
		<-done
		_ = srv.Close()
		_ = ua.Close()
		_ = ctx
	})
	return p
}

func (p *plainPeer) snapshot() ([]string, int) {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([]string(nil), p.offers...), p.byes
}

// TestSRTPRequiredRefusesPlainAnswer: srtp off offers RTP/AVP without keys;
// optional and required offer RTP/SAVP with an AES_CM_128_HMAC_SHA1_80
// a=crypto key. A plain answer completes the call under optional; under
// required the platform ACKs, hangs up at once (BYE) and fails the call
// with carrier_error saying the answer had no SRTP, on both backends.
func TestSRTPRequiredRefusesPlainAnswer(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, backend string) {
		peer := startPlainPeer(t)
		l := startPlatform(t, backend)
		cust, app := l.fixture()
		tlsOwnNumber(l, cust)
		l.answers.set(`[{"action":"hangup"}]`)
		trunk := l.do("POST", "/v1/trunks", map[string]any{"name": "plain", "host": "127.0.0.1", "port": peer.port}, 201)["id"].(string)
		call := func() map[string]any {
			id := l.do("POST", "/v1/calls", map[string]any{"to": "+15551230003", "from": "+15551230001", "application_id": app}, 201)["id"].(string)
			return l.waitCall(id)
		}
		for i, mode := range []string{"off", "optional", "required"} {
			l.do("PATCH", "/v1/trunks/"+trunk, map[string]any{"srtp": mode}, 200)
			c := call()
			offers, byes := peer.snapshot()
			offer := offers[len(offers)-1]
			savp := strings.Contains(offer, "RTP/SAVP") && strings.Contains(offer, "a=crypto:1 AES_CM_128_HMAC_SHA1_80 inline:")
			if savp != (mode != "off") || (mode == "off" && (strings.Contains(offer, "crypto") || !strings.Contains(offer, "RTP/AVP"))) {
				t.Errorf("srtp %s offered:\n%s", mode, offer)
			}
			if len(offers) != i+1 {
				t.Errorf("srtp %s: %d INVITEs in all, want %d", mode, len(offers), i+1)
			}
			if mode != "required" {
				if c["status"] != "completed" {
					t.Errorf("srtp %s, plain answer: %v", mode, c)
				}
				continue
			}
			e, _ := c["error"].(map[string]any)
			if c["status"] != "failed" || c["hangup_cause"] != "carrier_error" || c["sip_code"] != float64(200) || e == nil ||
				e["code"] != "carrier_error" || !strings.Contains(fmt.Sprint(e["message"]), "without SRTP") {
				t.Errorf("srtp required, plain answer: %v", c)
			}
			t.Logf("srtp required, plain answer: %v", e["message"])
			if byes != 3 {
				t.Errorf("%d BYEs in all, want 3 (one per call)", byes)
			}
		}
	})
}

// TestInboundOfferRefused488: inbound offers whose media the platform
// cannot take, a DTLS-SRTP offer (UDP/TLS/RTP/SAVP) and an SRTP offer with
// only an AES-256 key, get 488 before the application is asked; the call is
// failed with media_failed saying why, on both backends.
func TestInboundOfferRefused488(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, backend string) {
		l := startPlatform(t, backend)
		cust, app := l.fixture()
		l.do("POST", "/v1/trunks", map[string]any{"name": "in", "direction": "inbound", "allowed_cidrs": []string{"127.0.0.1"}}, 201)
		l.do("POST", "/v1/numbers", map[string]any{"number": tlsDID, "customer_id": cust, "application_id": app}, 201)
		ua, err := sipgo.NewUA(sipgo.WithUserAgent("offer-test"))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = ua.Close() })
		client, err := sipgo.NewClient(ua, sipgo.WithClientHostname("127.0.0.1"))
		if err != nil {
			t.Fatal(err)
		}
		const head = "v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\n"
		offers := []struct{ name, sdp, why string }{
			{"dtls", head + "m=audio 4000 UDP/TLS/RTP/SAVP 0\r\na=rtpmap:0 PCMU/8000\r\na=fingerprint:sha-256 AB:CD\r\na=setup:actpass\r\n",
				"DTLS-SRTP"},
			{"aes256 only", head + "m=audio 4000 RTP/SAVP 0\r\na=rtpmap:0 PCMU/8000\r\n" +
				"a=crypto:1 AES_256_CM_HMAC_SHA1_80 inline:WVNfX19zZW1jdGwgKCkgewkyMjA7fQp9CnVubGVzWVNfX19zZW1jdGwgKCkgewkyMjA7fQp9CnVubGVz\r\n",
				"no a=crypto key of AES_CM_128_HMAC_SHA1_80"},
			{"no common codec", head + "m=audio 4000 RTP/AVP 111 101\r\na=rtpmap:111 opus/48000/2\r\na=rtpmap:101 telephone-event/8000\r\n",
				"no audio codec the platform takes"},
		}
		for _, tc := range offers {
			req := sip.NewRequest(sip.INVITE, sip.Uri{Scheme: "sip", User: tlsDID, Host: "127.0.0.1", Port: int(l.p.SIP.Addr().Port())})
			fromParams := sip.NewParams()
			fromParams.Add("tag", sip.GenerateTagN(8))
			req.AppendHeader(&sip.FromHeader{Address: sip.Uri{Scheme: "sip", User: "+15550001111", Host: "127.0.0.1"}, Params: fromParams})
			req.AppendHeader(&sip.ContactHeader{Address: sip.Uri{Scheme: "sip", User: "caller", Host: "127.0.0.1"}})
			req.AppendHeader(sip.NewHeader("Content-Type", "application/sdp"))
			req.SetBody([]byte(tc.sdp))
			ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
			res, err := client.Do(ctx, req)
			cancel()
			if err != nil {
				t.Fatalf("%s: %v", tc.name, err)
			}
			if res.StatusCode != 488 {
				t.Errorf("%s: answered %d %s, want 488", tc.name, res.StatusCode, res.Reason)
			}
		}
		calls := l.do("GET", "/v1/calls?direction=inbound", nil, 200)["data"].([]any)
		if len(calls) != len(offers) {
			t.Fatalf("%d inbound calls, want %d", len(calls), len(offers))
		}
		var messages []string
		for _, raw := range calls {
			c := l.waitCall(raw.(map[string]any)["id"].(string))
			e, _ := c["error"].(map[string]any)
			if c["status"] != "failed" || c["sip_code"] != float64(488) || e == nil || e["code"] != "media_failed" {
				t.Errorf("call: %v", c)
			}
			messages = append(messages, fmt.Sprint(e["message"]))
			t.Logf("refused offer: %v", e["message"])
		}
		for _, tc := range offers {
			if !strings.Contains(strings.Join(messages, "\n"), tc.why) {
				t.Errorf("%s: no call's error says %q", tc.name, tc.why)
			}
		}
		l.answers.mu.Lock()
		asked := len(l.answers.bodies)
		l.answers.mu.Unlock()
		if asked != 0 {
			t.Errorf("the answer_url was fetched %d times for refused offers", asked)
		}
	})
}
