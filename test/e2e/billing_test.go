package e2e

// Billing end to end (billing.md, issue 6): real calls through the simulator
// priced exactly from their own duration, refusals of every limit through the
// API and through inbound SIP, the cut-off when the balance runs out, the
// concurrency limit under a burst, the ledger's arithmetic, dial children
// rated on their own, and GET /v1/usage. Every customer here has its own
// deck, which takes precedence over the platform's free default deck.

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	mrand "math/rand/v2"
	"net"
	"net/http"
	"net/url"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/minivoice/minivoice/internal/sim"
	"github.com/minivoice/minivoice/internal/stacktest"
	"github.com/minivoice/minivoice/internal/store/storetest"
	"github.com/shopspring/decimal"
)

// bilStart is scStart plus a shared inbound trunk for the simulator.
func bilStart(t *testing.T, backend string) *scEnv {
	t.Helper()
	e := scStart(t, backend)
	scDo(t, e.l, "POST", "/v1/trunks", map[string]any{"name": "sim-in", "direction": "inbound", "allowed_cidrs": []string{"127.0.0.1"}}, 201)
	return e
}

// bilBackends runs fn as a parallel subtest per configured backend (SQLite,
// and PostgreSQL when MINIVOICE_TEST_DATABASE_URL is set).
func bilBackends(t *testing.T, fn func(t *testing.T, backend string)) {
	t.Helper()
	t.Parallel()
	for _, b := range storetest.Backends() {
		t.Run(b, func(t *testing.T) {
			t.Parallel()
			fn(t, b)
		})
	}
}

// bilRate is a rate of a customer's deck.
type bilRate struct {
	direction string // default outbound
	prefix    string
	ppm, fee  string
	i, s      int
}

func (r bilRate) body(cust string) map[string]any {
	dir := r.direction
	if dir == "" {
		dir = "outbound"
	}
	fee := r.fee
	if fee == "" {
		fee = "0"
	}
	return map[string]any{"customer_id": cust, "direction": dir, "prefix": r.prefix, "price_per_minute": r.ppm,
		"connection_fee": fee, "initial_increment": r.i, "subsequent_increment": r.s}
}

// price is billing.md's formula, computed here independently of the
// platform: billable seconds from the recorded duration, then
// fee + billable/60 * price_per_minute rounded half-up to 6 decimals.
func (r bilRate) price(duration int, answered bool) (int, decimal.Decimal) {
	if !answered {
		return 0, decimal.Zero
	}
	d := max(duration, 1)
	billable := r.i
	if d > r.i {
		billable = r.i + (d-r.i+r.s-1)/r.s*r.s
	}
	fee := r.fee
	if fee == "" {
		fee = "0"
	}
	exact60 := decimal.RequireFromString(fee).Mul(decimal.NewFromInt(60)).
		Add(decimal.RequireFromString(r.ppm).Mul(decimal.NewFromInt(int64(billable))))
	// Half-up on a positive amount: DivRound rounds half away from zero.
	return billable, exact60.DivRound(decimal.NewFromInt(60), 6)
}

// bilOpts describes a billing customer.
type bilOpts struct {
	fields map[string]any // customer fields (limits); max_cps and max_concurrent_calls default high
	credit string         // initial credit, if any
	rates  []bilRate
	answer string   // the application's answer_url actions
	dids   []string // numbers routed to the application
}

type bilCust struct {
	id, app string
}

// bilCustomer creates a customer with its own deck, an application, an
// outbound trunk of its own to the simulator and its DIDs.
func (e *scEnv) bilCustomer(t *testing.T, o bilOpts) bilCust {
	t.Helper()
	body := map[string]any{"name": "billing " + t.Name(), "max_cps": 1000, "max_concurrent_calls": 1000,
		"verified_caller_ids": []string{scCaller}}
	for k, v := range o.fields {
		body[k] = v
	}
	cust := scDo(t, e.l, "POST", "/v1/customers", body, 201)["id"].(string)
	if o.credit != "" {
		scDo(t, e.l, "POST", "/v1/customers/"+cust+"/credits", map[string]any{"amount": o.credit, "description": "top-up"}, 201)
	}
	for _, r := range o.rates {
		scDo(t, e.l, "POST", "/v1/rates", r.body(cust), 201)
	}
	answer := o.answer
	if answer == "" {
		answer = `[{"action":"hangup"}]`
	}
	url := e.hooks.actions(scSlug(t)+"/"+cust, 200, answer)
	app := scDo(t, e.l, "POST", "/v1/applications", map[string]any{"customer_id": cust, "name": "app", "answer_url": url}, 201)["id"].(string)
	scDo(t, e.l, "POST", "/v1/trunks", map[string]any{"name": "sim", "host": "127.0.0.1", "port": int(e.sim.Addr().Port()),
		"customer_id": cust}, 201)
	for _, did := range o.dids {
		scDo(t, e.l, "POST", "/v1/numbers", map[string]any{"number": did, "customer_id": cust, "application_id": app}, 201)
	}
	return bilCust{id: cust, app: app}
}

// bilAnswer is an API answer with its headers.
type bilAnswer struct {
	status int
	header http.Header
	body   map[string]any
	raw    []byte
}

func (a bilAnswer) code() string {
	e, _ := a.body["error"].(map[string]any)
	return scStr(e["code"])
}

// bilHTTP calls the API and returns whatever it answered.
func bilHTTP(t *testing.T, l *live, method, path string, body any) bilAnswer {
	t.Helper()
	status, header, raw := scRequest(t, l, method, path, body)
	a := bilAnswer{status: status, header: header, raw: raw}
	_ = json.Unmarshal(raw, &a.body)
	return a
}

// bilPlace asks for a call of c to number.
func (e *scEnv) bilPlace(t *testing.T, c bilCust, number string, extra map[string]any) bilAnswer {
	t.Helper()
	body := map[string]any{"to": number, "from": scCaller, "application_id": c.app}
	for k, v := range extra {
		body[k] = v
	}
	return bilHTTP(t, e.l, "POST", "/v1/calls", body)
}

// bilPlaced places a call that must be admitted and returns its id.
func (e *scEnv) bilPlaced(t *testing.T, c bilCust, number string, extra map[string]any) string {
	t.Helper()
	a := e.bilPlace(t, c, number, extra)
	if a.status != 201 {
		t.Fatalf("POST /v1/calls to %s: %d, want 201: %s", number, a.status, a.raw)
	}
	return a.body["id"].(string)
}

// Retry-After expectations of bilRefused.
const (
	bilNoRetryAfter  = 0
	bilAnyRetryAfter = -1
)

// bilRefused asks for a call that must be refused with status and code, with
// Retry-After retryAfter (bilNoRetryAfter, bilAnyRetryAfter or the exact value),
// and checks that no call record to number exists.
func (e *scEnv) bilRefused(t *testing.T, c bilCust, number string, status int, code string, retryAfter int) bilAnswer {
	t.Helper()
	a := e.bilPlace(t, c, number, nil)
	if a.status != status || a.code() != code {
		t.Fatalf("POST /v1/calls to %s: %d %s, want %d %s: %s", number, a.status, a.code(), status, code, a.raw)
	}
	ra := a.header.Get("Retry-After")
	switch {
	case retryAfter == bilNoRetryAfter && ra != "":
		t.Errorf("%s: Retry-After %q on a refusal that has none", code, ra)
	case retryAfter == bilAnyRetryAfter:
		if n, err := strconv.Atoi(ra); err != nil || n < 1 {
			t.Errorf("%s: Retry-After %q, want a number of seconds", code, ra)
		}
	case retryAfter > 0 && ra != strconv.Itoa(retryAfter):
		t.Errorf("%s: Retry-After %q, want %d", code, ra, retryAfter)
	}
	if calls := scCalls(t, e.l, "to="+url.QueryEscape(number)); len(calls) != 0 {
		t.Errorf("a refused POST /v1/calls left a call record: %v", calls)
	}
	return a
}

// bilInbound has the simulator call did and returns its report.
func (e *scEnv) bilInbound(t *testing.T, did string, hangupAfter time.Duration) sim.CallReport {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 40*time.Second)
	defer cancel()
	rep, err := e.sim.Call(ctx, sim.CallOptions{Platform: e.l.p.SIP.Addr().String(), From: scCaller, To: did,
		HangupAfter: hangupAfter, MaxDuration: 30 * time.Second})
	if err != nil {
		t.Fatalf("sim call to %s: %v (%+v)", did, err, rep)
	}
	return rep
}

// bilInboundCalls are the customer's inbound call records.
func (e *scEnv) bilInboundCalls(t *testing.T, cust string) []map[string]any {
	t.Helper()
	var out []map[string]any
	for _, x := range scCalls(t, e.l, "limit=200&customer_id="+cust) {
		if c := x.(map[string]any); c["direction"] == "inbound" {
			out = append(out, c)
		}
	}
	return out
}

// bilInboundRefused has the simulator call did, which must be refused with
// sipStatus and leave one more inbound call of the customer: failed, unpriced,
// with that sip_code and an error of code.
func (e *scEnv) bilInboundRefused(t *testing.T, c bilCust, did string, sipStatus int, code string) {
	t.Helper()
	before := map[string]bool{}
	for _, x := range e.bilInboundCalls(t, c.id) {
		before[x["id"].(string)] = true
	}
	rep := e.bilInbound(t, did, 0)
	if rep.SIPStatus != sipStatus || rep.Answered {
		t.Errorf("INVITE to %s: %d %s (answered %v), want %d", did, rep.SIPStatus, rep.SIPReason, rep.Answered, sipStatus)
	}
	var added []map[string]any
	for _, x := range e.bilInboundCalls(t, c.id) {
		if !before[x["id"].(string)] {
			added = append(added, x)
		}
	}
	if len(added) != 1 {
		t.Fatalf("a refused INVITE left %d new call records, want 1 failed call: %v", len(added), added)
	}
	r := added[0]
	if ce, _ := r["error"].(map[string]any); r["status"] != "failed" || scNum(r["sip_code"]) != sipStatus ||
		ce["code"] != code || scStr(ce["message"]) == "" || r["price"] != nil {
		t.Errorf("refused call %v: want failed, sip_code %d, error %s, no price", r, sipStatus, code)
	}
}

// bilAnsweredInbound counts the customer's inbound calls that were not
// refused (refused ones are failed with sip_code 403 or 503).
func (e *scEnv) bilAnsweredInbound(t *testing.T, cust string) int {
	t.Helper()
	n := 0
	for _, c := range e.bilInboundCalls(t, cust) {
		if c["status"] != "failed" {
			n++
		}
	}
	return n
}

// bilInboundAccepted has the simulator call did, which must be answered, and
// returns the call it made once it has ended.
func (e *scEnv) bilInboundAccepted(t *testing.T, c bilCust, did string, hangupAfter time.Duration) map[string]any {
	t.Helper()
	before := map[string]bool{}
	for _, x := range e.bilInboundCalls(t, c.id) {
		before[x["id"].(string)] = true
	}
	rep := e.bilInbound(t, did, hangupAfter)
	if rep.SIPStatus != 200 || !rep.Answered {
		t.Fatalf("INVITE to %s: %d %s, want it answered", did, rep.SIPStatus, rep.SIPReason)
	}
	for _, x := range e.bilInboundCalls(t, c.id) {
		if id := x["id"].(string); !before[id] {
			return scWaitCall(t, e.l, id)
		}
	}
	t.Fatalf("an answered INVITE to %s left no call record", did)
	return nil
}

// bilSIPAnswer is the final response to a raw INVITE.
type bilSIPAnswer struct {
	status  int
	headers map[string]string // lower-case names
}

// bilRawInvite sends one INVITE to the platform over UDP, from a socket of its
// own, and returns the final response (acknowledged), to see headers the
// simulator does not report, such as Retry-After.
func bilRawInvite(t *testing.T, platform, did string) bilSIPAnswer {
	t.Helper()
	conn, err := net.Dial("udp", platform)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	local := conn.LocalAddr().String()
	rnd := func() string {
		var b [8]byte
		_, _ = rand.Read(b[:])
		return hex.EncodeToString(b[:])
	}
	branch, tag, callID := "z9hG4bK-"+rnd(), rnd(), rnd()+"@127.0.0.1"
	sdp := "v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\nm=audio 40000 RTP/AVP 0\r\na=rtpmap:0 PCMU/8000\r\n"
	uri := "sip:" + did + "@" + platform
	via := "Via: SIP/2.0/UDP " + local + ";branch=" + branch + ";rport\r\n"
	from := "From: <sip:" + scCaller + "@127.0.0.1>;tag=" + tag + "\r\n"
	inv := "INVITE " + uri + " SIP/2.0\r\n" + via + "Max-Forwards: 70\r\n" + from + "To: <" + uri + ">\r\n" +
		"Call-ID: " + callID + "\r\nCSeq: 1 INVITE\r\nContact: <sip:probe@" + local + ">\r\n" +
		"Content-Type: application/sdp\r\nContent-Length: " + strconv.Itoa(len(sdp)) + "\r\n\r\n" + sdp
	if _, err := conn.Write([]byte(inv)); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(15 * time.Second)
	buf := make([]byte, 65536)
	for time.Now().Before(deadline) {
		_ = conn.SetReadDeadline(deadline)
		n, err := conn.Read(buf)
		if err != nil {
			t.Fatalf("raw INVITE to %s: no final response: %v", did, err)
		}
		msg := string(buf[:n])
		head, _, _ := strings.Cut(msg, "\r\n\r\n")
		lines := strings.Split(head, "\r\n")
		f := strings.Fields(lines[0])
		if len(f) < 2 || f[0] != "SIP/2.0" {
			continue
		}
		status, _ := strconv.Atoi(f[1])
		if status < 200 {
			continue
		}
		a := bilSIPAnswer{status: status, headers: map[string]string{}}
		for _, ln := range lines[1:] {
			if k, v, ok := strings.Cut(ln, ":"); ok {
				a.headers[strings.ToLower(strings.TrimSpace(k))] = strings.TrimSpace(v)
			}
		}
		if status >= 300 {
			ack := "ACK " + uri + " SIP/2.0\r\n" + via + "Max-Forwards: 70\r\n" + from + "To: " + a.headers["to"] + "\r\n" +
				"Call-ID: " + callID + "\r\nCSeq: 1 ACK\r\nContent-Length: 0\r\n\r\n"
			_, _ = conn.Write([]byte(ack))
		} else {
			t.Errorf("raw INVITE to %s was answered %d", did, status)
		}
		return a
	}
	t.Fatalf("raw INVITE to %s: no final response", did)
	return bilSIPAnswer{}
}

// bilDec reads a JSON money field, which must be a decimal string.
func bilDec(t *testing.T, what string, v any) decimal.Decimal {
	t.Helper()
	s, ok := v.(string)
	if !ok {
		t.Fatalf("%s is %T %v, want a decimal string", what, v, v)
	}
	d, err := decimal.NewFromString(s)
	if err != nil {
		t.Fatalf("%s %q: %v", what, s, err)
	}
	if d.Exponent() < -6 {
		t.Errorf("%s %q has more than 6 decimals", what, s)
	}
	return d
}

// bilLedger lists a customer's whole ledger, newest first, a few entries per
// page so that paging is part of what is checked.
func (e *scEnv) bilLedger(t *testing.T, cust string) []map[string]any {
	t.Helper()
	var all []map[string]any
	after := ""
	for range 1000 {
		p := "/v1/customers/" + cust + "/ledger?limit=4"
		if after != "" {
			p += "&after=" + url.QueryEscape(after)
		}
		r := scDo(t, e.l, "GET", p, nil, 200)
		for _, x := range r["data"].([]any) {
			all = append(all, x.(map[string]any))
		}
		if r["has_more"] != true {
			return all
		}
		after = scStr(r["next_cursor"])
	}
	t.Fatal("ledger paging does not end")
	return nil
}

// bilBalance is the customer's balance.
func (e *scEnv) bilBalance(t *testing.T, cust string) decimal.Decimal {
	t.Helper()
	return bilDec(t, "balance", scDo(t, e.l, "GET", "/v1/customers/"+cust, nil, 200)["balance"])
}

// bilCharges returns the customer's call_charge entries by call id.
func bilCharges(t *testing.T, ledger []map[string]any) map[string]map[string]any {
	t.Helper()
	out := map[string]map[string]any{}
	for _, x := range ledger {
		if x["kind"] != "call_charge" {
			continue
		}
		id := scStr(x["call_id"])
		if _, dup := out[id]; dup || id == "" {
			t.Errorf("call_charge entry %v: call_id missing or charged twice", x)
		}
		out[id] = x
	}
	return out
}

// bilCheckPriced checks an ended call's billing against rate: billable seconds
// and price from the call's own duration, the call.completed event's copy of
// them, and its one ledger entry. It returns the price.
func (e *scEnv) bilCheckPriced(t *testing.T, c map[string]any, rate bilRate, ledger []map[string]any) decimal.Decimal {
	t.Helper()
	id := scStr(c["id"])
	answered := c["answered_at"] != nil
	duration := scNum(c["duration"])
	billable, want := rate.price(duration, answered)
	price := bilDec(t, "call "+id+" price", c["price"])
	t.Logf("call %s (%s to %s): %s, duration %d s, billable %d s, price %q %v", id, c["direction"], c["to"], c["status"],
		duration, scNum(c["billable_seconds"]), c["price"], c["currency"])
	if scNum(c["billable_seconds"]) != billable || !price.Equal(want) {
		t.Errorf("call %s: duration %d s billed %d s at %s, want %d s at %s (%s/min, fee %s, %d/%d)", id, duration,
			scNum(c["billable_seconds"]), price, billable, want, rate.ppm, rate.fee, rate.i, rate.s)
	}
	if c["currency"] != "EUR" {
		t.Errorf("call %s currency %v, want EUR", id, c["currency"])
	}
	d := scEvent(scEvents(t, e.l, id), "call.completed")
	if d == nil {
		t.Fatalf("call %s has no call.completed", id)
	}
	if d["price"] != c["price"] || scNum(d["billable_seconds"]) != billable || scNum(d["duration"]) != duration || d["currency"] != c["currency"] {
		t.Errorf("call.completed data %v does not match the call (price %v, billable %d, duration %d, currency %v)",
			d, c["price"], billable, duration, c["currency"])
	}
	ch := bilCharges(t, ledger)[id]
	if !want.IsPositive() {
		if ch != nil {
			t.Errorf("call %s priced 0 has a ledger entry %v", id, ch)
		}
		return want
	}
	if ch == nil {
		t.Fatalf("call %s priced %s has no call_charge entry", id, want)
	}
	if amt := bilDec(t, "charge amount", ch["amount"]); !amt.Equal(want.Neg()) {
		t.Errorf("call %s charged %s, want %s", id, amt, want.Neg())
	}
	if ch["currency"] != "EUR" {
		t.Errorf("charge currency %v", ch["currency"])
	}
	return want
}

// bilStrictLedgerOrder makes the ledger checks require the listing order to be
// the order the entries were written in, also within one millisecond. It is
// off while the store lists entries of the same millisecond by their random
// id (the ULID's random part), which is often not the write order: two API
// requests in a row commonly land in the same millisecond, and the running
// balance_after then does not chain in list order. Turn it on once the
// bilLedger keeps write order.
const bilStrictLedgerOrder = true

// bilCheckLedgerChain checks that the ledger adds up: the running sum of the
// amounts, oldest first, is each entry's balance_after, and the total is
// the customer's balance. Entries of the same millisecond are listed in id
// order, which need not be the order they were written in, so within one
// millisecond any order that chains is accepted (and logged).
func (e *scEnv) bilCheckLedgerChain(t *testing.T, cust string, ledger []map[string]any) decimal.Decimal {
	t.Helper()
	oldest := make([]map[string]any, len(ledger))
	for i, x := range ledger {
		oldest[len(ledger)-1-i] = x
	}
	run := decimal.Zero
	for i := 0; i < len(oldest); {
		j := i
		for j < len(oldest) && oldest[j]["created_at"] == oldest[i]["created_at"] {
			j++
		}
		group, before := oldest[i:j], run
		used := make([]bool, len(group))
		for range group {
			found := false
			for k, x := range group {
				next := run.Add(bilDec(t, "amount", x["amount"]))
				if !used[k] && next.Equal(bilDec(t, "balance_after", x["balance_after"])) {
					used[k], run, found = true, next, true
					break
				}
			}
			if !found {
				b, _ := json.Marshal(oldest)
				t.Fatalf("ledger does not chain at entry %d (running sum %s): %s", i, run, b)
			}
		}
		if len(group) > 1 {
			inOrder, r := true, before
			for _, x := range group {
				r = r.Add(bilDec(t, "amount", x["amount"]))
				inOrder = inOrder && r.Equal(bilDec(t, "balance_after", x["balance_after"]))
			}
			msg := fmt.Sprintf("%d ledger entries share created_at %v; listed in write order: %v", len(group), group[0]["created_at"], inOrder)
			if !inOrder && bilStrictLedgerOrder {
				t.Error(msg)
			} else if !inOrder {
				t.Log("KNOWN BUG (ledger order within a millisecond): " + msg)
			}
		}
		i = j
	}
	if bal := e.bilBalance(t, cust); !bal.Equal(run) {
		t.Errorf("balance %s, ledger sums to %s", bal, run)
	}
	return run
}

// bilUsageRows returns GET /v1/usage rows keyed "date direction".
func (e *scEnv) bilUsageRows(t *testing.T, query string) map[string]map[string]any {
	t.Helper()
	out := map[string]map[string]any{}
	for _, x := range scDo(t, e.l, "GET", "/v1/usage?"+query, nil, 200)["data"].([]any) {
		r := x.(map[string]any)
		out[scStr(r["date"])+" "+scStr(r["direction"])] = r
	}
	return out
}

// bilCheckUsage compares GET /v1/usage for the customer with its calls: per
// UTC day of the end and direction, the number of calls, billable minutes
// and cost.
func (e *scEnv) bilCheckUsage(t *testing.T, cust string, calls []map[string]any) {
	t.Helper()
	type agg struct {
		calls    int
		billable int64
		cost     decimal.Decimal
	}
	want := map[string]*agg{}
	days := map[string]bool{}
	for _, c := range calls {
		day := scStr(c["ended_at"])[:10]
		days[day] = true
		k := day + " " + scStr(c["direction"])
		if want[k] == nil {
			want[k] = &agg{}
		}
		want[k].calls++
		want[k].billable += int64(scNum(c["billable_seconds"]))
		want[k].cost = want[k].cost.Add(bilDec(t, "price", c["price"]))
	}
	check := func(query, day string) {
		got := e.bilUsageRows(t, query)
		for k, w := range want {
			if day != "" && !strings.HasPrefix(k, day+" ") {
				continue
			}
			r := got[k]
			if r == nil {
				t.Errorf("usage %s: no row %s (have %v)", query, k, got)
				continue
			}
			mins := decimal.NewFromInt(w.billable).DivRound(decimal.NewFromInt(60), 4)
			if scNum(r["calls"]) != w.calls || !bilDec(t, "cost", r["cost"]).Equal(w.cost) ||
				!bilDec(t, "billable_minutes", r["billable_minutes"]).Equal(mins) || r["currency"] != "EUR" {
				t.Errorf("usage %s row %s = %v, want %d calls, %s minutes, cost %s EUR", query, k, r, w.calls, mins, w.cost)
			}
		}
		for k := range got {
			if want[k] == nil {
				t.Errorf("usage %s has an unexpected row %s: %v", query, k, got[k])
			}
		}
	}
	check("customer_id="+cust, "")
	for day := range days {
		check("customer_id="+cust+"&from="+day+"&to="+day, day)
	}
}

// TestBillingPricedCalls: answered calls of a known length are priced
// exactly (outbound at 0.60/min + 0.05 on 30/6, inbound at 0.012/min on
// 6/6), an unanswered call costs nothing and is not charged, each charge is
// one ledger entry, the balance moves by exactly the bilCharges, and GET
// /v1/usage reports the calls (shown by: issue 6, items 1 and 7).
func TestBillingPricedCalls(t *testing.T) {
	bilBackends(t, func(t *testing.T, backend string) {
		e := bilStart(t, backend)
		out := bilRate{prefix: "1555", ppm: "0.60", fee: "0.05", i: 30, s: 6}
		in := bilRate{direction: "inbound", prefix: "1555", ppm: "0.012", i: 6, s: 6}
		const did = "+15558880002"
		c := e.bilCustomer(t, bilOpts{credit: "10", rates: []bilRate{out, in}, dids: []string{did},
			answer: `[{"action":"pause","length":3},{"action":"hangup"}]`})
		credit := decimal.RequireFromString("10")

		// Outbound, answered: 3 s of pause, then the platform hangs up.
		id := e.bilPlaced(t, c, "+15551110000", nil)
		call := scWaitCall(t, e.l, id)
		scCheckCall(t, call, "completed", "normal_clearing", "caller", 200, true)
		if d := scNum(call["duration"]); d < 3 || d > 6 {
			t.Errorf("duration %d s for a 3 s pause", d)
		}
		led := e.bilLedger(t, c.id)
		p1 := e.bilCheckPriced(t, call, out, led)
		if !p1.Equal(decimal.RequireFromString("0.35")) {
			t.Errorf("a call of %v s on 30/6 should bill 30 s for 0.35, got %s", call["duration"], p1)
		}
		// The API renders the 6-decimal price as shopspring's canonical string.
		t.Logf("price rendered as %q (6-decimal form %q)", call["price"], p1.StringFixed(6))
		if len(led) != 2 {
			t.Errorf("ledger has %d entries, want the credit and one call_charge: %v", len(led), led)
		}
		ch := bilCharges(t, led)[id]
		if ba := bilDec(t, "balance_after", ch["balance_after"]); !ba.Equal(credit.Sub(p1)) {
			t.Errorf("charge balance_after %s, want %s", ba, credit.Sub(p1))
		}
		if bal := e.bilBalance(t, c.id); !bal.Equal(credit.Sub(p1)) {
			t.Errorf("balance %s after one call of %s, want %s", bal, p1, credit.Sub(p1))
		}

		// Outbound, busy: never answered, so 0 s, price 0 and no charge.
		busy := scWaitCall(t, e.l, e.bilPlaced(t, c, "+15551110486", nil))
		if busy["status"] != "busy" || scNum(busy["billable_seconds"]) != 0 || !bilDec(t, "price", busy["price"]).IsZero() {
			t.Errorf("busy call %v: want 0 billable seconds at price 0", busy)
		}
		e.bilCheckPriced(t, busy, out, e.bilLedger(t, c.id))

		// Inbound, answered by the platform; it hangs up after the pause.
		inCall := e.bilInboundAccepted(t, c, did, 0)
		scCheckCall(t, inCall, "completed", "normal_clearing", "callee", 200, true)
		led = e.bilLedger(t, c.id)
		p3 := e.bilCheckPriced(t, inCall, in, led)
		if len(led) != 3 {
			t.Errorf("ledger has %d entries, want the credit and two call_charges", len(led))
		}
		if bal := e.bilCheckLedgerChain(t, c.id, led); !bal.Equal(credit.Sub(p1).Sub(p3)) {
			t.Errorf("balance %s, want 10 - %s - %s", bal, p1, p3)
		}
		e.bilCheckUsage(t, c.id, []map[string]any{call, busy, inCall})
	})
}

// TestBillingRefusals: each limit refuses a call through POST /v1/calls
// (status, code, Retry-After) and an inbound INVITE from the simulator (SIP
// 403 or 503, with Retry-After where it applies); the POST leaves no call
// record, the INVITE a failed call of the customer saying why; once the limit is lifted the same DID is answered, so the refusal
// was the limit's (shown by: issue 6, item 2).
func TestBillingRefusals(t *testing.T) {
	bilBackends(t, func(t *testing.T, backend string) {
		e := bilStart(t, backend)
		sipAddr := e.l.p.SIP.Addr().String()
		both := func(ppm, fee string, i, s int) []bilRate {
			return []bilRate{{prefix: "1555", ppm: ppm, fee: fee, i: i, s: s},
				{direction: "inbound", prefix: "1555", ppm: ppm, fee: fee, i: i, s: s}}
		}

		t.Run("no_rate", func(t *testing.T) {
			t.Parallel()
			// Neither the customer's deck (1555) nor the default deck (1)
			// prices +44.
			const did = "+442079460002"
			c := e.bilCustomer(t, bilOpts{credit: "10", rates: both("0.01", "0", 1, 1), dids: []string{did}})
			e.bilRefused(t, c, "+447700900100", 403, "destination_not_allowed", bilNoRetryAfter)
			e.bilInboundRefused(t, c, did, 403, "destination_not_allowed")
			scDo(t, e.l, "POST", "/v1/rates", bilRate{direction: "inbound", prefix: "44", ppm: "0.01", i: 1, s: 1}.body(c.id), 201)
			e.bilInboundAccepted(t, c, did, 0)
		})

		t.Run("blocked_prefixes", func(t *testing.T) {
			t.Parallel()
			const did = "+15551200002"
			c := e.bilCustomer(t, bilOpts{credit: "10", rates: both("0.01", "0", 1, 1), dids: []string{did},
				fields: map[string]any{"blocked_prefixes": []string{"15551"}}})
			e.bilRefused(t, c, "+15551200000", 403, "destination_not_allowed", bilNoRetryAfter)
			e.bilInboundRefused(t, c, did, 403, "destination_not_allowed")
			scDo(t, e.l, "PATCH", "/v1/customers/"+c.id, map[string]any{"blocked_prefixes": []string{}}, 200)
			e.bilInboundAccepted(t, c, did, 0)
		})

		t.Run("max_rate_per_minute", func(t *testing.T) {
			t.Parallel()
			const did = "+15551210002"
			c := e.bilCustomer(t, bilOpts{credit: "10", rates: both("0.60", "0", 1, 1), dids: []string{did},
				fields: map[string]any{"max_rate_per_minute": "0.599999"}})
			e.bilRefused(t, c, "+15551210000", 403, "destination_not_allowed", bilNoRetryAfter)
			e.bilInboundRefused(t, c, did, 403, "destination_not_allowed")
			scDo(t, e.l, "PATCH", "/v1/customers/"+c.id, map[string]any{"max_rate_per_minute": "0.60"}, 200)
			e.bilInboundAccepted(t, c, did, 0)
		})

		t.Run("insufficient_balance", func(t *testing.T) {
			t.Parallel()
			// The first increment costs 0.05 + 30 s at 0.60/min = 0.35.
			const did = "+15551220002"
			c := e.bilCustomer(t, bilOpts{credit: "0.349999", rates: both("0.60", "0.05", 30, 6), dids: []string{did}})
			e.bilRefused(t, c, "+15551220000", 402, "insufficient_balance", bilNoRetryAfter)
			e.bilInboundRefused(t, c, did, 403, "insufficient_balance")
			scDo(t, e.l, "POST", "/v1/customers/"+c.id+"/credits", map[string]any{"amount": "0.000001"}, 201)
			e.bilInboundAccepted(t, c, did, 0)
		})

		t.Run("daily_spend_limit", func(t *testing.T) {
			t.Parallel()
			// One paid call today (0.35), then the next one's first
			// increment (0.35) would take the day past 0.40.
			const did = "+15551230002"
			rates := both("0.60", "0.05", 30, 6)
			c := e.bilCustomer(t, bilOpts{credit: "10", rates: rates, dids: []string{did},
				fields: map[string]any{"daily_spend_limit": "0.40"}, answer: `[{"action":"pause","length":1},{"action":"hangup"}]`})
			paid := scWaitCall(t, e.l, e.bilPlaced(t, c, "+15551230000", nil))
			if p := e.bilCheckPriced(t, paid, rates[0], e.bilLedger(t, c.id)); !p.Equal(decimal.RequireFromString("0.35")) {
				t.Fatalf("the first call cost %s, want 0.35", p)
			}
			now := time.Now().UTC()
			midnight := time.Date(now.Year(), now.Month(), now.Day()+1, 0, 0, 0, 0, time.UTC)
			a := e.bilRefused(t, c, "+15551230001", 429, "daily_spend_limit", bilAnyRetryAfter)
			ra, _ := strconv.Atoi(a.header.Get("Retry-After"))
			if want := int(midnight.Sub(now).Seconds()); ra < want-5 || ra > want+5 {
				t.Errorf("daily_spend_limit Retry-After %d, want about %d (seconds to 00:00 UTC)", ra, want)
			}
			e.bilInboundRefused(t, c, did, 403, "daily_spend_limit")
			if r := bilRawInvite(t, sipAddr, did); r.status != 403 {
				t.Errorf("raw INVITE: %d, want 403", r.status)
			} else {
				t.Logf("inbound daily_spend_limit refusal: 403, Retry-After %q", r.headers["retry-after"])
			}
			if n := e.bilAnsweredInbound(t, c.id); n != 0 {
				t.Errorf("%d inbound calls not refused after refusals", n)
			}
			scDo(t, e.l, "PATCH", "/v1/customers/"+c.id, map[string]any{"daily_spend_limit": "0.70"}, 200)
			e.bilInboundAccepted(t, c, did, 0)
		})

		t.Run("max_concurrent_calls", func(t *testing.T) {
			t.Parallel()
			const did = "+15551240002"
			c := e.bilCustomer(t, bilOpts{credit: "10", rates: both("0.01", "0", 1, 1), dids: []string{did},
				fields: map[string]any{"max_concurrent_calls": 1}})
			// One call that rings until hung up holds the only slot.
			held := e.bilPlaced(t, c, "+15551240408", map[string]any{"timeout": 30})
			scWaitStatus(t, e.l, held, "ringing")
			e.bilRefused(t, c, "+15551240000", 429, "concurrency_limit", 5)
			e.bilInboundRefused(t, c, did, 503, "concurrency_limit")
			r := bilRawInvite(t, sipAddr, did)
			if r.status != 503 || r.headers["retry-after"] != "5" {
				t.Errorf("raw INVITE at max_concurrent_calls: %d with Retry-After %q, want 503 with 5", r.status, r.headers["retry-after"])
			}
			if n := e.bilAnsweredInbound(t, c.id); n != 0 {
				t.Errorf("%d inbound calls not refused after refusals", n)
			}
			scDo(t, e.l, "POST", "/v1/calls/"+held+"/hangup", nil, 200)
			if h := scWaitCall(t, e.l, held); h["status"] != "canceled" || !bilDec(t, "price", h["price"]).IsZero() {
				t.Errorf("held call after hangup: %v", h)
			}
			e.bilWaitSlot(t, did)
		})

		t.Run("max_cps", func(t *testing.T) {
			t.Parallel()
			// max_cps 1: a token a second, a burst of one. Each probe comes
			// right after a call that took the token.
			const did = "+15551250002"
			c := e.bilCustomer(t, bilOpts{credit: "10", rates: both("0.01", "0", 1, 1), dids: []string{did},
				fields: map[string]any{"max_cps": 1}})
			take := func(n int) {
				time.Sleep(1100 * time.Millisecond) // a full bucket
				e.bilPlaced(t, c, fmt.Sprintf("+155512%d0486", 50+n), nil)
			}
			take(0)
			e.bilRefused(t, c, "+15551250000", 429, "cps_limit", 1)
			take(1)
			r := bilRawInvite(t, sipAddr, did)
			if r.status != 503 || r.headers["retry-after"] != "1" {
				t.Errorf("raw INVITE over max_cps: %d with Retry-After %q, want 503 with 1", r.status, r.headers["retry-after"])
			}
			take(2)
			e.bilInboundRefused(t, c, did, 503, "cps_limit")
			if n := e.bilAnsweredInbound(t, c.id); n != 0 {
				t.Errorf("%d inbound calls not refused after refusals", n)
			}
			time.Sleep(1100 * time.Millisecond)
			e.bilInboundAccepted(t, c, did, 0)
		})
	})
}

// bilWaitSlot has the simulator call did until it is answered: the slot of a
// call that ended is released as the call's goroutine returns, a moment
// after its final state is written, so a 503 is retried for a few seconds.
func (e *scEnv) bilWaitSlot(t *testing.T, did string) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for {
		rep := e.bilInbound(t, did, 0)
		if rep.SIPStatus == 200 {
			return
		}
		if rep.SIPStatus != 503 || time.Now().After(deadline) {
			t.Fatalf("INVITE after the customer's only call ended: %d %s", rep.SIPStatus, rep.SIPReason)
		}
		t.Logf("INVITE refused %d just after the call ended; retrying", rep.SIPStatus)
		time.Sleep(100 * time.Millisecond)
	}
}

// TestBillingCutAtBalance: an answered call that would outlast the balance
// is hung up by the platform at the end of the last increment the balance
// (plus credit limit) can pay, with hangup_cause insufficient_balance and
// source system, and the charge overdraws by at most one increment (shown
// by: issue 6, item 3).
func TestBillingCutAtBalance(t *testing.T) {
	t.Parallel()
	e := bilStart(t, "sqlite")
	long := `[{"action":"pause","length":60}]`
	cases := []struct {
		name                string
		credit, creditLimit string
		rate                bilRate
		inbound             bool
		affordable          int // seconds the balance pays for
	}{
		// 0.07 at 0.01/s on 1/1: 7 s.
		{name: "outbound_1_1", credit: "0.07", creditLimit: "0", rate: bilRate{prefix: "15551", ppm: "0.60", i: 1, s: 1}, affordable: 7},
		// 0.03 + a credit limit of 0.04 pays the same 7 s.
		{name: "outbound_credit_limit", credit: "0.03", creditLimit: "0.04", rate: bilRate{prefix: "15552", ppm: "0.60", i: 1, s: 1}, affordable: 7},
		// 0.08 on 6/6 with a 0.01 fee: 6 s cost 0.07, 12 s would cost 0.13.
		{name: "outbound_6_6", credit: "0.08", creditLimit: "0", rate: bilRate{prefix: "15553", ppm: "0.60", fee: "0.01", i: 6, s: 6}, affordable: 6},
		// Inbound, 0.05 at 0.01/s: 5 s.
		{name: "inbound_1_1", credit: "0.05", creditLimit: "0", rate: bilRate{direction: "inbound", prefix: "15554", ppm: "0.60", i: 1, s: 1},
			inbound: true, affordable: 5},
	}
	for i, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			number := fmt.Sprintf("+1555%d600000", i+1)
			var dids []string
			if tc.inbound {
				number = fmt.Sprintf("+1555%d600002", i+1)
				dids = []string{number}
			}
			c := e.bilCustomer(t, bilOpts{credit: tc.credit, rates: []bilRate{tc.rate}, answer: long, dids: dids,
				fields: map[string]any{"credit_limit": tc.creditLimit}})
			var call map[string]any
			if tc.inbound {
				call = e.bilInboundAccepted(t, c, number, 0)
			} else {
				call = scWaitCall(t, e.l, e.bilPlaced(t, c, number, map[string]any{"time_limit": 30}))
			}
			if call["status"] != "completed" || scStr(call["hangup_cause"]) != "insufficient_balance" || scStr(call["hangup_source"]) != "system" {
				t.Errorf("call ended %v/%v/%v, want completed/insufficient_balance/system", call["status"], call["hangup_cause"], call["hangup_source"])
			}
			d := scNum(call["duration"])
			if d < tc.affordable-1 || d > tc.affordable+1 {
				t.Errorf("duration %d s, want about the %d s the balance pays for", d, tc.affordable)
			} else if d != tc.affordable {
				t.Logf("duration %d s, not exactly the %d s affordable", d, tc.affordable)
			}
			led := e.bilLedger(t, c.id)
			price := e.bilCheckPriced(t, call, tc.rate, led)
			bal := e.bilCheckLedgerChain(t, c.id, led)
			_, step := tc.rate.price(tc.rate.i+tc.rate.s, true)
			_, first := tc.rate.price(tc.rate.i, true)
			increment := step.Sub(first)
			floor := decimal.RequireFromString(tc.creditLimit).Neg().Sub(increment)
			t.Logf("charged %s; balance %s (floor %s: -credit_limit - one increment)", price, bal, floor)
			if bal.LessThan(floor) {
				t.Errorf("balance %s overdraws the credit limit %s by more than one increment (%s)", bal, tc.creditLimit, increment)
			}
		})
	}
}

// TestBillingConcurrentCalls: 50 simultaneous POST /v1/calls against
// max_concurrent_calls 5 place exactly 5 calls, which hold their slots while
// they ring; the 45 others get 429 concurrency_limit with Retry-After 5 and
// leave no record. After the 5 are hung up a new call is admitted (shown by:
// issue 6, item 4).
func TestBillingConcurrentCalls(t *testing.T) {
	t.Parallel()
	e := bilStart(t, "sqlite")
	c := e.bilCustomer(t, bilOpts{credit: "100", rates: []bilRate{{prefix: "1555", ppm: "0.60", i: 6, s: 6}},
		fields: map[string]any{"max_concurrent_calls": 5, "max_cps": 1000}})
	const n = 50
	answers := make([]bilAnswer, n)
	var wg sync.WaitGroup
	start := make(chan struct{})
	for i := range n {
		wg.Go(func() {
			<-start
			body, _ := json.Marshal(map[string]any{"to": fmt.Sprintf("+155517%02d0408", i), "from": scCaller,
				"application_id": c.app, "timeout": 30})
			req, _ := http.NewRequest("POST", e.l.api+"/v1/calls", bytes.NewReader(body))
			req.Header.Set("Authorization", "Bearer "+e.l.key)
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				answers[i] = bilAnswer{status: -1, raw: []byte(err.Error())}
				return
			}
			defer resp.Body.Close()
			raw, _ := io.ReadAll(resp.Body)
			a := bilAnswer{status: resp.StatusCode, header: resp.Header, raw: raw}
			_ = json.Unmarshal(raw, &a.body)
			answers[i] = a
		})
	}
	close(start)
	wg.Wait()
	var placed []string
	limited := 0
	for _, a := range answers {
		switch {
		case a.status == 201:
			placed = append(placed, a.body["id"].(string))
		case a.status == 429 && a.code() == "concurrency_limit" && a.header.Get("Retry-After") == "5":
			limited++
		default:
			t.Errorf("unexpected answer %d (Retry-After %q): %s", a.status, a.header.Get("Retry-After"), a.raw)
		}
	}
	if len(placed) != 5 || limited != 45 {
		t.Fatalf("%d placed and %d refused with concurrency_limit, want 5 and 45", len(placed), limited)
	}
	if calls := scCalls(t, e.l, "limit=200&customer_id="+c.id); len(calls) != 5 {
		t.Fatalf("%d call records, want 5", len(calls))
	}
	for _, id := range placed {
		scWaitStatus(t, e.l, id, "ringing")
	}
	// Still full while they ring.
	e.bilRefused(t, c, "+15551800408", 429, "concurrency_limit", 5)
	for _, id := range placed {
		scDo(t, e.l, "POST", "/v1/calls/"+id+"/hangup", nil, 200)
	}
	for _, id := range placed {
		if call := scWaitCall(t, e.l, id); call["status"] != "canceled" || scStr(call["hangup_source"]) != "api" {
			t.Errorf("call %s after hangup: %v", id, call)
		}
	}
	// The slots are free again (released as each call's goroutine returns,
	// just after its final state is written).
	var again bilAnswer
	deadline := time.Now().Add(5 * time.Second)
	for {
		again = e.bilPlace(t, c, "+15551810408", map[string]any{"timeout": 30})
		if again.status != 429 || time.Now().After(deadline) {
			break
		}
		t.Logf("new call refused %s just after the 5 ended; retrying", again.code())
		time.Sleep(100 * time.Millisecond)
	}
	if again.status != 201 {
		t.Fatalf("after hanging up every call: %d %s", again.status, again.raw)
	}
	id := again.body["id"].(string)
	scWaitStatus(t, e.l, id, "ringing")
	scDo(t, e.l, "POST", "/v1/calls/"+id+"/hangup", nil, 200)
	scWaitCall(t, e.l, id)
	// Unanswered calls cost nothing: the ledger is the credit alone.
	if led := e.bilLedger(t, c.id); len(led) != 1 {
		t.Errorf("ledger has %d entries, want only the credit: %v", len(led), led)
	}
}

// TestBillingLedgerProperty: after a random sequence (seeded; the seed is
// logged, MINIVOICE_TEST_SEED replays it) of credits, adjustments and a few
// real paid calls, the ledger read through every page sums exactly to the
// customer's balance, each entry's balance_after is the running sum, and
// every entry is the one that was made (shown by: issue 6, item 5).
func TestBillingLedgerProperty(t *testing.T) {
	bilBackends(t, func(t *testing.T, backend string) {
		seed := uint64(time.Now().UnixNano())
		if s := os.Getenv("MINIVOICE_TEST_SEED"); s != "" {
			seed, _ = strconv.ParseUint(s, 10, 64)
		}
		t.Logf("seed %d (MINIVOICE_TEST_SEED=%d replays it)", seed, seed)
		rng := mrand.New(mrand.NewPCG(seed, 6))
		e := bilStart(t, backend)
		// An awkward rate so that the prices round: 0.0137/min, fee 0.01, 1/1.
		rate := bilRate{prefix: "1555", ppm: "0.0137", fee: "0.01", i: 1, s: 1}
		c := e.bilCustomer(t, bilOpts{rates: []bilRate{rate}, answer: `[{"action":"pause","length":1},{"action":"hangup"}]`})

		// money is a random amount in (0, max] with up to 6 decimals.
		money := func(max int64) decimal.Decimal {
			return decimal.New(rng.Int64N(max*1000000)+1, -6)
		}
		type op struct{ kind, amount string }
		var made []op
		want := decimal.Zero
		var calls []string
		const steps, callsWanted = 24, 3
		for i := range steps {
			k := rng.IntN(10)
			if want.LessThan(decimal.NewFromInt(2)) {
				k = 0 // keep enough for a call
			}
			left := steps - i
			if len(calls) < callsWanted && (left <= callsWanted-len(calls) || k >= 8) && want.GreaterThanOrEqual(decimal.NewFromInt(1)) {
				k = 9
			}
			switch {
			case k < 5: // a credit
				a := money(50)
				scDo(t, e.l, "POST", "/v1/customers/"+c.id+"/credits", map[string]any{"amount": a.String(), "description": fmt.Sprintf("step %d", i)}, 201)
				made, want = append(made, op{"credit", a.String()}), want.Add(a)
			case k < 8 || len(calls) >= callsWanted: // an adjustment, either way
				a := money(5)
				if rng.IntN(2) == 0 && want.Sub(a).GreaterThan(decimal.NewFromInt(1)) {
					a = a.Neg()
				}
				scDo(t, e.l, "POST", "/v1/customers/"+c.id+"/credits", map[string]any{"amount": a.String(), "kind": "adjustment"}, 201)
				made, want = append(made, op{"adjustment", a.String()}), want.Add(a)
			default: // a real call, to its end
				id := e.bilPlaced(t, c, fmt.Sprintf("+155519%04d", len(calls)), nil)
				call := scWaitCall(t, e.l, id)
				if call["status"] != "completed" {
					t.Fatalf("paid call %v", call)
				}
				_, p := rate.price(scNum(call["duration"]), true)
				calls = append(calls, id)
				made, want = append(made, op{"call_charge", p.Neg().String()}), want.Sub(p)
			}
		}
		t.Logf("%d operations, %d of them calls; expected balance %s", len(made), len(calls), want)

		led := e.bilLedger(t, c.id)
		if len(led) != len(made) {
			t.Fatalf("ledger has %d entries, want %d", len(led), len(made))
		}
		// Sum, chain and balance.
		sum := decimal.Zero
		for _, x := range led {
			sum = sum.Add(bilDec(t, "amount", x["amount"]))
		}
		bal := e.bilCheckLedgerChain(t, c.id, led)
		if !sum.Equal(bal) || !bal.Equal(want) {
			t.Errorf("ledger sums to %s, balance %s, expected %s", sum, bal, want)
		}
		// Every entry is one that was made, oldest first (within one
		// millisecond in any order unless bilStrictLedgerOrder).
		var got, wantOps []string
		for i, m := range made {
			x := led[len(led)-1-i]
			g := fmt.Sprintf("%v %s", x["kind"], bilDec(t, "amount", x["amount"]))
			w := fmt.Sprintf("%s %s", m.kind, decimal.RequireFromString(m.amount))
			got, wantOps = append(got, g), append(wantOps, w)
			if g != w && bilStrictLedgerOrder {
				t.Errorf("entry %d is %s, want %s", i, g, w)
			}
		}
		slices.Sort(got)
		slices.Sort(wantOps)
		if !slices.Equal(got, wantOps) {
			t.Errorf("ledger entries %v, want %v", got, wantOps)
		}
		// Each call's charge is its price.
		ch := bilCharges(t, led)
		for _, id := range calls {
			call := scDo(t, e.l, "GET", "/v1/calls/"+id, nil, 200)
			e.bilCheckPriced(t, call, rate, led)
			if ch[id] == nil {
				t.Errorf("call %s has no charge", id)
			}
		}
	})
}

// TestBillingDialChild: a dial child is a call of its own, rated on its own
// rate and charged on its own ledger entry, while the parent keeps its own
// charge; a dial target the customer may not call is skipped without a
// call record (shown by: issue 6, item 6).
func TestBillingDialChild(t *testing.T) {
	t.Parallel()
	e := bilStart(t, "sqlite")
	parentRate := bilRate{prefix: "15553", ppm: "1.20", fee: "0.02", i: 1, s: 1}
	childRate := bilRate{prefix: "15554", ppm: "0.60", fee: "0.01", i: 6, s: 6}

	t.Run("rated_on_its_own", func(t *testing.T) {
		t.Parallel()
		// The parent's callee answers and stays; the child (0999) answers and
		// hangs up after 2 s, then the parent hangs up.
		c := e.bilCustomer(t, bilOpts{credit: "10", rates: []bilRate{parentRate, childRate},
			answer: `[{"action":"dial","to":"+15554000999","timeout":20},{"action":"hangup"}]`})
		parent := scWaitCall(t, e.l, e.bilPlaced(t, c, "+15553000001", nil))
		scCheckCall(t, parent, "completed", "normal_clearing", "caller", 200, true)
		kids := ivChildren(t, e, scStr(parent["id"]))
		if len(kids) != 1 {
			t.Fatalf("%d children, want 1: %v", len(kids), kids)
		}
		child := kids[0]
		if child["status"] != "completed" || child["answered_at"] == nil {
			t.Fatalf("child %v", child)
		}
		led := e.bilLedger(t, c.id)
		pp := e.bilCheckPriced(t, parent, parentRate, led)
		cp := e.bilCheckPriced(t, child, childRate, led)
		if len(bilCharges(t, led)) != 2 || len(led) != 3 {
			t.Errorf("ledger %v: want the credit and one charge each for the parent and the child", led)
		}
		if bal := e.bilCheckLedgerChain(t, c.id, led); !bal.Equal(decimal.NewFromInt(10).Sub(pp).Sub(cp)) {
			t.Errorf("balance %s, want 10 - %s - %s", bal, pp, cp)
		}
		// Had the child been priced at the parent's rate it would cost more.
		if _, other := parentRate.price(scNum(child["duration"]), true); other.Equal(cp) {
			t.Errorf("child priced %s as if at the parent's rate", cp)
		}
		e.bilCheckUsage(t, c.id, []map[string]any{parent, child})
	})

	t.Run("refused_target_skipped", func(t *testing.T) {
		t.Parallel()
		// The dial's only target is blocked for the customer: no child call
		// is made, the dial fails and the parent continues and is charged.
		c := e.bilCustomer(t, bilOpts{credit: "10", rates: []bilRate{parentRate, childRate},
			fields: map[string]any{"blocked_prefixes": []string{"155549"}},
			answer: `[{"action":"dial","to":"+15554900000","timeout":10},{"action":"pause","length":1},{"action":"hangup"}]`})
		parent := scWaitCall(t, e.l, e.bilPlaced(t, c, "+15553100001", nil))
		scCheckCall(t, parent, "completed", "normal_clearing", "caller", 200, true)
		if kids := ivChildren(t, e, scStr(parent["id"])); len(kids) != 0 {
			t.Errorf("a refused dial target made child calls: %v", kids)
		}
		if calls := scCalls(t, e.l, "to="+url.QueryEscape("+15554900000")); len(calls) != 0 {
			t.Errorf("a refused dial target has call records: %v", calls)
		}
		led := e.bilLedger(t, c.id)
		e.bilCheckPriced(t, parent, parentRate, led)
		if len(led) != 2 {
			t.Errorf("ledger %v: want the credit and the parent's charge", led)
		}
	})
}

// TestBillingHangupRightAfterCreate: a call hung up through the API right
// after POST /v1/calls answered 201 stays canceled: it is not placed
// afterwards, not answered, not charged, and has one call.completed.
func TestBillingHangupRightAfterCreate(t *testing.T) {
	t.Parallel()
	// The carrier rings for 3 s, not 200 ms: on a loaded machine the
	// hangup request can come later than 200 ms after the create, and the
	// test is about a hangup before the answer.
	e := scStartConfig(t, "sqlite", stacktest.Config{SimAnswerDelay: 3 * time.Second})
	scDo(t, e.l, "POST", "/v1/trunks", map[string]any{"name": "sim-in", "direction": "inbound", "allowed_cidrs": []string{"127.0.0.1"}}, 201)
	c := e.bilCustomer(t, bilOpts{credit: "10", rates: []bilRate{{prefix: "1555", ppm: "0.60", i: 1, s: 1}},
		answer: `[{"action":"pause","length":2},{"action":"hangup"}]`})
	var ids []string
	for i := range 5 {
		id := e.bilPlaced(t, c, fmt.Sprintf("+155521%02d0000", i), nil)
		if h := scDo(t, e.l, "POST", "/v1/calls/"+id+"/hangup", nil, 200); scEnded(h["status"]) && h["status"] != "canceled" {
			t.Errorf("hangup answered %v", h)
		}
		ids = append(ids, id)
	}
	time.Sleep(5 * time.Second) // long enough for a call placed anyway to be answered and end
	for _, id := range ids {
		call := scWaitCall(t, e.l, id)
		names := scNames(scEvents(t, e.l, id))
		if call["status"] != "canceled" || call["answered_at"] != nil || strings.Count(names, "call.completed") != 1 {
			t.Errorf("call %s hung up at once: %v/%v/%v, price %v, events %s; want canceled by the api, unanswered, one call.completed",
				id, call["status"], call["hangup_cause"], call["hangup_source"], call["price"], names)
		}
	}
	if led := e.bilLedger(t, c.id); len(led) != 1 {
		t.Errorf("ledger has %d entries, want only the credit: calls hung up before they were placed were charged", len(led))
	}
}
