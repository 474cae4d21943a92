// Package callctl is call control: the JSON action lists an application's
// answer_url returns (call-control.md), parsed and validated here into typed
// actions with their defaults, and run against a live call leg.
package callctl

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/url"
	"regexp"
	"slices"
	"strings"
	"unicode/utf8"

	"github.com/minivoice/minivoice/internal/textcheck"
	"github.com/minivoice/minivoice/internal/voice"
)

// Action kinds.
const (
	KindSay      = "say"
	KindPlay     = "play"
	KindGather   = "gather"
	KindRecord   = "record"
	KindDial     = "dial"
	KindPause    = "pause"
	KindRedirect = "redirect"
	KindSet      = "set"
	KindHangup   = "hangup"
	KindReject   = "reject"
	KindStream   = "stream"
)

// Kinds lists every action kind.
var Kinds = []string{KindSay, KindPlay, KindGather, KindRecord, KindDial, KindPause, KindRedirect, KindSet, KindHangup, KindReject, KindStream}

// Voices are the flite voices Debian's flite package ships.
var Voices = []string{"slt", "kal", "kal16", "awb", "rms"}

// Limits of the action list.
const (
	MaxActions    = 100
	MaxSayChars   = 4000
	MaxDialTarget = 10
)

// Action is one parsed action: Kind says which of the pointers is set.
type Action struct {
	Kind     string
	ID       string
	Say      *Say
	Play     *Play
	Gather   *Gather
	Record   *Record
	Dial     *Dial
	Pause    *Pause
	Redirect *Redirect
	Set      *Set
	Hangup   *Hangup
	Reject   *Reject
	Stream   *Stream
}

// Say speaks text with the offline TTS.
type Say struct {
	Text    string `json:"text"`
	Voice   string `json:"voice"`
	Loop    int    `json:"loop"`
	BargeIn bool   `json:"barge_in"`
}

// Play plays a WAV from a URL.
type Play struct {
	URL     string `json:"url"`
	Loop    int    `json:"loop"`
	BargeIn bool   `json:"barge_in"`
}

// Gather collects DTMF digits and/or a spoken answer.
type Gather struct {
	Input []string `json:"input"`
	// Hints are the phrases a speech gather expects (Twilio's and
	// jambonz's hints); recognition prefers them. Normalised to a list.
	Hints []string `json:"-"`
	// SpeechTimeout is the silence, in seconds, that ends an utterance;
	// 0 stands for "auto" (SpeechTimeoutAuto).
	SpeechTimeout int `json:"-"`
	// Language is the BCP 47 tag of the expected speech (default en-US).
	Language          string   `json:"language"`
	Prompt            []Action `json:"-"`
	MaxDigits         int      `json:"max_digits"`
	FinishOnKey       string   `json:"finish_on_key"`
	Timeout           int      `json:"timeout"`
	InterDigitTimeout int      `json:"inter_digit_timeout"`
	ActionURL         string   `json:"action_url"`
	Variable          string   `json:"variable"`
	Retries           int      `json:"retries"`
	NoInputPrompt     []Action `json:"-"`
}

// Record records the caller, voicemail style.
type Record struct {
	MaxLength      int    `json:"max_length"`
	SilenceTimeout int    `json:"silence_timeout"`
	FinishOnKey    string `json:"finish_on_key"`
	Beep           bool   `json:"beep"`
	ActionURL      string `json:"action_url"`
	Channels       string `json:"channels"`
	Variable       string `json:"variable"`
}

// Dial places child calls and bridges the first to answer.
type Dial struct {
	To        []string `json:"-"`
	From      string   `json:"from"`
	Timeout   int      `json:"timeout"`
	TimeLimit int      `json:"time_limit"`
	Record    bool     `json:"record"`
	ActionURL string   `json:"action_url"`
	Ringback  bool     `json:"ringback"`
	Variable  string   `json:"variable"`
}

// Pause is silence.
type Pause struct {
	Length int `json:"length"`
}

// Redirect replaces the rest of the list with the actions fetched from URL.
type Redirect struct {
	URL string `json:"url"`
}

// Set merges variables into the call's.
type Set struct {
	Variables map[string]string `json:"variables"`
}

// Hangup ends the call.
type Hangup struct {
	Reason string `json:"reason"`
}

// Reject refuses an inbound call before answer.
type Reject struct {
	Reason string `json:"reason"`
}

// ParseError is an invalid action list; Path names the field ("actions[2].text").
type ParseError struct {
	Path    string
	Message string
}

func (e *ParseError) Error() string { return e.Path + ": " + e.Message }

// APIError turns the error into the API's invalid_request.
func (e *ParseError) APIError() *voice.Error {
	return &voice.Error{Code: voice.ECodeInvalidRequest, Param: e.Path, Message: e.Error()}
}

func perr(path, format string, args ...any) *ParseError {
	// Clipped: a path or message may quote the list (a field name, a value)
	// and ends up in call.error and on the call.
	return &ParseError{Path: clip(path), Message: clip(fmt.Sprintf(format, args...))}
}

// Parse reads an action list: a JSON array, or an object {"actions": [...]}.
// Every action is checked with its defaults applied; the first problem is
// returned with its field path.
func Parse(raw []byte) ([]Action, error) {
	raw = bytes.TrimSpace(raw)
	// A NUL or invalid UTF-8 would reach the database in variables or
	// error messages (PostgreSQL cannot store them): refuse it up front.
	if p := textcheck.JSON(raw); p != nil {
		path := p.Path
		if path == "" || strings.HasPrefix(path, "[") {
			path = "actions" + path
		}
		return nil, perr(path, "%s", p.Reason)
	}
	if len(raw) > 0 && raw[0] == '{' {
		var wrapped map[string]json.RawMessage
		if err := json.Unmarshal(raw, &wrapped); err != nil {
			return nil, perr("actions", "is not valid JSON: %v", err)
		}
		for k := range wrapped {
			if k != "actions" {
				return nil, perr(k, "unknown field; the answer is an array of actions or {\"actions\": [...]}")
			}
		}
		list, ok := wrapped["actions"]
		if !ok {
			return nil, perr("actions", "is required")
		}
		raw = list
	}
	return parseList("actions", raw, false)
}

func parseList(path string, raw []byte, promptOnly bool) ([]Action, error) {
	var items []json.RawMessage
	if err := json.Unmarshal(raw, &items); err != nil {
		return nil, perr(path, "must be an array of action objects")
	}
	if len(items) > MaxActions {
		return nil, perr(path, "must have at most %d actions", MaxActions)
	}
	out := make([]Action, 0, len(items))
	for i, item := range items {
		p := fmt.Sprintf("%s[%d]", path, i)
		a, err := parseAction(p, item)
		if err != nil {
			return nil, err
		}
		if promptOnly && a.Kind != KindSay && a.Kind != KindPlay {
			return nil, perr(p+".action", "must be say or play inside a prompt")
		}
		out = append(out, a)
	}
	return out, nil
}

func parseAction(path string, raw []byte) (Action, error) {
	var fields map[string]json.RawMessage
	if err := json.Unmarshal(raw, &fields); err != nil || fields == nil {
		return Action{}, perr(path, "must be an object")
	}
	var a Action
	if err := json.Unmarshal(fields["action"], &a.Kind); err != nil || !slices.Contains(Kinds, a.Kind) {
		return Action{}, perr(path+".action", "must be one of %s", strings.Join(Kinds, ", "))
	}
	delete(fields, "action")
	if id, ok := fields["id"]; ok {
		if err := json.Unmarshal(id, &a.ID); err != nil || utf8.RuneCountInString(a.ID) > 64 {
			return Action{}, perr(path+".id", "must be a string of at most 64 characters")
		}
		delete(fields, "id")
	}
	var err error
	switch a.Kind {
	case KindSay:
		a.Say, err = parseSay(path, fields)
	case KindPlay:
		a.Play, err = parsePlay(path, fields)
	case KindGather:
		a.Gather, err = parseGather(path, fields)
	case KindRecord:
		a.Record, err = parseRecord(path, fields)
	case KindDial:
		a.Dial, err = parseDial(path, fields)
	case KindPause:
		a.Pause = &Pause{Length: 1}
		if err = decodeFields(path, fields, a.Pause); err == nil {
			err = intRange(path+".length", a.Pause.Length, 0, 600)
		}
	case KindRedirect:
		a.Redirect = &Redirect{}
		if err = decodeFields(path, fields, a.Redirect); err == nil {
			err = checkURL(path+".url", a.Redirect.URL, true)
		}
	case KindSet:
		a.Set = &Set{}
		if err = decodeFields(path, fields, a.Set); err == nil {
			err = checkVariables(path+".variables", a.Set.Variables)
		}
	case KindHangup:
		a.Hangup = &Hangup{}
		if err = decodeFields(path, fields, a.Hangup); err == nil && utf8.RuneCountInString(a.Hangup.Reason) > 200 {
			err = perr(path+".reason", "must be at most 200 characters")
		}
	case KindStream:
		a.Stream, err = ParseStream(path, fields)
	case KindReject:
		a.Reject = &Reject{Reason: "rejected"}
		if err = decodeFields(path, fields, a.Reject); err == nil && a.Reject.Reason != "busy" && a.Reject.Reason != "rejected" {
			err = perr(path+".reason", "must be busy or rejected")
		}
	}
	if err != nil {
		return Action{}, err
	}
	return a, nil
}

// decodeFields strictly decodes the remaining fields into dst (which holds the defaults).
func decodeFields(path string, fields map[string]json.RawMessage, dst any) error {
	b, _ := json.Marshal(fields)
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	if err := dec.Decode(dst); err != nil {
		var te *json.UnmarshalTypeError
		if ok := asTypeError(err, &te); ok {
			return perr(path+"."+te.Field, "has the wrong type (%s)", te.Value)
		}
		if msg := err.Error(); strings.HasPrefix(msg, "json: unknown field ") {
			name := strings.Trim(strings.TrimPrefix(msg, "json: unknown field "), `"`)
			return perr(path+"."+name, "unknown field")
		}
		return perr(path, "%v", err)
	}
	return nil
}

func asTypeError(err error, te **json.UnmarshalTypeError) bool {
	e, ok := err.(*json.UnmarshalTypeError)
	if ok {
		*te = e
	}
	return ok
}

// firstErr returns the first non-nil check, so a field list reads as one table.
func firstErr(checks ...error) error {
	for _, err := range checks {
		if err != nil {
			return err
		}
	}
	return nil
}

func intRange(path string, v, lo, hi int) error {
	if v < lo || v > hi {
		return perr(path, "must be from %d to %d", lo, hi)
	}
	return nil
}

// checkURL checks the shape of a URL an action names; whether its address may
// be fetched is decided when it is fetched (the SSRF guard).
func checkURL(path, raw string, required bool) error {
	if raw == "" {
		if required {
			return perr(path, "is required")
		}
		return nil
	}
	// The bound the API applies to every URL (netguard.CheckURL): a fetched
	// list's URLs reach call.error and logs, so they are bounded too.
	if len(raw) > MaxURLBytes {
		return perr(path, "must be at most %d characters", MaxURLBytes)
	}
	u, err := url.Parse(raw)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return perr(path, "must be an http or https URL")
	}
	return nil
}

var (
	variableRe = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]{0,63}$`)
	keyRe      = regexp.MustCompile(`^[0-9*#]?$`)
)

func checkVariableName(path, name string) error {
	if name != "" && !variableRe.MatchString(name) {
		return perr(path, "must be a name of letters, digits and _ (at most 64)")
	}
	return nil
}

func checkVariables(path string, v map[string]string) error {
	if v == nil {
		return perr(path, "is required")
	}
	if len(v) > 100 {
		return perr(path, "must have at most 100 entries")
	}
	if n := VariablesSize(v); n > MaxVariablesBytes {
		return perr(path, "must be at most %d bytes in all (names and values), not %d", MaxVariablesBytes, n)
	}
	for k, val := range v {
		if k == "" || utf8.RuneCountInString(k) > 64 {
			return perr(path, "names must be 1 to 64 characters")
		}
		if utf8.RuneCountInString(val) > 4096 {
			return perr(path+"."+k, "must be at most 4096 characters")
		}
	}
	return nil
}

func parseSay(path string, fields map[string]json.RawMessage) (*Say, error) {
	s := &Say{Voice: "slt", Loop: 1}
	if err := decodeFields(path, fields, s); err != nil {
		return nil, err
	}
	if strings.TrimSpace(s.Text) == "" {
		return nil, perr(path+".text", "is required")
	}
	if utf8.RuneCountInString(s.Text) > MaxSayChars {
		return nil, perr(path+".text", "must be at most %d characters", MaxSayChars)
	}
	if !slices.Contains(Voices, s.Voice) {
		return nil, perr(path+".voice", "must be one of %s", strings.Join(Voices, ", "))
	}
	return s, intRange(path+".loop", s.Loop, 1, 100)
}

func parsePlay(path string, fields map[string]json.RawMessage) (*Play, error) {
	p := &Play{Loop: 1}
	if err := decodeFields(path, fields, p); err != nil {
		return nil, err
	}
	if strings.HasPrefix(p.URL, "file://") {
		// Only files under the data dir's media/ may be played; the player
		// resolves and confines the path.
		if len(p.URL) > MaxURLBytes {
			return nil, perr(path+".url", "must be at most %d characters", MaxURLBytes)
		}
		if strings.Contains(p.URL, "..") {
			return nil, perr(path+".url", "must not contain ..")
		}
	} else if err := checkURL(path+".url", p.URL, true); err != nil {
		return nil, err
	}
	return p, intRange(path+".loop", p.Loop, 1, 100)
}

type gatherWire struct {
	Gather
	Prompt        json.RawMessage `json:"prompt"`
	NoInputPrompt json.RawMessage `json:"no_input_prompt"`
	Hints         json.RawMessage `json:"hints"`
	SpeechTimeout json.RawMessage `json:"speech_timeout"`
}

// Speech gather bounds (call-control.md, gather).
const (
	// MaxHints and MaxHintChars bound a gather's hints: how many phrases,
	// and the characters of each. They bound the grammar the recogniser
	// builds for every spoken answer.
	MaxHints     = 100
	MaxHintChars = 100
	// MaxSpeechTimeout is the longest speech_timeout, in seconds.
	MaxSpeechTimeout = 10
	// SpeechTimeoutAuto is the silence, in seconds, that ends an utterance
	// when speech_timeout is "auto" (the default): long enough for the
	// pauses inside a short sentence, short enough for a menu answer.
	SpeechTimeoutAuto = 1.0
	// DefaultLanguage is the one language the offline recogniser speaks.
	DefaultLanguage = "en-US"
)

// HasInput reports whether the gather listens for in ("dtmf" or "speech").
func (g *Gather) HasInput(in string) bool { return slices.Contains(g.Input, in) }

// languageRe is the shape of a BCP 47 tag: a language, then subtags.
var languageRe = regexp.MustCompile(`^[A-Za-z]{2,3}(-[A-Za-z0-9]{2,8}){0,3}$`)

// parseSpeech reads hints, speech_timeout and language.
func parseSpeech(path string, w *gatherWire, g *Gather) error {
	if len(w.Hints) > 0 && string(w.Hints) != "null" {
		var one string
		if err := json.Unmarshal(w.Hints, &one); err == nil {
			// Twilio takes hints as one comma-separated string.
			for _, h := range strings.Split(one, ",") {
				if h = strings.TrimSpace(h); h != "" {
					g.Hints = append(g.Hints, h)
				}
			}
		} else if err := json.Unmarshal(w.Hints, &g.Hints); err != nil {
			return perr(path+".hints", "must be an array of phrases or a comma-separated string")
		}
		if len(g.Hints) > MaxHints {
			return perr(path+".hints", "must have at most %d phrases", MaxHints)
		}
		for i, h := range g.Hints {
			if strings.TrimSpace(h) == "" || utf8.RuneCountInString(h) > MaxHintChars {
				return perr(fmt.Sprintf("%s.hints[%d]", path, i), "must be 1 to %d characters", MaxHintChars)
			}
		}
	}
	if len(w.SpeechTimeout) > 0 && string(w.SpeechTimeout) != "null" {
		var auto string
		if err := json.Unmarshal(w.SpeechTimeout, &auto); err == nil {
			if auto != "auto" {
				return perr(path+".speech_timeout", `must be "auto" or from 1 to %d`, MaxSpeechTimeout)
			}
		} else if err := json.Unmarshal(w.SpeechTimeout, &g.SpeechTimeout); err != nil || g.SpeechTimeout < 1 || g.SpeechTimeout > MaxSpeechTimeout {
			return perr(path+".speech_timeout", `must be "auto" or from 1 to %d`, MaxSpeechTimeout)
		}
	}
	if g.Language == "" {
		g.Language = DefaultLanguage
	}
	if !languageRe.MatchString(g.Language) {
		return perr(path+".language", "must be a language tag such as en-US")
	}
	// The offline recogniser has one model, US English; other English
	// variants are heard with it, other languages cannot be. A DTMF gather
	// hears no speech: its language does not matter.
	if lang, _, _ := strings.Cut(g.Language, "-"); g.HasInput("speech") && !strings.EqualFold(lang, "en") {
		return perr(path+".language", "must be English (en-US, or another en- tag, heard as en-US): the offline recogniser speaks US English only")
	}
	return nil
}

func parseGather(path string, fields map[string]json.RawMessage) (*Gather, error) {
	w := &gatherWire{Gather: Gather{Input: []string{"dtmf"}, MaxDigits: 1, FinishOnKey: "#", Timeout: 5, InterDigitTimeout: 3}}
	if err := decodeFields(path, fields, w); err != nil {
		return nil, err
	}
	g := w.Gather
	if len(g.Input) == 0 {
		return nil, perr(path+".input", `must list "dtmf" and/or "speech"`)
	}
	for i, in := range g.Input {
		if in != "dtmf" && in != "speech" {
			return nil, perr(path+".input", `entries must be "dtmf" or "speech"`)
		}
		if slices.Contains(g.Input[:i], in) {
			return nil, perr(path+".input", "must not list %q twice", in)
		}
	}
	if err := parseSpeech(path, w, &g); err != nil {
		return nil, err
	}
	var err error
	if w.Prompt != nil && string(w.Prompt) != "null" {
		if g.Prompt, err = parseList(path+".prompt", w.Prompt, true); err != nil {
			return nil, err
		}
	}
	if w.NoInputPrompt != nil && string(w.NoInputPrompt) != "null" {
		if g.NoInputPrompt, err = parseList(path+".no_input_prompt", w.NoInputPrompt, true); err != nil {
			return nil, err
		}
	}
	if err := firstErr(
		intRange(path+".max_digits", g.MaxDigits, 1, 32),
		intRange(path+".timeout", g.Timeout, 1, 120),
		intRange(path+".inter_digit_timeout", g.InterDigitTimeout, 1, 60),
		intRange(path+".retries", g.Retries, 0, 10),
		checkURL(path+".action_url", g.ActionURL, false),
		checkVariableName(path+".variable", g.Variable),
	); err != nil {
		return nil, err
	}
	if !keyRe.MatchString(g.FinishOnKey) {
		return nil, perr(path+".finish_on_key", `must be one of 0-9, *, # or ""`)
	}
	return &g, nil
}

func parseRecord(path string, fields map[string]json.RawMessage) (*Record, error) {
	r := &Record{MaxLength: 3600, SilenceTimeout: 5, FinishOnKey: "#", Beep: true, Channels: "mono"}
	if err := decodeFields(path, fields, r); err != nil {
		return nil, err
	}
	if err := firstErr(
		intRange(path+".max_length", r.MaxLength, 1, 14400),
		intRange(path+".silence_timeout", r.SilenceTimeout, 0, 600),
		checkURL(path+".action_url", r.ActionURL, false),
		checkVariableName(path+".variable", r.Variable),
	); err != nil {
		return nil, err
	}
	if !keyRe.MatchString(r.FinishOnKey) {
		return nil, perr(path+".finish_on_key", `must be one of 0-9, *, # or ""`)
	}
	if r.Channels != "mono" && r.Channels != "dual" {
		return nil, perr(path+".channels", "must be mono or dual")
	}
	return r, nil
}

type dialWire struct {
	Dial
	To json.RawMessage `json:"to"`
}

func parseDial(path string, fields map[string]json.RawMessage) (*Dial, error) {
	w := &dialWire{Dial: Dial{Timeout: 30, TimeLimit: 14400, Ringback: true}}
	if err := decodeFields(path, fields, w); err != nil {
		return nil, err
	}
	d := w.Dial
	var one string
	if len(w.To) == 0 || string(w.To) == "null" {
		return nil, perr(path+".to", "is required")
	}
	if err := json.Unmarshal(w.To, &one); err == nil {
		if strings.TrimSpace(one) == "" {
			return nil, perr(path+".to", "is required")
		}
		d.To = []string{one}
	} else if err := json.Unmarshal(w.To, &d.To); err != nil {
		return nil, perr(path+".to", "must be an E.164 number or an array of them")
	}
	if len(d.To) == 0 || len(d.To) > MaxDialTarget {
		return nil, perr(path+".to", "must name 1 to %d numbers", MaxDialTarget)
	}
	for i, n := range d.To {
		if _, ok := voice.ParseE164(n); !ok {
			return nil, perr(fmt.Sprintf("%s.to[%d]", path, i), "must be an E.164 number")
		}
	}
	if d.From != "" {
		if _, ok := voice.ParseE164(d.From); !ok {
			return nil, perr(path+".from", "must be an E.164 number")
		}
	}
	if err := firstErr(
		intRange(path+".timeout", d.Timeout, 5, 600),
		intRange(path+".time_limit", d.TimeLimit, 1, 14400),
		checkURL(path+".action_url", d.ActionURL, false),
		checkVariableName(path+".variable", d.Variable),
	); err != nil {
		return nil, err
	}
	return &d, nil
}

// FieldURL is a URL inside an action list and the field path naming it.
type FieldURL struct {
	Path string // e.g. "actions[2].prompt[0].url"
	URL  string
}

// URLs lists the http(s) URLs of a parsed action list, with their paths, so
// the API can apply the SSRF guard's literal-address check to inline actions
// as it does to an application's URLs (file:// play URLs are the engine's
// own and are left out).
func URLs(actions []Action) []FieldURL {
	return appendURLs(nil, "actions", actions)
}

func appendURLs(out []FieldURL, base string, actions []Action) []FieldURL {
	add := func(path, u string) {
		if strings.HasPrefix(u, "http://") || strings.HasPrefix(u, "https://") {
			out = append(out, FieldURL{Path: path, URL: u})
		}
	}
	for i, a := range actions {
		p := fmt.Sprintf("%s[%d]", base, i)
		switch a.Kind {
		case KindPlay:
			add(p+".url", a.Play.URL)
		case KindRedirect:
			add(p+".url", a.Redirect.URL)
		case KindGather:
			add(p+".action_url", a.Gather.ActionURL)
			out = appendURLs(out, p+".prompt", a.Gather.Prompt)
			out = appendURLs(out, p+".no_input_prompt", a.Gather.NoInputPrompt)
		case KindRecord:
			add(p+".action_url", a.Record.ActionURL)
		case KindDial:
			add(p+".action_url", a.Dial.ActionURL)
		case KindStream:
			add(p+".url", StreamHTTPURL(a.Stream.URL))
			add(p+".status_url", a.Stream.StatusURL)
		}
	}
	return out
}
