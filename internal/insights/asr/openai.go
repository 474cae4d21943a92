package asr

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"mime/multipart"
	"net"
	"net/http"
	"net/textproto"
	"net/url"
	"strconv"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/minivoice/minivoice/internal/media"
)

// Defaults for OpenAIConfig fields left zero.
const (
	DefaultOpenAIModel   = "whisper-1"
	DefaultOpenAITimeout = 5 * time.Minute
)

// transcriptionsPath is the endpoint of the OpenAI audio API that OpenAI,
// whisper.cpp's server (with --inference-path) and faster-whisper servers
// all serve.
const transcriptionsPath = "/v1/audio/transcriptions"

// availableTimeout bounds Available's probe: it must stay cheap.
const availableTimeout = 2 * time.Second

// Response bounds: an error body is only mined for a message, while a
// verbose_json transcript carries token arrays and can reach megabytes for
// a long call.
const (
	maxErrorBody    = 64 << 10
	maxResponseBody = 32 << 20
	maxServerMsg    = 500
)

// OpenAIConfig configures an OpenAI engine.
type OpenAIConfig struct {
	// URL is the base URL of an OpenAI-compatible server, such as
	// http://127.0.0.1:8000; "/v1/audio/transcriptions" is appended unless
	// the path already ends with it (a path ending in "/v1", as OpenAI SDKs
	// take it, gets "/audio/transcriptions"). Empty means not configured:
	// the engine then reports ErrUnavailable.
	URL string
	// Model is sent as the model field. Default DefaultOpenAIModel.
	Model string
	// APIKey, when set, is sent as a Bearer token. It is never logged nor
	// included in errors.
	APIKey string
	// Language is an optional ISO-639-1 hint ("en", "de"); without it the
	// server detects the language.
	Language string
	// Timeout bounds one request, upload and answer included. Default
	// DefaultOpenAITimeout.
	Timeout time.Duration
	// Client sends the requests. Default a plain http.Client (which honours
	// the HTTP_PROXY environment variables).
	Client *http.Client
}

// OpenAI transcribes through the OpenAI-compatible
// POST /v1/audio/transcriptions protocol, asking for verbose_json to get
// timed segments. It is safe for concurrent use.
type OpenAI struct {
	endpoint string // "" when no URL is configured
	models   string // GET here to see whether the server is up
	shown    string // endpoint without credentials or query, for errors
	model    string
	apiKey   string
	language string
	timeout  time.Duration
	client   *http.Client
}

// NewOpenAI returns an OpenAI engine. It fails if the URL does not parse or
// is not http(s); it does not contact the server (see Available).
func NewOpenAI(cfg OpenAIConfig) (*OpenAI, error) {
	o := &OpenAI{model: cfg.Model, apiKey: cfg.APIKey, language: strings.TrimSpace(cfg.Language), timeout: cfg.Timeout, client: cfg.Client}
	if o.model == "" {
		o.model = DefaultOpenAIModel
	}
	if o.timeout <= 0 {
		o.timeout = DefaultOpenAITimeout
	}
	if o.client == nil {
		o.client = &http.Client{}
	}
	raw := strings.TrimSpace(cfg.URL)
	if raw == "" {
		return o, nil
	}
	u, err := url.Parse(raw)
	if err != nil {
		// Not err itself: url.Error quotes the whole URL, password and all.
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err
		}
		return nil, fmt.Errorf("asr: transcription server URL does not parse: %w", err)
	}
	if u.Scheme != "http" && u.Scheme != "https" {
		return nil, fmt.Errorf("asr: transcription server URL must be http or https, not %q", u.Scheme)
	}
	if u.Host == "" {
		return nil, errors.New("asr: transcription server URL has no host")
	}
	u.Fragment, u.RawFragment = "", ""
	path := strings.TrimRight(u.Path, "/")
	switch {
	case strings.HasSuffix(path, transcriptionsPath):
	case strings.HasSuffix(path, "/v1"):
		path += strings.TrimPrefix(transcriptionsPath, "/v1")
	default:
		path += transcriptionsPath
	}
	u.Path, u.RawPath = path, ""
	o.endpoint = u.String()
	m := *u
	m.Path = strings.TrimSuffix(path, "/audio/transcriptions") + "/models"
	o.models = m.String()
	s := *u
	s.User, s.RawQuery = nil, ""
	o.shown = s.String()
	return o, nil
}

// Name returns "openai-compatible:" and the model name.
func (o *OpenAI) Name() string { return "openai-compatible:" + o.model }

// Available checks that a URL is configured and that something answers
// HTTP there: it GETs the server's /v1/models with a 2 s timeout and takes
// any HTTP answer as reachable. A refused connection, an unknown host or a
// TLS failure make it unavailable; a slow answer does not, since a server
// busy transcribing may well be slow (Transcribe will tell). If ctx ends
// first, its error is returned.
func (o *OpenAI) Available(ctx context.Context) error {
	if o.endpoint == "" {
		return fmt.Errorf("%w: no transcription server URL configured", ErrUnavailable)
	}
	pctx, cancel := context.WithTimeout(ctx, availableTimeout)
	defer cancel()
	req, err := http.NewRequestWithContext(pctx, http.MethodGet, o.models, nil)
	if err != nil {
		return fmt.Errorf("%w: %s: %w", ErrUnavailable, o.shown, err)
	}
	o.authorize(req)
	resp, err := o.client.Do(req)
	if err == nil {
		_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, maxErrorBody))
		resp.Body.Close()
		return nil
	}
	if ctx.Err() != nil {
		return fmt.Errorf("asr: checking %s: %w", o.shown, ctx.Err())
	}
	if pctx.Err() != nil || isTimeout(err) {
		return nil
	}
	return fmt.Errorf("%w: cannot reach transcription server %s: %w", ErrUnavailable, o.shown, unwrapURLError(err))
}

// Transcribe sends a, resampled to 16 kHz (Whisper's own rate, and the only
// one some whisper.cpp builds accept), as a WAV file and returns the
// server's segments. A segment's confidence is exp(avg_logprob), the
// geometric mean of its token probabilities, or 1 when the server gives
// none. Segments Whisper itself would skip as silence
// (no_speech_prob > 0.6 with avg_logprob < -1) are dropped, since not every
// server applies that rule.
func (o *OpenAI) Transcribe(ctx context.Context, a Audio) (*Result, error) {
	if o.endpoint == "" {
		return nil, fmt.Errorf("%w: no transcription server URL configured", ErrUnavailable)
	}
	sound, err := a.check()
	if err != nil {
		return nil, err
	}
	if !sound {
		return emptyResult(o.language), nil
	}
	body, contentType, err := o.form(a.at16k())
	if err != nil {
		return nil, err
	}
	rctx, cancel := context.WithTimeout(ctx, o.timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(rctx, http.MethodPost, o.endpoint, bytes.NewReader(body))
	if err != nil {
		return nil, fmt.Errorf("%w: %s: %w", ErrUnavailable, o.shown, err)
	}
	req.Header.Set("Content-Type", contentType)
	req.Header.Set("Accept", "application/json")
	o.authorize(req)

	data, status, err := o.do(req)
	if err != nil {
		switch {
		case ctx.Err() != nil:
			return nil, fmt.Errorf("asr: %s: %w", o.shown, ctx.Err())
		case rctx.Err() != nil:
			return nil, fmt.Errorf("asr: %s: no answer within %s: %w", o.shown, o.timeout, rctx.Err())
		}
		return nil, err
	}
	if status < 200 || status > 299 {
		return nil, o.statusError(status, data)
	}
	return o.parse(data, status, a.duration())
}

// do sends req and reads the answer, up to maxErrorBody for a failure and
// maxResponseBody for a success.
func (o *OpenAI) do(req *http.Request) ([]byte, int, error) {
	resp, err := o.client.Do(req)
	if err != nil {
		return nil, 0, fmt.Errorf("asr: POST %s: %w", o.shown, unwrapURLError(err))
	}
	defer resp.Body.Close()
	limit := int64(maxResponseBody)
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		limit = maxErrorBody
	}
	data, err := io.ReadAll(io.LimitReader(resp.Body, limit+1))
	if err != nil {
		return nil, 0, fmt.Errorf("asr: reading answer from %s: %w", o.shown, unwrapURLError(err))
	}
	if int64(len(data)) > limit {
		if limit == maxErrorBody {
			data = data[:limit] // plenty to find a message in
		} else {
			return nil, 0, fmt.Errorf("asr: answer from %s exceeds %d bytes", o.shown, limit)
		}
	}
	return data, resp.StatusCode, nil
}

func (o *OpenAI) authorize(req *http.Request) {
	if o.apiKey != "" {
		req.Header.Set("Authorization", "Bearer "+o.apiKey)
	}
}

// form encodes the multipart/form-data request body.
func (o *OpenAI) form(pcm *media.PCM) ([]byte, string, error) {
	var buf bytes.Buffer
	buf.Grow(len(pcm.Samples)*2 + 1024)
	mw := multipart.NewWriter(&buf)
	fields := [][2]string{{"model", o.model}, {"response_format", "verbose_json"}, {"temperature", "0"}}
	if o.language != "" {
		fields = append(fields, [2]string{"language", o.language})
	}
	for _, f := range fields {
		if err := mw.WriteField(f[0], f[1]); err != nil {
			return nil, "", fmt.Errorf("asr: encoding request: %w", err)
		}
	}
	// Not CreateFormFile: it labels the part application/octet-stream, and
	// some servers pick a decoder by the part's type.
	h := textproto.MIMEHeader{}
	h.Set("Content-Disposition", `form-data; name="file"; filename="audio.wav"`)
	h.Set("Content-Type", "audio/wav")
	part, err := mw.CreatePart(h)
	if err != nil {
		return nil, "", fmt.Errorf("asr: encoding request: %w", err)
	}
	if err := media.WriteWAV(part, pcm); err != nil {
		return nil, "", fmt.Errorf("asr: encoding request: %w", err)
	}
	if err := mw.Close(); err != nil {
		return nil, "", fmt.Errorf("asr: encoding request: %w", err)
	}
	return buf.Bytes(), mw.FormDataContentType(), nil
}

// statusError turns a non-2xx answer into an error of the right class.
func (o *OpenAI) statusError(status int, body []byte) error {
	text := fmt.Sprintf("%s answered %d %s", o.shown, status, http.StatusText(status))
	if msg := serverMessage(body); msg != "" {
		text += ": " + msg
	}
	switch status {
	case http.StatusUnauthorized, http.StatusForbidden:
		return fmt.Errorf("%w: %s (check the API key)", ErrUnavailable, text)
	case http.StatusNotFound, http.StatusMethodNotAllowed:
		// The request names no resource of its own, only the endpoint and
		// the model, so not found means the URL or the model is wrong.
		return fmt.Errorf("%w: %s (check the URL and the model name)", ErrUnavailable, text)
	case http.StatusBadRequest, http.StatusRequestEntityTooLarge, http.StatusUnsupportedMediaType, http.StatusUnprocessableEntity:
		return fmt.Errorf("%w: %s", ErrRejected, text)
	}
	// 408, 429, 5xx and anything unexpected: worth retrying.
	return fmt.Errorf("asr: %s", text)
}

// serverMessage digs a human-readable message out of an error body: OpenAI's
// {"error":{"message":...}}, whisper.cpp's {"error":"..."}, FastAPI's
// {"detail":"..."}, or a short plain-text body. Control characters are
// dropped and the result is bounded, since it ends up in logs and API
// responses.
func serverMessage(body []byte) string {
	var e struct {
		Error   json.RawMessage `json:"error"`
		Detail  json.RawMessage `json:"detail"`
		Message string          `json:"message"`
	}
	msg := ""
	if json.Unmarshal(body, &e) == nil {
		var nested struct {
			Message string `json:"message"`
		}
		var s string
		switch {
		case json.Unmarshal(e.Error, &nested) == nil && nested.Message != "":
			msg = nested.Message
		case json.Unmarshal(e.Error, &s) == nil && s != "":
			msg = s
		case json.Unmarshal(e.Detail, &s) == nil && s != "":
			msg = s
		case len(e.Detail) > 0 && e.Detail[0] == '[':
			msg = string(e.Detail) // FastAPI validation errors
		default:
			msg = e.Message
		}
	} else if t := strings.TrimSpace(string(body)); utf8.ValidString(t) && !strings.HasPrefix(t, "<") {
		msg, _, _ = strings.Cut(t, "\n") // plain text, not an HTML error page
	}
	msg = strings.TrimSpace(strings.Map(func(r rune) rune {
		if unicode.IsControl(r) {
			return ' '
		}
		return r
	}, msg))
	if len(msg) > maxServerMsg {
		cut := maxServerMsg
		for cut > 0 && !utf8.RuneStart(msg[cut]) {
			cut--
		}
		msg = msg[:cut] + "..."
	}
	return msg
}

// flexFloat accepts a JSON number or a numeric string: some servers send
// duration as "8.47".
type flexFloat float64

func (f *flexFloat) UnmarshalJSON(b []byte) error {
	s := strings.Trim(string(b), `"`)
	if s == "null" || s == "" {
		return nil
	}
	v, err := strconv.ParseFloat(s, 64)
	if err != nil {
		return fmt.Errorf("not a number: %s", b)
	}
	*f = flexFloat(v)
	return nil
}

// transcription is the verbose_json answer; plain json has only Text.
type transcription struct {
	Text     *string   `json:"text"`
	Language string    `json:"language"`
	Duration flexFloat `json:"duration"`
	Segments []struct {
		Start        flexFloat  `json:"start"`
		End          flexFloat  `json:"end"`
		Text         string     `json:"text"`
		AvgLogprob   *flexFloat `json:"avg_logprob"`
		NoSpeechProb *flexFloat `json:"no_speech_prob"`
	} `json:"segments"`
}

func (o *OpenAI) parse(data []byte, status int, dur float64) (*Result, error) {
	var t transcription
	if err := json.Unmarshal(data, &t); err != nil {
		return nil, fmt.Errorf("asr: %s answered %d with malformed JSON (does it support response_format=verbose_json?): %w", o.shown, status, err)
	}
	if t.Text == nil && t.Segments == nil {
		return nil, fmt.Errorf("asr: %s answered %d with JSON holding neither text nor segments", o.shown, status)
	}
	res := emptyResult(languageCode(t.Language))
	if res.Language == "" {
		res.Language = o.language
	}
	for _, s := range t.Segments {
		text := strings.TrimSpace(s.Text)
		if text == "" {
			continue
		}
		conf := 1.0
		if s.AvgLogprob != nil {
			conf = clamp01(math.Exp(float64(*s.AvgLogprob)))
			if s.NoSpeechProb != nil && *s.NoSpeechProb > 0.6 && *s.AvgLogprob < -1 {
				continue
			}
		}
		start, end := fitSpan(float64(s.Start), float64(s.End), dur)
		res.Segments = append(res.Segments, Segment{Start: start, End: end, Text: text, Confidence: conf})
	}
	// Plain json (or a server that ignored verbose_json): one segment over
	// the whole audio, since the server gave no timing.
	if len(t.Segments) == 0 && t.Text != nil {
		if text := strings.TrimSpace(*t.Text); text != "" {
			res.Segments = append(res.Segments, Segment{Start: 0, End: dur, Text: text, Confidence: 1})
		}
	}
	return res, nil
}

// unwrapURLError drops url.Error's wrapping, which quotes the request URL
// and with it any credentials or query parameters in it.
func unwrapURLError(err error) error {
	var ue *url.Error
	if errors.As(err, &ue) {
		return ue.Err
	}
	return err
}

// isTimeout reports whether err is a network timeout.
func isTimeout(err error) bool {
	var ne net.Error
	return errors.Is(err, context.DeadlineExceeded) || errors.As(err, &ne) && ne.Timeout()
}
