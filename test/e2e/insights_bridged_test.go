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

// TestInsightsBridgedCall: on a recorded inbound call that the application
// greets with say and then bridges with dial, the recording's right channel
// carries both the platform's prompt and the bridged callee. The prompt is
// the transcript's platform segment (source tts, its exact text); the
// callee's speech is recognised on the same channel and labelled callee,
// with the prompt muted so it is not transcribed twice. SQLite only: the
// store's side is tested on both backends in internal/store and
// internal/insights.
func TestInsightsBridgedCall(t *testing.T) {
	if testing.Short() {
		t.Skip("real calls")
	}
	if _, err := exec.LookPath("pocketsphinx_continuous"); err != nil {
		t.Skip("pocketsphinx is not installed (Debian packages pocketsphinx and pocketsphinx-en-us)")
	}
	const (
		prompt = "Please hold while we connect you."
		did    = "+15551250001"
		callee = "+15550030001"
	)
	answer := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write([]byte(`[{"action":"say","text":"` + prompt + `"},{"action":"dial","to":"` + callee +
			`","timeout":10},{"action":"hangup"}]`))
	})
	st := stacktest.Start(t, stacktest.Config{App: answer, SimVoice: "kal16",
		SimScripts: map[string][]string{callee: {"wait 1", "say I can help you with your order today.", "wait 1", "hangup"}}})
	cust := st.Customer(t, "bridge")
	app := st.Do(t, "POST", "/v1/applications", map[string]any{"customer_id": cust, "name": "forward",
		"answer_url": st.AppURL + "/answer", "record_by_default": true}, 201)
	st.OutboundTrunkToSim(t, cust)
	st.InboundTrunkFromSim(t)
	st.Number(t, did, cust, stacktest.Str(app["id"]))
	if rep := st.SimCall(t, sim.CallOptions{From: "+15557770051", To: did, Script: []string{"wait 20"}}); !rep.Answered {
		t.Fatalf("call not answered: %+v", rep)
	}
	calls := st.Calls(t, "customer_id="+cust+"&direction=inbound")
	if len(calls) != 1 {
		t.Fatalf("%d inbound calls", len(calls))
	}
	id := stacktest.Str(st.WaitCall(t, stacktest.Str(calls[0]["id"]))["id"])
	deadline := time.Now().Add(insightsTimeout)
	var tr map[string]any
	for {
		tr = st.Do(t, "GET", "/v1/calls/"+id+"/transcription", nil, 200)
		if s := tr["status"]; s == "completed" || s == "failed" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("transcription not finished after %v: %v", insightsTimeout, tr)
		}
		time.Sleep(250 * time.Millisecond)
	}
	if tr["status"] != "completed" {
		t.Fatalf("transcription %v", tr)
	}
	t.Logf("segments: %v", tr["segments"])
	var platform, bridged []map[string]any
	for _, s := range tr["segments"].([]any) {
		seg := s.(map[string]any)
		switch {
		case seg["speaker"] == "platform":
			platform = append(platform, seg)
		case seg["channel"] == 1.0:
			bridged = append(bridged, seg)
		}
	}
	if len(platform) != 1 || platform[0]["text"] != prompt || platform[0]["source"] != "tts" || platform[0]["channel"] != 1.0 {
		t.Fatalf("platform segments %v, want exactly the prompt", platform)
	}
	if len(bridged) == 0 {
		t.Fatalf("no segment of the bridged callee: %v", tr["segments"])
	}
	var heard string
	for _, seg := range bridged {
		heard += " " + stacktest.Str(seg["text"])
		if seg["speaker"] != "callee" || seg["source"] != "asr" || seg["start"].(float64) < platform[0]["end"].(float64) {
			t.Errorf("bridged segment %v (prompt ends %v)", seg, platform[0]["end"])
		}
	}
	// The prompt was muted before recognition: its words are not heard again.
	if strings.Contains(heard, "hold") || strings.Contains(heard, "connect") {
		t.Errorf("the prompt was transcribed again on the bridged channel: %q", heard)
	}
}
