package e2e

import (
	"context"
	"os/exec"
	"strconv"
	"strings"
	"testing"
	"time"
)

// TestSippTrunkLimits: an outbound trunk's max_channels and max_cps
// (telephony.md, Trunk limits) against sipp's uas as the carrier. With one
// channel, a second call while the first is up is not sent and ends failed
// with no_trunk_available, naming the limit; once the first has ended its
// channel is free again. With max_cps 1, the second of two calls placed
// together is not sent either.
func TestSippTrunkLimits(t *testing.T) {
	t.Parallel()
	if _, err := exec.LookPath("sipp"); err != nil {
		t.Skip("sipp (Debian sip-tester) is not installed; .ci/run installs it")
	}
	l := startPlatform(t, "sqlite")
	_, app := l.fixture()
	l.answers.set(`[{"action":"pause","length":3},{"action":"hangup"}]`)
	port := freeUDPPort(t)
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	// The carrier answers exactly the calls the limits let through: three.
	uas := exec.CommandContext(ctx, "sipp", "-nostdin", "-sn", "uas", "-i", "127.0.0.1", "-p", strconv.Itoa(port), "-m", "3", "-timeout", "80")
	uas.Dir = t.TempDir()
	if err := uas.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- uas.Wait() }()
	trunk := l.do("POST", "/v1/trunks", map[string]any{"name": "carrier", "host": "127.0.0.1", "port": port,
		"max_channels": 1, "max_cps": 10}, 201)["id"].(string)
	call := func() string {
		t.Helper()
		return l.do("POST", "/v1/calls", map[string]any{"to": "+15551230003", "from": "+15551230001", "application_id": app}, 201)["id"].(string)
	}
	wantRefused := func(id, limit string) {
		t.Helper()
		c := l.waitCall(id)
		e, _ := c["error"].(map[string]any)
		if c["status"] != "failed" || e == nil || e["code"] != "no_trunk_available" || !strings.Contains(e["message"].(string), limit) {
			t.Errorf("call past the trunk's %s: %v", limit, c)
		}
	}
	wantCompleted := func(id string) {
		t.Helper()
		if c := l.waitCall(id); c["status"] != "completed" || c["sip_code"] != float64(200) {
			t.Errorf("call within the trunk's limits: %v", c)
		}
	}

	first := call()
	for deadline := time.Now().Add(30 * time.Second); ; {
		if l.do("GET", "/v1/calls/"+first, nil, 200)["status"] == "in-progress" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the first call never got answered: %v", l.do("GET", "/v1/calls/"+first, nil, 200))
		}
		time.Sleep(50 * time.Millisecond)
	}
	wantRefused(call(), "max_channels (1)")
	wantCompleted(first)
	wantCompleted(call()) // the channel is free again

	// One INVITE a second: of two calls placed together, one goes out.
	l.do("PATCH", "/v1/trunks/"+trunk, map[string]any{"max_channels": 10, "max_cps": 1}, 200)
	time.Sleep(1100 * time.Millisecond) // a full bucket
	a, b := call(), call()
	ca, cb := l.waitCall(a), l.waitCall(b)
	if ca["status"] == "failed" {
		ca, cb = cb, ca
	}
	if ca["status"] != "completed" {
		t.Errorf("of two calls at max_cps 1, neither completed: %v, %v", ca, cb)
	}
	if e, _ := cb["error"].(map[string]any); cb["status"] != "failed" || e == nil || e["code"] != "no_trunk_available" ||
		!strings.Contains(e["message"].(string), "max_cps (1)") {
		t.Errorf("the second call at max_cps 1: %v", cb)
	}
	if err := <-done; err != nil {
		t.Errorf("sipp uas (three calls answered, then it exits): %v", err)
	}
}
