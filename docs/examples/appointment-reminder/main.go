// Command appointment-reminder is a MiniVoice application: it calls a
// patient, says when their appointment is, asks them to press 1 to confirm
// or 2 to cancel, records the answer on the call with a `set` action, and
// says a confirmation.
//
// It is the web server a customer writes, plus the one API call that starts
// each reminder: POST /v1/calls with the appointment in the call's
// variables, which MiniVoice sends back with every request about the call.
// MiniVoice POSTs {call, variables} to the answer_url and
// {call, variables, result} to each action_url, and this server answers with
// a JSON list of call-control actions (docs/call-control.md). Only the
// standard library is used.
//
// Requests from MiniVoice carry Standard Webhooks signatures
// (webhook-id, webhook-timestamp, webhook-signature; see docs/webhooks.md). This
// example does not check them; a production application should, with its
// application's webhook_secret.
//
// See README.md for running it against the simulator.
package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log"
	"net/http"
	"os"
	"sort"
	"strings"
	"sync"
	"time"
)

// appConfig is what the reminder service needs to know.
type appConfig struct {
	// PublicURL is the base URL MiniVoice reaches this server at, used to
	// build action URLs. Empty: taken from each request's Host header,
	// which is right whenever MiniVoice calls this server directly.
	PublicURL string
	// API is MiniVoice's base URL, e.g. http://127.0.0.1:8080.
	API string
	// Key is an API key that may place calls for the application (an
	// application key, mvk_ap_...).
	Key string
	// ApplicationID is the application whose answer_url is this server's
	// /reminder/answer.
	ApplicationID string
	// From is the caller id of reminder calls (E.164).
	From string
	// Office is named in the reminder.
	Office string
	// InputTimeout is how long (seconds) the question waits for a key
	// after its prompt, asked twice. Default 5.
	InputTimeout int
	// Logger receives one line per request; nil logs nothing.
	Logger *log.Logger
}

// Appointment statuses, as the `set` action stores them in the call's
// "appointment" variable.
const (
	statusPending    = "pending"     // reminder call placed, no answer yet
	statusConfirmed  = "confirmed"   // pressed 1
	statusCancelled  = "cancelled"   // pressed 2
	statusNoResponse = "no-response" // pressed nothing, or something else
)

// appointment is one reminder: who, when, and what came of the call.
type appointment struct {
	ID     string `json:"id"`
	Name   string `json:"name"`
	Phone  string `json:"phone"`
	When   string `json:"when"` // spoken as written: "Tuesday, June 3rd at 3 PM"
	Status string `json:"status"`
	CallID string `json:"call_id,omitempty"`
	// Digits is what the patient pressed.
	Digits string `json:"digits,omitempty"`
}

// hookRequest is the body MiniVoice sends to the answer_url and to action
// URLs (webhooks.md). Only the fields this application uses are declared.
type hookRequest struct {
	Call struct {
		ID string `json:"id"`
		To string `json:"to"`
	} `json:"call"`
	// Variables are the call's variables: here the appointment given when
	// the call was placed.
	Variables map[string]string `json:"variables"`
	// Result is the gather's result (action URLs only).
	Result map[string]any `json:"result"`
}

// action is one call-control action; map keys are the action's fields.
type action map[string]any

// app is the reminder service.
type app struct {
	cfg    appConfig
	mux    *http.ServeMux
	client *http.Client

	mu   sync.Mutex
	apps map[string]*appointment
}

// newApp returns the service's HTTP handler:
//
//	POST /reminder/appointments  {id, name, phone, when}: place a reminder call
//	GET  /reminder/appointments  every appointment and its status
//	POST /reminder/answer        answer_url: the reminder and the question
//	POST /reminder/choice        action_url of the gather
func newApp(cfg appConfig) *app {
	if cfg.Office == "" {
		cfg.Office = "Doctor Smith's office"
	}
	if cfg.InputTimeout <= 0 {
		cfg.InputTimeout = 5
	}
	a := &app{cfg: cfg, mux: http.NewServeMux(), client: &http.Client{Timeout: 15 * time.Second},
		apps: map[string]*appointment{}}
	a.mux.HandleFunc("POST /reminder/appointments", a.create)
	a.mux.HandleFunc("GET /reminder/appointments", func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, http.StatusOK, a.list())
	})
	a.mux.HandleFunc("POST /reminder/answer", a.hook(a.answer))
	a.mux.HandleFunc("POST /reminder/choice", a.hook(a.choice))
	return a
}

func (a *app) ServeHTTP(w http.ResponseWriter, r *http.Request) { a.mux.ServeHTTP(w, r) }

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

// list returns every appointment, by id.
func (a *app) list() []appointment {
	a.mu.Lock()
	defer a.mu.Unlock()
	out := make([]appointment, 0, len(a.apps))
	for _, ap := range a.apps {
		out = append(out, *ap)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].ID < out[j].ID })
	return out
}

// get returns appointment id, and whether it exists.
func (a *app) get(id string) (appointment, bool) {
	a.mu.Lock()
	defer a.mu.Unlock()
	ap, ok := a.apps[id]
	if !ok {
		return appointment{}, false
	}
	return *ap, true
}

// create stores an appointment and places its reminder call.
func (a *app) create(w http.ResponseWriter, r *http.Request) {
	var ap appointment
	if err := json.NewDecoder(http.MaxBytesReader(w, r.Body, 1<<20)).Decode(&ap); err != nil {
		http.Error(w, "bad request body: "+err.Error(), http.StatusBadRequest)
		return
	}
	if ap.ID == "" || ap.Name == "" || ap.Phone == "" || ap.When == "" {
		http.Error(w, "id, name, phone and when are required", http.StatusUnprocessableEntity)
		return
	}
	ap.Status = statusPending
	a.mu.Lock()
	if _, dup := a.apps[ap.ID]; dup {
		a.mu.Unlock()
		http.Error(w, "appointment "+ap.ID+" exists", http.StatusConflict)
		return
	}
	a.apps[ap.ID] = &ap
	a.mu.Unlock()
	callID, err := a.placeCall(r.Context(), ap)
	if err != nil {
		a.mu.Lock()
		delete(a.apps, ap.ID)
		a.mu.Unlock()
		http.Error(w, "placing the reminder call: "+err.Error(), http.StatusBadGateway)
		return
	}
	a.mu.Lock()
	a.apps[ap.ID].CallID = callID
	ap = *a.apps[ap.ID]
	a.mu.Unlock()
	if a.cfg.Logger != nil {
		a.cfg.Logger.Printf("appointment %s: reminder call %s to %s", ap.ID, callID, ap.Phone)
	}
	writeJSON(w, http.StatusCreated, ap)
}

// placeCall asks MiniVoice for the reminder call: POST /v1/calls with the
// appointment in the call's variables. The Idempotency-Key makes a retried
// request place one call, not two.
func (a *app) placeCall(ctx context.Context, ap appointment) (string, error) {
	body, _ := json.Marshal(map[string]any{
		"to":             ap.Phone,
		"from":           a.cfg.From,
		"application_id": a.cfg.ApplicationID,
		"timeout":        30,
		"variables":      map[string]string{"appointment_id": ap.ID, "name": ap.Name, "when": ap.When},
	})
	req, err := http.NewRequestWithContext(ctx, "POST", strings.TrimSuffix(a.cfg.API, "/")+"/v1/calls", bytes.NewReader(body))
	if err != nil {
		return "", err
	}
	req.Header.Set("Authorization", "Bearer "+a.cfg.Key)
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Idempotency-Key", "reminder-"+ap.ID)
	resp, err := a.client.Do(req)
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if resp.StatusCode != http.StatusCreated {
		return "", fmt.Errorf("POST /v1/calls: %s: %s", resp.Status, bytes.TrimSpace(raw))
	}
	var call struct {
		ID string `json:"id"`
	}
	if err := json.Unmarshal(raw, &call); err != nil || call.ID == "" {
		return "", errors.New("POST /v1/calls: answer without a call id")
	}
	return call.ID, nil
}

// hook decodes MiniVoice's request and answers with the action list f returns.
func (a *app) hook(f func(base string, req *hookRequest) []action) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		var req hookRequest
		if err := json.NewDecoder(http.MaxBytesReader(w, r.Body, 1<<20)).Decode(&req); err != nil {
			http.Error(w, "bad request body: "+err.Error(), http.StatusBadRequest)
			return
		}
		base := a.cfg.PublicURL
		if base == "" {
			base = "http://" + r.Host
		}
		actions := f(strings.TrimSuffix(base, "/"), &req)
		if a.cfg.Logger != nil {
			a.cfg.Logger.Printf("%s call=%s appointment=%s result=%v -> %d actions", r.URL.Path, req.Call.ID,
				req.Variables["appointment_id"], req.Result, len(actions))
		}
		writeJSON(w, http.StatusOK, actions)
	}
}

const question = "Press 1 to confirm this appointment, or press 2 to cancel it."

// answer says the reminder and asks the question. The appointment comes
// from the call's variables, set when the call was placed.
func (a *app) answer(base string, req *hookRequest) []action {
	v := req.Variables
	return []action{
		{"action": "say", "text": fmt.Sprintf("Hello %s. This is %s with a reminder of your appointment on %s.",
			v["name"], a.cfg.Office, v["when"])},
		{
			"action":          "gather",
			"max_digits":      1,
			"timeout":         a.cfg.InputTimeout,
			"retries":         1,
			"prompt":          []action{{"action": "say", "text": question}},
			"no_input_prompt": []action{{"action": "say", "text": "Sorry, I did not hear anything. " + question}},
			"action_url":      base + "/reminder/choice",
		},
	}
}

// choice records the answer: on the call (the `set` action, visible in
// GET /v1/calls/{id} and every later webhook) and in this service.
func (a *app) choice(base string, req *hookRequest) []action {
	digits, _ := req.Result["digits"].(string)
	status, text := statusNoResponse, "We did not get your answer. We will call you again later. Goodbye."
	switch digits {
	case "1":
		status, text = statusConfirmed, "Thank you. Your appointment on "+req.Variables["when"]+" is confirmed. Goodbye."
	case "2":
		status, text = statusCancelled, "Your appointment has been cancelled. Please call us to book a new time. Goodbye."
	}
	a.mu.Lock()
	if ap, ok := a.apps[req.Variables["appointment_id"]]; ok {
		ap.Status, ap.Digits = status, digits
	}
	a.mu.Unlock()
	return []action{
		{"action": "set", "variables": map[string]string{"appointment": status}},
		{"action": "say", "text": text},
		{"action": "hangup"},
	}
}

func main() {
	listen := flag.String("listen", "127.0.0.1:8083", "address to serve the application on")
	public := flag.String("public-url", "", "base URL MiniVoice reaches this server at (default: from each request's Host)")
	api := flag.String("api", "http://127.0.0.1:8080", "MiniVoice API base URL")
	appID := flag.String("application", "", "application id (app_...) whose answer_url is this server")
	from := flag.String("from", "+15551230121", "caller id of reminder calls (E.164)")
	office := flag.String("office", "Doctor Smith's office", "who the reminder is from")
	flag.Parse()
	key := os.Getenv("MINIVOICE_KEY")
	if key == "" || *appID == "" {
		fmt.Fprintln(os.Stderr, "appointment-reminder: set MINIVOICE_KEY to an application key and -application to its id")
		os.Exit(2)
	}
	logger := log.New(os.Stderr, "reminder: ", log.LstdFlags)
	h := newApp(appConfig{PublicURL: *public, API: *api, Key: key, ApplicationID: *appID, From: *from, Office: *office, Logger: logger})
	base := *public
	if base == "" {
		base = "http://" + *listen
	}
	fmt.Printf("answer_url: %s/reminder/answer\nappointments: %s/reminder/appointments\n", base, base)
	srv := &http.Server{Addr: *listen, Handler: h, ReadHeaderTimeout: 10 * time.Second}
	logger.Fatal(srv.ListenAndServe())
}
