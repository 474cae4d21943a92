package callctl_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/minivoice/minivoice/internal/callctl"
)

// TestRunRedirectLoopIsCut: a page that sets variables and redirects to
// itself (the finding's loop) ends the call with limit_exceeded after
// MaxRedirects fetches, instead of requesting the application forever.
func TestRunRedirectLoopIsCut(t *testing.T) {
	t.Parallel()
	loop := `[{"action":"set","variables":{"n":"x"}},{"action":"redirect","url":"https://x/loop"}]`
	s := &recSession{blocking: make(chan struct{}), pages: map[string]string{"https://x/loop": loop}}
	end := callctl.Run(context.Background(), s, mustParse(t, loop), nil)
	var le *callctl.LimitError
	if end.Kind != callctl.EndError || !errors.As(end.Err, &le) || le.URL != "https://x/loop" {
		t.Fatalf("end %+v, want an error with a LimitError for the loop's URL", end)
	}
	if n := strings.Count(strings.Join(s.did, "|"), "fetch "); n != callctl.MaxRedirects {
		t.Errorf("%d fetches, want %d", n, callctl.MaxRedirects)
	}
}

// TestRunRedirectsWithTheCallerBetweenAreNotCut: an IVR menu that says
// something and redirects back to itself is not a loop the bound cuts; nor
// is a pause of a second; a pause of 0 is.
func TestRunRedirectsWithTheCallerBetweenAreNotCut(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		between string
		cut     bool
	}{
		{`{"action":"say","text":"menu"}`, false},
		{`{"action":"gather"}`, false},
		{`{"action":"pause","length":1}`, false},
		{`{"action":"pause","length":0}`, true},
		{`{"action":"set","variables":{"a":"b"}}`, true},
	} {
		// Page i redirects to page i+1, 3*MaxRedirects deep, then hangs up.
		pages := map[string]string{}
		depth := 3 * callctl.MaxRedirects
		for i := 0; i < depth; i++ {
			pages[fmt.Sprintf("https://x/%d", i)] = fmt.Sprintf(`[%s,{"action":"redirect","url":"https://x/%d"}]`, tc.between, i+1)
		}
		pages[fmt.Sprintf("https://x/%d", depth)] = `[{"action":"hangup"}]`
		s := &recSession{blocking: make(chan struct{}), pages: pages}
		end := callctl.Run(context.Background(), s, mustParse(t, `[{"action":"redirect","url":"https://x/0"}]`), nil)
		if cut := end.Kind == callctl.EndError; cut != tc.cut {
			t.Errorf("between %s: end %+v, cut %v, want %v", tc.between, end, cut, tc.cut)
		}
	}
}

// TestMergeVariablesBounds: a merge that would pass the per-call bounds
// changes nothing; one within them merges.
func TestMergeVariablesBounds(t *testing.T) {
	t.Parallel()
	vars := map[string]string{"a": "1"}
	if err := callctl.MergeVariables(&vars, map[string]string{"b": "2", "a": "3"}); err != nil || vars["a"] != "3" || vars["b"] != "2" {
		t.Fatalf("merge: %v %v", err, vars)
	}
	big := strings.Repeat("x", callctl.MaxVariableValueChars)
	var err error
	for i := 0; err == nil && i < 100; i++ {
		err = callctl.MergeVariables(&vars, map[string]string{fmt.Sprintf("v%d", i): big})
	}
	var le *callctl.LimitError
	if !errors.As(err, &le) {
		t.Fatalf("no limit after 100 values of %d: %v", len(big), err)
	}
	if n := callctl.VariablesSize(vars); n > callctl.MaxVariablesBytes {
		t.Errorf("variables grew to %d bytes past the bound %d", n, callctl.MaxVariablesBytes)
	}
	// The count bound: many small names.
	many := map[string]string{}
	for i := 0; i < callctl.MaxVariables; i++ {
		many[fmt.Sprintf("k%d", i)] = "v"
	}
	if err := callctl.MergeVariables(&many, map[string]string{"one_more": "v"}); !errors.As(err, &le) {
		t.Errorf("name %d merged: %v", callctl.MaxVariables+1, err)
	}
	if len(many) != callctl.MaxVariables {
		t.Errorf("a refused merge changed the variables: %d names", len(many))
	}
}

// TestParseRefusesNULAndInvalidUTF8 covers the action lists applications
// return: a NUL or invalid UTF-8 anywhere is invalid_actions naming the field.
func TestParseRefusesNULAndInvalidUTF8(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct{ body, path string }{
		{`[{"action":"say","text":"a\u0000b"}]`, "actions[0].text"},
		{`{"actions":[{"action":"hangup"},{"action":"set","variables":{"k":"\u0000"}}]}`, "actions[1].variables.k"},
		{"[{\"action\":\"say\",\"text\":\"\xff\"}]", "actions[0].text"},
	} {
		_, err := callctl.Parse([]byte(tc.body))
		var pe *callctl.ParseError
		if !errors.As(err, &pe) || pe.Path != tc.path {
			t.Errorf("%q: %v, want a ParseError at %s", tc.body, err, tc.path)
		}
	}
	// One set whose own values pass MaxVariablesBytes is refused at parse.
	vars := map[string]string{}
	for i := 0; i < 20; i++ {
		vars[fmt.Sprintf("v%d", i)] = strings.Repeat("x", 4000)
	}
	b := `[{"action":"set","variables":{`
	i := 0
	for k, v := range vars {
		if i > 0 {
			b += ","
		}
		b += fmt.Sprintf("%q:%q", k, v)
		i++
	}
	b += `}}]`
	if _, err := callctl.Parse([]byte(b)); err == nil || !strings.Contains(err.Error(), "bytes in all") {
		t.Errorf("a set of 80,000 bytes: %v", err)
	}
}

// TestParseErrorsAreClipped: an unknown field with a 100 kB name makes an
// error of at most about 1 kB, so call.error and the call stay small.
func TestParseErrorsAreClipped(t *testing.T) {
	t.Parallel()
	name := strings.Repeat("k", 100000)
	_, err := callctl.Parse([]byte(`[{"action":"hangup","` + name + `":1}]`))
	var pe *callctl.ParseError
	if !errors.As(err, &pe) {
		t.Fatalf("%v", err)
	}
	if len(pe.Path) > 1100 || len(pe.Message) > 1100 {
		t.Errorf("path %d bytes, message %d bytes", len(pe.Path), len(pe.Message))
	}
}

// TestParseBoundsURLs: every URL of a list (redirect, action_url, play, also
// file://) is at most MaxURLBytes, so a fetched list cannot put a 1 MB URL
// into call.error.
func TestParseBoundsURLs(t *testing.T) {
	t.Parallel()
	long := "https://x/" + strings.Repeat("a", callctl.MaxURLBytes)
	for _, list := range []string{
		`[{"action":"redirect","url":"` + long + `"}]`,
		`[{"action":"gather","action_url":"` + long + `"}]`,
		`[{"action":"play","url":"` + long + `"}]`,
		`[{"action":"play","url":"file://` + strings.Repeat("a", callctl.MaxURLBytes) + `"}]`,
	} {
		if _, err := callctl.Parse([]byte(list)); err == nil || !strings.Contains(err.Error(), "at most 2048") {
			t.Errorf("%.60s...: %v", list, err)
		}
	}
	if _, err := callctl.Parse([]byte(`[{"action":"redirect","url":"https://x/` + strings.Repeat("a", 2000) + `"}]`)); err != nil {
		t.Errorf("a 2 kB URL: %v", err)
	}
}
