package e2e

import (
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/minivoice/minivoice/internal/sim"
	"github.com/minivoice/minivoice/internal/sip"
	"github.com/minivoice/minivoice/internal/sipnet"
	"github.com/minivoice/minivoice/internal/stacktest"
)

// edgeApp answers every call with a pause of eight seconds, then hangs up: a
// real call long enough to be up while the edge is attacked.
type edgeApp struct{}

func (edgeApp) ServeHTTP(w http.ResponseWriter, _ *http.Request) {
	w.Header().Set("Content-Type", "application/json")
	_, _ = io.WriteString(w, `[{"action":"pause","length":8},{"action":"hangup"}]`)
}

// edgeInvite is an INVITE from a stranger at src (a loopback address no
// trunk allows) to the platform, over UDP.
func edgeInvite(src *net.UDPAddr, platform, callID string) string {
	return fmt.Sprintf("INVITE sip:+15550009999@%[2]s SIP/2.0\r\n"+
		"Via: SIP/2.0/UDP %[1]s;branch=z9hG4bK-%[3]s;rport\r\n"+
		"Max-Forwards: 70\r\n"+
		"From: <sip:scanner@%[1]s>;tag=%[3]s\r\n"+
		"To: <sip:+15550009999@%[2]s>\r\n"+
		"Call-ID: %[3]s\r\n"+
		"CSeq: 1 INVITE\r\n"+
		"Contact: <sip:scanner@%[1]s>\r\n"+
		"Content-Length: 0\r\n\r\n", src, platform, callID)
}

// stranger is a UDP socket on a loopback address of its own.
func stranger(t *testing.T, ip string) *net.UDPConn {
	t.Helper()
	c, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.ParseIP(ip)})
	if err != nil {
		t.Skipf("no loopback address %s: %v", ip, err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// responses reads final SIP responses on c until quiet passes without any
// response: the wait for retransmissions (UDP's first comes 500 ms after
// the response, then 1 s, 2 s) that must not come. A 100 Trying (sipgo
// sends one when a decision takes over 200 ms, as it may on a loaded test
// machine) is left out.
func responses(t *testing.T, c *net.UDPConn, quiet time.Duration) []string {
	t.Helper()
	var got []string
	buf := make([]byte, 65535)
	for {
		_ = c.SetReadDeadline(time.Now().Add(quiet))
		n, err := c.Read(buf)
		var ne net.Error
		if errors.As(err, &ne) && ne.Timeout() {
			return got
		}
		if err != nil {
			t.Fatal(err)
		}
		if msg := string(buf[:n]); !strings.HasPrefix(msg, "SIP/2.0 1") {
			got = append(got, msg)
		}
	}
}

func statusLine(msg string) string {
	line, _, _ := strings.Cut(msg, "\r\n")
	return line
}

// TestSIPEdge: the platform under attack at its SIP edge, with a real call
// up throughout. INVITEs from a source no trunk matches get exactly one 403
// each, written without a transaction (no retransmission, no goroutine
// left), up to the per-source rate; the rest are dropped. Idle and
// half-sent TCP connections are closed after the (shortened) timeouts, and
// connections over the per-source cap are closed at once. /readyz reports
// each listener. It counts the process's goroutines, so it runs alone in a
// process of its own (aloneInProcess).
func TestSIPEdge(t *testing.T) {
	if !aloneInProcess(t) {
		return
	}
	st := stacktest.Start(t, stacktest.Config{App: edgeApp{}, Edge: sip.EdgeConfig{
		Stream:      sipnet.StreamConfig{IdleTimeout: time.Second, HeaderTimeout: 700 * time.Millisecond, MaxConnsPerSource: 20},
		RefusalRate: 0.001, RefusalBurst: 5, RefusalRateTotal: 1000, RefusalBurstTotal: 1000}})
	st.InboundTrunkFromSim(t)
	cust := st.Customer(t, "edge")
	app := st.Application(t, cust, st.AppURL+"/answer")
	did := "+15558880001"
	st.Number(t, did, cust, app)
	platform := st.SIPAddr()

	// A real call, up while everything below happens.
	call := st.GoSimCall(t, sim.CallOptions{From: "+15557770009", To: did})

	t.Run("one_403_no_retransmission", func(t *testing.T) {
		c := stranger(t, "127.0.0.3")
		if _, err := c.WriteToUDP([]byte(edgeInvite(c.LocalAddr().(*net.UDPAddr), platform, "edge-one")),
			net.UDPAddrFromAddrPort(st.Platform.SIP.Addr())); err != nil {
			t.Fatal(err)
		}
		got := responses(t, c, 2500*time.Millisecond)
		if len(got) != 1 || statusLine(got[0]) != "SIP/2.0 403 Forbidden" || !strings.Contains(got[0], "Call-ID: edge-one") {
			t.Fatalf("got %d responses, want exactly one 403: %q", len(got), got)
		}
		r := waitRefusal(t, st, "15550009999")
		if stacktest.Num(r["sip_code"]) != 403 || !strings.HasPrefix(stacktest.Str(r["source"]), "127.0.0.3:") ||
			!strings.Contains(stacktest.Str(r["why"]), "matches no inbound trunk") {
			t.Errorf("refusal %v", r)
		}
	})

	t.Run("rate_limit_per_source", func(t *testing.T) {
		c := stranger(t, "127.0.0.4")
		to := net.UDPAddrFromAddrPort(st.Platform.SIP.Addr())
		for i := range 20 {
			if _, err := c.WriteToUDP([]byte(edgeInvite(c.LocalAddr().(*net.UDPAddr), platform, fmt.Sprintf("edge-rate-%d", i))), to); err != nil {
				t.Fatal(err)
			}
		}
		got := responses(t, c, 2500*time.Millisecond)
		for _, r := range got {
			if statusLine(r) != "SIP/2.0 403 Forbidden" {
				t.Errorf("response %q", statusLine(r))
			}
		}
		if len(got) != 5 {
			t.Fatalf("%d answers to 20 INVITEs from one source, want the burst of 5", len(got))
		}
	})

	t.Run("flood_leaves_nothing_behind", func(t *testing.T) {
		before := st.Platform.SIP.EdgeStats()
		base := runtime.NumGoroutine()
		const sources, each = 40, 10
		to := net.UDPAddrFromAddrPort(st.Platform.SIP.Addr())
		var wg sync.WaitGroup
		answers := make([]int, sources)
		for s := range sources {
			c := stranger(t, fmt.Sprintf("127.0.1.%d", s+1))
			wg.Add(1)
			go func() {
				defer wg.Done()
				for i := range each {
					_, _ = c.WriteToUDP([]byte(edgeInvite(c.LocalAddr().(*net.UDPAddr), platform, fmt.Sprintf("edge-flood-%d-%d", s, i))), to)
					time.Sleep(2 * time.Millisecond) // paced, so the socket's buffer keeps up under -race
				}
				answers[s] = len(responses(t, c, 2500*time.Millisecond))
			}()
		}
		wg.Wait()
		after := st.Platform.SIP.EdgeStats()
		answered, limited := after.Answered-before.Answered, after.RateLimited-before.RateLimited
		total := 0
		for s, n := range answers {
			total += n
			if n > 5 {
				t.Errorf("source %d got %d answers, above its burst of 5", s, n)
			}
		}
		// UDP may lose INVITEs on a loaded machine; whatever arrived was
		// answered once or dropped, and each answer arrived once.
		t.Logf("%d INVITEs sent, %d answered, %d rate limited", sources*each, answered, limited)
		if int64(total) != answered || answered+limited > sources*each || limited == 0 || answered < sources {
			t.Errorf("%d answers received, %d answered, %d rate limited of %d sent", total, answered, limited, sources*each)
		}
		// Nothing is left running for the refused INVITEs: the goroutines
		// come back to where they were (the bound is a hang guard).
		deadline := time.Now().Add(20 * time.Second)
		for runtime.NumGoroutine() > base+20 {
			if time.Now().After(deadline) {
				t.Fatalf("%d goroutines after the flood, %d before", runtime.NumGoroutine(), base)
			}
			time.Sleep(50 * time.Millisecond)
		}
	})

	t.Run("tcp_idle_half_sent_and_cap", func(t *testing.T) {
		before := st.Platform.SIP.StreamStats()
		dial := func(ip string) net.Conn {
			d := net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(ip)}}
			c, err := d.Dial("tcp", platform)
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { c.Close() })
			return c
		}
		var idle, half []net.Conn
		for range 20 {
			c := dial("127.0.0.5")
			// A complete message (answered), then silence.
			if _, err := io.WriteString(c, "OPTIONS sip:"+platform+" SIP/2.0\r\nVia: SIP/2.0/TCP 127.0.0.5:5060;branch=z9hG4bK-o\r\n"+
				"From: <sip:a@127.0.0.5>;tag=1\r\nTo: <sip:"+platform+">\r\nCall-ID: edge-opt\r\nCSeq: 1 OPTIONS\r\nContent-Length: 0\r\n\r\n"); err != nil {
				t.Fatal(err)
			}
			idle = append(idle, c)
		}
		// The 21st from the same address is closed at once.
		over := dial("127.0.0.5")
		_ = over.SetReadDeadline(time.Now().Add(20 * time.Second))
		if n, err := over.Read(make([]byte, 1)); err == nil || n != 0 {
			t.Fatalf("a connection over the per-source cap was kept: %d %v", n, err)
		}
		for range 10 {
			c := dial("127.0.0.6")
			if _, err := io.WriteString(c, "INVITE sip:+1555 SIP/2.0\r\nVia: SIP/2.0/TCP 127.0.0.6;branch=z9hG4bK-h\r\nCont"); err != nil {
				t.Fatal(err)
			}
			half = append(half, c)
		}
		for _, c := range append(idle, half...) {
			_ = c.SetReadDeadline(time.Now().Add(20 * time.Second))
			if _, err := io.Copy(io.Discard, c); err != nil {
				t.Fatalf("connection not closed by the platform: %v", err)
			}
		}
		for st.Platform.SIP.StreamStats().Open != 0 {
			time.Sleep(20 * time.Millisecond) // the stack closes its side after the read ends
		}
		// Counted once the platform has finished closing: the client can
		// see its EOF before the listener has counted the close.
		after := st.Platform.SIP.StreamStats()
		if after.ClosedIdle-before.ClosedIdle != 20 || after.ClosedHeader-before.ClosedHeader != 10 ||
			after.RefusedPerSource-before.RefusedPerSource != 1 {
			t.Errorf("before %+v after %+v: want 20 closed idle, 10 closed half-sent, 1 refused", before, after)
		}
	})

	t.Run("readyz_lists_listeners", func(t *testing.T) {
		status, body := apiGet(t, st, st.Key, "/readyz")
		for _, want := range []string{`"sip_udp":"ok"`, `"sip_tcp":"ok"`, `"sip":"ok"`} {
			if status != 200 || !strings.Contains(strings.ReplaceAll(body, " ", ""), want) {
				t.Errorf("/readyz %d %s: want %s", status, body, want)
			}
		}
	})

	rep := call(t)
	if !rep.Answered || rep.SIPStatus != 200 {
		t.Fatalf("the real call during the attack: %+v", rep)
	}
	calls := st.Calls(t, "to=%2B15558880001")
	if len(calls) != 1 || calls[0]["status"] != "completed" {
		t.Fatalf("the real call's record: %v", calls)
	}
	m := metrics(t, st)
	if m[`minivoice_sip_edge_invites_total{action="answered"}`] < 1+5+40 || m[`minivoice_sip_edge_invites_total{action="rate_limited"}`] < 15 {
		t.Errorf("edge metrics %v %v", m[`minivoice_sip_edge_invites_total{action="answered"}`], m[`minivoice_sip_edge_invites_total{action="rate_limited"}`])
	}
}

// TestSIPEdgeBackends: on each backend (the edge reads the trunks and
// writes the refusals log there), a stranger's INVITE gets one 403 and is
// logged; with DropUnknown (--sip-drop-unknown) it gets no answer at all,
// while a trunk's INVITE is answered as ever.
func TestSIPEdgeBackends(t *testing.T) {
	t.Parallel()
	for _, backend := range []string{"sqlite", "postgres"} {
		t.Run(backend, func(t *testing.T) {
			t.Parallel()
			t.Run("answered", func(t *testing.T) {
				t.Parallel()
				st := stacktest.Start(t, stacktest.Config{Backend: backend})
				st.InboundTrunkFromSim(t)
				c := stranger(t, "127.0.0.8")
				if _, err := c.WriteToUDP([]byte(edgeInvite(c.LocalAddr().(*net.UDPAddr), st.SIPAddr(), "edge-be-"+backend)),
					net.UDPAddrFromAddrPort(st.Platform.SIP.Addr())); err != nil {
					t.Fatal(err)
				}
				if got := responses(t, c, 2500*time.Millisecond); len(got) != 1 || statusLine(got[0]) != "SIP/2.0 403 Forbidden" {
					t.Fatalf("got %q, want one 403", got)
				}
				r := waitRefusal(t, st, "15550009999")
				if !strings.HasPrefix(stacktest.Str(r["source"]), "127.0.0.8:") || stacktest.Num(r["sip_code"]) != 403 {
					t.Errorf("refusal %v", r)
				}
			})
			t.Run("dropped", func(t *testing.T) {
				t.Parallel()
				st := stacktest.Start(t, stacktest.Config{Backend: backend, Edge: sip.EdgeConfig{DropUnknown: true}})
				st.InboundTrunkFromSim(t)
				c := stranger(t, "127.0.0.7")
				if _, err := c.WriteToUDP([]byte(edgeInvite(c.LocalAddr().(*net.UDPAddr), st.SIPAddr(), "edge-drop-"+backend)),
					net.UDPAddrFromAddrPort(st.Platform.SIP.Addr())); err != nil {
					t.Fatal(err)
				}
				if got := responses(t, c, 2500*time.Millisecond); len(got) != 0 {
					t.Fatalf("a dropped INVITE was answered: %q", got)
				}
				if s := st.Platform.SIP.EdgeStats(); s.Dropped != 1 || s.Answered != 0 {
					t.Errorf("edge stats %+v, want 1 dropped", s)
				}
				// The trunk's source still gets its answer: 404 for a number nobody has.
				if rep := st.SimCall(t, sim.CallOptions{From: "+15557770010", To: "+15569990010"}); rep.SIPStatus != 404 {
					t.Errorf("trunk INVITE got %d, want 404", rep.SIPStatus)
				}
			})
		})
	}
}
