package e2e

import (
	"bytes"
	"math/rand/v2"
	"net"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"
)

// send writes msg to addr over network and reads whatever comes back for a
// moment; the answer is not asserted (a torture message may get a 400 or be
// dropped), only that the platform survives and keeps serving.
func send(t *testing.T, network, addr string, msg []byte, wait time.Duration) {
	t.Helper()
	c, err := net.Dial(network, addr)
	if err != nil {
		t.Fatalf("dial %s %s: %v", network, addr, err)
	}
	defer c.Close()
	_, _ = c.Write(msg)
	if wait == 0 {
		return
	}
	_ = c.SetReadDeadline(time.Now().Add(wait))
	buf := make([]byte, 4096)
	_, _ = c.Read(buf)
}

// TestTortureMessagesAndFuzz throws RFC 4475-style torture messages and
// randomly mutated INVITEs at the SIP port over UDP and TCP; afterwards a real
// call must still work and the goroutines the garbage started must be gone.
//
// It counts the process's goroutines, so it runs alone in a process of its
// own (aloneInProcess).
func TestTortureMessagesAndFuzz(t *testing.T) {
	if !aloneInProcess(t) {
		return
	}
	l := startPlatform(t, "sqlite")
	cust, app := l.fixture()
	// Mutated INVITEs that still parse become calls whose 200 OK nobody ACKs;
	// they hold a call slot for 64*T1 (main_test.go), so the limit must not refuse sipp's call.
	l.do("PATCH", "/v1/customers/"+cust, map[string]any{"max_concurrent_calls": 10000}, 200)
	l.do("POST", "/v1/trunks", map[string]any{"name": "local", "direction": "inbound", "allowed_cidrs": []string{"127.0.0.1"}}, 201)
	l.do("POST", "/v1/numbers", map[string]any{"number": "+15551230002", "customer_id": cust, "application_id": app}, 201)
	l.answers.set(`[{"action":"hangup"}]`)
	addr := l.p.SIP.Addr().String()
	baseline := sipGoroutines()

	files, err := filepath.Glob("testdata/torture/*.sip")
	if err != nil || len(files) == 0 {
		t.Fatalf("no torture messages: %v", err)
	}
	for _, f := range files {
		msg, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		msg = bytes.ReplaceAll(msg, []byte("HOST"), []byte(addr))
		send(t, "udp", addr, msg, 300*time.Millisecond)
		send(t, "tcp", addr, msg, 300*time.Millisecond)
	}

	// Mutations of a valid INVITE: flipped, dropped and duplicated bytes and
	// lines, with a fixed seed so a failure reproduces.
	valid := "INVITE sip:+15551230002@" + addr + " SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:5999;branch=z9hG4bK-fuzz\r\n" +
		"Max-Forwards: 70\r\nTo: <sip:+15551230002@" + addr + ">\r\nFrom: <sip:+15551230001@127.0.0.1>;tag=fz\r\n" +
		"Call-ID: fuzz@127.0.0.1\r\nCSeq: 1 INVITE\r\nContact: <sip:f@127.0.0.1:5999>\r\nContent-Length: 0\r\n\r\n"
	rng := rand.New(rand.NewPCG(4475, 1))
	for i := 0; i < 300; i++ {
		m := []byte(strings.Replace(valid, "fuzz@", "fuzz"+string(rune('a'+i%26))+"@", 1))
		for n := rng.IntN(8) + 1; n > 0; n-- {
			switch rng.IntN(4) {
			case 0:
				m[rng.IntN(len(m))] = byte(rng.IntN(256))
			case 1:
				j := rng.IntN(len(m))
				m = append(m[:j], m[j+1:]...)
			case 2:
				j := rng.IntN(len(m))
				m = append(m[:j], append([]byte{m[j]}, m[j:]...)...)
			case 3:
				lines := bytes.Split(m, []byte("\r\n"))
				j := rng.IntN(len(lines))
				lines = append(lines[:j], lines[j+1:]...)
				m = bytes.Join(lines, []byte("\r\n"))
			}
		}
		network := "udp"
		if i%5 == 0 {
			network = "tcp"
		}
		send(t, network, addr, m, 0)
	}

	// Still answering real calls.
	out, _ := sipp(t, addr, "-sn", "uac", "-s", "15551230002", "-m", "1", "-d", "1000", "-i", "127.0.0.1")
	found := false
	for _, c := range l.do("GET", "/v1/calls?limit=200", nil, 200)["data"].([]any) {
		m := c.(map[string]any)
		if strings.HasPrefix(m["from"].(string), "sipp") {
			found = true
			if final := l.waitCall(m["id"].(string)); final["status"] != "completed" {
				t.Fatalf("call after the torture: %v", final)
			}
		}
	}
	if !found {
		t.Fatalf("sipp's call after the torture was not recorded:\n%s\nmetrics:\n%s", out, l.refusals())
	}

	// Goroutines the garbage started in the SIP stack wind down (transactions
	// time out); poll rather than assert a duration. Idle HTTP keep-alive
	// connections of the test's own clients are not counted.
	deadline := time.Now().Add(45 * time.Second)
	for sipGoroutines() > baseline+2 && time.Now().Before(deadline) {
		time.Sleep(200 * time.Millisecond)
	}
	if n := sipGoroutines(); n > baseline+2 {
		buf := make([]byte, 1<<20)
		t.Fatalf("%d SIP goroutines, %d before the torture:\n%s", n, baseline, buf[:runtime.Stack(buf, true)])
	}
}

// sipGoroutines counts goroutines running SIP or media code (sipgo, diago, the engine).
func sipGoroutines() int {
	buf := make([]byte, 8<<20)
	n := 0
	for _, g := range strings.Split(string(buf[:runtime.Stack(buf, true)]), "\n\n") {
		if strings.Contains(g, "emiago/") || strings.Contains(g, "minivoice/internal/sip.") {
			n++
		}
	}
	return n
}
