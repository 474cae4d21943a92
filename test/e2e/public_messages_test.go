package e2e

import (
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/minivoice/minivoice/internal/publicmsg"
	"github.com/minivoice/minivoice/internal/stacktest"
	"github.com/minivoice/minivoice/internal/store/storetest"
)

// Numbers of TestCustomerMessagesNameNoLocalPath.
const (
	pmFrom = "+15551250001" // the customer's number
	pmTo   = "+15550020001" // the simulator answers and stays on the line
)

// pmPlays are the play URLs the application answers with, by path.
var pmPlays = map[string]string{
	"/absolute": "file:///etc/passwd",         // outside the media dir: confined to DATA/media/etc/passwd, absent
	"/missing":  "file://no-such-prompt.wav",  // in the media dir, absent
	"/nested":   "file://prompts/../../x.wav", // refused when the list is parsed
	"/dotdot":   "file://../../etc/passwd",    // refused when the list is parsed
}

var pmApp = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "application/json")
	_, _ = w.Write([]byte(`[{"action":"play","url":"` + pmPlays[r.URL.Path] + `"}]`))
})

// TestCustomerMessagesNameNoLocalPath: over real SIP, a call whose
// application plays a file:// URL that is not in the media directory ends
// with a call.error (and a call error) whose message says so without the
// operator's path: no '/' but those of the URL the customer wrote, no
// address.
func TestCustomerMessagesNameNoLocalPath(t *testing.T) {
	if testing.Short() {
		t.Skip("real calls")
	}
	t.Parallel()
	storetest.Each(t, func(t *testing.T, backend string) {
		st := stacktest.Start(t, stacktest.Config{Backend: backend, App: pmApp, SimAnswerDelay: 200 * time.Millisecond})
		cust := st.Customer(t, "paths")
		st.OutboundTrunkToSim(t, cust)
		st.Number(t, pmFrom, cust, "")
		for path, want := range map[string]struct{ code, message string }{
			"/absolute": {"action_failed", "play file:///etc/passwd: the file is not in the media directory"},
			"/missing":  {"action_failed", "play file://no-such-prompt.wav: the file is not in the media directory"},
			"/nested":   {"invalid_actions", ""},
			"/dotdot":   {"invalid_actions", ""},
		} {
			t.Run(strings.TrimPrefix(path, "/"), func(t *testing.T) {
				app := st.Application(t, cust, st.AppURL+path)
				c := st.Do(t, "POST", "/v1/calls", map[string]any{"to": pmTo, "from": pmFrom, "application_id": app}, 201)
				call := st.WaitCall(t, stacktest.Str(c["id"]))
				d := stacktest.Event(st.Events(t, stacktest.Str(call["id"])), "call.error")
				ce, _ := call["error"].(map[string]any)
				for _, got := range []map[string]any{d, ce} {
					msg := stacktest.Str(got["message"])
					if got["code"] != want.code || (want.message != "" && msg != want.message) {
						t.Errorf("error %v, want %s %q", got, want.code, want.message)
					}
					rest := strings.ReplaceAll(msg, pmPlays[path], "")
					if strings.Contains(rest, "/") || publicmsg.Scrub(rest) != rest || strings.Contains(rest, "media/") {
						t.Errorf("the message %q names a local path or an address", msg)
					}
				}
			})
		}
	})
}
