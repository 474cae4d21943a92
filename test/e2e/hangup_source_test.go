package e2e

import (
	"testing"
	"time"

	"github.com/minivoice/minivoice/internal/stacktest"
)

// A call nobody answers is given up by the platform: after the ring timeout
// it CANCELs the INVITE, and the call's hangup_source is "system", not the
// callee's (the callee never answered nor refused). The same for a dial
// target that rings out. The simulator's numbers ending 0408 ring forever.
func TestNoAnswerHangupSourceIsSystem(t *testing.T) {
	t.Parallel()
	st := stacktest.Start(t, stacktest.Config{SimAnswerDelay: 200 * time.Millisecond})
	cust := st.Customer(t, "noanswer")
	app := st.Application(t, cust, "")
	st.OutboundTrunkToSim(t, cust)

	t.Run("outbound", func(t *testing.T) {
		t.Parallel()
		c := st.Do(t, "POST", "/v1/calls", map[string]any{"to": "+15550010408", "from": "+15551230001",
			"application_id": app, "timeout": 5, "actions": []map[string]any{{"action": "hangup"}}}, 201)
		done := st.WaitCall(t, stacktest.Str(c["id"]))
		if done["status"] != "no-answer" || done["hangup_cause"] != "no_answer" || done["hangup_source"] != "system" {
			t.Errorf("unanswered call: status %v, hangup_cause %v, hangup_source %v; want no-answer, no_answer, system",
				done["status"], done["hangup_cause"], done["hangup_source"])
		}
		if data := stacktest.Event(st.Events(t, stacktest.Str(c["id"])), "call.completed"); data["hangup_source"] != "system" {
			t.Errorf("call.completed data %v: want hangup_source system", data)
		}
	})

	t.Run("dial", func(t *testing.T) {
		t.Parallel()
		c := st.Do(t, "POST", "/v1/calls", map[string]any{"to": "+15550020000", "from": "+15551230001",
			"application_id": app, "actions": []map[string]any{
				{"action": "dial", "to": []string{"+15550020408"}, "timeout": 5}, {"action": "hangup"}}}, 201)
		id := stacktest.Str(c["id"])
		st.WaitCall(t, id)
		children := st.ChildCalls(t, id)
		if len(children) != 1 {
			t.Fatalf("%d child calls, want 1", len(children))
		}
		if ch := children[0]; ch["status"] != "no-answer" || ch["hangup_source"] != "system" {
			t.Errorf("dial target that rang out: status %v, hangup_source %v; want no-answer, system",
				ch["status"], ch["hangup_source"])
		}
	})
}
