package e2e

import (
	"net/http"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/minivoice/minivoice/internal/sim"
	"github.com/minivoice/minivoice/internal/stacktest"
)

// TestInsightsAnalysis is the analysis of issue 15 on one real call: the
// platform asks why the caller calls, the simulated caller (flite, G.722)
// says they were charged twice and want their money back, presses 1 at a
// menu, and the platform says what was logged and who will call back. The
// pipeline's summary names the key pressed (a fact read from the call's
// gather event), quotes the platform's outcome and its follow-up; the
// topics carry their evidence segment; the platform's greeting counts for
// the billing topic as exact text. What pocketsphinx makes of the caller is
// checked loosely (bench/insights-eval measures it on 34 dialogues).
func TestInsightsAnalysis(t *testing.T) {
	if testing.Short() {
		t.Skip("a real call and its transcription: not in -short")
	}
	if _, err := exec.LookPath("pocketsphinx_continuous"); err != nil {
		t.Skip("pocketsphinx is not installed (Debian packages pocketsphinx and pocketsphinx-en-us)")
	}
	const actions = `[{"action":"say","text":"Thank you for calling Northwind billing. Please tell us briefly why you are calling."},
		{"action":"pause","length":9},
		{"action":"gather","max_digits":1,"timeout":6,"finish_on_key":"","prompt":[{"action":"say","text":"For refunds press one. For anything else press two."}]},
		{"action":"say","text":"Thank you. Your refund request has been logged, and a billing specialist will call you back within two business days. Goodbye."}]`
	answer := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write([]byte(actions))
	})
	st := stacktest.Start(t, stacktest.Config{App: answer})
	cust := st.Customer(t, "northwind")
	app := stacktest.Str(st.Do(t, "POST", "/v1/applications", map[string]any{"customer_id": cust, "name": "billing line",
		"answer_url": st.AppURL + "/answer", "record_by_default": true,
		"topics": []any{map[string]any{"name": "billing", "keywords": []string{"billing", "charged", "subscription"}},
			map[string]any{"name": "refund", "keywords": []string{"refund", "money back"}}}}, 201)["id"])
	st.InboundTrunkFromSim(t)
	st.Number(t, "+15551110101", cust, app)

	// The greeting takes about 5 s; the caller speaks into the pause, then
	// presses 1 while the menu's prompt plays.
	script := []string{"wait 5.5", "say Hi, I was charged twice for my subscription this month and I would like my money back.",
		"wait 5", "dtmf 1", "wait 12"}
	rep := st.SimCall(t, sim.CallOptions{From: "+15557770101", To: "+15551110101", Script: script})
	if !rep.Answered {
		t.Fatalf("call not answered: %+v", rep)
	}
	var id string
	for _, c := range st.Calls(t, "customer_id="+cust) {
		id = stacktest.Str(st.WaitCall(t, stacktest.Str(c["id"]))["id"])
	}
	deadline := time.Now().Add(insightsTimeout)
	var summary map[string]any
	for {
		summary = st.Do(t, "GET", "/v1/calls/"+id+"/summary", nil, 200)
		if s := summary["status"]; s == "completed" || s == "failed" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("insights not finished after %v: %v", insightsTimeout, summary)
		}
		time.Sleep(250 * time.Millisecond)
	}
	text := stacktest.Str(summary["text"])
	t.Logf("summary: %s", text)
	for _, want := range []string{"Inbound call from +15557770101 to +15551110101", "The caller pressed 1.",
		`The platform replied: "Thank you. Your refund request has been logged`,
		"Follow-up: 'a billing specialist will call you back within two business days'."} {
		if !strings.Contains(text, want) {
			t.Errorf("summary lacks %q", want)
		}
	}
	lower := strings.ToLower(text)
	if !strings.Contains(lower, "money") && !strings.Contains(lower, "charged") && !strings.Contains(lower, "subscription") {
		t.Errorf("the summary has none of the caller's words (money, charged, subscription)")
	}

	topics := st.Do(t, "GET", "/v1/calls/"+id+"/topics", nil, 200)
	found := map[string]map[string]any{}
	for _, x := range topics["topics"].([]any) {
		tp := x.(map[string]any)
		ev, _ := tp["evidence"].(map[string]any)
		if ev == nil || stacktest.Str(ev["text"]) == "" || stacktest.Str(ev["matched"]) == "" || ev["end"].(float64) < ev["start"].(float64) {
			t.Errorf("topic without evidence: %v", tp)
			continue
		}
		found[stacktest.Str(tp["name"])] = ev
	}
	// "billing" is in the platform's greeting, exact text: always found,
	// its evidence the greeting.
	if ev := found["billing"]; ev == nil || ev["speaker"] != "platform" || ev["keyword"] != "billing" ||
		!strings.HasPrefix(stacktest.Str(ev["text"]), "Thank you for calling Northwind billing") {
		t.Errorf("billing topic evidence %v, want the platform's greeting", found["billing"])
	}
	if ev := found["refund"]; ev == nil {
		t.Errorf("no refund topic (the platform's outcome says refund): %v", topics)
	}
	score := st.Do(t, "GET", "/v1/calls/"+id+"/score", nil, 200)
	for _, c := range score["criteria"].([]any) {
		cr := c.(map[string]any)
		// A complaint never comes out positive, whatever was misheard.
		if cr["name"] == "caller_sentiment" && cr["score"].(float64) > 50 {
			t.Errorf("caller_sentiment %v on a complaint", cr)
		}
	}
}
