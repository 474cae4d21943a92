// Command call-forwarding is a MiniVoice application: calls to a number are
// forwarded to a fixed phone (a `dial` with a 20 second timeout); when that
// phone does not answer, is busy or cannot be reached, the caller may leave
// a voicemail instead.
//
// It is the web server a customer writes: MiniVoice POSTs
// {call, variables} to the answer_url and {call, variables, result} to each
// action_url, and this server answers with a JSON list of call-control
// actions (docs/call-control.md). Only the standard library is used.
//
// Requests from MiniVoice carry Standard Webhooks signatures
// (webhook-id, webhook-timestamp, webhook-signature; see docs/webhooks.md). This
// example does not check them; a production application should, with its
// application's webhook_secret.
//
// Run it with -listen and point an application's answer_url at the printed
// URL; see README.md.
package main

import (
	"encoding/json"
	"flag"
	"fmt"
	"log"
	"net/http"
	"os"
	"strings"
	"sync"
	"time"
)

// appConfig is what the forwarding application needs to know.
type appConfig struct {
	// PublicURL is the base URL MiniVoice reaches this server at, used to
	// build action URLs. Empty: taken from each request's Host header,
	// which is right whenever MiniVoice calls this server directly.
	PublicURL string
	// ForwardTo is the phone calls are forwarded to (E.164).
	ForwardTo string
	// DialTimeout is how long (seconds) the phone rings before the caller
	// is offered the voicemail. Default 20.
	DialTimeout int
	// Logger receives one line per request; nil logs nothing.
	Logger *log.Logger
}

// hookRequest is the body MiniVoice sends to the answer_url and to action
// URLs (webhooks.md). Only the fields this application uses are declared.
type hookRequest struct {
	Call struct {
		ID   string `json:"id"`
		From string `json:"from"`
		To   string `json:"to"`
	} `json:"call"`
	Variables map[string]string `json:"variables"`
	// Result is the dial or record result (action URLs only).
	Result map[string]any `json:"result"`
}

// action is one call-control action; map keys are the action's fields.
type action map[string]any

// forward is one call's outcome, as this application saw it.
type forward struct {
	CallID string `json:"call_id"`
	From   string `json:"from"`
	// DialStatus is the dial's result: completed, busy, no-answer, failed
	// or canceled ("" until the dial is over).
	DialStatus  string `json:"dial_status"`
	ChildCallID string `json:"child_call_id,omitempty"`
	// RecordingID is the voicemail, if one was left; fetch it with
	// GET /v1/recordings/{id}/media.
	RecordingID string    `json:"recording_id,omitempty"`
	Voicemail   float64   `json:"voicemail_seconds,omitempty"`
	At          time.Time `json:"at"`
}

// app is the forwarding application's web server.
type app struct {
	cfg appConfig
	mux *http.ServeMux

	mu    sync.Mutex
	calls map[string]*forward
	order []string
}

// newApp returns the application's HTTP handler:
//
//	POST /forward/answer          answer_url: dial the phone
//	POST /forward/dial-done       action_url of the dial
//	POST /forward/voicemail-done  action_url of the voicemail's record
//	GET  /forward/calls           what happened to each call, as JSON
func newApp(cfg appConfig) *app {
	if cfg.DialTimeout <= 0 {
		cfg.DialTimeout = 20
	}
	a := &app{cfg: cfg, mux: http.NewServeMux(), calls: map[string]*forward{}}
	a.mux.HandleFunc("POST /forward/answer", a.hook(a.answer))
	a.mux.HandleFunc("POST /forward/dial-done", a.hook(a.dialDone))
	a.mux.HandleFunc("POST /forward/voicemail-done", a.hook(a.voicemailDone))
	a.mux.HandleFunc("GET /forward/calls", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(a.outcomes())
	})
	return a
}

func (a *app) ServeHTTP(w http.ResponseWriter, r *http.Request) { a.mux.ServeHTTP(w, r) }

// outcomes lists every call's outcome, oldest first.
func (a *app) outcomes() []forward {
	a.mu.Lock()
	defer a.mu.Unlock()
	out := make([]forward, 0, len(a.order))
	for _, id := range a.order {
		out = append(out, *a.calls[id])
	}
	return out
}

// outcome returns the outcome of call id, and whether there is one.
func (a *app) outcome(id string) (forward, bool) {
	a.mu.Lock()
	defer a.mu.Unlock()
	f, ok := a.calls[id]
	if !ok {
		return forward{}, false
	}
	return *f, true
}

// update changes call id's outcome, creating it on the first request.
func (a *app) update(req *hookRequest, f func(*forward)) {
	a.mu.Lock()
	defer a.mu.Unlock()
	fw, ok := a.calls[req.Call.ID]
	if !ok {
		fw = &forward{CallID: req.Call.ID, From: req.Call.From, At: time.Now()}
		a.calls[req.Call.ID] = fw
		a.order = append(a.order, req.Call.ID)
	}
	f(fw)
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
			a.cfg.Logger.Printf("%s call=%s from=%s result=%v -> %d actions", r.URL.Path, req.Call.ID, req.Call.From, req.Result, len(actions))
		}
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(actions)
	}
}

// answer forwards the call. The caller hears ringback while the phone rings.
func (a *app) answer(base string, req *hookRequest) []action {
	a.update(req, func(*forward) {})
	return []action{{
		"action":     "dial",
		"to":         a.cfg.ForwardTo,
		"timeout":    a.cfg.DialTimeout,
		"action_url": base + "/forward/dial-done",
	}}
}

// dialDone ends the call after a conversation, or offers the voicemail.
// (MiniVoice only asks when the caller is still there: if the caller hung
// up during the conversation, the call is simply over.)
func (a *app) dialDone(base string, req *hookRequest) []action {
	status, _ := req.Result["dial_status"].(string)
	child, _ := req.Result["child_call_id"].(string)
	a.update(req, func(f *forward) { f.DialStatus, f.ChildCallID = status, child })
	if status == "completed" {
		return []action{{"action": "hangup"}}
	}
	// no-answer, busy, failed (or canceled): take a message.
	return []action{
		{"action": "say", "text": "The person you are calling is not available. Please leave a message after the beep."},
		{"action": "record", "max_length": 120, "silence_timeout": 5, "finish_on_key": "#",
			"action_url": base + "/forward/voicemail-done"},
	}
}

// voicemailDone keeps the message's recording id and says goodbye.
func (a *app) voicemailDone(base string, req *hookRequest) []action {
	id, _ := req.Result["recording_id"].(string)
	secs, _ := req.Result["duration"].(float64)
	a.update(req, func(f *forward) { f.RecordingID, f.Voicemail = id, secs })
	return []action{
		{"action": "say", "text": "Thank you. Your message has been recorded. Goodbye."},
		{"action": "hangup"},
	}
}

func main() {
	listen := flag.String("listen", "127.0.0.1:8082", "address to serve the application on")
	public := flag.String("public-url", "", "base URL MiniVoice reaches this server at (default: from each request's Host)")
	to := flag.String("forward-to", "+15550000002", "phone that calls are forwarded to (E.164)")
	timeout := flag.Int("timeout", 20, "seconds the phone rings before the voicemail")
	flag.Parse()
	logger := log.New(os.Stderr, "forwarding: ", log.LstdFlags)
	h := newApp(appConfig{PublicURL: *public, ForwardTo: *to, DialTimeout: *timeout, Logger: logger})
	base := *public
	if base == "" {
		base = "http://" + *listen
	}
	fmt.Printf("answer_url: %s/forward/answer\ncall outcomes: %s/forward/calls\n", base, base)
	srv := &http.Server{Addr: *listen, Handler: h, ReadHeaderTimeout: 10 * time.Second}
	logger.Fatal(srv.ListenAndServe())
}
