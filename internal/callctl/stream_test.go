package callctl_test

import (
	"reflect"
	"strings"
	"testing"

	"github.com/minivoice/minivoice/internal/callctl"
)

// TestParseStream: the stream action's defaults, and each refusal naming
// its field.
func TestParseStream(t *testing.T) {
	t.Parallel()
	acts, err := callctl.Parse([]byte(`[{"action": "stream", "url": "wss://agent.example.com/media"},
		{"action": "stream", "url": "ws://a.example/x", "track": "both", "bidirectional": true, "encoding": "audio/l16",
		 "sample_rate": 16000, "custom_parameters": {"k": "v"}, "status_url": "https://a.example/status"}]`))
	if err != nil {
		t.Fatal(err)
	}
	want := []*callctl.Stream{
		{URL: "wss://agent.example.com/media", Track: "inbound", Encoding: "audio/x-mulaw", SampleRate: 8000, CustomParameters: map[string]string{}},
		{URL: "ws://a.example/x", Track: "both", Bidirectional: true, Encoding: "audio/l16", SampleRate: 16000,
			CustomParameters: map[string]string{"k": "v"}, StatusURL: "https://a.example/status"},
	}
	for i, a := range acts {
		if a.Kind != callctl.KindStream || !reflect.DeepEqual(a.Stream, want[i]) {
			t.Errorf("action %d: %+v, want %+v", i, a.Stream, want[i])
		}
	}
	urls := callctl.URLs(acts)
	if len(urls) != 3 || urls[0].URL != "https://agent.example.com/media" || urls[2].Path != "actions[1].status_url" {
		t.Errorf("URLs %+v: want the stream URLs as http(s) for the SSRF check, and status_url", urls)
	}
	for body, path := range map[string]string{
		`{"action": "stream"}`:                                                    "actions[0].url",
		`{"action": "stream", "url": "https://a.example/x"}`:                      "actions[0].url",
		`{"action": "stream", "url": "ws://u:p@a.example/x"}`:                     "actions[0].url",
		`{"action": "stream", "url": "ws://a/x", "track": "left"}`:                "actions[0].track",
		`{"action": "stream", "url": "ws://a/x", "encoding": "audio/opus"}`:       "actions[0].encoding",
		`{"action": "stream", "url": "ws://a/x", "sample_rate": 16000}`:           "actions[0].sample_rate",
		`{"action": "stream", "url": "ws://a/x", "status_url": "ftp://a/"}`:       "actions[0].status_url",
		`{"action": "stream", "url": "ws://a/x", "custom_parameters": {"": "v"}}`: "actions[0].custom_parameters",
		`{"action": "stream", "url": "ws://a/x", "volume": 3}`:                    "actions[0].volume",
	} {
		_, err := callctl.Parse([]byte("[" + body + "]"))
		pe, ok := err.(*callctl.ParseError)
		if !ok || !strings.HasPrefix(pe.Path, path) {
			t.Errorf("%s: %v, want an error at %s", body, err, path)
		}
	}
}
