package e2e

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/minivoice/minivoice/internal/sim"
	"github.com/minivoice/minivoice/internal/sip"
	"github.com/minivoice/minivoice/internal/stacktest"
)

// hookRecorder answers answer_url with a hangup and keeps the bodies of the
// webhooks POSTed to /hook.
type hookRecorder struct {
	mu     sync.Mutex
	bodies []map[string]any
}

func (h *hookRecorder) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.URL.Path == "/hook" {
		var m map[string]any
		_ = json.NewDecoder(io.LimitReader(r.Body, 1<<20)).Decode(&m)
		h.mu.Lock()
		h.bodies = append(h.bodies, m)
		h.mu.Unlock()
		return
	}
	w.Header().Set("Content-Type", "application/json")
	_, _ = io.WriteString(w, `[{"action":"hangup"}]`)
}

// waitHook polls until a webhook of event about callID has arrived.
func (h *hookRecorder) waitHook(t *testing.T, event, callID string) map[string]any {
	t.Helper()
	deadline := time.Now().Add(stacktest.CallTimeout)
	for time.Now().Before(deadline) {
		h.mu.Lock()
		for _, b := range h.bodies {
			call, _ := b["call"].(map[string]any)
			if b["event"] == event && call["id"] == callID {
				h.mu.Unlock()
				return b
			}
		}
		h.mu.Unlock()
		time.Sleep(50 * time.Millisecond)
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	t.Fatalf("no %s webhook for %s; got %v", event, callID, h.bodies)
	return nil
}

// TestRefusedCallsVisible: an INVITE refused for a customer's number is a
// failed call of that customer, with the SIP status answered and an error
// saying why (and call.completed to the application's webhook); one for a
// number nobody has goes to the operator's refusals log and to no
// customer's calls; an outbound call to a trunk that never answers says
// which trunk and what timed out.
func TestRefusedCallsVisible(t *testing.T) {
	t.Parallel()
	hooks := &hookRecorder{}
	st := stacktest.Start(t, stacktest.Config{App: hooks})
	st.InboundTrunkFromSim(t)

	t.Run("known_did_without_inbound_rate", func(t *testing.T) {
		t.Parallel()
		// A customer with credit and no rate at all: its DID has no inbound rate.
		cust := stacktest.Str(st.Do(t, "POST", "/v1/customers", map[string]any{"name": "norate"}, 201)["id"])
		st.Do(t, "POST", "/v1/customers/"+cust+"/credits", map[string]any{"amount": "10.00", "description": "test"}, 201)
		app := stacktest.Str(st.Do(t, "POST", "/v1/applications", map[string]any{"customer_id": cust, "name": "app",
			"answer_url": st.AppURL + "/answer", "webhook_url": st.AppURL + "/hook"}, 201)["id"])
		did := "+15551230002"
		st.Number(t, did, cust, app)
		rep := st.SimCall(t, sim.CallOptions{From: "+15557770001", To: did})
		if rep.SIPStatus != 403 || rep.Answered {
			t.Fatalf("simulator got %d %s (answered %v), want 403", rep.SIPStatus, rep.SIPReason, rep.Answered)
		}
		calls := st.Calls(t, "customer_id="+cust)
		if len(calls) != 1 {
			t.Fatalf("%d calls of the customer, want the refused one: %v", len(calls), calls)
		}
		c := calls[0]
		if c["status"] != "failed" || c["direction"] != "inbound" || c["from"] != "+15557770001" || c["to"] != did ||
			stacktest.Num(c["sip_code"]) != 403 || c["hangup_cause"] != "call_rejected" || c["application_id"] != app {
			t.Errorf("refused call %v", c)
		}
		e, _ := c["error"].(map[string]any)
		if e["code"] != "destination_not_allowed" || e["message"] != "no inbound rate matches "+did+" for this customer" {
			t.Errorf("error %v, want destination_not_allowed: no inbound rate matches %s for this customer", e, did)
		}
		id := stacktest.Str(c["id"])
		if names := stacktest.EventNames(st.Events(t, id)); names != "call.completed" {
			t.Errorf("events %s, want call.completed only", names)
		}
		// The customer sees it with its own key; another customer does not.
		key := stacktest.Str(st.Do(t, "POST", "/v1/customers/"+cust+"/keys", map[string]any{}, 201)["key"])
		other := stacktest.Str(st.Do(t, "POST", "/v1/customers", map[string]any{"name": "other"}, 201)["id"])
		otherKey := stacktest.Str(st.Do(t, "POST", "/v1/customers/"+other+"/keys", map[string]any{}, 201)["key"])
		if status, body := apiGet(t, st, key, "/v1/calls/"+id); status != 200 || !strings.Contains(body, "no inbound rate") {
			t.Errorf("customer key GET /v1/calls/%s: %d %s", id, status, body)
		}
		if status, _ := apiGet(t, st, otherKey, "/v1/calls/"+id); status != 404 {
			t.Errorf("another customer's key GET /v1/calls/%s: %d, want 404", id, status)
		}
		if status, body := apiGet(t, st, otherKey, "/v1/calls"); status != 200 || strings.Contains(body, id) {
			t.Errorf("another customer's key lists the call: %d %s", status, body)
		}
		// The application's webhook gets call.completed, with the call's error.
		call, _ := hooks.waitHook(t, "call.completed", id)["call"].(map[string]any)
		if ce, _ := call["error"].(map[string]any); call["status"] != "failed" || ce["code"] != "destination_not_allowed" {
			t.Errorf("webhook's call: status %v, error %v", call["status"], call["error"])
		}
	})

	t.Run("unknown_did", func(t *testing.T) {
		t.Parallel()
		did := "+15569990002" // nobody's number
		rep := st.SimCall(t, sim.CallOptions{From: "+15557770002", To: did})
		if rep.SIPStatus != 404 {
			t.Fatalf("simulator got %d %s, want 404", rep.SIPStatus, rep.SIPReason)
		}
		r := waitRefusal(t, st, "15569990002")
		if stacktest.Num(r["sip_code"]) != 404 || r["reason"] != "Not Found" || r["transport"] != "udp" ||
			!strings.HasPrefix(stacktest.Str(r["source"]), "127.0.0.1:") || stacktest.Str(r["call_id"]) == "" ||
			!strings.Contains(stacktest.Str(r["why"]), did) || r["from"] != "15557770002" && r["from"] != "+15557770002" {
			t.Errorf("refusal %v", r)
		}
		if calls := st.Calls(t, "to="+url.QueryEscape(did)); len(calls) != 0 {
			t.Errorf("a refusal for an unknown DID made calls: %v", calls)
		}
	})

	t.Run("outbound_unreachable_trunk", func(t *testing.T) {
		t.Parallel()
		cust := st.Customer(t, "dead-trunk")
		app := st.Application(t, cust, "")
		port := freeUDPPort(t) // nothing listens there: no response at all
		st.Do(t, "POST", "/v1/trunks", map[string]any{"name": "carrier", "host": "127.0.0.1", "port": port,
			"customer_id": cust, "setup_timeout": 1}, 201)
		c := st.Do(t, "POST", "/v1/calls", map[string]any{"to": "+15550030000", "from": "+15551230001",
			"application_id": app, "actions": []map[string]any{{"action": "hangup"}}}, 201)
		done := st.WaitCall(t, stacktest.Str(c["id"]))
		if done["status"] != "failed" || done["hangup_cause"] != "unreachable" {
			t.Errorf("call %v/%v, want failed/unreachable", done["status"], done["hangup_cause"])
		}
		e, _ := done["error"].(map[string]any)
		want := `trunk "carrier" did not answer the INVITE within 1 s (the trunk's setup_timeout)`
		if e["code"] != "trunk_unreachable" || e["message"] != want {
			t.Errorf("error %v, want trunk_unreachable %q", e, want)
		}
	})
}

// TestRefusalsLogFlood sends many INVITEs from a source no inbound trunk
// admits, with a small log and write burst: the log never holds more than
// its bound, and every refusal is either stored or counted as dropped.
func TestRefusalsLogFlood(t *testing.T) {
	t.Parallel()
	const max, burst, n = 15, 25, 60
	st := stacktest.Start(t, stacktest.Config{Refusals: sip.RefusalConfig{LogMax: max, LogRate: 0.5, LogBurst: burst}})
	// No inbound trunk: every INVITE gets 403.
	for batch := 0; batch < n; batch += 10 {
		var waits []func(testing.TB) sim.CallReport
		for i := batch; i < batch+10; i++ {
			waits = append(waits, st.GoSimCall(t, sim.CallOptions{From: "+15557770003", To: fmt.Sprintf("+1556%07d", i)}))
		}
		for _, w := range waits {
			if rep := w(t); rep.SIPStatus != 403 {
				t.Fatalf("simulator got %d %s, want 403", rep.SIPStatus, rep.SIPReason)
			}
		}
		list := st.Do(t, "GET", "/v1/sip/refusals?limit=200", nil, 200)
		if got := len(list["data"].([]any)); got > max {
			t.Fatalf("after %d refusals the log holds %d, above its bound %d", batch+10, got, max)
		}
	}
	// The edge answers 403 first and writes the log after: under load the
	// last writes may land a moment after the simulator's answers.
	var list map[string]any
	var dropped, stored int
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(50 * time.Millisecond) {
		list = st.Do(t, "GET", "/v1/sip/refusals?limit=200", nil, 200)
		dropped = int(stacktest.Num(list["dropped"]))
		stored = n - dropped
		if len(list["data"].([]any)) >= min(max, stored) || time.Now().After(deadline) {
			break
		}
	}
	if got, want := len(list["data"].([]any)), min(max, stored); got != want {
		t.Errorf("log holds %d, want min(bound %d, %d stored of %d with %d dropped)", got, max, stored, n, dropped)
	}
	if stored < burst {
		t.Errorf("only %d of %d stored: the burst of %d should pass", stored, n, burst)
	}
	for _, it := range list["data"].([]any) {
		r := it.(map[string]any)
		if stacktest.Num(r["sip_code"]) != 403 || !strings.Contains(stacktest.Str(r["why"]), "matches no inbound trunk") {
			t.Errorf("refusal %v", r)
		}
	}
	m := metrics(t, st)
	if m[`minivoice_sip_inbound_refused_total{code="403"}`] != n {
		t.Errorf("refused counter %v, want %d", m[`minivoice_sip_inbound_refused_total{code="403"}`], n)
	}
	if got := m[`minivoice_sip_refusals_dropped_total{log="operator_log"}`]; int(got) != dropped {
		t.Errorf("dropped counter %v, list says %d", got, dropped)
	}
	if calls := st.Calls(t, "limit=100"); len(calls) != 0 {
		t.Errorf("refusals made %d calls", len(calls))
	}
}

// waitRefusal polls the refusals log for one to the user part to.
func waitRefusal(t *testing.T, st *stacktest.Stack, to string) map[string]any {
	t.Helper()
	deadline := time.Now().Add(stacktest.CallTimeout)
	for {
		for _, it := range st.Do(t, "GET", "/v1/sip/refusals?limit=200", nil, 200)["data"].([]any) {
			r := it.(map[string]any)
			if strings.TrimPrefix(stacktest.Str(r["to"]), "+") == to {
				return r
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("no refusal to %s in the log", to)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// apiGet sends GET path with key and returns the status and body.
func apiGet(t *testing.T, st *stacktest.Stack, key, path string) (int, string) {
	t.Helper()
	req, err := http.NewRequest("GET", st.API+path, nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+key)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// metrics reads /metrics with the operator key: each sample line's name
// with labels, to its value.
func metrics(t *testing.T, st *stacktest.Stack) map[string]float64 {
	t.Helper()
	status, body := apiGet(t, st, st.Key, "/metrics")
	if status != 200 {
		t.Fatalf("GET /metrics: %d", status)
	}
	out := map[string]float64{}
	sc := bufio.NewScanner(strings.NewReader(body))
	for sc.Scan() {
		line := sc.Text()
		if strings.HasPrefix(line, "#") {
			continue
		}
		i := strings.LastIndexByte(line, ' ')
		if i < 0 {
			continue
		}
		if v, err := strconv.ParseFloat(line[i+1:], 64); err == nil {
			out[line[:i]] = v
		}
	}
	return out
}
