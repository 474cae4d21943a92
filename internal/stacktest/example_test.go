package stacktest_test

import (
	"net/http"
	"testing"
	"time"

	"github.com/minivoice/minivoice/internal/sim"
	"github.com/minivoice/minivoice/internal/stacktest"
	"github.com/minivoice/minivoice/internal/store/storetest"
)

// greeting is what the application says on every call.
const greeting = "Hello from the stack test. This sentence is long enough to be heard."

// answer is an application's answer_url: it says the greeting and hangs up.
var answer = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "application/json")
	_, _ = w.Write([]byte(`[{"action":"say","text":"` + greeting + `"},{"action":"hangup"}]`))
})

// TestStack is the package's example: an outbound call to the simulator and
// an inbound call from it, both answered by an application served by the
// stack, checked through the API and through what the simulator heard; on
// SQLite, and on PostgreSQL when MINIVOICE_TEST_DATABASE_URL is set.
func TestStack(t *testing.T) {
	storetest.Each(t, testStack)
}

func testStack(t *testing.T, backend string) {
	st := stacktest.Start(t, stacktest.Config{Backend: backend, App: answer, SimAnswerDelay: 200 * time.Millisecond})
	cust := st.Customer(t, "acme")
	app := st.Application(t, cust, st.AppURL+"/answer")

	t.Run("outbound", func(t *testing.T) {
		t.Parallel()
		st.OutboundTrunkToSim(t, cust)
		const to = "+15550000001" // the simulator answers and speaks its greeting
		c := st.Do(t, "POST", "/v1/calls", map[string]any{"to": to, "from": "+15551230001", "application_id": app}, 201)
		done := st.WaitCall(t, stacktest.Str(c["id"]))
		if done["status"] != "completed" || done["hangup_source"] != "caller" || done["direction"] != "outbound" {
			t.Errorf("call %v", done)
		}
		if got, want := stacktest.EventNames(st.Events(t, stacktest.Str(c["id"]))),
			"call.initiated,call.ringing,call.answered,call.completed"; got != want {
			t.Errorf("events %s, want %s", got, want)
		}
		rep := st.SimReport(t, to)
		if !rep.Answered || rep.HeardActive < time.Second {
			t.Errorf("simulator report %+v: want the greeting heard", rep)
		}
	})

	t.Run("inbound", func(t *testing.T) {
		t.Parallel()
		const did = "+15551230099"
		st.InboundTrunkFromSim(t)
		st.Number(t, did, cust, app)
		rep := st.SimCall(t, sim.CallOptions{From: "+15557770001", To: did})
		if !rep.Answered || rep.EndedBy != sim.EndedRemote || rep.HeardActive < time.Second {
			t.Errorf("simulator report %+v: want answered, the greeting heard, hung up by the platform", rep)
		}
		calls := st.Calls(t, "customer_id="+cust+"&direction=inbound")
		if len(calls) != 1 {
			t.Fatalf("%d inbound calls, want 1", len(calls))
		}
		c := st.WaitCall(t, stacktest.Str(calls[0]["id"]))
		if c["status"] != "completed" || c["to"] != did {
			t.Errorf("inbound call %v", c)
		}
	})
}
