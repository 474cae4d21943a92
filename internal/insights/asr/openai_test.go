package asr_test

import (
	"context"
	"errors"
	"fmt"
	"math"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/minivoice/minivoice/internal/insights/asr"
	"github.com/minivoice/minivoice/internal/media"
)

const testKey = "sk-test-secret-key"

// verboseJSON is what OpenAI answers for response_format=verbose_json,
// trimmed of fields we ignore. The third segment is Whisper's classic
// hallucination on silence; the second overshoots the 3 s audio.
const verboseJSON = `{
  "task": "transcribe", "language": "english", "duration": 3.0,
  "text": " Hello there. How can I help? Thank you.",
  "segments": [
    {"id": 0, "seek": 0, "start": 0.0, "end": 1.2, "text": " Hello there.", "tokens": [50364, 2425],
     "temperature": 0.0, "avg_logprob": -0.25, "compression_ratio": 1.1, "no_speech_prob": 0.01},
    {"id": 1, "seek": 0, "start": 1.4, "end": 3.52, "text": " How can I help?", "tokens": [1012],
     "temperature": 0.0, "avg_logprob": 0.05, "compression_ratio": 1.1, "no_speech_prob": 0.02},
    {"id": 2, "seek": 0, "start": 2.9, "end": 3.0, "text": " Thank you.", "tokens": [1044],
     "temperature": 0.0, "avg_logprob": -1.6, "compression_ratio": 0.9, "no_speech_prob": 0.93}
  ]
}`

// tone is 3 s of a 440 Hz tone at 8 kHz: sound, so it is sent.
func tone() asr.Audio {
	a := asr.Audio{Rate: 8000, Samples: make([]int16, 3*8000)}
	for i := range a.Samples {
		a.Samples[i] = int16(8000 * math.Sin(2*math.Pi*440*float64(i)/8000))
	}
	return a
}

// checkRequest parses a transcription request as a server would and
// reports what is wrong with it. wantSamples is the expected length of the
// uploaded WAV at 16 kHz.
func checkRequest(r *http.Request, wantSamples int, wantLanguage string) error {
	if r.Method != http.MethodPost || r.URL.Path != "/v1/audio/transcriptions" {
		return fmt.Errorf("got %s %s", r.Method, r.URL.Path)
	}
	if got := r.Header.Get("Authorization"); got != "Bearer "+testKey {
		return fmt.Errorf("Authorization %q", got)
	}
	if err := r.ParseMultipartForm(32 << 20); err != nil {
		return fmt.Errorf("parsing form: %w", err)
	}
	for field, want := range map[string]string{"model": "large-v3", "response_format": "verbose_json", "temperature": "0", "language": wantLanguage} {
		if got := r.FormValue(field); got != want {
			return fmt.Errorf("%s = %q, want %q", field, got, want)
		}
	}
	f, hdr, err := r.FormFile("file")
	if err != nil {
		return fmt.Errorf("file: %w", err)
	}
	defer f.Close()
	if hdr.Filename != "audio.wav" || hdr.Header.Get("Content-Type") != "audio/wav" {
		return fmt.Errorf("file part %q of type %q", hdr.Filename, hdr.Header.Get("Content-Type"))
	}
	p, err := media.ReadWAV(f)
	if err != nil {
		return fmt.Errorf("file is not a WAV: %w", err)
	}
	if p.Rate != 16000 || len(p.Samples) != wantSamples {
		return fmt.Errorf("WAV of %d samples at %d Hz, want %d at 16000 Hz", len(p.Samples), p.Rate, wantSamples)
	}
	if media.DBFS(p.Samples) < -20 {
		return fmt.Errorf("WAV holds no tone: %.1f dBFS", media.DBFS(p.Samples))
	}
	return nil
}

// server starts an OpenAI-compatible test server on 127.0.0.1 that checks
// each request and then answers with handle.
func server(t *testing.T, language string, handle func(w http.ResponseWriter, r *http.Request)) *httptest.Server {
	t.Helper()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/v1/audio/transcriptions" {
			if err := checkRequest(r, 3*16000, language); err != nil {
				t.Errorf("bad request: %v", err)
				http.Error(w, err.Error(), http.StatusTeapot)
				return
			}
		}
		handle(w, r)
	}))
	t.Cleanup(srv.Close)
	return srv
}

func answer(status int, contentType, body string) func(http.ResponseWriter, *http.Request) {
	return func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", contentType)
		w.WriteHeader(status)
		_, _ = w.Write([]byte(body))
	}
}

func newOpenAI(t *testing.T, cfg asr.OpenAIConfig) *asr.OpenAI {
	t.Helper()
	if cfg.Model == "" {
		cfg.Model = "large-v3"
	}
	cfg.APIKey = testKey
	o, err := asr.NewOpenAI(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return o
}

func TestOpenAITranscribe(t *testing.T) {
	t.Parallel()
	srv := server(t, "", answer(http.StatusOK, "application/json", verboseJSON))
	o := newOpenAI(t, asr.OpenAIConfig{URL: srv.URL})
	if o.Name() != "openai-compatible:large-v3" {
		t.Errorf("Name() = %q", o.Name())
	}
	if err := o.Available(context.Background()); err != nil {
		t.Errorf("Available: %v", err)
	}
	res, err := o.Transcribe(context.Background(), tone())
	if err != nil {
		t.Fatal(err)
	}
	want := &asr.Result{Language: "en", Segments: []asr.Segment{
		{Start: 0, End: 1.2, Text: "Hello there.", Confidence: math.Exp(-0.25)},
		{Start: 1.4, End: 3, Text: "How can I help?", Confidence: 1},
	}}
	if fmt.Sprint(res) != fmt.Sprint(want) {
		t.Errorf("got  %+v\nwant %+v", res, want)
	}
}

func TestOpenAIPlainJSONAndLanguage(t *testing.T) {
	t.Parallel()
	// A server that ignores verbose_json and gives text only: one segment
	// spanning the audio, in the language we asked for.
	srv := server(t, "de", answer(http.StatusOK, "application/json", `{"text": " Guten Tag. "}`))
	o := newOpenAI(t, asr.OpenAIConfig{URL: srv.URL + "/v1/", Language: "de"})
	res, err := o.Transcribe(context.Background(), tone())
	if err != nil {
		t.Fatal(err)
	}
	want := &asr.Result{Language: "de", Segments: []asr.Segment{{Start: 0, End: 3, Text: "Guten Tag.", Confidence: 1}}}
	if fmt.Sprint(res) != fmt.Sprint(want) {
		t.Errorf("got  %+v\nwant %+v", res, want)
	}
}

func TestOpenAISilenceIsNotSent(t *testing.T) {
	t.Parallel()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		t.Errorf("silence was sent: %s %s", r.Method, r.URL)
	}))
	defer srv.Close()
	o := newOpenAI(t, asr.OpenAIConfig{URL: srv.URL})
	for _, a := range []asr.Audio{{}, {Rate: 8000, Samples: make([]int16, 8000)}} {
		res, err := o.Transcribe(context.Background(), a)
		if err != nil || res.Segments == nil || len(res.Segments) != 0 {
			t.Errorf("Transcribe(silence) = %+v, %v", res, err)
		}
	}
}

func TestOpenAIErrors(t *testing.T) {
	t.Parallel()
	const (
		transient = iota
		rejected
		unavailable
	)
	tests := []struct {
		name    string
		handle  func(http.ResponseWriter, *http.Request)
		class   int
		mention []string
		timeout bool
	}{
		{name: "500", handle: answer(500, "application/json", `{"error":{"message":"CUDA out of memory"}}`),
			class: transient, mention: []string{"500", "CUDA out of memory"}},
		{name: "503 html", handle: answer(503, "text/html", "<html><body>Service Unavailable</body></html>"),
			class: transient, mention: []string{"503 Service Unavailable"}},
		{name: "429", handle: answer(429, "application/json", `{"error":{"message":"Rate limit reached","type":"requests"}}`),
			class: transient, mention: []string{"429", "Rate limit reached"}},
		{name: "400", handle: answer(400, "application/json", `{"error":{"message":"bad audio","type":"invalid_request_error"}}`),
			class: rejected, mention: []string{"400", "bad audio"}},
		{name: "413 plain text", handle: answer(413, "text/plain", "request entity too large\n"),
			class: rejected, mention: []string{"413", "request entity too large"}},
		{name: "422 fastapi", handle: answer(422, "application/json", `{"detail":"Invalid file format"}`),
			class: rejected, mention: []string{"422", "Invalid file format"}},
		{name: "401", handle: answer(401, "application/json", `{"error":{"message":"Incorrect API key provided: sk-test-****-key"}}`),
			class: unavailable, mention: []string{"401", "API key"}},
		{name: "403", handle: answer(403, "text/plain", "forbidden"), class: unavailable, mention: []string{"403"}},
		{name: "404 endpoint", handle: answer(404, "text/plain", "404 page not found"), class: unavailable, mention: []string{"404", "URL"}},
		{name: "malformed JSON", handle: answer(200, "application/json", `{"text": "hello", "segments": [`),
			class: transient, mention: []string{"malformed JSON"}},
		{name: "not JSON", handle: answer(200, "text/plain", "hello world"), class: transient, mention: []string{"malformed JSON"}},
		{name: "empty object", handle: answer(200, "application/json", `{}`), class: transient, mention: []string{"neither text nor segments"}},
		{name: "hangs", handle: func(w http.ResponseWriter, r *http.Request) { <-r.Context().Done() },
			class: transient, timeout: true, mention: []string{"200ms"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			srv := server(t, "", tt.handle)
			// Only the hanging server meets the short timeout; the others
			// answer at once, and a loaded machine must not turn their
			// answers into timeouts.
			timeout := time.Minute
			if tt.timeout {
				timeout = 200 * time.Millisecond
			}
			o := newOpenAI(t, asr.OpenAIConfig{URL: srv.URL, Timeout: timeout})
			res, err := o.Transcribe(context.Background(), tone())
			if err == nil {
				t.Fatalf("got %+v, want an error", res)
			}
			t.Log(err)
			got := transient
			switch {
			case errors.Is(err, asr.ErrRejected) && errors.Is(err, asr.ErrUnavailable):
				t.Fatalf("error %v is both rejected and unavailable", err)
			case errors.Is(err, asr.ErrRejected):
				got = rejected
			case errors.Is(err, asr.ErrUnavailable):
				got = unavailable
			}
			if got != tt.class {
				t.Errorf("error %q has class %d, want %d", err, got, tt.class)
			}
			if tt.timeout && !errors.Is(err, context.DeadlineExceeded) {
				t.Errorf("error %q does not wrap context.DeadlineExceeded", err)
			}
			for _, m := range tt.mention {
				if !strings.Contains(err.Error(), m) {
					t.Errorf("error %q does not mention %q", err, m)
				}
			}
			if strings.Contains(err.Error(), testKey) {
				t.Errorf("error %q reveals the API key", err)
			}
		})
	}
}

func TestOpenAIConnectionRefused(t *testing.T) {
	t.Parallel()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	o := newOpenAI(t, asr.OpenAIConfig{URL: "http://user:hunter2@" + addr + "?key=qsecret"})
	_, err = o.Transcribe(context.Background(), tone())
	if err == nil || errors.Is(err, asr.ErrUnavailable) || errors.Is(err, asr.ErrRejected) {
		t.Errorf("Transcribe: %v; want a transient error (the server may be restarting)", err)
	}
	errA := o.Available(context.Background())
	if !errors.Is(errA, asr.ErrUnavailable) {
		t.Errorf("Available: %v; want ErrUnavailable", errA)
	}
	for _, e := range []error{err, errA} {
		if e != nil && (strings.Contains(e.Error(), "hunter2") || strings.Contains(e.Error(), "qsecret")) {
			t.Errorf("error %q reveals credentials", e)
		}
	}
}

func TestOpenAIAvailable(t *testing.T) {
	t.Parallel()
	// Any HTTP answer means reachable, even a 404 from a server without
	// /v1/models.
	var paths = make(chan string, 1)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		paths <- r.URL.Path
		http.NotFound(w, r)
	}))
	defer srv.Close()
	o := newOpenAI(t, asr.OpenAIConfig{URL: srv.URL + "/proxy/v1/audio/transcriptions"})
	if err := o.Available(context.Background()); err != nil {
		t.Errorf("Available: %v", err)
	}
	if p := <-paths; p != "/proxy/v1/models" {
		t.Errorf("probed %s", p)
	}

	unconfigured := newOpenAI(t, asr.OpenAIConfig{})
	if err := unconfigured.Available(context.Background()); !errors.Is(err, asr.ErrUnavailable) {
		t.Errorf("Available without URL: %v", err)
	}
	if _, err := unconfigured.Transcribe(context.Background(), tone()); !errors.Is(err, asr.ErrUnavailable) {
		t.Errorf("Transcribe without URL: %v", err)
	}

	// A server too busy to answer within 2 s is not declared unavailable.
	slow := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { <-r.Context().Done() }))
	defer slow.Close()
	start := time.Now()
	if err := newOpenAI(t, asr.OpenAIConfig{URL: slow.URL}).Available(context.Background()); err != nil {
		t.Errorf("Available on a slow server: %v", err)
	}
	// A failsafe, not a timing assertion: Available gives up after 2 s.
	if took := time.Since(start); took > 20*time.Second {
		t.Errorf("Available took %s", took)
	}
}

func TestNewOpenAIURL(t *testing.T) {
	t.Parallel()
	for in, want := range map[string]string{
		"http://127.0.0.1:8000":                     "http://127.0.0.1:8000/v1/audio/transcriptions",
		" http://127.0.0.1:8000/ ":                  "http://127.0.0.1:8000/v1/audio/transcriptions",
		"https://api.example.com/v1":                "https://api.example.com/v1/audio/transcriptions",
		"http://h/whisper":                          "http://h/whisper/v1/audio/transcriptions",
		"http://h/proxy/v1/audio/transcriptions/":   "http://h/proxy/v1/audio/transcriptions",
		"http://h:9000/?api-version=2#frag":         "http://h:9000/v1/audio/transcriptions?api-version=2",
		"HTTP://H:9000":                             "http://H:9000/v1/audio/transcriptions",
		"http://[::1]:8080/v1/audio/transcriptions": "http://[::1]:8080/v1/audio/transcriptions",
	} {
		o, err := asr.NewOpenAI(asr.OpenAIConfig{URL: in})
		if err != nil {
			t.Errorf("NewOpenAI(%q): %v", in, err)
			continue
		}
		if got := asr.Endpoint(o); got != want {
			t.Errorf("NewOpenAI(%q) posts to %q, want %q", in, got, want)
		}
	}
	for _, in := range []string{"ftp://h/", "h:8000", "127.0.0.1:8000", "http://", "http://[::1", "//h/v1", "http://user:s3cret@[::1"} {
		_, err := asr.NewOpenAI(asr.OpenAIConfig{URL: in})
		if err == nil {
			t.Errorf("NewOpenAI(%q) accepted", in)
		} else if strings.Contains(err.Error(), "s3cret") {
			t.Errorf("NewOpenAI(%q): %q reveals the password", in, err)
		}
	}
	if o, err := asr.NewOpenAI(asr.OpenAIConfig{URL: "http://h"}); err != nil || o.Name() != "openai-compatible:whisper-1" {
		t.Errorf("default model: %v, %v", o, err)
	}
}
