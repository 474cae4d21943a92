package e2e

import (
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/minivoice/minivoice/internal/sim"
	"github.com/minivoice/minivoice/internal/stacktest"
	"github.com/minivoice/minivoice/internal/store/storetest"
)

// Numbers of TestDialCallerID.
const (
	cidDID      = "+15551240001" // the customer's number
	cidOther    = "+15551240002" // another customer's number
	cidCaller   = "+15557770041" // who calls cidDID
	cidParentTo = "+15550020001" // the simulator answers and stays on the line
	cidTarget   = "+15550010999" // the simulator answers and hangs up after 2 s
)

// cidApp answers each call with a dial whose from the path names.
var cidApp = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
	from := map[string]string{"/own": cidDID, "/other": cidOther, "/caller": cidCaller}[r.URL.Path]
	w.Header().Set("Content-Type", "application/json")
	_, _ = w.Write([]byte(`[{"action":"dial","to":"` + cidTarget + `","from":"` + from + `","variable":"ds","timeout":10},` +
		`{"action":"say","text":"The dial is over."}]`))
})

// TestDialCallerID runs the caller-ID rule in the engine, over real SIP to
// the simulator, for a dial in a list fetched from an answer_url (the API
// cannot see such a list beforehand): from another customer's number, no
// leg is placed, the dial ends failed and the call goes on to its next
// action and ends normally; from the customer's own number, or forwarding an
// inbound call with its caller's number, the leg is placed with that from.
func TestDialCallerID(t *testing.T) {
	if testing.Short() {
		t.Skip("real calls")
	}
	t.Parallel()
	storetest.Each(t, func(t *testing.T, backend string) {
		st := stacktest.Start(t, stacktest.Config{Backend: backend, App: cidApp, SimAnswerDelay: 200 * time.Millisecond})
		cust := st.Customer(t, "caller-id")
		st.Do(t, "PATCH", "/v1/customers/"+cust, map[string]any{"allow_any_caller_id": false}, 200)
		other := st.Customer(t, "other")
		st.Number(t, cidOther, other, "")
		st.OutboundTrunkToSim(t, cust)
		st.InboundTrunkFromSim(t)
		apps := map[string]string{}
		for _, p := range []string{"/own", "/other", "/caller"} {
			apps[p] = st.Application(t, cust, st.AppURL+p)
		}
		st.Number(t, cidDID, cust, apps["/caller"])

		outbound := func(t *testing.T, app string) (parent map[string]any, kids []map[string]any) {
			t.Helper()
			c := st.Do(t, "POST", "/v1/calls", map[string]any{"to": cidParentTo, "from": cidDID, "application_id": app}, 201)
			parent = st.WaitCall(t, stacktest.Str(c["id"]))
			return parent, st.ChildCalls(t, stacktest.Str(parent["id"]))
		}
		t.Run("other_customers_number_refused", func(t *testing.T) {
			parent, kids := outbound(t, apps["/other"])
			if len(kids) != 0 {
				t.Errorf("%d child calls placed from another customer's number", len(kids))
			}
			if v := stacktest.Vars(parent); v["ds"] != "failed" {
				t.Errorf("dial_status %q, want failed", v["ds"])
			}
			if parent["status"] != "completed" || parent["hangup_cause"] != "normal_clearing" {
				t.Errorf("parent %v/%v, want completed/normal_clearing: the call goes on after the refused dial",
					parent["status"], parent["hangup_cause"])
			}
			if names := stacktest.EventNames(st.Events(t, stacktest.Str(parent["id"]))); strings.Contains(names, "call.error") {
				t.Errorf("events %s: a refused dial is not an application error", names)
			}
		})
		t.Run("own_number_placed", func(t *testing.T) {
			parent, kids := outbound(t, apps["/own"])
			if len(kids) != 1 || kids[0]["from"] != cidDID {
				t.Fatalf("children %v, want one from %s", kids, cidDID)
			}
			if v := stacktest.Vars(parent); v["ds"] != "completed" {
				t.Errorf("dial_status %q, want completed", v["ds"])
			}
		})
		t.Run("inbound_forwarded_with_callers_number", func(t *testing.T) {
			rep := st.SimCall(t, sim.CallOptions{From: cidCaller, To: cidDID})
			if !rep.Answered {
				t.Fatalf("inbound call not answered: %+v", rep)
			}
			calls := st.Calls(t, "customer_id="+cust+"&direction=inbound")
			if len(calls) != 1 {
				t.Fatalf("%d inbound calls", len(calls))
			}
			parent := st.WaitCall(t, stacktest.Str(calls[0]["id"]))
			kids := st.ChildCalls(t, stacktest.Str(parent["id"]))
			if len(kids) != 1 || kids[0]["from"] != cidCaller {
				t.Errorf("children %v, want one from the caller %s", kids, cidCaller)
			}
		})
	})
}
