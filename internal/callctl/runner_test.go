package callctl_test

import (
	"context"
	"encoding/json"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/minivoice/minivoice/internal/callctl"
)

// recSession records what a run did; Say blocks until its context ends when
// the text is "block", so tests can interrupt it.
type recSession struct {
	mu        sync.Mutex
	did       []string
	vars      map[string]string
	pages     map[string]string
	sayErr    error
	blocking  chan struct{}
	blockOnce sync.Once
	gathered  *callctl.GatherResult // what Gather returns; nil = no input
	posted    []any                 // results sent to action_url
	events    []string
}

func (s *recSession) log(x string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.did = append(s.did, x)
}

func (s *recSession) Say(ctx context.Context, a *callctl.Say) error {
	s.log("say " + a.Text)
	if a.Text == "block" {
		s.blockOnce.Do(func() { close(s.blocking) })
		<-ctx.Done()
		return ctx.Err()
	}
	return s.sayErr
}
func (s *recSession) Play(_ context.Context, a *callctl.Play) error {
	s.log("play " + a.URL)
	return nil
}
func (s *recSession) Pause(_ context.Context, d time.Duration) error {
	s.log("pause " + d.String())
	return nil
}
func (s *recSession) SetVariables(_ context.Context, v map[string]string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.vars == nil {
		s.vars = map[string]string{}
	}
	for k, val := range v {
		s.vars[k] = val
	}
	s.did = append(s.did, "set")
	return nil
}
func (s *recSession) Gather(_ context.Context, g *callctl.Gather) (*callctl.GatherResult, error) {
	s.log("gather")
	if s.gathered == nil {
		return &callctl.GatherResult{Reason: callctl.ReasonTimeout}, nil
	}
	r := *s.gathered
	return &r, nil
}
func (s *recSession) Record(_ context.Context, r *callctl.Record) (*callctl.RecordResult, error) {
	s.log("record")
	return &callctl.RecordResult{RecordingID: "rec_1", Duration: 2.5, Reason: callctl.ReasonSilence}, nil
}
func (s *recSession) Dial(_ context.Context, d *callctl.Dial) (*callctl.DialResult, error) {
	s.log("dial " + strings.Join(d.To, ","))
	id := "call_child"
	return &callctl.DialResult{DialStatus: callctl.DialBusy, ChildCallID: &id}, nil
}
func (s *recSession) Event(_ context.Context, name string, _ any) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.events = append(s.events, name)
	return nil
}
func (s *recSession) Fetch(_ context.Context, url string, result any) ([]callctl.Action, error) {
	s.log("fetch " + url)
	if result != nil {
		s.mu.Lock()
		s.posted = append(s.posted, result)
		s.mu.Unlock()
	}
	body, ok := s.pages[url]
	if !ok {
		return nil, errors.New("no such page")
	}
	return callctl.Parse([]byte(body))
}

func mustParse(t *testing.T, s string) []callctl.Action {
	t.Helper()
	a, err := callctl.Parse([]byte(s))
	if err != nil {
		t.Fatal(err)
	}
	return a
}

func TestRun(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name    string
		actions string
		pages   map[string]string
		sayErr  error
		kind    string
		did     string
	}{
		{"list runs out", `[{"action":"say","text":"hi"},{"action":"pause","length":2},{"action":"play","url":"https://x/a.wav"}]`,
			nil, nil, callctl.EndListDone, "say hi|pause 2s|play https://x/a.wav"},
		{"hangup stops", `[{"action":"say","text":"a"},{"action":"hangup","reason":"done"},{"action":"say","text":"never"}]`,
			nil, nil, callctl.EndHangup, "say a"},
		{"reject", `[{"action":"reject","reason":"busy"}]`, nil, nil, callctl.EndReject, ""},
		{"redirect replaces the rest", `[{"action":"redirect","url":"https://x/next"},{"action":"say","text":"never"}]`,
			map[string]string{"https://x/next": `[{"action":"say","text":"next"}]`}, nil, callctl.EndListDone, "fetch https://x/next|say next"},
		{"redirect to empty hangs up", `[{"action":"redirect","url":"https://x/empty"},{"action":"say","text":"never"}]`,
			map[string]string{"https://x/empty": `[]`}, nil, callctl.EndListDone, "fetch https://x/empty"},
		{"failed redirect is an error", `[{"action":"redirect","url":"https://x/missing"}]`, nil, nil, callctl.EndError, "fetch https://x/missing"},
		{"say failure is an error", `[{"action":"say","text":"x"}]`, nil, errors.New("tts broke"), callctl.EndError, "say x"},
		{"gather without action_url goes on", `[{"action":"gather"},{"action":"say","text":"next"}]`, nil, nil, callctl.EndListDone, "gather|say next"},
		{"gather result replaces the rest", `[{"action":"gather","action_url":"https://x/menu"},{"action":"say","text":"never"}]`,
			map[string]string{"https://x/menu": `[{"action":"say","text":"chosen"}]`}, nil, callctl.EndListDone, "gather|fetch https://x/menu|say chosen"},
		{"empty action_url answer hangs up", `[{"action":"record","action_url":"https://x/vm"},{"action":"say","text":"never"}]`,
			map[string]string{"https://x/vm": `[]`}, nil, callctl.EndListDone, "record|fetch https://x/vm"},
		{"failed action_url is an error", `[{"action":"dial","to":"+15550001000","action_url":"https://x/none"}]`,
			nil, nil, callctl.EndError, "dial +15550001000|fetch https://x/none"},
		{"empty list", `[]`, nil, nil, callctl.EndListDone, ""},
	}
	for _, tc := range cases {
		s := &recSession{pages: tc.pages, sayErr: tc.sayErr, blocking: make(chan struct{})}
		end := callctl.Run(context.Background(), s, mustParse(t, tc.actions), nil)
		if end.Kind != tc.kind {
			t.Errorf("%s: end %+v, want %s", tc.name, end, tc.kind)
		}
		if got := strings.Join(s.did, "|"); got != tc.did {
			t.Errorf("%s: did %q, want %q", tc.name, got, tc.did)
		}
	}
	s := &recSession{blocking: make(chan struct{})}
	callctl.Run(context.Background(), s, mustParse(t, `[{"action":"set","variables":{"a":"1"}},{"action":"set","variables":{"b":"2","a":"3"}}]`), nil)
	if s.vars["a"] != "3" || s.vars["b"] != "2" {
		t.Errorf("vars %v", s.vars)
	}
}

func TestRunResultsReachVariablesEventsAndActionURL(t *testing.T) {
	t.Parallel()
	s := &recSession{blocking: make(chan struct{}), gathered: &callctl.GatherResult{Digits: "42", Reason: callctl.ReasonFinishKey},
		pages: map[string]string{"https://x/g": `[{"action":"record","variable":"vm"},{"action":"dial","to":"+15550001000","variable":"ds"}]`}}
	end := callctl.Run(context.Background(), s, mustParse(t, `[{"action":"gather","variable":"choice","action_url":"https://x/g"}]`), nil)
	if end.Kind != callctl.EndListDone {
		t.Fatalf("end %+v", end)
	}
	if s.vars["choice"] != "42" || s.vars["vm"] != "rec_1" || s.vars["ds"] != "busy" {
		t.Errorf("vars %v", s.vars)
	}
	if len(s.events) != 1 || s.events[0] != "call.gather" {
		t.Errorf("events %v", s.events)
	}
	if len(s.posted) != 1 {
		t.Fatalf("posted %v", s.posted)
	}
	if g, ok := s.posted[0].(*callctl.GatherResult); !ok || g.Digits != "42" || g.Reason != callctl.ReasonFinishKey {
		t.Errorf("posted %#v", s.posted[0])
	}
}

func TestRunReplaceInterruptsTheCurrentAction(t *testing.T) {
	t.Parallel()
	s := &recSession{blocking: make(chan struct{})}
	replace := callctl.NewReplacer()
	ended := make(chan callctl.End, 1)
	go func() {
		ended <- callctl.Run(context.Background(), s, mustParse(t, `[{"action":"say","text":"block"},{"action":"say","text":"never"}]`), replace)
	}()
	<-s.blocking
	if !replace.Replace(mustParse(t, `[{"action":"say","text":"instead"}]`)) {
		t.Fatal("Replace refused while the run was under way")
	}
	end := <-ended
	if end.Kind != callctl.EndListDone || strings.Join(s.did, "|") != "say block|say instead" {
		t.Fatalf("end %+v did %v", end, s.did)
	}
	if replace.Replace(mustParse(t, `[{"action":"say","text":"late"}]`)) {
		t.Error("Replace accepted after the run ended")
	}
}

// A list that arrives before the run starts replaces the first list
// entirely; two lists in a row before the run takes one: the last wins.
func TestRunReplaceBeforeStart(t *testing.T) {
	t.Parallel()
	s := &recSession{blocking: make(chan struct{})}
	replace := callctl.NewReplacer()
	replace.Replace(mustParse(t, `[{"action":"say","text":"first"}]`))
	replace.Replace(mustParse(t, `[{"action":"say","text":"second"}]`))
	end := callctl.Run(context.Background(), s, mustParse(t, `[{"action":"say","text":"never"}]`), replace)
	if end.Kind != callctl.EndListDone || strings.Join(s.did, "|") != "say second" {
		t.Fatalf("end %+v did %v", end, s.did)
	}
}

func TestRunStopsWhenTheCallEnds(t *testing.T) {
	t.Parallel()
	s := &recSession{blocking: make(chan struct{})}
	ctx, cancel := context.WithCancel(context.Background())
	ended := make(chan callctl.End, 1)
	go func() { ended <- callctl.Run(ctx, s, mustParse(t, `[{"action":"say","text":"block"}]`), nil) }()
	<-s.blocking
	cancel()
	if end := <-ended; end.Kind != callctl.EndCanceled {
		t.Fatalf("end %+v", end)
	}
}

// TestRunSpeechResult: a gather that ended on speech stores the speech in
// its variable, and its result carries speech and confidence in JSON; a
// DTMF gather's result has neither.
func TestRunSpeechResult(t *testing.T) {
	t.Parallel()
	speech, conf := "sales", 0.9
	s := &recSession{blocking: make(chan struct{}), gathered: &callctl.GatherResult{Reason: callctl.ReasonSpeech, Speech: &speech, Confidence: &conf}}
	callctl.Run(context.Background(), s, mustParse(t, `[{"action":"gather","input":["speech"],"variable":"choice"}]`), nil)
	if s.vars["choice"] != "sales" {
		t.Errorf("vars %v, want choice=sales", s.vars)
	}
	b, _ := json.Marshal(s.gathered)
	if string(b) != `{"digits":"","reason":"speech","speech":"sales","confidence":0.9}` {
		t.Errorf("speech result JSON %s", b)
	}
	b, _ = json.Marshal(&callctl.GatherResult{Digits: "1", Reason: callctl.ReasonMaxDigits})
	if string(b) != `{"digits":"1","reason":"max_digits"}` {
		t.Errorf("DTMF result JSON %s", b)
	}
	empty := ""
	b, _ = json.Marshal(&callctl.GatherResult{Reason: callctl.ReasonSpeech, Speech: &empty, Confidence: new(float64), SpeechError: callctl.SpeechErrorBusy})
	if string(b) != `{"digits":"","reason":"speech","speech":"","confidence":0,"speech_error":"busy"}` {
		t.Errorf("busy result JSON %s", b)
	}
}
