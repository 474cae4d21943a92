// Package browser tests the web console in a real browser: Debian's
// chromium, headless, driven over the DevTools protocol with chromedp,
// against a whole MiniVoice on loopback (internal/stacktest) with a call
// placed through the network simulator.
package browser

import (
	"context"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/minivoice/minivoice/internal/stacktest"
)

// chromium finds the browser, or skips the test (.ci/run installs it).
func chromium(t *testing.T) string {
	t.Helper()
	if testing.Short() {
		t.Skip("drives a real browser and places real calls")
	}
	for _, name := range []string{os.Getenv("MINIVOICE_CHROMIUM"), "chromium", "chromium-browser", "google-chrome"} {
		if name == "" {
			continue
		}
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	t.Skip("chromium is not installed (Debian package chromium; .ci/run installs it)")
	return ""
}

// browser is one headless chromium with its own profile: a clean browser
// session, as the product page tells testers to use. Stopped when the test
// ends.
func browser(t *testing.T, exe string) context.Context {
	t.Helper()
	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(exe),
		chromedp.UserDataDir(t.TempDir()),
		// Root in a container has no user namespaces for the sandbox.
		chromedp.NoSandbox,
		chromedp.Flag("autoplay-policy", "no-user-gesture-required"),
		chromedp.Flag("mute-audio", true),
		chromedp.WindowSize(1280, 900),
	)
	actx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancel := chromedp.NewContext(actx)
	t.Cleanup(func() { cancel(); cancelAlloc() })
	// The first run starts the browser, and must not have a deadline of its
	// own (it would stop the browser with it).
	if err := chromedp.Do(ctx); err != nil {
		t.Fatalf("starting chromium: %v", err)
	}
	return ctx
}

// stepTimeout bounds one browser step.
const stepTimeout = 60 * time.Second

// do runs browser steps, failing the test with what was being done and
// where the browser was.
func do(t *testing.T, ctx context.Context, what string, steps ...chromedp.Action[chromedp.Void]) {
	t.Helper()
	sctx, cancel := context.WithTimeout(ctx, stepTimeout)
	defer cancel()
	if err := chromedp.Do(sctx, steps...); err != nil {
		loc, _ := chromedp.Run(ctx, chromedp.Location())
		t.Fatalf("%s: %v (page %s)", what, err, loc)
	}
}

// get runs one browser action and returns its value.
func get[T any](t *testing.T, ctx context.Context, what string, a chromedp.Action[T]) T {
	t.Helper()
	sctx, cancel := context.WithTimeout(ctx, stepTimeout)
	defer cancel()
	v, err := chromedp.Run(sctx, a)
	if err != nil {
		loc, _ := chromedp.Run(ctx, chromedp.Location())
		t.Fatalf("%s: %v (page %s)", what, err, loc)
	}
	return v
}

// signIn signs in on the console with key.
func signIn(t *testing.T, ctx context.Context, base, key string) {
	t.Helper()
	do(t, ctx, "sign in",
		chromedp.Navigate(base+"/signin"),
		chromedp.WaitVisible(chromedp.CSS("#key")),
		chromedp.SendKeys(chromedp.CSS("#key"), key),
		chromedp.Click(chromedp.CSS("#signin-submit")),
		chromedp.WaitNotPresent(chromedp.CSS("#signin")),
	)
}

// fetchStatus is the HTTP status the page's own session gets for path.
func fetchStatus(t *testing.T, ctx context.Context, path string) int {
	t.Helper()
	return get(t, ctx, "fetch "+path, chromedp.Evaluate[int](
		fmt.Sprintf(`fetch(%q, {credentials: "same-origin"}).then(r => r.status)`, path), chromedp.EvalAwaitPromise))
}

// recordedCall places a recorded outbound call through the simulator (the
// callee speaks), waits for its recording and transcript, and returns the
// customer's id and the call's id.
func recordedCall(t *testing.T, st *stacktest.Stack) (customerID, callID string) {
	t.Helper()
	cust := st.Customer(t, "browser-acme")
	app := st.Application(t, cust, st.AppURL+"/answer")
	st.OutboundTrunkToSim(t, cust)
	call := st.Do(t, "POST", "/v1/calls", map[string]any{"to": "+15550000001", "from": "+15551230001",
		"application_id": app, "record": true}, 201)
	id := stacktest.Str(call["id"])
	done := st.WaitCall(t, id)
	if done["status"] != "completed" {
		t.Fatalf("call %s ended %v", id, done["status"])
	}
	recs, _ := done["recording_ids"].([]any)
	if len(recs) == 0 {
		t.Fatalf("call %s has no recording", id)
	}
	st.WaitRecording(t, stacktest.Str(recs[0]))
	deadline := time.Now().Add(2 * time.Minute)
	for {
		tr := st.Do(t, "GET", "/v1/calls/"+id+"/transcription", nil, 200)
		if tr["status"] == "completed" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("no transcript for %s: %v", id, tr)
		}
		time.Sleep(500 * time.Millisecond)
	}
	return cust, id
}

// TestConsoleCallPage signs in with a customer's key, finds a call placed
// through the simulator in the calls list, opens it, plays its recording
// and reads its transcript; a second customer's key reaches neither the
// call page nor the recording.
func TestConsoleCallPage(t *testing.T) {
	exe := chromium(t)
	app := http.NewServeMux()
	app.HandleFunc("POST /answer", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write([]byte(`[{"action": "say", "text": "Thank you for calling Acme. How can I help you today?"},
			{"action": "pause", "length": 4}, {"action": "hangup"}]`))
	})
	st := stacktest.Start(t, stacktest.Config{App: app})
	cust, callID := recordedCall(t, st)
	key := stacktest.Str(st.Do(t, "POST", "/v1/customers/"+cust+"/keys", map[string]any{"name": "browser"}, 201)["key"])

	ctx := browser(t, exe)
	signIn(t, ctx, st.API, key)

	do(t, ctx, "calls list",
		chromedp.Navigate(st.API+"/calls"),
		chromedp.WaitVisible(chromedp.CSS(`table#calls tr[data-call-id="`+callID+`"]`)),
	)
	if rows := get(t, ctx, "count calls", chromedp.Evaluate[int](`document.querySelectorAll("table#calls tr[data-call-id]").length`)); rows != 1 {
		t.Errorf("calls list shows %d calls, want the 1 this customer placed", rows)
	}

	do(t, ctx, "call page",
		chromedp.Click(chromedp.CSS(`table#calls tr[data-call-id="`+callID+`"] a`)),
		chromedp.WaitVisible(chromedp.CSS("#transcript")),
	)
	transcript := get(t, ctx, "transcript", chromedp.Text(chromedp.CSS("#transcript")))
	summary := get(t, ctx, "summary", chromedp.Text(chromedp.CSS("#summary")))
	if !strings.Contains(strings.ToLower(transcript), "thank") {
		t.Errorf("transcript on the page lacks the platform's greeting: %q", transcript)
	}
	if strings.TrimSpace(summary) == "" {
		t.Error("no summary on the call page")
	}

	// Play the recording: the audio element loads it (a duration) and its
	// clock advances.
	do(t, ctx, "recording element", chromedp.WaitReady(chromedp.CSS("audio#recording")))
	get(t, ctx, "play", chromedp.Evaluate[bool](`document.getElementById("recording").play().then(() => true)`, chromedp.EvalAwaitPromise))
	get(t, ctx, "playing", chromedp.Poll[bool](`document.getElementById("recording").currentTime > 0.5`, chromedp.WithPollingTimeout(20*time.Second)))
	duration := get(t, ctx, "duration", chromedp.Evaluate[float64](`document.getElementById("recording").duration`))
	if duration < 2 {
		t.Errorf("recording duration %.2f s in the browser; want the call's recording", duration)
	}

	// A reviewer marks the call for follow-up; it then shows in the calls
	// list filtered on reviewed calls with that verdict, and not among the
	// calls not reviewed.
	do(t, ctx, "review the call",
		chromedp.SetValue(chromedp.CSS("select#verdict"), "needs_follow_up"),
		chromedp.SendKeys(chromedp.CSS("textarea#note"), "Caller wants a call back on Tuesday."),
		chromedp.Click(chromedp.CSS("#review-submit")),
		chromedp.WaitVisible(chromedp.CSS("ol#reviews li")),
	)
	if got := get(t, ctx, "reviews", chromedp.Text(chromedp.CSS("ol#reviews"))); !strings.Contains(got, "needs_follow_up") ||
		!strings.Contains(got, "call back on Tuesday") {
		t.Errorf("review history on the call page: %q", got)
	}
	do(t, ctx, "reviewed filter",
		chromedp.Navigate(st.API+"/calls"),
		chromedp.WaitVisible(chromedp.CSS("select#f-reviewed")),
		chromedp.SetValue(chromedp.CSS("select#f-reviewed"), "yes"),
		chromedp.SetValue(chromedp.CSS("select#f-verdict"), "needs_follow_up"),
		chromedp.Submit(chromedp.CSS("select#f-reviewed")),
		chromedp.WaitVisible(chromedp.CSS(`table#calls tr[data-call-id="`+callID+`"]`)),
	)
	if loc := get(t, ctx, "location", chromedp.Location()); !strings.Contains(loc, "reviewed=yes") {
		t.Errorf("the filter did not apply: %s", loc)
	}
	do(t, ctx, "not-reviewed filter", chromedp.Navigate(st.API+"/calls?reviewed=no"), chromedp.WaitVisible(chromedp.CSS("table#calls")))
	if n := get(t, ctx, "count not reviewed", chromedp.Evaluate[int](`document.querySelectorAll("table#calls tr[data-call-id]").length`)); n != 0 {
		t.Errorf("%d calls listed as not reviewed, want 0", n)
	}

	// The overview's live-calls number is kept current by the event stream.
	do(t, ctx, "overview", chromedp.Navigate(st.API+"/"), chromedp.WaitVisible(chromedp.CSS("#live-calls")))
	get(t, ctx, "live calls stream", chromedp.Poll[bool](`document.getElementById("live-calls").dataset.updated === "1"`,
		chromedp.WithPollingTimeout(20*time.Second)))
	if n := get(t, ctx, "live calls", chromedp.Text(chromedp.CSS("#live-calls"))); n != "0" {
		t.Errorf("live calls %q with no call up, want 0", n)
	}

	// MINIVOICE_SCREENSHOTS=DIR saves the main pages as PNGs (how the
	// README's docs/img screenshots are made).
	if dir := os.Getenv("MINIVOICE_SCREENSHOTS"); dir != "" {
		for _, page := range []struct{ name, path, ready string }{
			{"call", "/calls/" + callID, "#transcript"},
			{"calls", "/calls", "table#calls"},
			{"overview", "/", "body"},
			{"review", "/review", "#h-queue"},
		} {
			do(t, ctx, "open "+page.name, chromedp.Navigate(st.API+page.path), chromedp.WaitVisible(chromedp.CSS(page.ready)))
			png := get(t, ctx, "screenshot "+page.name, chromedp.FullScreenshot(100))
			if err := os.WriteFile(filepath.Join(dir, "console-"+page.name+".png"), png, 0o644); err != nil {
				t.Fatal(err)
			}
		}
		// The call page on a phone-sized screen.
		do(t, ctx, "phone viewport", chromedp.EmulateViewport(390, 844, chromedp.EmulateMobile),
			chromedp.Navigate(st.API+"/calls/"+callID), chromedp.WaitVisible(chromedp.CSS("#transcript")))
		png := get(t, ctx, "phone screenshot", chromedp.FullScreenshot(100))
		if err := os.WriteFile(filepath.Join(dir, "console-call-phone.png"), png, 0o644); err != nil {
			t.Fatal(err)
		}
		do(t, ctx, "desktop viewport", chromedp.EmulateReset())
	}
	// Nothing on the call page is wider than a phone's screen.
	do(t, ctx, "phone viewport", chromedp.EmulateViewport(390, 844, chromedp.EmulateMobile),
		chromedp.Navigate(st.API+"/calls/"+callID), chromedp.WaitVisible(chromedp.CSS("#transcript")))
	if w := get(t, ctx, "page width", chromedp.Evaluate[int](`document.documentElement.scrollWidth`)); w > 400 {
		t.Errorf("the call page is %d px wide on a 390 px screen: it scrolls sideways", w)
	}
	do(t, ctx, "desktop viewport", chromedp.EmulateReset())

	// Another customer, in a clean browser session of its own.
	other := st.Customer(t, "browser-other")
	otherKey := stacktest.Str(st.Do(t, "POST", "/v1/customers/"+other+"/keys", map[string]any{"name": "browser"}, 201)["key"])
	octx := browser(t, exe)
	signIn(t, octx, st.API, otherKey)
	if s := fetchStatus(t, octx, "/calls/"+callID); s != http.StatusNotFound {
		t.Errorf("another customer's key gets %d for the call page, want 404", s)
	}
	if s := fetchStatus(t, octx, "/calls/"+callID+"/recording.wav"); s != http.StatusNotFound {
		t.Errorf("another customer's key gets %d for the recording, want 404", s)
	}
	do(t, octx, "other calls list", chromedp.Navigate(st.API+"/calls"), chromedp.WaitVisible(chromedp.CSS("table#calls")))
	if otherRows := get(t, octx, "count other calls", chromedp.Evaluate[int](`document.querySelectorAll("table#calls tr[data-call-id]").length`)); otherRows != 0 {
		t.Errorf("another customer sees %d calls, want none", otherRows)
	}
}

// TestConsoleRedeliver: a webhook the receiver refused until its retries
// ran out is redelivered from the call page, and the page then shows the
// new, successful attempt.
func TestConsoleRedeliver(t *testing.T) {
	exe := chromium(t)
	var accept atomic.Bool
	app := http.NewServeMux()
	app.HandleFunc("POST /hooks", func(w http.ResponseWriter, r *http.Request) {
		if accept.Load() {
			w.WriteHeader(http.StatusNoContent)
			return
		}
		http.Error(w, "receiver down for maintenance", http.StatusInternalServerError)
	})
	st := stacktest.Start(t, stacktest.Config{App: app})
	cust := st.Customer(t, "browser-redeliver")
	appID := stacktest.Str(st.Do(t, "POST", "/v1/applications", map[string]any{"customer_id": cust, "name": "hooks",
		"webhook_url": st.AppURL + "/hooks"}, 201)["id"])
	st.OutboundTrunkToSim(t, cust)
	// The simulator's 0486 is busy: a short call with a few events.
	callID := stacktest.Str(st.Do(t, "POST", "/v1/calls", map[string]any{"to": "+15550000486", "from": "+15551230001",
		"application_id": appID, "actions": []map[string]any{{"action": "hangup"}}}, 201)["id"])
	st.WaitCall(t, callID)
	// Wait until call.completed has used up its retries.
	var evID string
	deadline := time.Now().Add(time.Minute)
	for evID == "" {
		for _, e := range st.Events(t, callID) {
			if e["event"] == "call.completed" && e["delivery_status"] == "exhausted" {
				evID = stacktest.Str(e["id"])
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("call.completed never exhausted its retries: %v", st.Events(t, callID))
		}
		time.Sleep(200 * time.Millisecond)
	}
	accept.Store(true)
	key := stacktest.Str(st.Do(t, "POST", "/v1/customers/"+cust+"/keys", map[string]any{"name": "browser"}, 201)["key"])

	ctx := browser(t, exe)
	signIn(t, ctx, st.API, key)
	rows := `document.querySelectorAll("li[data-event-id='` + evID + `'] table.attempts tbody tr").length`
	do(t, ctx, "call page", chromedp.Navigate(st.API+"/calls/"+callID), chromedp.WaitVisible(chromedp.CSS("#events")))
	before := get(t, ctx, "attempts before", chromedp.Evaluate[int](rows))
	if before < 1 {
		t.Fatalf("the call page shows %d attempts of the refused webhook", before)
	}
	do(t, ctx, "redeliver",
		chromedp.Click(chromedp.CSS(`li[data-event-id="`+evID+`"] form[action$="/redeliver"] button`)),
		chromedp.WaitVisible(chromedp.CSS(`p.notice`)),
	)
	// The delivery runs in the background: reload until it shows.
	deadline = time.Now().Add(30 * time.Second)
	for {
		do(t, ctx, "reload", chromedp.Navigate(st.API+"/calls/"+callID), chromedp.WaitVisible(chromedp.CSS("#events")))
		status := get(t, ctx, "delivery status", chromedp.Text(chromedp.CSS(`li[data-event-id="`+evID+`"] .delivery`)))
		last := get(t, ctx, "last attempt", chromedp.Evaluate[string](
			`(() => { const r = document.querySelectorAll("li[data-event-id='`+evID+`'] table.attempts tbody tr"); return r.length ? r[r.length-1].cells[1].textContent.trim() : ""; })()`))
		n := get(t, ctx, "attempts after", chromedp.Evaluate[int](rows))
		if strings.TrimSpace(status) == "delivered" && n == before+1 && last == "204" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("after redeliver: status %q, %d attempts (was %d), last HTTP %q; want delivered, one more, 204", status, n, before, last)
		}
		time.Sleep(300 * time.Millisecond)
	}
}
