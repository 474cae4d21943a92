package e2e

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os/exec"
	"syscall"
	"testing"
	"time"

	"github.com/minivoice/minivoice/internal/media"
	"github.com/minivoice/minivoice/internal/sim"
	"github.com/minivoice/minivoice/internal/tts"
)

// TestRecordingSurvivesKill9: `serve` is killed with SIGKILL while a
// voicemail is being recorded; the next start repairs the WAV and closes
// the recording as completed with the audio written before the crash (at
// most the last second is lost), and the call as failed/system_restart.
func TestRecordingSurvivesKill9(t *testing.T) {
	t.Parallel()
	if _, err := exec.LookPath("flite"); err != nil {
		t.Skip("flite is not installed")
	}
	bin, data, s, phone := voicemailServer(t, "+15553000001", 120, "")
	js := "application/json"
	const did = "+15553000001"
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	callDone := make(chan struct{})
	go func() {
		defer close(callDone)
		_, _ = phone.Call(ctx, sim.CallOptions{Platform: s.sip, From: scCaller, To: did, MaxDuration: 40 * time.Second,
			Script: []string{"say " + ivMessage, "say " + ivMessage, "wait 30"}})
	}()

	// Wait until the recording is under way, then let it run 4 s.
	var recID string
	deadline := time.Now().Add(20 * time.Second)
	for recID == "" && time.Now().Before(deadline) {
		if list, _ := s.do(t, "GET", "/v1/recordings", s.key, js, "", 200)["data"].([]any); len(list) == 1 {
			recID = list[0].(map[string]any)["id"].(string)
		}
		time.Sleep(100 * time.Millisecond)
	}
	if recID == "" {
		t.Fatal("no recording started")
	}
	time.Sleep(4 * time.Second)
	if err := s.cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	<-s.done
	s.done <- nil // for start's cleanup
	cancel()
	<-callDone

	s2 := startIn(t, bin, data, "--allow-private-urls", "127.0.0.0/8")
	rec := s2.do(t, "GET", "/v1/recordings/"+recID, s2.key, js, "", 200)
	dur, _ := rec["duration"].(float64)
	t.Logf("recovered recording: %v", rec)
	if rec["status"] != "completed" || dur < 2.5 || dur > 6 {
		t.Fatalf("recording after the crash: %v; want completed with about 4 s", rec)
	}
	req, _ := http.NewRequest("GET", s2.url+"/v1/recordings/"+recID+"/media", nil)
	req.Header.Set("Authorization", "Bearer "+s2.key)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	p, err := media.ReadWAV(resp.Body)
	if err != nil {
		t.Fatalf("repaired WAV: %v", err)
	}
	if act := media.ActiveDuration(p, -40); act < 1500*time.Millisecond {
		t.Errorf("repaired recording holds %v of speech in %v", act, p.Duration())
	}
	callID := rec["call_id"].(string)
	c := s2.do(t, "GET", "/v1/calls/"+callID, s2.key, js, "", 200)
	if c["status"] != "failed" || c["hangup_cause"] != "system_restart" {
		t.Errorf("call after the crash: %v", c)
	}
	found := false
	for _, e := range s2.do(t, "GET", "/v1/calls/"+callID+"/events", s2.key, js, "", 200)["data"].([]any) {
		if e.(map[string]any)["event"] == "recording.completed" {
			found = true
		}
	}
	if !found {
		t.Errorf("no recording.completed event after recovery")
	}
}

// voicemailServer builds and starts `serve` on a fresh data directory, with
// did routed (customer, inbound trunk from loopback, free inbound rate,
// number) to an application answering with a voicemail `record` of at most
// maxLength seconds, and a simulator phone speaking with voice ("" for the
// default) to call it. Everything stops when the test ends.
func voicemailServer(t *testing.T, did string, maxLength int, voice string) (bin, data string, s *server, phone *sim.Sim) {
	t.Helper()
	bin, data = build(t), t.TempDir()
	s = startIn(t, bin, data, "--allow-private-urls", "127.0.0.0/8")
	app := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		_, _ = fmt.Fprintf(w, `[{"action":"record","beep":false,"silence_timeout":0,"max_length":%d}]`, maxLength)
	}))
	t.Cleanup(app.Close)
	js := "application/json"
	cust := s.do(t, "POST", "/v1/customers", s.key, js, `{"name":"crash"}`, 201)["id"].(string)
	appID := s.do(t, "POST", "/v1/applications", s.key, js, `{"customer_id":"`+cust+`","name":"vm","answer_url":"`+app.URL+`"}`, 201)["id"].(string)
	s.do(t, "POST", "/v1/trunks", s.key, js, `{"name":"sim","direction":"inbound","allowed_cidrs":["127.0.0.1/32"]}`, 201)
	s.do(t, "POST", "/v1/rates", s.key, js, `{"prefix":"1","direction":"inbound","price_per_minute":"0","initial_increment":1,"subsequent_increment":1}`, 201)
	s.do(t, "POST", "/v1/numbers", s.key, js, `{"number":"`+did+`","customer_id":"`+cust+`","application_id":"`+appID+`"}`, 201)
	speaker, err := tts.New(tts.Config{CacheDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	if phone, err = sim.New(sim.Config{Listen: "127.0.0.1:0", Speaker: speaker, Voice: voice}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = phone.Close() })
	return bin, data, s, phone
}
