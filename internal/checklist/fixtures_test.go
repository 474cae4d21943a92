package checklist

import (
	"bytes"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/minivoice/minivoice/webhook"
)

func TestDiffJSONIgnoresWhatDiffersBetweenRuns(t *testing.T) {
	t.Parallel()
	a := `{"call": {"id": "call_01m969vey2b1gcxx8cgsb89rb8", "created_at": "2026-12-06T18:28:55.362Z",
		"answer_url": "http://127.0.0.1:35583/apps/main/answer/x", "duration": 8, "status": "completed",
		"media_url": "/v1/recordings/rec_01m969vey2b1gcxx8cgsb89rb8/media"},
		"results": {"transcription": {"text": "i would like to book", "segments": [{"text": "a", "start": 1.2}]}},
		"key": "mvk_ap_5gmt6a3gkrkd6ievvrdtcln3hpqqee2k"}`
	b := `{"call": {"id": "call_01m96a000000000000000000zz", "created_at": "2026-12-07T01:02:03Z",
		"answer_url": "http://127.0.0.1:41000/apps/main/answer/x", "duration": 9, "status": "completed",
		"media_url": "/v1/recordings/rec_01m96a000000000000000000zz/media"},
		"results": {"transcription": {"text": "i would like to look", "segments": [{"text": "b", "start": 1.4}, {"text": "c"}]}},
		"key": "mvk_ap_otherkeyotherkeyotherkeyotherk"}`
	if d := diffJSON(fileCall, []byte(a), []byte(b)); len(d) != 0 {
		t.Errorf("differences where only ids, times, ports, durations, keys and recognised words changed:\n%s", strings.Join(d, "\n"))
	}
}

func TestDiffJSONNamesRealDifferences(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name, a, b, want string
	}{
		{"status", `{"call": {"status": "completed"}}`, `{"call": {"status": "failed"}}`,
			`call.json: call.status: was "completed", now "failed"`},
		{"missing field", `{"call": {"error": null}}`, `{"call": {}}`, `call.json: call.error: was null, now missing`},
		{"new field", `{"call": {}}`, `{"call": {"error": {"code": "x"}}}`, `call.json: call.error: new, {"code":"x"}`},
		{"list length", `{"l": [1, 2]}`, `{"l": [1]}`, `call.json: l: 2 items, now 1`},
		{"transcript emptied", `{"results": {"t": {"text": "hello"}}}`, `{"results": {"t": {"text": ""}}}`,
			`call.json: results.t.text: was "<text>", now "<empty>"`},
		{"segments emptied", `{"r": {"segments": [{"text": "a"}]}}`, `{"r": {"segments": []}}`,
			`call.json: r.segments: was "<list>", now "<empty list>"`},
	} {
		got := diffJSON(fileCall, []byte(tc.a), []byte(tc.b))
		if len(got) != 1 || got[0] != tc.want {
			t.Errorf("%s: got %q, want [%q]", tc.name, got, tc.want)
		}
	}
}

func TestDiffJSONWebhooksInAnyArrivalOrder(t *testing.T) {
	t.Parallel()
	a := `[{"kind": "webhook", "body": {"event": "call.completed"}, "answered": 204},
		{"kind": "webhook", "body": {"event": "recording.completed"}, "answered": 204}]`
	b := `[{"kind": "webhook", "body": {"event": "recording.completed"}, "answered": 204},
		{"kind": "webhook", "body": {"event": "call.completed"}, "answered": 204}]`
	if d := diffJSON(fileWebhooks, []byte(a), []byte(b)); len(d) != 0 {
		t.Errorf("webhooks in another arrival order differ: %v", d)
	}
	c := `[{"kind": "webhook", "body": {"event": "call.completed"}, "answered": 204}]`
	if d := diffJSON(fileWebhooks, []byte(a), []byte(c)); len(d) == 0 {
		t.Error("a missing webhook is not named")
	}
}

func TestWriteAndCompareFixtures(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	res := &Result{Case: "busy", Fixture: Fixture{CallID: "call_01m969vey2b1gcxx8cgsb89rb8",
		Requests: []*Exchange{{Method: "POST", Path: "/v1/calls", Key: "application", Body: json.RawMessage(`{"to":"+15557020486"}`),
			Status: 201, Answer: json.RawMessage(`{"id":"call_01m969vey2b1gcxx8cgsb89rb8","status":"queued"}`)}},
		Call: map[string]any{"status": "busy", "sip_code": 486.0}}}
	if err := WriteFixtures(dir, []*Result{res}); err != nil {
		t.Fatal(err)
	}
	for _, f := range []string{fileCallID, fileRequest, fileResponse, fileWebhooks, fileCall} {
		if _, err := os.Stat(filepath.Join(dir, "busy", f)); err != nil {
			t.Errorf("fixture file %s: %v", f, err)
		}
	}
	cases, err := FixtureCases(dir)
	if err != nil || len(cases) != 1 || cases[0] != "busy" {
		t.Fatalf("FixtureCases = %v, %v", cases, err)
	}
	if n, err := CompareFixtures(dir, []*Result{res}); n != 0 || err != nil || len(res.Differences) != 0 {
		t.Fatalf("the same result differs from its own fixture: %d %v %v", n, err, res.Differences)
	}
	res.Fixture.Call["sip_code"] = 487.0
	if n, _ := CompareFixtures(dir, []*Result{res}); n != 1 || len(res.Differences) != 1 ||
		res.Differences[0] != "call.json: call.sip_code: was 486, now 487" {
		t.Fatalf("differences = %v", res.Differences)
	}
	if _, err := FixtureCases(t.TempDir()); err == nil {
		t.Error("an empty directory has fixtures")
	}
}

// TestReceiverVerifiesSignatures: the receiver takes only requests signed
// with the application's secret, and the flaky webhook_url refuses each
// event's first attempt only.
func TestReceiverVerifiesSignatures(t *testing.T) {
	t.Parallel()
	rcv, err := startReceiver("127.0.0.1:0", "", slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = rcv.close(t.Context()) })
	const secret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
	rcv.setSecret(roleFlaky, secret)
	body := []byte(`{"id": "evt_1", "event": "call.completed", "call": {"id": "call_1", "to": "+15550000001"}}`)
	post := func(url, sec string) int {
		t.Helper()
		req, err := http.NewRequest("POST", url, bytes.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		if err := webhook.SignRequest(req.Header, "evt_1", time.Now(), body, sec); err != nil {
			t.Fatal(err)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		_, _ = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		return resp.StatusCode
	}
	url := rcv.hooksURL(roleFlaky, hooksFlaky)
	if got := post(url, "whsec_"+strings.Repeat("A", 32)); got != 401 {
		t.Errorf("wrongly signed: %d, want 401", got)
	}
	if got := post(url, secret); got != 500 {
		t.Errorf("first attempt: %d, want 500", got)
	}
	if got := post(url, secret); got != 204 {
		t.Errorf("second attempt: %d, want 204", got)
	}
	got := rcv.forCall("call_1")
	if len(got) != 3 || got[0].Verified || !got[1].Verified || got[2].Answered != 204 || got[2].Event() != "call.completed" {
		t.Errorf("recorded %+v", got)
	}
	if ev := deliveredEvents(got); len(ev) != 1 || ev[0] != "call.completed" {
		t.Errorf("delivered = %v", ev)
	}
}
