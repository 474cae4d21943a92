package checklist

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/minivoice/minivoice/webhook"
)

// Receiver modes: what an application's webhook_url answers.
const (
	hooksOK    = "ok"    // 204 to every verified webhook
	hooksFlaky = "flaky" // 500 to the first attempt of each webhook-id, 204 after
	hooksFail  = "fail"  // 500 always (webhook-test failure)
)

// Webhook is one signed request MiniVoice sent to the receiver: a webhook,
// an answer_url or an action_url request.
type Webhook struct {
	// Kind is "webhook", "answer" or "action".
	Kind string `json:"kind"`
	// Headers are the request's headers that matter to a receiver (content
	// type, user agent, the three Standard Webhooks headers).
	Headers map[string]string `json:"headers"`
	Body    json.RawMessage   `json:"body"`
	// Verified is whether the signature checked out with the application's
	// webhook_secret.
	Verified bool `json:"verified"`
	// Answered is the HTTP status the receiver answered with.
	Answered int `json:"answered"`

	event  string
	callID string
	to     string
	at     time.Time
}

// Event is the webhook's event name ("" for answer/action requests).
func (w Webhook) Event() string { return w.event }

// answerFunc decides a call's actions from the answer_url or action_url
// request body (call, variables, result).
type answerFunc func(body map[string]any) []map[string]any

// receiver is the checklist's own application server: answer_url and
// action_url for every case, and webhook_url for each application, each
// request's signature verified with the application's secret.
type receiver struct {
	srv  *http.Server
	ln   net.Listener
	base string
	log  *slog.Logger

	mu       sync.Mutex
	secrets  map[string]string // application role -> webhook_secret
	answers  map[string]answerFunc
	got      []Webhook
	attempts map[string]int // webhook-id -> attempts seen (flaky mode)
	changed  chan struct{}  // closed and replaced on every request
}

// startReceiver listens on addr (loopback by default) and serves until
// close. public, when set, is the URL MiniVoice should use instead of the
// listener's own (a tunnel or reverse proxy in front of it).
func startReceiver(addr, public string, log *slog.Logger) (*receiver, error) {
	if addr == "" {
		addr = "127.0.0.1:0"
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("webhook receiver: %w", err)
	}
	r := &receiver{ln: ln, log: log, secrets: map[string]string{}, answers: map[string]answerFunc{},
		attempts: map[string]int{}, changed: make(chan struct{})}
	r.base = "http://" + ln.Addr().String()
	if public != "" {
		r.base = strings.TrimRight(public, "/")
	}
	mux := http.NewServeMux()
	mux.HandleFunc("POST /apps/{role}/answer/{case}", r.answer)
	mux.HandleFunc("POST /apps/{role}/action/{case}", r.answer)
	mux.HandleFunc("POST /apps/{role}/hooks/{mode}", r.hook)
	r.srv = &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	go func() {
		if err := r.srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			log.Warn("checklist receiver stopped", slog.Any("error", err))
		}
	}()
	return r, nil
}

func (r *receiver) close(ctx context.Context) error { return r.srv.Shutdown(ctx) }

// answerURL is a case's answer_url for the application of role.
func (r *receiver) answerURL(role, caseName string) string {
	return r.base + "/apps/" + role + "/answer/" + caseName
}

// actionURL is a case's action_url for the application of role.
func (r *receiver) actionURL(role, caseName string) string {
	return r.base + "/apps/" + role + "/action/" + caseName
}

// hooksURL is the webhook_url of the application of role, answering as mode.
func (r *receiver) hooksURL(role, mode string) string {
	return r.base + "/apps/" + role + "/hooks/" + mode
}

func (r *receiver) setSecret(role, secret string) {
	r.mu.Lock()
	r.secrets[role] = secret
	r.mu.Unlock()
}

// handle sets what the answer and action URLs of caseName answer.
func (r *receiver) handle(caseName string, f answerFunc) {
	r.mu.Lock()
	r.answers[caseName] = f
	r.mu.Unlock()
}

// read takes a request's body and checks its signature against role's
// secret; it records and returns what arrived.
func (r *receiver) read(req *http.Request, kind string) (Webhook, map[string]any) {
	role := req.PathValue("role")
	r.mu.Lock()
	secret := r.secrets[role]
	r.mu.Unlock()
	raw, err := io.ReadAll(io.LimitReader(req.Body, webhook.MaxBodyBytes))
	w := Webhook{Kind: kind, Headers: map[string]string{}, at: time.Now()}
	for _, h := range []string{"Content-Type", "User-Agent", "Webhook-Id", "Webhook-Timestamp", "Webhook-Signature"} {
		if v := req.Header.Get(h); v != "" {
			w.Headers[strings.ToLower(h)] = v
		}
	}
	if err != nil {
		return w, nil
	}
	w.Body = json.RawMessage(raw)
	if !json.Valid(raw) {
		q, _ := json.Marshal(string(raw))
		w.Body = q
	}
	w.Verified = secret != "" && webhook.Verify(secret, req.Header, raw, time.Now(), webhook.DefaultTolerance) == nil
	var body map[string]any
	_ = json.Unmarshal(raw, &body)
	if call, ok := body["call"].(map[string]any); ok {
		w.callID, w.to = str(call["id"]), str(call["to"])
	}
	w.event = str(body["event"])
	return w, body
}

// record keeps w and wakes the waiters.
func (r *receiver) record(w Webhook) {
	r.mu.Lock()
	r.got = append(r.got, w)
	close(r.changed)
	r.changed = make(chan struct{})
	r.mu.Unlock()
}

func (r *receiver) answer(rw http.ResponseWriter, req *http.Request) {
	kind := "answer"
	if strings.Contains(req.URL.Path, "/action/") {
		kind = "action"
	}
	w, body := r.read(req, kind)
	r.mu.Lock()
	f := r.answers[req.PathValue("case")]
	r.mu.Unlock()
	status, actions := http.StatusOK, []map[string]any{{"action": "hangup"}}
	switch {
	case !w.Verified:
		status = http.StatusUnauthorized
	case f != nil:
		actions = f(body)
	}
	w.Answered = status
	r.record(w)
	if status != http.StatusOK {
		http.Error(rw, "signature not verified", status)
		return
	}
	rw.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(rw).Encode(actions)
}

func (r *receiver) hook(rw http.ResponseWriter, req *http.Request) {
	w, _ := r.read(req, "webhook")
	status := http.StatusNoContent
	switch mode := req.PathValue("mode"); {
	case !w.Verified:
		status = http.StatusUnauthorized
	case mode == hooksFail:
		status = http.StatusInternalServerError
	case mode == hooksFlaky:
		id := w.Headers["webhook-id"]
		r.mu.Lock()
		r.attempts[id]++
		first := r.attempts[id] == 1
		r.mu.Unlock()
		if first {
			status = http.StatusInternalServerError
		}
	}
	w.Answered = status
	r.record(w)
	rw.WriteHeader(status)
}

// forCall returns what arrived for callID, in arrival order.
func (r *receiver) forCall(callID string) []Webhook {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []Webhook
	for _, w := range r.got {
		if w.callID == callID {
			out = append(out, w)
		}
	}
	return out
}

// answered returns the id of the first call to number whose answer_url was
// requested at or after since.
func (r *receiver) answered(number string, since time.Time) string {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, w := range r.got {
		if w.Kind == "answer" && w.to == number && !w.at.Before(since) {
			return w.callID
		}
	}
	return ""
}

// wait blocks until cond holds for what arrived, or ctx ends.
func (r *receiver) wait(ctx context.Context, cond func() bool) error {
	for {
		r.mu.Lock()
		ch := r.changed
		r.mu.Unlock()
		if cond() {
			return nil
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-ch:
		case <-time.After(500 * time.Millisecond):
		}
	}
}

// deliveredEvents is the names of the webhooks (not answer/action requests)
// that were verified and answered 2xx, sorted.
func deliveredEvents(ws []Webhook) []string {
	var out []string
	for _, w := range ws {
		if w.Kind == "webhook" && w.Verified && w.Answered/100 == 2 {
			out = append(out, w.event)
		}
	}
	sort.Strings(out)
	return out
}

// hasAll reports whether every event in want was delivered.
func hasAll(ws []Webhook, want []string) bool {
	got := map[string]bool{}
	for _, e := range deliveredEvents(ws) {
		got[e] = true
	}
	for _, e := range want {
		if !got[e] {
			return false
		}
	}
	return true
}
