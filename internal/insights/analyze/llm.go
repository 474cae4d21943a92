package analyze

import (
	"bytes"
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/minivoice/minivoice/internal/voice"
)

// LLM engine limits.
const (
	// DefaultLLMTimeout bounds one request to the server when
	// LLMConfig.Timeout is zero: local models on a CPU are slow.
	DefaultLLMTimeout = 2 * time.Minute
	// maxResponseBytes bounds what is read of any answer.
	maxResponseBytes = 1 << 20
	// maxTranscriptChars bounds the transcript in the prompt (about 15,000
	// tokens); a longer call is cut, and the prompt says so.
	maxTranscriptChars = 60000
	// maxEvidenceChars and maxTextChars bound what is kept of the model's
	// evidence strings and summary.
	maxEvidenceChars = 300
	maxTextChars     = 2000
	// snippetChars is how much of an error body an error message quotes.
	snippetChars = 200
)

// LLMConfig configures an LLM engine.
type LLMConfig struct {
	// URL is the base URL of an OpenAI-compatible server, such as
	// "http://127.0.0.1:8081"; "/v1/chat/completions" is appended unless
	// the path already ends with "/chat/completions" (a path ending in
	// "/v1" gets "/chat/completions"). Required.
	URL string
	// Model is the model name sent with each request. Required.
	Model string
	// APIKey, when set, is sent as a Bearer token. It never appears in
	// errors or logs.
	APIKey string
	// Timeout bounds each request. Default DefaultLLMTimeout.
	Timeout time.Duration
	// Client makes the requests. Default: a client of its own without a
	// timeout (Timeout and the context bound each request).
	Client *http.Client
}

// LLM asks an OpenAI-compatible chat completions server to analyse calls,
// and shapes its answer like Offline's: the same header sentence starts
// the summary, the criteria come in the same order with the same names,
// the total and rating follow the same rule, and no_long_silences is
// measured from the timestamps rather than asked, since it is arithmetic.
// It is safe for concurrent use.
type LLM struct {
	endpoint string
	models   string
	model    string
	apiKey   string
	timeout  time.Duration
	client   *http.Client
}

// NewLLM checks cfg and returns the engine; it does not contact the server
// (Available does). Configuration errors wrap ErrUnavailable.
func NewLLM(cfg LLMConfig) (*LLM, error) {
	if strings.TrimSpace(cfg.Model) == "" {
		return nil, fmt.Errorf("%w: llm: a model name is required", ErrUnavailable)
	}
	u, err := url.Parse(cfg.URL)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, fmt.Errorf("%w: llm: URL must be an absolute http or https URL", ErrUnavailable)
	}
	path := strings.TrimRight(u.Path, "/")
	switch {
	case strings.HasSuffix(path, "/chat/completions"):
	case strings.HasSuffix(path, "/v1"):
		path += "/chat/completions"
	default:
		path += "/v1/chat/completions"
	}
	u.Path, u.RawPath = path, ""
	endpoint := u.String()
	u.Path = strings.TrimSuffix(path, "/chat/completions") + "/models"
	l := &LLM{endpoint: endpoint, models: u.String(), model: cfg.Model, apiKey: cfg.APIKey,
		timeout: cfg.Timeout, client: cfg.Client}
	if l.timeout <= 0 {
		l.timeout = DefaultLLMTimeout
	}
	if l.client == nil {
		l.client = &http.Client{}
	}
	return l, nil
}

// Name returns "llm:" and the model.
func (l *LLM) Name() string { return "llm:" + l.model }

// Available asks the server for its models. It reports ErrUnavailable when
// the server cannot be reached or refuses the key; any other answer,
// including 404 from servers that do not list models, counts as usable.
func (l *LLM) Available(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, l.timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, l.models, nil)
	if err != nil {
		return fmt.Errorf("%w: llm: %w", ErrUnavailable, err)
	}
	l.authorize(req)
	resp, err := l.client.Do(req)
	if err != nil {
		return fmt.Errorf("%w: llm: cannot reach the server: %w", ErrUnavailable, err)
	}
	defer resp.Body.Close()
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, maxResponseBytes))
	if resp.StatusCode == http.StatusUnauthorized || resp.StatusCode == http.StatusForbidden {
		return fmt.Errorf("%w: llm: the server refused the API key (HTTP %d)", ErrUnavailable, resp.StatusCode)
	}
	return nil
}

func (l *LLM) authorize(req *http.Request) {
	if l.apiKey != "" {
		req.Header.Set("Authorization", "Bearer "+l.apiKey)
	}
}

// chatMessage is one message of a chat completions request.
type chatMessage struct {
	Role    string `json:"role"`
	Content string `json:"content"`
}

// badAnswer is an answer that cannot be used: it earns one re-ask.
type badAnswer struct{ reason string }

func (e *badAnswer) Error() string { return e.reason }

// Analyze sends the call to the server and checks the answer. An
// unusable answer (not JSON, a criterion missing, a value out of range) is
// re-asked once, quoting what was wrong, then reported as ErrRejected. A
// call without speech is not sent: its result is the offline one.
func (l *LLM) Analyze(ctx context.Context, in Input) (*Result, error) {
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("analyze: %w", err)
	}
	t := prepare(in.Transcription, in.Call)
	if len(t.utts) == 0 {
		res, err := NewOffline().Analyze(ctx, in)
		if err != nil {
			return nil, err
		}
		res.Summary.Engine, res.Score.Engine, res.Topics.Engine = l.Name(), l.Name(), l.Name()
		return res, nil
	}
	msgs := []chatMessage{{Role: "system", Content: systemPrompt}, {Role: "user", Content: userPrompt(in, &t)}}
	for attempt := 0; ; attempt++ {
		content, err := l.complete(ctx, msgs)
		var res *Result
		if err == nil {
			res, err = l.parse(content, in, &t)
		}
		var bad *badAnswer
		if !errors.As(err, &bad) {
			return res, err
		}
		if attempt == 1 {
			return nil, fmt.Errorf("%w: llm: unusable answer after one re-ask: %s", ErrRejected, bad.reason)
		}
		msgs = append(msgs, chatMessage{Role: "assistant", Content: truncate(content, 4000)},
			chatMessage{Role: "user", Content: "That answer could not be used: " + bad.reason +
				". Reply again with only the JSON object described, nothing else."})
	}
}

// complete makes one chat completions request and returns the first
// choice's content. HTTP 401, 403 and 404 wrap ErrUnavailable (wrong key,
// URL or model), 400, 422 and other 4xx ErrRejected; 429, 5xx, timeouts and
// network errors are transient.
func (l *LLM) complete(ctx context.Context, msgs []chatMessage) (string, error) {
	body, err := json.Marshal(map[string]any{
		"model":           l.model,
		"messages":        msgs,
		"temperature":     0,
		"response_format": map[string]string{"type": "json_object"},
	})
	if err != nil {
		return "", fmt.Errorf("analyze: llm: %w", err)
	}
	rctx, cancel := context.WithTimeout(ctx, l.timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(rctx, http.MethodPost, l.endpoint, bytes.NewReader(body))
	if err != nil {
		return "", fmt.Errorf("%w: llm: %w", ErrUnavailable, err)
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Accept", "application/json")
	l.authorize(req)
	resp, err := l.client.Do(req)
	if err == nil {
		defer resp.Body.Close()
		var b []byte
		b, err = io.ReadAll(io.LimitReader(resp.Body, maxResponseBytes+1))
		if err == nil {
			return l.answer(resp.StatusCode, b)
		}
	}
	switch {
	case ctx.Err() != nil:
		return "", fmt.Errorf("analyze: llm: %w", ctx.Err())
	case rctx.Err() != nil:
		return "", fmt.Errorf("analyze: llm: no answer within %s: %w", l.timeout, rctx.Err())
	}
	return "", fmt.Errorf("analyze: llm: %w", err)
}

// answer classifies a response by status and extracts the content.
func (l *LLM) answer(status int, b []byte) (string, error) {
	switch {
	case status == http.StatusUnauthorized || status == http.StatusForbidden:
		return "", fmt.Errorf("%w: llm: the server refused the API key (HTTP %d): %s", ErrUnavailable, status, l.snippet(b))
	case status == http.StatusNotFound:
		return "", fmt.Errorf("%w: llm: no such endpoint or model %q (HTTP 404): %s", ErrUnavailable, l.model, l.snippet(b))
	case status == http.StatusTooManyRequests || status >= 500:
		return "", fmt.Errorf("analyze: llm: HTTP %d: %s", status, l.snippet(b))
	case status >= 400:
		return "", fmt.Errorf("%w: llm: HTTP %d: %s", ErrRejected, status, l.snippet(b))
	case status != http.StatusOK:
		return "", fmt.Errorf("analyze: llm: unexpected HTTP %d", status)
	}
	if len(b) > maxResponseBytes {
		return "", fmt.Errorf("%w: llm: answer larger than %d bytes", ErrRejected, maxResponseBytes)
	}
	var env struct {
		Choices []struct {
			Message struct {
				Content string `json:"content"`
			} `json:"message"`
		} `json:"choices"`
	}
	if err := json.Unmarshal(b, &env); err != nil {
		return "", &badAnswer{"the response is not a chat completion: " + err.Error()}
	}
	if len(env.Choices) == 0 || strings.TrimSpace(env.Choices[0].Message.Content) == "" {
		return "", &badAnswer{"the response has no content"}
	}
	return env.Choices[0].Message.Content, nil
}

// snippet quotes the start of an error body on one line, with the API key
// blanked in case the server echoes the request.
func (l *LLM) snippet(b []byte) string {
	s := string(b)
	if l.apiKey != "" {
		s = strings.ReplaceAll(s, l.apiKey, "[redacted]")
	}
	return truncate(strings.Join(strings.Fields(s), " "), snippetChars)
}

// truncate cuts s to at most n characters, marking the cut.
func truncate(s string, n int) string {
	if utf8.RuneCountInString(s) <= n {
		return s
	}
	r := []rune(s)
	return string(r[:n]) + "..."
}

// llmAnswer is the JSON object the prompt asks for. Numbers are pointers
// so a missing one is told from a zero.
type llmAnswer struct {
	Summary struct {
		Text      string   `json:"text"`
		KeyPoints []string `json:"key_points"`
	} `json:"summary"`
	Score struct {
		Criteria []llmCriterion `json:"criteria"`
	} `json:"score"`
	Topics []struct {
		Name       string   `json:"name"`
		Confidence *float64 `json:"confidence"`
		Mentions   *float64 `json:"mentions"`
	} `json:"topics"`
}

// llmCriterion is one scorecard line of the model's answer.
type llmCriterion struct {
	Name     string   `json:"name"`
	Score    *float64 `json:"score"`
	Passed   *bool    `json:"passed"`
	Evidence string   `json:"evidence"`
}

// parse checks the model's answer and builds the result. Out-of-range
// values are refused rather than clamped: a score of 150 says the model
// misread the task, and the re-ask tells it so.
func (l *LLM) parse(content string, in Input, t *transcript) (*Result, error) {
	var a llmAnswer
	if err := json.Unmarshal([]byte(unfence(content)), &a); err != nil {
		return nil, &badAnswer{"the content is not the JSON object asked for: " + err.Error()}
	}
	text := strings.TrimSpace(a.Summary.Text)
	if text == "" {
		return nil, &badAnswer{"summary.text is empty"}
	}
	points := []string{}
	for _, p := range a.Summary.KeyPoints {
		if p = strings.TrimSpace(p); p != "" && len(points) < maxKeyPoints {
			points = append(points, truncate(p, maxEvidenceChars))
		}
	}

	var cs []voice.Criterion
	for _, name := range asked(in) {
		if name == CriterionNoLongSilences {
			cs = append(cs, silences(t))
			continue
		}
		i := slices.IndexFunc(a.Score.Criteria, func(c llmCriterion) bool {
			return strings.EqualFold(strings.TrimSpace(c.Name), name)
		})
		if i < 0 {
			return nil, &badAnswer{fmt.Sprintf("criterion %q is missing from score.criteria", name)}
		}
		c := a.Score.Criteria[i]
		switch {
		case c.Score == nil || c.Passed == nil:
			return nil, &badAnswer{fmt.Sprintf("criterion %q needs a score and passed", name)}
		case math.IsNaN(*c.Score) || *c.Score < 0 || *c.Score > 100:
			return nil, &badAnswer{fmt.Sprintf("the score of criterion %q is %v, outside 0..100", name, *c.Score)}
		}
		cs = append(cs, voice.Criterion{Name: name, Score: int(math.Round(*c.Score)), Passed: *c.Passed,
			Evidence: truncate(strings.TrimSpace(c.Evidence), maxEvidenceChars)})
	}

	type ranked struct {
		topic voice.Topic
		app   int // position in the application's list, or -1
	}
	var ts []ranked
	seen := map[string]bool{}
	for _, x := range a.Topics {
		name := strings.TrimSpace(x.Name)
		switch {
		case name == "":
			return nil, &badAnswer{"a topic has no name"}
		case x.Confidence == nil || x.Mentions == nil:
			return nil, &badAnswer{fmt.Sprintf("topic %q needs a confidence and mentions", name)}
		case math.IsNaN(*x.Confidence) || *x.Confidence < 0 || *x.Confidence > 1:
			return nil, &badAnswer{fmt.Sprintf("the confidence of topic %q is %v, outside 0..1", name, *x.Confidence)}
		case math.IsNaN(*x.Mentions) || *x.Mentions < 0 || *x.Mentions > 1e6:
			return nil, &badAnswer{fmt.Sprintf("the mentions of topic %q are %v, not a count", name, *x.Mentions)}
		}
		key := strings.ToLower(name)
		mentions := int(math.Round(*x.Mentions))
		if seen[key] || mentions == 0 {
			continue
		}
		seen[key] = true
		app := slices.IndexFunc(in.Topics, func(d voice.TopicDef) bool { return strings.EqualFold(strings.TrimSpace(d.Name), name) })
		if app >= 0 {
			name = in.Topics[app].Name
		}
		ts = append(ts, ranked{voice.Topic{Name: truncate(name, MaxNameLen), Confidence: round2(*x.Confidence), Mentions: mentions}, app})
	}
	// The application's topics first, most mentioned first, as Offline
	// lists them; then at most maxSalient others in the model's order.
	slices.SortStableFunc(ts, func(a, b ranked) int {
		switch {
		case a.app >= 0 && b.app < 0:
			return -1
		case a.app < 0 && b.app >= 0:
			return 1
		case a.app >= 0:
			if c := cmp.Compare(b.topic.Mentions, a.topic.Mentions); c != 0 {
				return c
			}
			return cmp.Compare(a.app, b.app)
		}
		return 0
	})
	topics := []voice.Topic{}
	others := 0
	for _, r := range ts {
		if r.app < 0 {
			if others == maxSalient {
				continue
			}
			others++
		}
		topics = append(topics, r.topic)
	}

	total, rating := rate(cs)
	name := l.Name()
	return &Result{
		Summary: voice.Summary{Engine: name, Text: header(in.Call, in.Transcription) + " " + truncate(text, maxTextChars),
			KeyPoints: points},
		Score:  voice.Score{Engine: name, Score: total, Rating: rating, Criteria: cs},
		Topics: voice.Topics{Engine: name, Topics: topics},
	}, nil
}

// unfence strips a Markdown code fence (```json ... ```) and anything
// around the outermost braces, which chat models add despite being told
// not to.
func unfence(s string) string {
	s = strings.TrimSpace(s)
	if strings.HasPrefix(s, "```") {
		if i := strings.IndexByte(s, '\n'); i >= 0 {
			s = s[i+1:]
		}
		s = strings.TrimSuffix(strings.TrimSpace(s), "```")
	}
	if i, j := strings.IndexByte(s, '{'), strings.LastIndexByte(s, '}'); i >= 0 && j > i {
		s = s[i : j+1]
	}
	return s
}

// asked lists the scorecard's criteria in order: the defaults, then the
// application's.
func asked(in Input) []string {
	names := slices.Clone(defaultCriteria)
	for _, c := range in.Criteria {
		names = append(names, c.Name)
	}
	return names
}

// systemPrompt tells the model the task and the answer's exact shape.
const systemPrompt = `You are the quality analyst of a call centre. You read the transcript of one phone call and answer with one JSON object and nothing else, of exactly this form:
{"summary":{"text":"...","key_points":["..."]},"score":{"criteria":[{"name":"...","score":0,"passed":false,"evidence":"..."}]},"topics":[{"name":"...","confidence":0.0,"mentions":0}]}

Rules:
- summary.text: two to five sentences on what the call was about and how it ended. Do not restate the phone numbers, direction or duration: they are added separately.
- summary.key_points: at most 5 short points, each starting with who said it ("Caller: " or "Agent: ").
- score.criteria: exactly the criteria listed in the request, in that order and with the same names. score is an integer from 0 to 100, passed is true or false, evidence is a short quote from the transcript with its timestamp (for example "at 0:03 agent: 'thank you for calling'"), or the reason the criterion failed.
- topics: first the application's topics that the call mentions, with their names exactly as given and mentions = how many times their keywords (or clear synonyms) were said; then at most 5 other subjects of the call as short lower-case phrases. confidence is a number from 0 to 1. Leave out topics that were not mentioned.

The transcript comes from speech recognition: lower case, no punctuation, and it may contain recognition errors, except the lines of the automated prompts, which are the exact text the platform spoke. "caller" is the customer, the far end of the recorded line; "agent" is the other side, a person or the automated prompts. Times are minutes:seconds from the start of the recording.`

// criterionRules describes the default criteria to the model, matching
// what Offline checks. no_long_silences is measured, not asked.
var criterionRules = []struct{ name, rule string }{
	{CriterionGreeting, "the agent greets the caller (hello, good morning, thank you for calling, welcome...) within 15 seconds of first speaking; a late greeting scores 40"},
	{CriterionPurposeIdentified, "whoever placed the call states why: the caller, or on an outbound call the agent side (an automated reminder stating its purpose counts); answering the agent's \"how can I help\" counts"},
	{CriterionResolutionStated, "a resolution or next step is stated: something booked, confirmed, resolved, refunded, a ticket, a call back, a follow-up"},
	{CriterionPoliteness, "polite words (please, thank you, sorry) are used and nobody is rude or profane; more politeness scores higher"},
	{CriterionCallerSentiment, "the caller's sentiment: 50 is neutral, 100 delighted, 0 furious; passed when 50 or more; a complaint (charged twice, money back, not working) is never positive, and one misrecognised word is not a mood"},
}

// userPrompt gives the model the call's facts, the scorecard, the
// application's topics and the transcript.
func userPrompt(in Input, t *transcript) string {
	var b strings.Builder
	fmt.Fprintf(&b, "Call: %s\n", header(in.Call, in.Transcription))
	// What the call did besides talking: the summary should say it, and
	// the model cannot hear key presses or see transfers.
	if done, _ := factSentences(in.Facts, partiesOf(in.Call)); len(done) > 0 {
		fmt.Fprintf(&b, "What happened: %s\n", strings.Join(done, " "))
	}
	b.WriteString("\nScorecard criteria, in order:\n")
	n := 1
	for _, r := range criterionRules {
		fmt.Fprintf(&b, "%d. %s: %s.\n", n, r.name, r.rule)
		n++
	}
	for _, c := range in.Criteria {
		who := "anyone"
		switch c.Speaker {
		case voice.CriterionCaller, voice.CriterionAgent:
			who = "the " + c.Speaker
		}
		var conds []string
		if len(c.AnyOf) > 0 {
			conds = append(conds, "says at least one of "+quoteAll(c.AnyOf))
		}
		if len(c.Required) > 0 {
			conds = append(conds, "says every one of "+quoteAll(c.Required))
		}
		if len(c.Forbidden) > 0 {
			conds = append(conds, "says none of "+quoteAll(c.Forbidden))
		}
		fmt.Fprintf(&b, "%d. %s: passes when %s %s (whole words, any case); otherwise score the share of these conditions met.\n",
			n, c.Name, who, strings.Join(conds, ", and "))
		n++
	}
	if len(in.Topics) == 0 {
		b.WriteString("\nApplication topics: none.\n")
	} else {
		b.WriteString("\nApplication topics (name: keywords):\n")
		for _, d := range in.Topics {
			fmt.Fprintf(&b, "- %s: %s\n", d.Name, quoteAll(d.Keywords))
		}
	}
	b.WriteString("\nTranscript:\n")
	used := 0
	for i, u := range t.utts {
		line := fmt.Sprintf("[%s-%s] %s: %s\n", clock(u.start), clock(u.end), u.role.label(), strings.Join(u.words, " "))
		if used+len(line) > maxTranscriptChars {
			fmt.Fprintf(&b, "[transcript cut here: %d more segments not shown]\n", len(t.utts)-i)
			break
		}
		used += len(line)
		b.WriteString(line)
	}
	return b.String()
}

func quoteAll(ss []string) string {
	q := make([]string, len(ss))
	for i, s := range ss {
		q[i] = fmt.Sprintf("%q", s)
	}
	return strings.Join(q, ", ")
}
