package e2e

// Key presses from sipp, a SIP stack nobody here wrote, into a gather: as
// RFC 4733 telephone-events replayed from the dtmf_2833_*.pcap captures
// Debian ships with sipp, and as SIP INFO (application/dtmf-relay).

import (
	"net/http"
	"net/http/httptest"
	"os/exec"
	"path/filepath"
	"testing"
)

// sippGather has sipp run scenario (a file of testdata/sipp) against a DID
// whose application gathers up to five digits finished by #, and whose
// action_url hangs up. It checks that the gather saw wantDigits ended by the
// finish key, that the application and the call's events were told so, and
// that the call ended normally with the platform's BYE.
func sippGather(t *testing.T, scenario, wantDigits string) {
	t.Helper()
	if _, err := exec.LookPath("sipp"); err != nil {
		t.Skip("sipp (Debian sip-tester) is not installed; .ci/run installs it")
	}
	if _, err := exec.LookPath("flite"); err != nil {
		t.Skip("flite is not installed")
	}
	l := startPlatform(t, "sqlite")
	// The application's action_url: the answer server answers every path
	// with the gather, so the result goes to a server of its own.
	h := &scHooks{routes: map[string]scRoute{}, reqs: map[string][]map[string]any{}}
	h.srv = httptest.NewServer(h)
	t.Cleanup(h.srv.Close)
	gathered := h.actions("/gathered", http.StatusOK, `[{"action":"hangup"}]`)

	cust, app := l.fixture()
	l.do("POST", "/v1/trunks", map[string]any{"name": "sipp", "direction": "inbound", "allowed_cidrs": []string{"127.0.0.1"}}, 201)
	l.do("POST", "/v1/numbers", map[string]any{"number": "+15551230002", "customer_id": cust, "application_id": app}, 201)
	l.answers.set(`[{"action":"gather","max_digits":5,"timeout":10,"finish_on_key":"#","action_url":"` + gathered +
		`","prompt":[{"action":"say","text":"Enter your code"}]}]`)

	sf, err := filepath.Abs(filepath.Join("testdata", "sipp", scenario))
	if err != nil {
		t.Fatal(err)
	}
	out, sippErr := sipp(t, l.p.SIP.Addr().String(), "-sf", sf, "-s", "15551230002", "-m", "1", "-i", "127.0.0.1")
	defer func() {
		if t.Failed() {
			t.Logf("sipp output:\n%s", out)
		}
	}()
	if sippErr != nil {
		t.Errorf("sipp scenario %s failed: %v", scenario, sippErr)
	}

	id := l.latestCall()
	c := l.waitCall(id)
	if c["status"] != "completed" || c["direction"] != "inbound" || c["hangup_source"] != "callee" ||
		c["hangup_cause"] != "normal_clearing" || c["codec"] != "PCMU" {
		t.Errorf("call: %v", c)
	}

	// action_url was asked once, with what was pressed.
	reqs := h.requests("/gathered")
	if len(reqs) != 1 {
		t.Fatalf("action_url asked %d times, want once: %v", len(reqs), reqs)
	}
	r, _ := reqs[0]["result"].(map[string]any)
	if r == nil || r["digits"] != wantDigits || r["reason"] != "finish_key" {
		t.Errorf("action_url result %v, want digits %q by finish_key", r, wantDigits)
	}
	if rc, _ := reqs[0]["call"].(map[string]any); rc == nil || rc["id"] != id {
		t.Errorf("action_url request without the call: %v", reqs[0])
	}

	evs := scEvents(t, l, id)
	if d := scEvent(evs, "call.gather"); d == nil || d["digits"] != wantDigits || d["reason"] != "finish_key" {
		t.Errorf("call.gather event %v, want digits %q by finish_key (events %s)", d, wantDigits, scNames(evs))
	}
	if got := scNames(evs); got != "call.initiated,call.ringing,call.answered,call.gather,call.completed" {
		t.Errorf("events %s", got)
	}
}

// TestSippDTMFIntoGather: sipp answers a gather by replaying its shipped
// RFC 4733 captures for 4, 2 and #: the platform gets "42", finished by #.
func TestSippDTMFIntoGather(t *testing.T) {
	t.Parallel()
	sippGather(t, "uac_dtmf_rfc4733.xml", "42")
}

// TestSippInfoDTMFIntoGather: sipp presses 7, 3 and # as SIP INFO
// application/dtmf-relay within the dialog, after an INFO of another package
// that the platform refuses with 415 (the scenario fails on any other
// answer): the platform gets "73", finished by #.
func TestSippInfoDTMFIntoGather(t *testing.T) {
	t.Parallel()
	sippGather(t, "uac_dtmf_info.xml", "73")
}
