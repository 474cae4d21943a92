package callctl_test

import (
	"context"
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
func (s *recSession) Fetch(_ context.Context, url string) ([]callctl.Action, error) {
	s.log("fetch " + url)
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
		{"unsupported action", `[{"action":"gather"}]`, nil, nil, callctl.EndError, ""},
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
	var ue *callctl.UnsupportedError
	if end := callctl.Run(context.Background(), s, mustParse(t, `[{"action":"record"}]`), nil); !errors.As(end.Err, &ue) {
		t.Errorf("record: %+v", end)
	}
}

func TestRunReplaceInterruptsTheCurrentAction(t *testing.T) {
	t.Parallel()
	s := &recSession{blocking: make(chan struct{})}
	replace := make(chan []callctl.Action)
	ended := make(chan callctl.End, 1)
	go func() {
		ended <- callctl.Run(context.Background(), s, mustParse(t, `[{"action":"say","text":"block"},{"action":"say","text":"never"}]`), replace)
	}()
	<-s.blocking
	replace <- mustParse(t, `[{"action":"say","text":"instead"}]`)
	end := <-ended
	if end.Kind != callctl.EndListDone || strings.Join(s.did, "|") != "say block|say instead" {
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
