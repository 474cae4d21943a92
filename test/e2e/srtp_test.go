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
