package console_test

import (
	"bufio"
	"context"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/minivoice/minivoice/internal/voice"
)

// readEvent reads one server-sent event's data line of type name.
func readEvent(t *testing.T, rd *bufio.Reader, name string) string {
	t.Helper()
	ev := ""
	for {
		line, err := rd.ReadString('\n')
		if err != nil {
			t.Fatalf("reading the stream: %v", err)
		}
		line = strings.TrimRight(line, "\n")
		switch {
		case strings.HasPrefix(line, "event: "):
			ev = strings.TrimPrefix(line, "event: ")
		case strings.HasPrefix(line, "data: ") && ev == name:
			return strings.TrimPrefix(line, "data: ")
		}
	}
}

// TestLiveCalls: the overview shows the key's calls that have not ended,
// and /live streams the number as it changes, scoped to the tenant; it
// needs a session.
func TestLiveCalls(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	cust, other := h.customer("live-a"), h.customer("live-b")
	app, otherApp := h.application(cust), h.application(other)
	key, _ := h.customerKey(cust)
	live := h.addCall(cust, app, time.Now(), func(c *voice.Call) { c.Status = voice.CallInProgress })
	h.addCall(cust, app, time.Now(), nil) // completed
	h.addCall(other, otherApp, time.Now(), func(c *voice.Call) { c.Status = voice.CallRinging })

	b := h.browser()
	if p := b.get("/live"); p.status != http.StatusSeeOther {
		t.Errorf("/live without a session: %d, want a redirect to sign in", p.status)
	}
	b.signIn(key)
	if p := b.get("/"); !strings.Contains(p.body, `<strong id="live-calls">1</strong>`) || !strings.Contains(p.body, "/static/live.js") {
		t.Errorf("overview lacks the live count of 1:\n%s", p.body)
	}

	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, "GET", h.url+"/live", nil)
	resp, err := b.c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if ct := resp.Header.Get("Content-Type"); resp.StatusCode != 200 || ct != "text/event-stream" {
		t.Fatalf("/live: %d %s", resp.StatusCode, ct)
	}
	rd := bufio.NewReader(resp.Body)
	if n := readEvent(t, rd, "live"); n != "1" {
		t.Errorf("first count %s, want 1 (the other tenant's ringing call is not counted)", n)
	}
	live.Status = voice.CallCompleted
	if err := h.store.UpdateCall(context.Background(), live); err != nil {
		t.Fatal(err)
	}
	if n := readEvent(t, rd, "live"); n != "0" {
		t.Errorf("after the call ended: %s, want 0", n)
	}
}
