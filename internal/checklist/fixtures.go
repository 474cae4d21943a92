package checklist

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
)

// Fixture is what reproduces one case: the four artefacts of an integration
// issue (the call id, the exact requests sent, the HTTP responses, every
// webhook received for the call) and what the API showed afterwards.
type Fixture struct {
	CallID   string
	Requests []*Exchange
	// SIP is the simulator's call into the platform, for inbound cases, and
	// SIPResult what came of it.
	SIP       *SIPCall
	SIPResult *SIPResult
	// Call is the call object once it ended.
	Call map[string]any
	// Webhooks are the answer_url, action_url and webhook requests for the
	// call, in arrival order.
	Webhooks []Webhook
	// Results are the objects fetched afterwards (recording, transcription,
	// summary, score, topics, events), by name.
	Results map[string]json.RawMessage
}

// SIPCall is an inbound case's call as the simulator placed it.
type SIPCall struct {
	From   string   `json:"from"`
	To     string   `json:"to"`
	Script []string `json:"script"`
}

// SIPResult is what the simulator got for its call: the final status,
// whether it was answered, and who hung up ("local": the simulator,
// "remote": the platform).
type SIPResult struct {
	SIPStatus int    `json:"sip_status"`
	Answered  bool   `json:"answered"`
	EndedBy   string `json:"ended_by"`
}

// Fixture files, one directory per case.
const (
	fileCallID   = "call_id.json"
	fileRequest  = "request.json"
	fileResponse = "response.json"
	fileWebhooks = "webhooks.json"
	fileCall     = "call.json"
)

type requestFile struct {
	Requests []requestEntry `json:"requests,omitempty"`
	SIP      *SIPCall       `json:"sip,omitempty"`
}

type requestEntry struct {
	Method string          `json:"method"`
	Path   string          `json:"path"`
	Key    string          `json:"key"`
	Body   json.RawMessage `json:"body,omitempty"`
}

type responseFile struct {
	Responses []responseEntry `json:"responses,omitempty"`
	SIP       *SIPResult      `json:"sip,omitempty"`
}

type responseEntry struct {
	Status int             `json:"status"`
	Body   json.RawMessage `json:"body,omitempty"`
}

// files renders the fixture as its files' contents.
func (f *Fixture) files() (map[string][]byte, error) {
	out := map[string][]byte{}
	put := func(name string, v any) error {
		b, err := json.MarshalIndent(v, "", "  ")
		if err != nil {
			return fmt.Errorf("%s: %w", name, err)
		}
		out[name] = append(b, '\n')
		return nil
	}
	req := requestFile{SIP: f.SIP}
	var resp []responseEntry
	for _, ex := range f.Requests {
		req.Requests = append(req.Requests, requestEntry{Method: ex.Method, Path: ex.Path, Key: ex.Key, Body: ex.Body})
		resp = append(resp, responseEntry{Status: ex.Status, Body: ex.Answer})
	}
	webhooks := f.Webhooks
	if webhooks == nil {
		webhooks = []Webhook{}
	}
	for _, e := range []error{
		put(fileCallID, map[string]string{"call_id": f.CallID}),
		put(fileRequest, req),
		put(fileResponse, responseFile{Responses: resp, SIP: f.SIPResult}),
		put(fileWebhooks, webhooks),
		put(fileCall, map[string]any{"call": f.Call, "results": f.Results}),
	} {
		if e != nil {
			return nil, e
		}
	}
	return out, nil
}

// WriteFixtures saves each result's fixture under dir/<case>/.
func WriteFixtures(dir string, results []*Result) error {
	for _, r := range results {
		files, err := r.Fixture.files()
		if err != nil {
			return fmt.Errorf("fixture %s: %w", r.Case, err)
		}
		d := filepath.Join(dir, r.Case)
		if err := os.MkdirAll(d, 0o755); err != nil {
			return fmt.Errorf("fixture %s: %w", r.Case, err)
		}
		for name, b := range files {
			if err := os.WriteFile(filepath.Join(d, name), b, 0o644); err != nil {
				return fmt.Errorf("fixture %s: %w", r.Case, err)
			}
		}
	}
	return nil
}

// FixtureCases lists the cases saved under dir, in table order.
func FixtureCases(dir string) ([]string, error) {
	var out []string
	for _, name := range CaseNames() {
		if _, err := os.Stat(filepath.Join(dir, name, fileRequest)); err == nil {
			out = append(out, name)
		}
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("no checklist fixtures under %s", dir)
	}
	return out, nil
}

// CompareFixtures compares each result with the fixture saved under
// dir/<case>/ and sets its Differences; it returns how many differ.
func CompareFixtures(dir string, results []*Result) (int, error) {
	n := 0
	for _, r := range results {
		now, err := r.Fixture.files()
		if err != nil {
			return n, err
		}
		var diffs []string
		for _, name := range []string{fileRequest, fileResponse, fileWebhooks, fileCall} {
			old, err := os.ReadFile(filepath.Join(dir, r.Case, name))
			if errors.Is(err, os.ErrNotExist) {
				diffs = append(diffs, name+": missing from the fixtures")
				continue
			}
			if err != nil {
				return n, fmt.Errorf("fixture %s: %w", r.Case, err)
			}
			diffs = append(diffs, diffJSON(name, old, now[name])...)
		}
		r.Differences = diffs
		if len(diffs) > 0 {
			n++
		}
	}
	return n, nil
}

// diffJSON names every difference between two fixture files once both are
// normalised.
func diffJSON(name string, a, b []byte) []string {
	var x, y any
	if err := json.Unmarshal(a, &x); err != nil {
		return []string{fmt.Sprintf("%s: the fixture is not JSON: %v", name, err)}
	}
	if err := json.Unmarshal(b, &y); err != nil {
		return []string{fmt.Sprintf("%s: the new result is not JSON: %v", name, err)}
	}
	if name == fileWebhooks {
		x, y = sortWebhooks(x), sortWebhooks(y)
	}
	var out []string
	diffValue(name, "", normalize("", x), normalize("", y), &out)
	return out
}

// Normalisation: what legitimately differs between two runs of the same
// case is replaced by a placeholder before comparing.
var (
	idPattern   = regexp.MustCompile(`\b(cust|key|app|rate|trunk|num|call|evt|led|rec|req|msg)_[0-9a-z]{26}\b`)
	timePattern = regexp.MustCompile(`\b\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?(Z|[+-]\d\d:\d\d)\b`)
	hostPattern = regexp.MustCompile(`\b(127\.\d+\.\d+\.\d+|localhost|\[::1\]):\d+\b`)
	keyPattern  = regexp.MustCompile(`\b(mvk_[a-z]{2}_[A-Za-z0-9_]+|whsec_[A-Za-z0-9+/=]+)`)
)

// volatile are fields whose values depend on timing (durations, latencies,
// sizes and hashes of audio) or are signatures: compared by presence and
// type only.
var volatile = map[string]bool{
	"duration": true, "latency_ms": true, "size_bytes": true, "sha256": true, "billable_seconds": true,
	"webhook-id": true, "webhook-timestamp": true, "webhook-signature": true, "user-agent": true,
	"sip_call_id": true, "codec": true, "start": true, "end": true, "confidence": true, "mentions": true,
	"heard_active": true, "response": true, "attempts": true, "next_attempt_at": true, "prefix": true,
}

// spoken are fields holding what speech recognition and analysis made of
// the audio. They vary with load and engine version, so they are compared
// by shape: present and of the same type; for the transcript itself
// (emptyMatters) also empty or not, since an empty transcript of speech is
// a failure, while a recognised word more or less may or may not make a
// topic.
var spoken = map[string]bool{
	"text": true, "segments": true, "key_points": true, "score": true, "rating": true, "criteria": true,
	"topics": true, "words": true, "evidence": true, "summary": true,
}

var emptyMatters = map[string]bool{"text": true, "segments": true}

func normalize(key string, v any) any {
	switch t := v.(type) {
	case map[string]any:
		out := make(map[string]any, len(t))
		for k, x := range t {
			out[k] = normalize(k, x)
		}
		return out
	case []any:
		if spoken[key] {
			if len(t) == 0 && emptyMatters[key] {
				return "<empty list>"
			}
			return "<list>"
		}
		out := make([]any, len(t))
		for i, x := range t {
			out[i] = normalize(key, x)
		}
		return out
	case string:
		switch {
		case volatile[key]:
			return "<" + key + ">"
		case spoken[key]:
			if t == "" && emptyMatters[key] {
				return "<empty>"
			}
			return "<" + key + ">"
		}
		s := idPattern.ReplaceAllString(t, "<$1_id>")
		s = timePattern.ReplaceAllString(s, "<time>")
		s = hostPattern.ReplaceAllString(s, "<loopback>")
		return keyPattern.ReplaceAllString(s, "<secret>")
	case float64:
		if volatile[key] || spoken[key] {
			return "<" + key + ">"
		}
	}
	return v
}

// sortWebhooks orders webhooks by kind and event (then answer) so events of
// different calls' queues, or a recording's events racing call.completed,
// compare equal whatever order they arrived in; per-call order is checked
// by the platform's own tests.
func sortWebhooks(v any) any {
	list, ok := v.([]any)
	if !ok {
		return v
	}
	keyOf := func(x any) string {
		m, _ := x.(map[string]any)
		body, _ := m["body"].(map[string]any)
		return fmt.Sprintf("%v|%v|%v|%05v", m["kind"], body["event"], m["answered"], len(fmt.Sprint(body["result"])))
	}
	sort.SliceStable(list, func(i, j int) bool { return keyOf(list[i]) < keyOf(list[j]) })
	return list
}

func diffValue(file, path string, a, b any, out *[]string) {
	if len(*out) >= 50 {
		return
	}
	show := func(v any) string {
		var buf bytes.Buffer
		enc := json.NewEncoder(&buf)
		enc.SetEscapeHTML(false)
		_ = enc.Encode(v)
		s := bytes.TrimSpace(buf.Bytes())
		if len(s) > 120 {
			return string(s[:117]) + "..."
		}
		return string(s)
	}
	at := file + ": " + strings.TrimPrefix(path, ".")
	if path == "" {
		at = file
	}
	switch x := a.(type) {
	case map[string]any:
		y, ok := b.(map[string]any)
		if !ok {
			*out = append(*out, fmt.Sprintf("%s: was %s, now %s", at, show(a), show(b)))
			return
		}
		keys := map[string]bool{}
		for k := range x {
			keys[k] = true
		}
		for k := range y {
			keys[k] = true
		}
		sorted := make([]string, 0, len(keys))
		for k := range keys {
			sorted = append(sorted, k)
		}
		sort.Strings(sorted)
		for _, k := range sorted {
			xv, inX := x[k]
			yv, inY := y[k]
			switch {
			case !inY:
				*out = append(*out, fmt.Sprintf("%s.%s: was %s, now missing", at, k, show(xv)))
			case !inX:
				*out = append(*out, fmt.Sprintf("%s.%s: new, %s", at, k, show(yv)))
			default:
				diffValue(file, path+"."+k, xv, yv, out)
			}
		}
	case []any:
		y, ok := b.([]any)
		if !ok {
			*out = append(*out, fmt.Sprintf("%s: was %s, now %s", at, show(a), show(b)))
			return
		}
		if len(x) != len(y) {
			*out = append(*out, fmt.Sprintf("%s: %d items, now %d", at, len(x), len(y)))
		}
		for i := 0; i < min(len(x), len(y)); i++ {
			diffValue(file, fmt.Sprintf("%s[%d]", path, i), x[i], y[i], out)
		}
	default:
		if show(a) != show(b) {
			*out = append(*out, fmt.Sprintf("%s: was %s, now %s", at, show(a), show(b)))
		}
	}
}
