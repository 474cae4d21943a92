// Command receptionist-ivr is a MiniVoice application: an automated
// receptionist for an inbound number. It greets the caller, asks for one
// digit or a spoken choice (with one retry when nothing is pressed or said),
// then routes 1 or "sales" to sales (dial) and 2 or "message" to a
// voicemail (record); anything else repeats the menu, up to a limit, then
// says goodbye.
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
	"net/url"
	"os"
	"strconv"
	"strings"
	"sync"
	"time"
)

// appConfig is what the receptionist needs to know.
type appConfig struct {
	// PublicURL is the base URL MiniVoice reaches this server at, used to
	// build action URLs. Empty: taken from each request's Host header,
	// which is right whenever MiniVoice calls this server directly.
	PublicURL string
	// Company is named in the greeting.
	Company string
	// SalesNumber is dialled for option 1 (E.164).
	SalesNumber string
	// MaxAttempts is how many times the menu is offered before giving up.
	// Default 3.
	MaxAttempts int
	// InputTimeout is how long (seconds) the menu waits for a key after its
	// prompt. Default 5.
	InputTimeout int
	// Logger receives one line per request; nil logs nothing.
	Logger *log.Logger
}

// hookRequest is the body MiniVoice sends to the answer_url and to action
// URLs (webhooks.md). Only the fields this application uses are declared.
type hookRequest struct {
	Call struct {
		ID        string `json:"id"`
		Direction string `json:"direction"`
		From      string `json:"from"`
		To        string `json:"to"`
	} `json:"call"`
	Variables map[string]string `json:"variables"`
	// Result is the gather, record or dial result (action URLs only).
	Result map[string]any `json:"result"`
}

// action is one call-control action; map keys are the action's fields.
type action map[string]any

// seenRequest is one request the application handled, kept in memory so an
// operator (or a test) can see what happened: GET /ivr/log lists them.
type seenRequest struct {
	Path   string         `json:"path"`
	Query  string         `json:"query,omitempty"`
	CallID string         `json:"call_id"`
	Result map[string]any `json:"result,omitempty"`
	At     time.Time      `json:"at"`
}

// app is the receptionist's web server.
type app struct {
	cfg appConfig
	mux *http.ServeMux

	mu   sync.Mutex
	seen []seenRequest
}

// newApp returns the receptionist's HTTP handler:
//
//	POST /ivr/answer          answer_url (and the menu, via redirect, on later attempts)
//	POST /ivr/menu            action_url of the menu's gather
//	POST /ivr/sales-done      action_url of the dial to sales
//	POST /ivr/voicemail-done  action_url of the voicemail's record
//	GET  /ivr/log             the requests handled so far, as JSON
func newApp(cfg appConfig) *app {
	if cfg.Company == "" {
		cfg.Company = "Acme"
	}
	if cfg.MaxAttempts <= 0 {
		cfg.MaxAttempts = 3
	}
	if cfg.InputTimeout <= 0 {
		cfg.InputTimeout = 5
	}
	a := &app{cfg: cfg, mux: http.NewServeMux()}
	a.mux.HandleFunc("POST /ivr/answer", a.hook(a.answer))
	a.mux.HandleFunc("POST /ivr/menu", a.hook(a.menuChoice))
	a.mux.HandleFunc("POST /ivr/sales-done", a.hook(a.salesDone))
	a.mux.HandleFunc("POST /ivr/voicemail-done", a.hook(a.voicemailDone))
	a.mux.HandleFunc("GET /ivr/log", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(a.requests(""))
	})
	return a
}

func (a *app) ServeHTTP(w http.ResponseWriter, r *http.Request) { a.mux.ServeHTTP(w, r) }

// requests returns the requests handled on path ("" for all), oldest first.
func (a *app) requests(path string) []seenRequest {
	a.mu.Lock()
	defer a.mu.Unlock()
	var out []seenRequest
	for _, s := range a.seen {
		if path == "" || s.Path == path {
			out = append(out, s)
		}
	}
	return out
}

// hook decodes MiniVoice's request, keeps it in the log, and answers with
// the action list f returns.
func (a *app) hook(f func(base string, r *http.Request, req *hookRequest) []action) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		var req hookRequest
		if err := json.NewDecoder(http.MaxBytesReader(w, r.Body, 1<<20)).Decode(&req); err != nil {
			http.Error(w, "bad request body: "+err.Error(), http.StatusBadRequest)
			return
		}
		a.mu.Lock()
		a.seen = append(a.seen, seenRequest{Path: r.URL.Path, Query: r.URL.RawQuery, CallID: req.Call.ID, Result: req.Result, At: time.Now()})
		a.mu.Unlock()
		base := a.cfg.PublicURL
		if base == "" {
			base = "http://" + r.Host
		}
		actions := f(strings.TrimSuffix(base, "/"), r, &req)
		if a.cfg.Logger != nil {
			a.cfg.Logger.Printf("%s %s call=%s result=%v -> %d actions", r.URL.Path, r.URL.RawQuery, req.Call.ID, req.Result, len(actions))
		}
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(actions)
	}
}

// menuText is the choice the caller is offered, by key or by voice.
const menuText = "For sales, press 1 or say sales. To leave a message, press 2 or say message."

// spoken maps the phrases the menu listens for (the gather's hints) to the
// key they stand for. MiniVoice answers a heard hint as written here.
var spoken = map[string]string{
	"sales": "1", "sales please": "1",
	"message": "2", "leave a message": "2", "voicemail": "2",
}

// minConfidence is the confidence below which a spoken answer is not
// trusted: MiniVoice reports hints it heard at 0.5 or more, and anything
// else (what the caller said instead) below.
const minConfidence = 0.5

// hints lists spoken's phrases, longest first (the order does not matter
// to MiniVoice; it keeps the list stable).
func hints() []string {
	return []string{"leave a message", "sales please", "voicemail", "message", "sales"}
}

// answer greets the caller (first attempt only) and offers the menu. Later
// attempts arrive here by redirect with ?attempt=N and an apology saying
// why the menu is repeated. The greeting is part of the gather's prompt, so
// a caller who knows the menu can press a key at once.
func (a *app) answer(base string, r *http.Request, req *hookRequest) []action {
	attempt, _ := strconv.Atoi(r.URL.Query().Get("attempt"))
	attempt = max(attempt, 1)
	var prompt []action
	switch r.URL.Query().Get("why") {
	case "invalid":
		prompt = append(prompt, action{"action": "say", "text": "Sorry, that is not an option."})
	case "no-input":
		prompt = append(prompt, action{"action": "say", "text": "Sorry, we did not get your choice."})
	default:
		prompt = append(prompt, action{"action": "say", "text": "Thank you for calling " + a.cfg.Company + "."})
	}
	prompt = append(prompt, action{"action": "say", "text": menuText})
	return []action{{
		"action":     "gather",
		"input":      []string{"dtmf", "speech"},
		"hints":      hints(),
		"max_digits": 1,
		"timeout":    a.cfg.InputTimeout,
		"retries":    1,
		"prompt":     prompt,
		"no_input_prompt": []action{
			{"action": "say", "text": "Sorry, I did not hear anything. " + menuText},
		},
		"action_url": base + "/ivr/menu?attempt=" + strconv.Itoa(attempt),
	}}
}

// menuChoice routes the digit the caller pressed, or the phrase they said.
func (a *app) menuChoice(base string, r *http.Request, req *hookRequest) []action {
	digits, _ := req.Result["digits"].(string)
	speech, _ := req.Result["speech"].(string)
	confidence, _ := req.Result["confidence"].(float64)
	choice := digits
	if choice == "" && confidence >= minConfidence {
		choice = spoken[strings.ToLower(speech)]
	}
	switch choice {
	case "1":
		return []action{
			{"action": "say", "text": "Connecting you to sales."},
			{"action": "dial", "to": a.cfg.SalesNumber, "timeout": 20, "action_url": base + "/ivr/sales-done"},
		}
	case "2":
		return voicemail(base)
	}
	attempt, _ := strconv.Atoi(r.URL.Query().Get("attempt"))
	attempt = max(attempt, 1)
	if attempt >= a.cfg.MaxAttempts {
		return []action{
			{"action": "say", "text": "Sorry, we could not understand your choice. Please call again. Goodbye."},
			{"action": "hangup", "reason": "no valid menu choice"},
		}
	}
	why := "invalid"
	if digits == "" && speech == "" {
		why = "no-input"
	}
	next := url.Values{"attempt": {strconv.Itoa(attempt + 1)}, "why": {why}}
	return []action{{"action": "redirect", "url": base + "/ivr/answer?" + next.Encode()}}
}

// voicemail asks for a message and records it.
func voicemail(base string) []action {
	return []action{
		{"action": "say", "text": "Please leave a message after the beep."},
		{"action": "record", "max_length": 120, "silence_timeout": 5, "finish_on_key": "#",
			"action_url": base + "/ivr/voicemail-done"},
	}
}

// salesDone runs when the dial to sales is over: after a conversation the
// call ends; if sales did not answer, the caller may leave a message.
func (a *app) salesDone(base string, r *http.Request, req *hookRequest) []action {
	if status, _ := req.Result["dial_status"].(string); status == "completed" {
		return []action{{"action": "hangup"}}
	}
	return append([]action{{"action": "say", "text": "Sales is not available right now."}}, voicemail(base)...)
}

// voicemailDone thanks the caller once the message is recorded.
func (a *app) voicemailDone(base string, r *http.Request, req *hookRequest) []action {
	return []action{
		{"action": "say", "text": "Thank you for your message. Goodbye."},
		{"action": "hangup"},
	}
}

func main() {
	listen := flag.String("listen", "127.0.0.1:8081", "address to serve the application on")
	public := flag.String("public-url", "", "base URL MiniVoice reaches this server at (default: from each request's Host)")
	company := flag.String("company", "Acme", "company named in the greeting")
	sales := flag.String("sales", "+15550000001", "number dialled for option 1 (E.164)")
	flag.Parse()
	logger := log.New(os.Stderr, "ivr: ", log.LstdFlags)
	h := newApp(appConfig{PublicURL: *public, Company: *company, SalesNumber: *sales, Logger: logger})
	base := *public
	if base == "" {
		base = "http://" + *listen
	}
	fmt.Printf("answer_url: %s/ivr/answer\nrequest log: %s/ivr/log\n", base, base)
	srv := &http.Server{Addr: *listen, Handler: h, ReadHeaderTimeout: 10 * time.Second}
	logger.Fatal(srv.ListenAndServe())
}
