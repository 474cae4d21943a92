package e2e

import (
	"context"
	"net/http"
	"os/exec"
	"syscall"
	"testing"
	"time"

	"github.com/minivoice/minivoice/internal/sim"
)

// TestInsightsSurviveKill9: `serve` is killed with SIGKILL while it
// transcribes a voicemail. The next start runs the transcription again from
// the start, and the call ends up with one transcript and exactly one
// transcription.completed and one insights.completed event.
func TestInsightsSurviveKill9(t *testing.T) {
	t.Parallel()
	for _, tool := range []string{"flite", "pocketsphinx_continuous"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Skipf("%s is not installed", tool)
		}
	}
	bin, data, s, phone := voicemailServer(t, "+15553000002", 60, "kal16")
	js := "application/json"
	const did = "+15553000002"
	// About 15 s of speech: several seconds of transcription to kill.
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	if _, err := phone.Call(ctx, sim.CallOptions{Platform: s.sip, From: scCaller, To: did, MaxDuration: 40 * time.Second,
		Script: []string{"say " + ivMessage, "say " + ivMessage, "say " + ivMessage, "hangup"}}); err != nil {
		t.Fatal(err)
	}
	calls := s.do(t, "GET", "/v1/calls", s.key, js, "", 200)["data"].([]any)
	if len(calls) != 1 {
		t.Fatalf("%d calls", len(calls))
	}
	callID := calls[0].(map[string]any)["id"].(string)

	// Kill it the moment the transcription is under way.
	deadline := time.Now().Add(60 * time.Second)
	for {
		req, _ := http.NewRequest("GET", s.url+"/v1/calls/"+callID+"/transcription", nil)
		req.Header.Set("Authorization", "Bearer "+s.key)
		if resp, err := http.DefaultClient.Do(req); err == nil {
			resp.Body.Close()
			if resp.StatusCode == 200 {
				tr := s.do(t, "GET", "/v1/calls/"+callID+"/transcription", s.key, js, "", 200)
				if tr["status"] == "processing" {
					break
				}
				if tr["status"] != "queued" {
					t.Fatalf("transcription finished before it could be interrupted: %v", tr["status"])
				}
			}
		}
		if time.Now().After(deadline) {
			t.Fatal("transcription never started")
		}
		time.Sleep(20 * time.Millisecond)
	}
	time.Sleep(500 * time.Millisecond) // pocketsphinx is running
	if err := s.cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	<-s.done
	s.done <- nil // for start's cleanup

	s2 := startIn(t, bin, data, "--allow-private-urls", "127.0.0.0/8")
	deadline = time.Now().Add(insightsTimeout)
	var summary map[string]any
	for {
		summary = s2.do(t, "GET", "/v1/calls/"+callID+"/summary", s2.key, js, "", 200)
		if st := summary["status"]; st == "completed" || st == "failed" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("insights not finished after the restart: %v", summary)
		}
		time.Sleep(200 * time.Millisecond)
	}
	tr := s2.do(t, "GET", "/v1/calls/"+callID+"/transcription", s2.key, js, "", 200)
	if summary["status"] != "completed" || tr["status"] != "completed" || tr["text"] == "" {
		t.Fatalf("after the restart: transcription %v, summary %v", tr, summary)
	}
	t.Logf("transcript after the restart: %s", tr["text"])
	count := map[string]int{}
	for _, e := range s2.do(t, "GET", "/v1/calls/"+callID+"/events", s2.key, js, "", 200)["data"].([]any) {
		count[e.(map[string]any)["event"].(string)]++
	}
	if count["transcription.completed"] != 1 || count["insights.completed"] != 1 || count["transcription.failed"] != 0 {
		t.Errorf("events after the restart: %v; want one transcription.completed and one insights.completed", count)
	}
}
