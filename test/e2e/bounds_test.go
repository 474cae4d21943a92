package e2e

import (
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/minivoice/minivoice/internal/callctl"
	"github.com/minivoice/minivoice/internal/stacktest"
	"github.com/minivoice/minivoice/internal/store/storetest"
)

// boundsApp serves the finding's abuse of a call's variables: /tight sets a
// value and redirects to itself at once; /slow sets a new 4,000-character
// value, says a word and redirects to the next page, so only the size bound
// can stop it. It remembers the largest request body it was sent.
type boundsApp struct {
	mu      sync.Mutex
	biggest int
	fetches int
}

func (a *boundsApp) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	a.mu.Lock()
	a.biggest = max(a.biggest, len(body))
	a.fetches++
	a.mu.Unlock()
	w.Header().Set("Content-Type", "application/json")
	value := strings.Repeat("x", 4000)
	switch r.URL.Path {
	case "/tight":
		fmt.Fprintf(w, `[{"action":"set","variables":{"v":%q}},{"action":"redirect","url":"http://%s/tight"}]`, value, r.Host)
	case "/slow":
		i, _ := strconv.Atoi(r.URL.Query().Get("i"))
		fmt.Fprintf(w, `[{"action":"set","variables":{"v%d":%q}},{"action":"say","text":"next"},{"action":"redirect","url":"http://%s/slow?i=%d"}]`,
			i, value, r.Host, i+1)
	}
}

// TestCallBounds runs the two loops of the finding on real calls (SIP to
// the simulator, both backends): the one that only fetches is cut after
// MaxRedirects redirects, the one that speaks between its sets is cut when
// its variables would pass MaxVariablesBytes; each ends with call.error
// limit_exceeded and application_error; the call keeps at most 64 KiB of
// variables and a request to the application (which carries them twice, in
// call and beside it) stays under 136 KiB (16 MB and 32 MB before).
func TestCallBounds(t *testing.T) {
	if testing.Short() {
		t.Skip("real calls")
	}
	t.Parallel()
	storetest.Each(t, func(t *testing.T, backend string) {
		app := &boundsApp{}
		st := stacktest.Start(t, stacktest.Config{Backend: backend, App: app, SimAnswerDelay: 200 * time.Millisecond})
		cust := st.Customer(t, "bounds")
		st.OutboundTrunkToSim(t, cust)
		for _, tc := range []struct {
			path, message string
			fetches       int
		}{
			{"/tight", "redirects in a row", 1 + callctl.MaxRedirects},
			{"/slow?i=0", "variables may hold at most", 0},
		} {
			app.mu.Lock()
			app.biggest, app.fetches = 0, 0
			app.mu.Unlock()
			id := st.Application(t, cust, st.AppURL+tc.path)
			c := st.Do(t, "POST", "/v1/calls", map[string]any{"to": "+15550040001", "from": "+15551230001", "application_id": id}, 201)
			done := st.WaitCall(t, stacktest.Str(c["id"]))
			if done["hangup_cause"] != "application_error" {
				t.Errorf("%s: hangup_cause %v, want application_error", tc.path, done["hangup_cause"])
			}
			ev := stacktest.Event(st.Events(t, stacktest.Str(c["id"])), "call.error")
			if ev == nil || ev["code"] != callctl.CodeLimitExceeded || !strings.Contains(stacktest.Str(ev["message"]), tc.message) {
				t.Errorf("%s: call.error %v, want limit_exceeded saying %q", tc.path, ev, tc.message)
			}
			size := 0
			for k, v := range stacktest.Vars(done) {
				size += len(k) + len(v)
			}
			app.mu.Lock()
			biggest, fetches := app.biggest, app.fetches
			app.mu.Unlock()
			t.Logf("%s: %d fetches, largest request %d bytes, variables %d bytes", tc.path, fetches, biggest, size)
			// A request carries the variables twice: in call and beside it.
			if size > callctl.MaxVariablesBytes || biggest > 2*callctl.MaxVariablesBytes+8<<10 {
				t.Errorf("%s: variables %d bytes, largest request %d bytes: over the bound", tc.path, size, biggest)
			}
			if tc.fetches > 0 && fetches != tc.fetches {
				t.Errorf("%s: %d fetches, want %d (the answer_url and %d redirects)", tc.path, fetches, tc.fetches, callctl.MaxRedirects)
			}
		}
	})
}
