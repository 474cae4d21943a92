package analyze_test

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/minivoice/minivoice/internal/insights/analyze"
	"github.com/minivoice/minivoice/internal/voice"
)

const (
	testModel = "test-model"
	testKey   = "sk-test-secret-123"
)

// chatRequest is what the fake server expects.
type chatRequest struct {
	Model    string `json:"model"`
	Messages []struct {
		Role    string `json:"role"`
		Content string `json:"content"`
	} `json:"messages"`
	Temperature    *float64 `json:"temperature"`
	ResponseFormat struct {
		Type string `json:"type"`
	} `json:"response_format"`
}

// fakeLLM is an OpenAI-compatible chat completions server: it checks each
// request and answers with the next reply (the last one repeats).
type fakeLLM struct {
	t       *testing.T
	srv     *httptest.Server
	mu      sync.Mutex
	reqs    []chatRequest
	posted  []string // request paths
	replies []reply
}

// reply is one canned answer: an HTTP status and either the content of a
// chat completion (status 200) or a raw body.
type reply struct {
	status  int
	content string
	raw     string
	hang    bool
}

func newFakeLLM(t *testing.T, replies ...reply) *fakeLLM {
	f := &fakeLLM{t: t, replies: replies}
	f.srv = httptest.NewServer(http.HandlerFunc(f.serve))
	t.Cleanup(f.srv.Close)
	return f
}

func (f *fakeLLM) serve(w http.ResponseWriter, r *http.Request) {
	f.mu.Lock()
	f.posted = append(f.posted, r.URL.Path)
	f.mu.Unlock()
	if r.Method == http.MethodGet && strings.HasSuffix(r.URL.Path, "/models") {
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write([]byte(`{"object":"list","data":[{"id":"test-model","object":"model"}]}`))
		return
	}
	var req chatRequest
	err := json.NewDecoder(r.Body).Decode(&req)
	switch {
	case r.Method != http.MethodPost || !strings.HasSuffix(r.URL.Path, "/chat/completions"):
		f.t.Errorf("%s %s, want POST .../chat/completions", r.Method, r.URL.Path)
	case err != nil:
		f.t.Errorf("request body: %v", err)
	case req.Model != testModel:
		f.t.Errorf("model %q", req.Model)
	case req.Temperature == nil || *req.Temperature != 0:
		f.t.Errorf("temperature %v, want 0", req.Temperature)
	case req.ResponseFormat.Type != "json_object":
		f.t.Errorf("response_format %q", req.ResponseFormat.Type)
	case len(req.Messages) < 2 || req.Messages[0].Role != "system" || req.Messages[1].Role != "user":
		f.t.Errorf("messages %+v, want system then user", req.Messages)
	case r.Header.Get("Authorization") != "Bearer "+testKey:
		f.t.Errorf("Authorization %q", r.Header.Get("Authorization"))
	case r.Header.Get("Content-Type") != "application/json":
		f.t.Errorf("Content-Type %q", r.Header.Get("Content-Type"))
	}
	f.mu.Lock()
	f.reqs = append(f.reqs, req)
	rep := f.replies[min(len(f.reqs), len(f.replies))-1]
	f.mu.Unlock()
	if rep.hang {
		<-r.Context().Done()
		return
	}
	if rep.status != http.StatusOK {
		w.WriteHeader(rep.status)
		_, _ = w.Write([]byte(rep.raw))
		return
	}
	w.Header().Set("Content-Type", "application/json")
	if rep.raw != "" {
		_, _ = w.Write([]byte(rep.raw))
		return
	}
	_ = json.NewEncoder(w).Encode(map[string]any{
		"id": "chatcmpl-1", "object": "chat.completion", "model": testModel,
		"choices": []any{map[string]any{"index": 0, "finish_reason": "stop",
			"message": map[string]any{"role": "assistant", "content": rep.content}}},
	})
}

func (f *fakeLLM) requests() []chatRequest {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]chatRequest(nil), f.reqs...)
}

func (f *fakeLLM) paths() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]string(nil), f.posted...)
}

func (f *fakeLLM) engine(t *testing.T, timeout time.Duration) *analyze.LLM {
	t.Helper()
	e, err := analyze.NewLLM(analyze.LLMConfig{URL: f.srv.URL, Model: testModel, APIKey: testKey, Timeout: timeout})
	if err != nil {
		t.Fatal(err)
	}
	return e
}

// goodAnswer is a usable answer for the complaint with the application's
// criterion "refund_offered".
const goodAnswer = `{
 "summary": {"text": "The caller complained about being charged twice and asked for a refund, which the agent could not give.",
   "key_points": ["Caller: charged twice for the bill", "Agent: cannot refund on this line", " "]},
 "score": {"criteria": [
   {"name": "greeting", "score": 100, "passed": true, "evidence": "at 0:00 agent: 'hello'"},
   {"name": "purpose_identified", "score": 90, "passed": true, "evidence": "at 0:03 caller: 'charged twice'"},
   {"name": "resolution_stated", "score": 10, "passed": false, "evidence": "no resolution"},
   {"name": "Politeness", "score": 40.4, "passed": false, "evidence": "no polite words"},
   {"name": "caller_sentiment", "score": 5, "passed": false, "evidence": "angry caller"},
   {"name": "refund_offered", "score": 0, "passed": false, "evidence": "the agent refused"},
   {"name": "extra", "score": 100, "passed": true, "evidence": "ignored"}
 ]},
 "topics": [
   {"name": "double charge", "confidence": 0.9, "mentions": 2},
   {"name": "REFUND", "confidence": 0.85, "mentions": 2},
   {"name": "Billing", "confidence": 0.95, "mentions": 5},
   {"name": "appointment", "confidence": 0.1, "mentions": 0}
 ]
}`

var refundOffered = []voice.ScoreCriterion{{Name: "refund_offered", Speaker: voice.CriterionAgent, AnyOf: []string{"refund has been"}}}

func TestLLMAnalyze(t *testing.T) {
	t.Parallel()
	f := newFakeLLM(t, reply{status: 200, content: goodAnswer})
	e := f.engine(t, 0)
	res, err := e.Analyze(context.Background(), analyze.Input{Call: inboundCall(49, "caller"), Transcription: complaint,
		Topics: appTopics, Criteria: refundOffered})
	if err != nil {
		t.Fatal(err)
	}
	engine := "llm:test-model"
	same(t, "summary", res.Summary, voice.Summary{Engine: engine,
		Text: "Inbound call from +15551230001 to +15557654321, 49 s, ended by the caller hanging up. " +
			"The caller complained about being charged twice and asked for a refund, which the agent could not give.",
		KeyPoints: []string{"Caller: charged twice for the bill", "Agent: cannot refund on this line"}})
	// The model's scores, in the scorecard's order and names; silences
	// measured; total round((100+90+10+40+100+5+0)/7) = 49.
	same(t, "score", res.Score, voice.Score{Engine: engine, Score: 49, Rating: voice.RatingPoor, Criteria: []voice.Criterion{
		{Name: "greeting", Score: 100, Passed: true, Evidence: "at 0:00 agent: 'hello'"},
		{Name: "purpose_identified", Score: 90, Passed: true, Evidence: "at 0:03 caller: 'charged twice'"},
		{Name: "resolution_stated", Score: 10, Evidence: "no resolution"},
		{Name: "politeness", Score: 40, Evidence: "no polite words"},
		{Name: "no_long_silences", Score: 100, Passed: true, Evidence: "longest silence 1.0 s, at 0:18"},
		{Name: "caller_sentiment", Score: 5, Evidence: "angry caller"},
		{Name: "refund_offered", Score: 0, Evidence: "the agent refused"},
	}})
	same(t, "topics", res.Topics, voice.Topics{Engine: engine, Topics: []voice.Topic{
		{Name: "billing", Confidence: 0.95, Mentions: 5},
		{Name: "refund", Confidence: 0.85, Mentions: 2},
		{Name: "double charge", Confidence: 0.9, Mentions: 2},
	}})

	reqs := f.requests()
	if len(reqs) != 1 {
		t.Fatalf("%d requests, want 1", len(reqs))
	}
	user := reqs[0].Messages[1].Content
	for _, want := range []string{
		"Call: Inbound call from +15551230001 to +15557654321, 49 s, ended by the caller hanging up.",
		"1. greeting: ", "5. caller_sentiment: ",
		`6. refund_offered: passes when the agent says at least one of "refund has been"`,
		`- billing: "bill", "billing", "charged", "payment", "payments"`,
		"[0:00-0:03] agent: hello acme support this is dana speaking\n[0:03-0:09] caller: i have been charged twice",
	} {
		if !strings.Contains(user, want) {
			t.Errorf("prompt lacks %q:\n%s", want, user)
		}
	}
	if strings.Contains(user, "no_long_silences") {
		t.Errorf("prompt asks for no_long_silences, which is measured")
	}
	if e.Name() != engine {
		t.Errorf("Name %q", e.Name())
	}
}

func TestLLMErrors(t *testing.T) {
	t.Parallel()
	notJSON := reply{status: 200, content: "I am sorry, I cannot produce JSON today."}
	tests := []struct {
		name     string
		replies  []reply
		timeout  time.Duration
		want     error // ErrUnavailable, ErrRejected, or nil for transient
		ok       bool  // a usable result
		requests int
	}{
		{"server error", []reply{{status: 500, raw: "boom"}}, 0, nil, false, 1},
		{"bad gateway", []reply{{status: 502}}, 0, nil, false, 1},
		{"rate limited", []reply{{status: 429, raw: `{"error":{"message":"slow down"}}`}}, 0, nil, false, 1},
		{"unauthorized", []reply{{status: 401, raw: "bad key " + testKey}}, 0, analyze.ErrUnavailable, false, 1},
		{"forbidden", []reply{{status: 403}}, 0, analyze.ErrUnavailable, false, 1},
		{"no such model", []reply{{status: 404, raw: `{"error":"model not found"}`}}, 0, analyze.ErrUnavailable, false, 1},
		{"bad request", []reply{{status: 400, raw: `{"error":"context length exceeded"}`}}, 0, analyze.ErrRejected, false, 1},
		{"unprocessable", []reply{{status: 422}}, 0, analyze.ErrRejected, false, 1},
		{"not JSON twice", []reply{notJSON}, 0, analyze.ErrRejected, false, 2},
		{"not JSON then JSON", []reply{notJSON, {status: 200, content: goodAnswer}}, 0, nil, true, 2},
		{"fenced JSON", []reply{{status: 200, content: "Here you go:\n```json\n" + goodAnswer + "\n```\n"}}, 0, nil, true, 1},
		{"score out of range", []reply{{status: 200, content: strings.Replace(goodAnswer, `"score": 90`, `"score": 150`, 1)}},
			0, analyze.ErrRejected, false, 2},
		{"negative score", []reply{{status: 200, content: strings.Replace(goodAnswer, `"score": 90`, `"score": -1`, 1)}},
			0, analyze.ErrRejected, false, 2},
		{"confidence out of range", []reply{{status: 200, content: strings.Replace(goodAnswer, `"confidence": 0.9,`, `"confidence": 90,`, 1)}},
			0, analyze.ErrRejected, false, 2},
		{"criterion missing", []reply{{status: 200, content: strings.Replace(goodAnswer, `"name": "greeting"`, `"name": "hello"`, 1)}},
			0, analyze.ErrRejected, false, 2},
		{"passed missing", []reply{{status: 200, content: strings.Replace(goodAnswer, `"passed": true, "evidence": "at 0:00`, `"evidence": "at 0:00`, 1)}},
			0, analyze.ErrRejected, false, 2},
		{"empty summary", []reply{{status: 200, content: strings.Replace(goodAnswer, `"text": "The caller`, `"text": " ", "x": "`, 1)}},
			0, analyze.ErrRejected, false, 2},
		{"not a chat completion", []reply{{status: 200, raw: "<html>proxy</html>"}}, 0, analyze.ErrRejected, false, 2},
		{"no choices", []reply{{status: 200, raw: `{"choices":[]}`}}, 0, analyze.ErrRejected, false, 2},
		{"answer too large", []reply{{status: 200, raw: `{"choices":[{"message":{"content":"` + strings.Repeat("x", 1<<20) + `"}}]}`}},
			0, analyze.ErrRejected, false, 1},
		{"hanging server", []reply{{hang: true}}, 200 * time.Millisecond, nil, false, 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			f := newFakeLLM(t, tt.replies...)
			started := time.Now()
			res, err := f.engine(t, tt.timeout).Analyze(context.Background(),
				analyze.Input{Call: inboundCall(49, "caller"), Transcription: complaint, Topics: appTopics, Criteria: refundOffered})
			if n := len(f.requests()); n != tt.requests {
				t.Errorf("%d requests, want %d", n, tt.requests)
			}
			if tt.ok {
				if err != nil || res == nil || res.Score.Score != 49 {
					t.Fatalf("Analyze: %v, %+v", err, res)
				}
				return
			}
			if err == nil {
				t.Fatalf("no error, result %+v", res)
			}
			if strings.Contains(err.Error(), testKey) {
				t.Errorf("error shows the API key: %v", err)
			}
			permanent := errors.Is(err, analyze.ErrUnavailable) || errors.Is(err, analyze.ErrRejected)
			switch {
			case tt.want == nil && permanent:
				t.Errorf("error %v is permanent, want transient", err)
			case tt.want != nil && !errors.Is(err, tt.want):
				t.Errorf("error %v, want %v", err, tt.want)
			}
			if tt.timeout > 0 && time.Since(started) > 5*time.Second {
				t.Errorf("took %v with a %v timeout", time.Since(started), tt.timeout)
			}
		})
	}
}

func TestLLMReAsk(t *testing.T) {
	t.Parallel()
	f := newFakeLLM(t, reply{status: 200, content: "not json"}, reply{status: 200, content: goodAnswer})
	if _, err := f.engine(t, 0).Analyze(context.Background(), analyze.Input{Transcription: complaint, Criteria: refundOffered}); err != nil {
		t.Fatal(err)
	}
	reqs := f.requests()
	if len(reqs) != 2 {
		t.Fatalf("%d requests", len(reqs))
	}
	m := reqs[1].Messages
	if len(m) != 4 || m[2].Role != "assistant" || m[2].Content != "not json" || m[3].Role != "user" ||
		!strings.Contains(m[3].Content, "could not be used") {
		t.Errorf("re-ask messages %+v", m)
	}
}

func TestLLMNoSpeech(t *testing.T) {
	t.Parallel()
	f := newFakeLLM(t, reply{status: 500})
	res, err := f.engine(t, 0).Analyze(context.Background(), analyze.Input{Call: inboundCall(12, "caller"), Transcription: silence})
	if err != nil {
		t.Fatal(err)
	}
	if n := len(f.requests()); n != 0 {
		t.Errorf("%d requests for a call without speech", n)
	}
	if res.Summary.Engine != "llm:test-model" || res.Score.Score != 0 || res.Score.Rating != voice.RatingPoor ||
		!strings.HasSuffix(res.Summary.Text, "No speech was recognised.") {
		t.Errorf("result %+v", res)
	}
}

func TestLLMCanceled(t *testing.T) {
	t.Parallel()
	f := newFakeLLM(t, reply{hang: true})
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	_, err := f.engine(t, time.Minute).Analyze(ctx, analyze.Input{Transcription: complaint})
	if !errors.Is(err, context.DeadlineExceeded) || errors.Is(err, analyze.ErrRejected) || errors.Is(err, analyze.ErrUnavailable) {
		t.Fatalf("err %v, want the context's deadline", err)
	}
}

func TestNewLLM(t *testing.T) {
	t.Parallel()
	tests := []struct {
		url, model string
		path       string // "" when invalid
	}{
		{"http://HOST", testModel, "/v1/chat/completions"},
		{"http://HOST/", testModel, "/v1/chat/completions"},
		{"http://HOST/v1", testModel, "/v1/chat/completions"},
		{"http://HOST/v1/chat/completions", testModel, "/v1/chat/completions"},
		{"http://HOST/proxy/llm/", testModel, "/proxy/llm/v1/chat/completions"},
		{"http://HOST", "", ""},
		{"HOST", testModel, ""},
		{"ftp://HOST", testModel, ""},
		{"http://", testModel, ""},
		{"::", testModel, ""},
	}
	for _, tt := range tests {
		f := newFakeLLM(t, reply{status: 200, content: goodAnswer})
		url := strings.ReplaceAll(tt.url, "HOST", strings.TrimPrefix(f.srv.URL, "http://"))
		e, err := analyze.NewLLM(analyze.LLMConfig{URL: url, Model: tt.model, APIKey: testKey})
		if tt.path == "" {
			if !errors.Is(err, analyze.ErrUnavailable) {
				t.Errorf("NewLLM(%q, %q): %v, want ErrUnavailable", tt.url, tt.model, err)
			}
			continue
		}
		if err != nil {
			t.Fatalf("NewLLM(%q): %v", tt.url, err)
		}
		if _, err := e.Analyze(context.Background(), analyze.Input{Transcription: complaint, Criteria: refundOffered}); err != nil {
			t.Fatalf("%s: %v", tt.url, err)
		}
		if f.paths()[0] != tt.path {
			t.Errorf("URL %q posted to %q, want %q", tt.url, f.paths()[0], tt.path)
		}
	}
}

func TestLLMAvailable(t *testing.T) {
	t.Parallel()
	up := newFakeLLM(t)
	if err := up.engine(t, 0).Available(context.Background()); err != nil {
		t.Errorf("Available: %v", err)
	}
	if up.paths()[0] != "/v1/models" {
		t.Errorf("asked %q", up.paths()[0])
	}
	for _, tt := range []struct {
		status int
		want   error
	}{{401, analyze.ErrUnavailable}, {403, analyze.ErrUnavailable}, {404, nil}, {500, nil}} {
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(tt.status) }))
		e, err := analyze.NewLLM(analyze.LLMConfig{URL: srv.URL, Model: testModel, APIKey: testKey})
		if err != nil {
			t.Fatal(err)
		}
		if err := e.Available(context.Background()); !errors.Is(err, tt.want) || (tt.want == nil) != (err == nil) {
			t.Errorf("HTTP %d: Available %v, want %v", tt.status, err, tt.want)
		}
		srv.Close()
	}
	down := httptest.NewServer(http.NotFoundHandler())
	down.Close()
	e, err := analyze.NewLLM(analyze.LLMConfig{URL: down.URL, Model: testModel})
	if err != nil {
		t.Fatal(err)
	}
	if err := e.Available(context.Background()); !errors.Is(err, analyze.ErrUnavailable) {
		t.Errorf("closed server: Available %v, want ErrUnavailable", err)
	}
}
