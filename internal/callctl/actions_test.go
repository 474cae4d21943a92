package callctl_test

import (
	"errors"
	"reflect"
	"strings"
	"testing"

	"github.com/minivoice/minivoice/internal/callctl"
)

func TestParseDefaults(t *testing.T) {
	t.Parallel()
	acts, err := callctl.Parse([]byte(`{"actions": [
		{"action": "say", "text": "Hello", "id": "greet"},
		{"action": "play", "url": "https://example.com/a.wav"},
		{"action": "gather", "prompt": [{"action": "say", "text": "Press 1"}]},
		{"action": "record"},
		{"action": "dial", "to": "+15551230002"},
		{"action": "pause"},
		{"action": "redirect", "url": "https://example.com/next"},
		{"action": "set", "variables": {"a": "b"}},
		{"action": "hangup"},
		{"action": "reject"}
	]}`))
	if err != nil {
		t.Fatal(err)
	}
	want := []callctl.Action{
		{Kind: "say", ID: "greet", Say: &callctl.Say{Text: "Hello", Voice: "slt", Loop: 1}},
		{Kind: "play", Play: &callctl.Play{URL: "https://example.com/a.wav", Loop: 1}},
		{Kind: "gather", Gather: &callctl.Gather{Input: []string{"dtmf"}, MaxDigits: 1, FinishOnKey: "#", Timeout: 5,
			InterDigitTimeout: 3, Language: "en-US", Prompt: []callctl.Action{{Kind: "say", Say: &callctl.Say{Text: "Press 1", Voice: "slt", Loop: 1}}}}},
		{Kind: "record", Record: &callctl.Record{MaxLength: 3600, SilenceTimeout: 5, FinishOnKey: "#", Beep: true, Channels: "mono"}},
		{Kind: "dial", Dial: &callctl.Dial{To: []string{"+15551230002"}, Timeout: 30, TimeLimit: 14400, Ringback: true}},
		{Kind: "pause", Pause: &callctl.Pause{Length: 1}},
		{Kind: "redirect", Redirect: &callctl.Redirect{URL: "https://example.com/next"}},
		{Kind: "set", Set: &callctl.Set{Variables: map[string]string{"a": "b"}}},
		{Kind: "hangup", Hangup: &callctl.Hangup{}},
		{Kind: "reject", Reject: &callctl.Reject{Reason: "rejected"}},
	}
	if !reflect.DeepEqual(acts, want) {
		t.Fatalf("got %+v\nwant %+v", acts, want)
	}
	// A bare array works too, and dial takes up to ten numbers.
	acts, err = callctl.Parse([]byte(`[{"action": "dial", "to": ["+15551230002", "+15551230003"], "finish": null}]`))
	if err == nil || err.(*callctl.ParseError).Path != "actions[0].finish" {
		t.Fatalf("unknown field: %v %v", acts, err)
	}
}

func TestParseErrors(t *testing.T) {
	t.Parallel()
	cases := []struct{ body, path string }{
		{`nope`, "actions"},
		{`{"action": "say"}`, "action"},
		{`{"actions": [], "x": 1}`, "x"},
		{`{}`, "actions"},
		{`[1]`, "actions[0]"},
		{`[{"text": "hi"}]`, "actions[0].action"},
		{`[{"action": "dance"}]`, "actions[0].action"},
		{`[{"action": "say"}]`, "actions[0].text"},
		{`[{"action": "say", "text": "  "}]`, "actions[0].text"},
		{`[{"action": "say", "text": "hi", "voice": "hal9000"}]`, "actions[0].voice"},
		{`[{"action": "say", "text": "hi", "loop": 0}]`, "actions[0].loop"},
		{`[{"action": "say", "text": 5}]`, "actions[0].text"},
		{`[{"action": "say", "text": "hi", "id": 5}]`, "actions[0].id"},
		{`[{"action": "play"}]`, "actions[0].url"},
		{`[{"action": "play", "url": "ftp://x/a.wav"}]`, "actions[0].url"},
		{`[{"action": "play", "url": "file://../../etc/passwd"}]`, "actions[0].url"},
		{`[{"action": "gather", "max_digits": 33}]`, "actions[0].max_digits"},
		{`[{"action": "gather", "finish_on_key": "##"}]`, "actions[0].finish_on_key"},
		{`[{"action": "gather", "input": ["voice"]}]`, "actions[0].input"},
		{`[{"action": "gather", "input": ["speech", "speech"]}]`, "actions[0].input"},
		{`[{"action": "gather", "input": ["speech"], "hints": 5}]`, "actions[0].hints"},
		{`[{"action": "gather", "input": ["speech"], "hints": ["sales", ""]}]`, "actions[0].hints[1]"},
		{`[{"action": "gather", "input": ["speech"], "speech_timeout": 0}]`, "actions[0].speech_timeout"},
		{`[{"action": "gather", "input": ["speech"], "speech_timeout": 11}]`, "actions[0].speech_timeout"},
		{`[{"action": "gather", "input": ["speech"], "speech_timeout": "soon"}]`, "actions[0].speech_timeout"},
		{`[{"action": "gather", "input": ["speech"], "language": "fr-FR"}]`, "actions[0].language"},
		{`[{"action": "gather", "input": ["speech"], "language": "en US"}]`, "actions[0].language"},
		{`[{"action": "gather", "input": ["speech"], "speech_model": "x"}]`, "actions[0].speech_model"},
		{`[{"action": "gather", "prompt": [{"action": "hangup"}]}]`, "actions[0].prompt[0].action"},
		{`[{"action": "gather", "no_input_prompt": [{"action": "say"}]}]`, "actions[0].no_input_prompt[0].text"},
		{`[{"action": "gather", "variable": "1x"}]`, "actions[0].variable"},
		{`[{"action": "gather", "action_url": "x"}]`, "actions[0].action_url"},
		{`[{"action": "gather", "retries": 11}]`, "actions[0].retries"},
		{`[{"action": "record", "channels": "quad"}]`, "actions[0].channels"},
		{`[{"action": "record", "max_length": 0}]`, "actions[0].max_length"},
		{`[{"action": "dial"}]`, "actions[0].to"},
		{`[{"action": "dial", "to": "555"}]`, "actions[0].to[0]"},
		{`[{"action": "dial", "to": ["+15551230002", "x"]}]`, "actions[0].to[1]"},
		{`[{"action": "dial", "to": []}]`, "actions[0].to"},
		{`[{"action": "dial", "to": "+15551230002", "from": "x"}]`, "actions[0].from"},
		{`[{"action": "dial", "to": "+15551230002", "timeout": 1}]`, "actions[0].timeout"},
		{`[{"action": "pause", "length": 601}]`, "actions[0].length"},
		{`[{"action": "redirect"}]`, "actions[0].url"},
		{`[{"action": "set"}]`, "actions[0].variables"},
		{`[{"action": "set", "variables": {"a": 1}}]`, "actions[0].variables"},
		{`[{"action": "reject", "reason": "maybe"}]`, "actions[0].reason"},
		{`[{"action": "pause"}, {"action": "say", "text": "x", "barge": true}]`, "actions[1].barge"},
	}
	for _, tc := range cases {
		_, err := callctl.Parse([]byte(tc.body))
		var pe *callctl.ParseError
		if !errors.As(err, &pe) {
			t.Errorf("%s: err %v, want a ParseError", tc.body, err)
			continue
		}
		if pe.Path != tc.path {
			t.Errorf("%s: path %q, want %q (%v)", tc.body, pe.Path, tc.path, err)
		}
		if ae := pe.APIError(); ae.Code != "invalid_request" || ae.Param != tc.path {
			t.Errorf("%s: API error %+v", tc.body, ae)
		}
	}
}

func FuzzParse(f *testing.F) {
	for _, s := range []string{`[]`, `{"actions":[{"action":"say","text":"hi"}]}`,
		`[{"action":"gather","prompt":[{"action":"play","url":"https://x/y.wav"}]}]`,
		`[{"action":"dial","to":["+15551230002"]}]`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		acts, err := callctl.Parse(b)
		if err != nil {
			var pe *callctl.ParseError
			if !errors.As(err, &pe) || pe.Path == "" {
				t.Fatalf("error without a path: %v", err)
			}
			return
		}
		for _, a := range acts {
			if a.Kind == "" {
				t.Fatalf("action without kind: %+v", a)
			}
		}
	})
}

func TestParseSpeechGather(t *testing.T) {
	t.Parallel()
	acts, err := callctl.Parse([]byte(`[
		{"action": "gather", "input": ["dtmf", "speech"], "hints": ["sales", "speak to a person"], "speech_timeout": 2, "language": "en-GB"},
		{"action": "gather", "input": ["speech"], "hints": "sales, support ,, billing", "speech_timeout": "auto"},
		{"action": "gather", "language": "fr-FR"}
	]`))
	if err != nil {
		t.Fatal(err)
	}
	g := acts[0].Gather
	if !g.HasInput("speech") || !g.HasInput("dtmf") || !reflect.DeepEqual(g.Hints, []string{"sales", "speak to a person"}) ||
		g.SpeechTimeout != 2 || g.Language != "en-GB" {
		t.Errorf("first gather %+v", g)
	}
	g = acts[1].Gather
	if g.HasInput("dtmf") || !reflect.DeepEqual(g.Hints, []string{"sales", "support", "billing"}) || g.SpeechTimeout != 0 || g.Language != "en-US" {
		t.Errorf("second gather %+v", g)
	}
	if g := acts[2].Gather; g.Language != "fr-FR" {
		t.Errorf("a DTMF gather's language: %+v", g)
	}
	// The bounds: 100 hints of 100 characters.
	many := `[{"action": "gather", "input": ["speech"], "hints": [` + strings.Repeat(`"x",`, callctl.MaxHints) + `"y"]}]`
	if _, err := callctl.Parse([]byte(many)); err == nil || err.(*callctl.ParseError).Path != "actions[0].hints" {
		t.Errorf("101 hints: %v", err)
	}
	long := `[{"action": "gather", "input": ["speech"], "hints": ["` + strings.Repeat("a", callctl.MaxHintChars+1) + `"]}]`
	if _, err := callctl.Parse([]byte(long)); err == nil || err.(*callctl.ParseError).Path != "actions[0].hints[0]" {
		t.Errorf("long hint: %v", err)
	}
}
