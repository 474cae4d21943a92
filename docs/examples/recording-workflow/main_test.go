package main

// End to end: the workflow places a recorded call through MiniVoice's API to
// a customer played by the simulator (a scripted number that answers the
// question), then polls for the recording and downloads it; the test checks
// the call, its events, the recording object and the saved WAV: both sides
// of the conversation, each on its own channel.

import (
	"bytes"
	"encoding/json"
	"net/http"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/minivoice/minivoice/internal/media"
	"github.com/minivoice/minivoice/internal/stacktest"
)

// customer is a scripted simulator number: it answers, listens to the
// question (about 4.5 s), and answers it during the application's pause.
const customer = "+15550000104"

func TestRecordingWorkflow(t *testing.T) {
	t.Parallel()
	st := stacktest.Start(t, stacktest.Config{SimAnswerDelay: 500 * time.Millisecond, SimScripts: map[string][]string{
		customer: {"wait 5.5", "say My internet has been down since yesterday. Please send a technician.", "wait 15"},
	}})
	cust := st.Customer(t, "acme")
	st.OutboundTrunkToSim(t, cust)

	wf := newApp(appConfig{API: st.API, From: "+15551230131", OutDir: t.TempDir(), PollInterval: 200 * time.Millisecond})
	base := st.Serve(t, wf)
	appID := stacktest.Str(st.Do(t, "POST", "/v1/applications", map[string]any{"customer_id": cust, "name": "support",
		"answer_url": base + "/rec/answer", "webhook_url": base + "/rec/webhooks"}, 201)["id"])
	wf.cfg.ApplicationID = appID
	wf.cfg.Key = stacktest.Str(st.Do(t, "POST", "/v1/applications/"+appID+"/keys", nil, 201)["key"])

	resp, err := http.Post(base+"/rec/calls", "application/json", bytes.NewReader([]byte(`{"to": "`+customer+`"}`)))
	if err != nil {
		t.Fatal(err)
	}
	var started workflow
	_ = json.NewDecoder(resp.Body).Decode(&started)
	resp.Body.Close()
	if resp.StatusCode != http.StatusAccepted || started.CallID == "" {
		t.Fatalf("POST /rec/calls: %d %+v", resp.StatusCode, started)
	}

	// The workflow polls in the background; wait for it to finish.
	var got workflow
	deadline := time.Now().Add(stacktest.CallTimeout)
	for {
		got, _ = wf.workflowOf(started.CallID)
		if got.Done || time.Now().After(deadline) {
			break
		}
		time.Sleep(200 * time.Millisecond)
	}
	if !got.Done || got.Error != "" {
		t.Fatalf("workflow %+v", got)
	}

	c := st.WaitCall(t, started.CallID)
	if c["status"] != "completed" || c["record"] != true || c["hangup_source"] != "caller" || got.Status != "completed" {
		t.Errorf("call %v (workflow saw %q): want a recorded call ended by the application", c, got.Status)
	}
	// recording.completed may come just before or just after call.completed.
	names := stacktest.EventNames(st.Events(t, started.CallID))
	const start = "call.initiated,call.ringing,call.answered,"
	if names != start+"recording.completed,call.completed" && names != start+"call.completed,recording.completed" {
		t.Errorf("events %s, want %s then call.completed and recording.completed", names, start)
	}
	if sawEvents := strings.Join(got.Events, ","); sawEvents != names {
		t.Errorf("workflow saw events %s, want %s", sawEvents, names)
	}
	if len(got.Recordings) != 1 {
		t.Fatalf("workflow saved %d recordings, want the call's one", len(got.Recordings))
	}
	saved := got.Recordings[0]
	rec := st.WaitRecording(t, saved.ID)
	if rec["status"] != "completed" || rec["source"] != "call" || rec["channels"] != "dual" || saved.Source != "call" ||
		saved.SHA256 != rec["sha256"] || saved.Bytes != int64(stacktest.Num(rec["size_bytes"])) {
		t.Errorf("recording %v, saved %+v", rec, saved)
	}

	// The saved file: left is the customer, right what the platform said.
	f, err := os.Open(saved.Path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	chans, err := media.ReadWAVChannels(f, 64<<20)
	if err != nil || len(chans) != 2 {
		t.Fatalf("saved WAV: %d channels, %v", len(chans), err)
	}
	left, right := chans[0], chans[1]
	t.Logf("recording: %v at %d Hz; customer spoke %v (first 4 s: %v), platform %v",
		left.Duration(), left.Rate, stacktest.Active(left, 0, time.Hour), stacktest.Active(left, 0, 4*time.Second),
		stacktest.Active(right, 0, time.Hour))
	if d := left.Duration(); d < 10*time.Second || d > 30*time.Second {
		t.Errorf("recording of %v, want the whole call", d)
	}
	// The question, then the customer's answer, then the goodbye, each on
	// its own channel.
	if stacktest.Active(left, 0, time.Hour) < 2*time.Second || stacktest.Active(left, 0, 4*time.Second) > 300*time.Millisecond {
		t.Errorf("left channel: want the customer's answer only")
	}
	if stacktest.Active(right, 0, time.Hour) < 5*time.Second {
		t.Errorf("right channel: want the platform's question and goodbye")
	}

	// The workflow polls rather than waiting for webhooks, whose timing
	// varies; the endpoint is checked to accept and log an event shaped the
	// way MiniVoice sends it.
	hook := `{"id":"evt_1","event":"recording.completed","call":{"id":"` + started.CallID + `"},"variables":{},"data":{"id":"` + saved.ID + `"}}`
	resp, err = http.Post(base+"/rec/webhooks", "application/json", bytes.NewReader([]byte(hook)))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusNoContent {
		t.Errorf("webhook endpoint answered %d, want 204", resp.StatusCode)
	}
}
