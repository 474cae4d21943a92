package main

// End to end: the reminder service places calls through MiniVoice's API to
// patients played by the simulator (scripted numbers that press keys), and
// the test checks the call, its variables after `set`, the gather as the
// service saw it, and what the patient heard.

import (
	"bytes"
	"encoding/json"
	"net/http"
	"testing"
	"time"

	"github.com/minivoice/minivoice/internal/stacktest"
)

// Patients: scripted simulator numbers. Each answers after the simulator's
// answer delay and waits through the reminder (about 7.5 s from the
// answer); the question (4.5 s), its wait (2 s), and the question again
// (6 s) follow. Keys pressed while the reminder itself is spoken would not
// count (a gather only takes keys from its own prompt on), so the keys come
// at 13 s, leaving room for a slow machine either way.
const (
	patientConfirms = "+15550000101"
	patientCancels  = "+15550000102"
	patientSilent   = "+15550000103"
)

func TestReminder(t *testing.T) {
	t.Parallel()
	st := stacktest.Start(t, stacktest.Config{SimAnswerDelay: 500 * time.Millisecond, SimScripts: map[string][]string{
		patientConfirms: {"wait 13", "dtmf 1", "wait 15"},
		patientCancels:  {"wait 13", "dtmf 2", "wait 15"},
		patientSilent:   {"wait 45"},
	}})
	cust := st.Customer(t, "clinic")
	st.OutboundTrunkToSim(t, cust)

	// The service, the application pointing at it, and an application key
	// for it to place calls with, as a customer would set them up.
	// (A shorter wait for the key than the default 5 s keeps the
	// no-answer case short.)
	svc := newApp(appConfig{API: st.API, From: "+15551230121", InputTimeout: 2})
	base := st.Serve(t, svc)
	appID := st.Application(t, cust, base+"/reminder/answer")
	svc.cfg.ApplicationID = appID
	svc.cfg.Key = stacktest.Str(st.Do(t, "POST", "/v1/applications/"+appID+"/keys", nil, 201)["key"])

	cases := []struct {
		name, phone, status, digits string
	}{
		{"confirm", patientConfirms, statusConfirmed, "1"},
		{"cancel", patientCancels, statusCancelled, "2"},
		{"no_answer_to_the_question", patientSilent, statusNoResponse, ""},
	}
	// Book every appointment first, so the calls run at the same time.
	calls := map[string]string{}
	for _, tc := range cases {
		body, _ := json.Marshal(appointment{ID: "apt-" + tc.name, Name: "Alex", Phone: tc.phone, When: "Tuesday, June 3rd at 3 PM"})
		resp, err := http.Post(base+"/reminder/appointments", "application/json", bytes.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		var ap appointment
		_ = json.NewDecoder(resp.Body).Decode(&ap)
		resp.Body.Close()
		if resp.StatusCode != http.StatusCreated || ap.Status != statusPending || ap.CallID == "" {
			t.Fatalf("booking %s: %d %+v", tc.name, resp.StatusCode, ap)
		}
		calls[tc.name] = ap.CallID
	}

	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			c := st.WaitCall(t, calls[tc.name])
			if c["status"] != "completed" || c["direction"] != "outbound" || c["to"] != tc.phone ||
				c["hangup_source"] != "caller" || c["hangup_cause"] != "normal_clearing" || c["application_id"] != appID {
				t.Errorf("call %v: want completed, ended by the application", c)
			}
			// The `set` action's variable, next to those the call was placed with.
			v := stacktest.Vars(c)
			if v["appointment"] != tc.status || v["appointment_id"] != "apt-"+tc.name || v["when"] != "Tuesday, June 3rd at 3 PM" {
				t.Errorf("variables %v, want appointment=%s", v, tc.status)
			}
			ap, ok := svc.get("apt-" + tc.name)
			if !ok || ap.Status != tc.status || ap.Digits != tc.digits || ap.CallID != c["id"] {
				t.Errorf("the service has %+v, want %s after %q", ap, tc.status, tc.digits)
			}
			rep := st.SimReport(t, tc.phone)
			evs := st.Events(t, stacktest.Str(c["id"]))
			gather := stacktest.Event(evs, "call.gather")
			wantReason := "max_digits"
			if tc.digits == "" {
				wantReason = "timeout"
			}
			if gather == nil || gather["digits"] != tc.digits || gather["reason"] != wantReason {
				// A key pressed before the gather began (while the reminder
				// was still being said, on a very slow machine) does not count.
				t.Errorf("call.gather %v, want %q by %s; the patient answered at %s, the events were:%s",
					gather, tc.digits, wantReason, rep.AnsweredAt.UTC().Format("15:04:05.000"), stacktest.EventTimes(evs))
			}
			t.Logf("patient heard %v of speech in %v; pressed %q", rep.HeardActive, rep.HeardDuration, rep.DTMFSent)
			// The reminder alone is several seconds of speech.
			if !rep.Answered || rep.DTMFSent != tc.digits || rep.HeardActive < 6*time.Second {
				t.Errorf("patient's report %+v: want the reminder and the answer heard", rep)
			}
		})
	}
}
