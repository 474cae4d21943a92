package sip

import (
	"errors"
	"fmt"
	"strings"
	"syscall"
	"testing"
	"time"

	sipmsg "github.com/emiago/sipgo/sip"
	"github.com/minivoice/minivoice/internal/voice"
)

func TestTokenBucket(t *testing.T) {
	t.Parallel()
	b := newBucket(2, 5)
	now := time.Date(2025, 6, 1, 12, 0, 0, 0, time.UTC)
	allowed := 0
	for range 100 { // a flood within one instant: only the burst passes
		if b.allow(now) {
			allowed++
		}
	}
	if allowed != 5 {
		t.Fatalf("%d allowed at once, want the burst of 5", allowed)
	}
	// One second refills two tokens; a clock going backwards refills none.
	allowed = 0
	for range 3 {
		if b.allow(now.Add(time.Second)) {
			allowed++
		}
	}
	if allowed != 2 {
		t.Errorf("after 1 s: %d more allowed, want exactly 2", allowed)
	}
	if b.allow(now) {
		t.Errorf("a clock going backwards refilled the bucket")
	}
	// A long pause refills to the burst, not beyond.
	allowed = 0
	for range 100 {
		if b.allow(now.Add(time.Hour)) {
			allowed++
		}
	}
	if allowed != 5 {
		t.Errorf("after an hour %d allowed, want the burst of 5", allowed)
	}
}

func TestCallErrorOfAttempts(t *testing.T) {
	t.Parallel()
	dead := &voice.Trunk{Name: "carrier", Host: "sip.example.net", Port: 5060, Transport: "udp", SetupTimeout: 8}
	backup := &voice.Trunk{Name: "backup", Host: "2001:db8::1", Port: 5080, Transport: "tcp"}
	for _, c := range []struct {
		name     string
		res      *attemptResult
		code     string
		contains []string
	}{
		{"no trunk", nil, "no_trunk_available", []string{"no active outbound trunk"}},
		{"setup timeout then 503", &attemptResult{outcome: OutcomeForStatus(503), sipCode: 503, reason: "Service Unavailable",
			tried: []string{trunkName(dead) + " " + unreachableWhy(dead, errors.New("context canceled"), true),
				fmt.Sprintf("%s answered 503 Service Unavailable", trunkName(backup))}},
			"carrier_error", []string{`trunk "carrier" did not answer the INVITE within 8 s`,
				`; then trunk "backup" answered 503 Service Unavailable`}},
		{"timer B", &attemptResult{outcome: Outcome{Status: voice.CallFailed, Cause: CauseUnreachable},
			tried: []string{trunkName(dead) + " " + unreachableWhy(dead, fmt.Errorf("invite: %w", sipmsg.ErrTransactionTimeout), false)}},
			"trunk_unreachable", []string{"within 32 s (timer B)"}},
		{"refused", &attemptResult{outcome: Outcome{Status: voice.CallFailed, Cause: CauseUnreachable},
			tried: []string{trunkName(backup) + " " + unreachableWhy(backup, fmt.Errorf("dial tcp 127.0.0.1:1: %w", syscall.ECONNREFUSED), false)}},
			"trunk_unreachable", []string{"refused the connection over tcp"}},
		{"all skipped", &attemptResult{outcome: Outcome{Status: voice.CallFailed, Cause: CauseUnreachable}, noneTried: true,
			tried: []string{trunkName(dead) + " was skipped: at its max_channels (2)"}}, "no_trunk_available", []string{"max_channels"}},
		{"invalid number", &attemptResult{outcome: OutcomeForStatus(404), sipCode: 404, reason: "Not Found",
			tried: []string{trunkName(dead) + " answered 404 Not Found"}}, "invalid_number", []string{"answered 404 Not Found"}},
	} {
		e := c.res.callError()
		if e == nil || e.Code != c.code {
			t.Errorf("%s: error %+v, want code %s", c.name, e, c.code)
			continue
		}
		for _, s := range c.contains {
			if !strings.Contains(e.Message, s) {
				t.Errorf("%s: message %q lacks %q", c.name, e.Message, s)
			}
		}
		if strings.Contains(e.Message, "127.0.0.1") {
			t.Errorf("%s: message %q shows a local address", c.name, e.Message)
		}
	}
	if e := (&attemptResult{outcome: OutcomeForStatus(486)}).callError(); e != nil {
		t.Errorf("busy has an error: %+v", e)
	}
}
