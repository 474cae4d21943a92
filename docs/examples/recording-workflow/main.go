// Command recording-workflow is a MiniVoice application that places a
// recorded call (POST /v1/calls with "record": true), holds a short
// conversation, and afterwards fetches the recording: the call's
// recording_ids, each recording's metadata, and its WAV file, checked
// against the recording's sha256 and saved to a directory.
//
// The results are fetched by polling the API once the call has ended
// (GET /v1/calls/{id}/events lists recording.completed). The same events are
// delivered as webhooks too (docs/webhooks.md); the webhook endpoint here
// logs whatever arrives. The call's transcription, summary, score and
// topics are at GET /v1/calls/{id}/transcription|summary|score|topics once
// the insights pipeline has run (README.md shows them with curl).
//
// MiniVoice POSTs {call, variables} to the answer_url, and this server
// answers with a JSON list of call-control actions (docs/call-control.md).
// Only the standard library is used.
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
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"
)

// appConfig is what the workflow needs to know.
type appConfig struct {
	// API is MiniVoice's base URL, e.g. http://127.0.0.1:8080.
	API string
	// Key is an API key that may place and read the application's calls
	// and recordings (an application key, mvk_ap_...).
	Key string
	// ApplicationID is the application whose answer_url is this server's
	// /rec/answer.
	ApplicationID string
	// From is the caller id of the calls (E.164).
	From string
	// OutDir receives the downloaded WAV files.
	OutDir string
	// PollInterval is how often the API is polled while waiting. Default 1 s.
	PollInterval time.Duration
	// Logger receives one line per step; nil logs nothing.
	Logger *log.Logger
}

// savedRecording is one recording, downloaded.
type savedRecording struct {
	ID         string  `json:"id"`
	Source     string  `json:"source"`   // call, dial or record_action
	Channels   string  `json:"channels"` // dual: left the called party, right what the platform sent
	SampleRate int     `json:"sample_rate"`
	Duration   float64 `json:"duration"`
	SHA256     string  `json:"sha256"`
	Path       string  `json:"path"` // where the WAV was saved
	Bytes      int64   `json:"bytes"`
}

// workflow is one recorded call and what came of it.
type workflow struct {
	CallID     string           `json:"call_id"`
	To         string           `json:"to"`
	Status     string           `json:"status"` // the call's final status ("" while it runs)
	Duration   float64          `json:"duration"`
	Recordings []savedRecording `json:"recordings"`
	// Events are the call's event names, oldest first, as the API lists
	// them (the same events webhooks will deliver).
	Events []string `json:"events"`
	Error  string   `json:"error,omitempty"`
	Done   bool     `json:"done"`
}

// webhookEvent is a webhook MiniVoice delivered to /rec/webhooks.
type webhookEvent struct {
	ID    string         `json:"id"`
	Event string         `json:"event"`
	Call  map[string]any `json:"call"`
	Data  map[string]any `json:"data"`
}

// app is the workflow's web server.
type app struct {
	cfg    appConfig
	mux    *http.ServeMux
	client *http.Client

	mu       sync.Mutex
	runs     map[string]*workflow
	webhooks []webhookEvent
}

// newApp returns the application's HTTP handler:
//
//	POST /rec/answer    answer_url: the conversation
//	POST /rec/calls     {"to": "+1..."}: place a recorded call, fetch its recording in the background
//	GET  /rec/calls     every workflow and its outcome
//	POST /rec/webhooks  webhook_url: logs each event
//	GET  /rec/webhooks  the events received so far
func newApp(cfg appConfig) *app {
	if cfg.PollInterval <= 0 {
		cfg.PollInterval = time.Second
	}
	a := &app{cfg: cfg, mux: http.NewServeMux(), client: &http.Client{Timeout: 2 * time.Minute},
		runs: map[string]*workflow{}}
	a.mux.HandleFunc("POST /rec/answer", a.answer)
	a.mux.HandleFunc("POST /rec/calls", a.startCall)
	a.mux.HandleFunc("GET /rec/calls", func(w http.ResponseWriter, r *http.Request) {
		a.mu.Lock()
		out := make([]workflow, 0, len(a.runs))
		for _, wf := range a.runs {
			out = append(out, *wf)
		}
		a.mu.Unlock()
		writeJSON(w, http.StatusOK, out)
	})
	a.mux.HandleFunc("POST /rec/webhooks", a.webhook)
	a.mux.HandleFunc("GET /rec/webhooks", func(w http.ResponseWriter, r *http.Request) {
		a.mu.Lock()
		out := append([]webhookEvent{}, a.webhooks...)
		a.mu.Unlock()
		writeJSON(w, http.StatusOK, out)
	})
	return a
}

func (a *app) ServeHTTP(w http.ResponseWriter, r *http.Request) { a.mux.ServeHTTP(w, r) }

func (a *app) logf(format string, args ...any) {
	if a.cfg.Logger != nil {
		a.cfg.Logger.Printf(format, args...)
	}
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

// answer is the conversation: a question, time for the answer, a goodbye.
// The whole call is recorded because it was placed with "record": true.
func (a *app) answer(w http.ResponseWriter, r *http.Request) {
	_, _ = io.Copy(io.Discard, http.MaxBytesReader(w, r.Body, 1<<20))
	writeJSON(w, http.StatusOK, []map[string]any{
		{"action": "say", "text": "Hello, this is Acme support calling about your ticket. What seems to be the problem?"},
		{"action": "pause", "length": 7},
		{"action": "say", "text": "Thank you. A technician will call you back today. Goodbye."},
		{"action": "hangup"},
	})
}

// webhook logs one delivered event. MiniVoice counts any 2xx as delivered.
func (a *app) webhook(w http.ResponseWriter, r *http.Request) {
	var ev webhookEvent
	if err := json.NewDecoder(http.MaxBytesReader(w, r.Body, 1<<20)).Decode(&ev); err != nil {
		http.Error(w, "bad webhook body: "+err.Error(), http.StatusBadRequest)
		return
	}
	a.mu.Lock()
	a.webhooks = append(a.webhooks, ev)
	a.mu.Unlock()
	a.logf("webhook %s %s call=%v", ev.ID, ev.Event, ev.Call["id"])
	w.WriteHeader(http.StatusNoContent)
}

// startCall places a recorded call and runs the rest of the workflow in
// the background; GET /rec/calls shows how it went.
func (a *app) startCall(w http.ResponseWriter, r *http.Request) {
	var in struct {
		To string `json:"to"`
	}
	if err := json.NewDecoder(http.MaxBytesReader(w, r.Body, 1<<20)).Decode(&in); err != nil || in.To == "" {
		http.Error(w, `want {"to": "+E164"}`, http.StatusBadRequest)
		return
	}
	id, err := a.placeCall(r.Context(), in.To)
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadGateway)
		return
	}
	wf := &workflow{CallID: id, To: in.To}
	a.mu.Lock()
	a.runs[id] = wf
	a.mu.Unlock()
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Minute)
		defer cancel()
		a.finish(ctx, id)
	}()
	writeJSON(w, http.StatusAccepted, wf)
}

// workflowOf returns a copy of the workflow of call id.
func (a *app) workflowOf(id string) (workflow, bool) {
	a.mu.Lock()
	defer a.mu.Unlock()
	wf, ok := a.runs[id]
	if !ok {
		return workflow{}, false
	}
	return *wf, true
}

// finish waits for call id to end, then downloads its recordings.
func (a *app) finish(ctx context.Context, id string) {
	res, err := a.collect(ctx, id)
	if err != nil {
		res.Error = err.Error()
		a.logf("call %s: %v", id, err)
	}
	res.Done = true
	a.mu.Lock()
	a.runs[id] = res
	a.mu.Unlock()
}

// placeCall is POST /v1/calls with "record": true.
func (a *app) placeCall(ctx context.Context, to string) (string, error) {
	var call struct {
		ID string `json:"id"`
	}
	err := a.api(ctx, "POST", "/v1/calls", map[string]any{"to": to, "from": a.cfg.From,
		"application_id": a.cfg.ApplicationID, "record": true}, http.StatusCreated, &call)
	if err != nil {
		return "", err
	}
	a.logf("call %s to %s placed", call.ID, to)
	return call.ID, nil
}

// collect polls the call until it has ended, downloads each recording once
// it is completed, and lists the call's events.
func (a *app) collect(ctx context.Context, id string) (*workflow, error) {
	wf := &workflow{CallID: id}
	var call struct {
		To           string   `json:"to"`
		Status       string   `json:"status"`
		Duration     *float64 `json:"duration"`
		RecordingIDs []string `json:"recording_ids"`
	}
	for {
		if err := a.api(ctx, "GET", "/v1/calls/"+url.PathEscape(id), nil, http.StatusOK, &call); err != nil {
			return wf, err
		}
		if ended(call.Status) {
			break
		}
		if err := a.sleep(ctx); err != nil {
			return wf, err
		}
	}
	wf.To, wf.Status = call.To, call.Status
	if call.Duration != nil {
		wf.Duration = *call.Duration
	}
	a.logf("call %s ended: %s, %d recording(s)", id, call.Status, len(call.RecordingIDs))

	for _, recID := range call.RecordingIDs {
		rec, err := a.download(ctx, recID)
		if err != nil {
			return wf, err
		}
		wf.Recordings = append(wf.Recordings, rec)
	}

	// The call's events: what the webhooks deliver, one by one.
	// recording.completed may come after
	// call.completed, so they are read once the recordings are final.
	var events struct {
		Data []struct {
			Event string `json:"event"`
		} `json:"data"`
	}
	if err := a.api(ctx, "GET", "/v1/calls/"+url.PathEscape(id)+"/events", nil, http.StatusOK, &events); err != nil {
		return wf, err
	}
	for _, e := range events.Data {
		wf.Events = append(wf.Events, e.Event)
	}
	return wf, nil
}

// download waits for recording id to be completed, saves its WAV under
// OutDir and checks the file against the recording's sha256.
func (a *app) download(ctx context.Context, id string) (savedRecording, error) {
	var rec struct {
		savedRecording
		Status   string `json:"status"`
		MediaURL string `json:"media_url"`
		Error    string `json:"error"`
	}
	for {
		if err := a.api(ctx, "GET", "/v1/recordings/"+url.PathEscape(id), nil, http.StatusOK, &rec); err != nil {
			return savedRecording{}, err
		}
		if rec.Status == "completed" {
			break
		}
		if rec.Status != "in-progress" {
			return savedRecording{}, fmt.Errorf("recording %s is %s: %s", id, rec.Status, rec.Error)
		}
		if err := a.sleep(ctx); err != nil {
			return savedRecording{}, err
		}
	}
	out := rec.savedRecording
	req, err := http.NewRequestWithContext(ctx, "GET", strings.TrimSuffix(a.cfg.API, "/")+rec.MediaURL, nil)
	if err != nil {
		return out, err
	}
	req.Header.Set("Authorization", "Bearer "+a.cfg.Key)
	resp, err := a.client.Do(req)
	if err != nil {
		return out, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		b, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
		return out, fmt.Errorf("GET %s: %s: %s", rec.MediaURL, resp.Status, bytes.TrimSpace(b))
	}
	if err := os.MkdirAll(a.cfg.OutDir, 0o750); err != nil {
		return out, err
	}
	out.Path = filepath.Join(a.cfg.OutDir, id+".wav")
	f, err := os.Create(out.Path)
	if err != nil {
		return out, err
	}
	h := sha256.New()
	out.Bytes, err = io.Copy(io.MultiWriter(f, h), resp.Body)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return out, fmt.Errorf("saving %s: %w", out.Path, err)
	}
	if got := hex.EncodeToString(h.Sum(nil)); got != out.SHA256 {
		return out, fmt.Errorf("recording %s: downloaded file has sha256 %s, the API says %s", id, got, out.SHA256)
	}
	a.logf("recording %s: %.1f s, %s, %d Hz, saved to %s", id, out.Duration, out.Channels, out.SampleRate, out.Path)
	return out, nil
}

func ended(status string) bool {
	switch status {
	case "completed", "busy", "no-answer", "failed", "canceled":
		return true
	}
	return false
}

func (a *app) sleep(ctx context.Context) error {
	t := time.NewTimer(a.cfg.PollInterval)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}

// api sends one JSON request to MiniVoice and decodes the answer into out.
func (a *app) api(ctx context.Context, method, path string, body any, want int, out any) error {
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return err
		}
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, strings.TrimSuffix(a.cfg.API, "/")+path, rd)
	if err != nil {
		return err
	}
	req.Header.Set("Authorization", "Bearer "+a.cfg.Key)
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := a.client.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(io.LimitReader(resp.Body, 4<<20))
	if err != nil {
		return err
	}
	if resp.StatusCode != want {
		return fmt.Errorf("%s %s: %s: %s", method, path, resp.Status, bytes.TrimSpace(raw))
	}
	if out != nil {
		if err := json.Unmarshal(raw, out); err != nil {
			return fmt.Errorf("%s %s: %w", method, path, err)
		}
	}
	return nil
}

func main() {
	listen := flag.String("listen", "127.0.0.1:8084", "address to serve the application on")
	api := flag.String("api", "http://127.0.0.1:8080", "MiniVoice API base URL")
	appID := flag.String("application", "", "application id (app_...) whose answer_url is this server")
	from := flag.String("from", "+15551230131", "caller id of the calls (E.164)")
	to := flag.String("to", "", "place one recorded call to this number at start (E.164); else wait for POST /rec/calls")
	out := flag.String("out", "recordings", "directory for downloaded WAV files")
	flag.Parse()
	key := os.Getenv("MINIVOICE_KEY")
	if key == "" || *appID == "" {
		fmt.Fprintln(os.Stderr, "recording-workflow: set MINIVOICE_KEY to an application key and -application to its id")
		os.Exit(2)
	}
	logger := log.New(os.Stderr, "recording-workflow: ", log.LstdFlags)
	a := newApp(appConfig{API: *api, Key: key, ApplicationID: *appID, From: *from, OutDir: *out, Logger: logger})
	base := "http://" + *listen
	fmt.Printf("answer_url: %s/rec/answer\nwebhook_url: %s/rec/webhooks\nworkflows: %s/rec/calls\n", base, base, base)
	srv := &http.Server{Addr: *listen, Handler: a, ReadHeaderTimeout: 10 * time.Second}
	errc := make(chan error, 1)
	go func() { errc <- srv.ListenAndServe() }()
	if *to != "" {
		ctx := context.Background()
		id, err := a.placeCall(ctx, *to)
		if err != nil {
			logger.Fatal(err)
		}
		a.mu.Lock()
		a.runs[id] = &workflow{CallID: id, To: *to}
		a.mu.Unlock()
		a.finish(ctx, id)
		wf, _ := a.workflowOf(id)
		b, _ := json.MarshalIndent(wf, "", "  ")
		fmt.Printf("%s\n", b)
		if wf.Error != "" {
			os.Exit(1)
		}
		logger.Print("still serving the webhook endpoint; Ctrl-C to stop")
	}
	err := <-errc
	if !errors.Is(err, http.ErrServerClosed) {
		logger.Fatal(err)
	}
}
