package e2e

// Money that cannot be overdrawn (issue 14, billing.md "Reservations"): 50
// POST /v1/calls at once on a balance that pays for exactly 3 first
// increments, through the real API, engine and simulator, on SQLite and on
// PostgreSQL, and on PostgreSQL also split over two platform processes
// sharing one database. At most 3 are admitted, the rest get 402
// insufficient_balance, and the admitted calls are cut where the money ends:
// the final balance is never below minus one increment.

import (
	"bytes"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os/exec"
	"sync"
	"testing"
	"time"

	"github.com/minivoice/minivoice/internal/platform"
	"github.com/minivoice/minivoice/internal/stacktest"
	"github.com/minivoice/minivoice/internal/store/storetest"
	"github.com/shopspring/decimal"
)

// moneyRate is 0.60/min on 6/6: each increment costs 0.06, and 0.18 pays
// for exactly three first increments.
var moneyRate = bilRate{prefix: "1555", ppm: "0.60", i: 6, s: 6}

const (
	moneyCredit    = "0.18"
	moneyIncrement = "0.06"
	moneyCalls     = 50
)

// TestMoneyConcurrentCalls: one platform, each backend.
func TestMoneyConcurrentCalls(t *testing.T) {
	if testing.Short() {
		t.Skip("places real calls that run to their cut-off")
	}
	bilBackends(t, func(t *testing.T, backend string) {
		e := bilStart(t, backend)
		moneyRace(t, e, nil)
	})
}

// TestMoneyConcurrentCallsTwoProcesses: two platforms on one PostgreSQL
// schema (what two `minivoice serve` processes sharing a database are: two
// pools, two engines, two in-process limiters), the 50 requests split
// between their APIs.
func TestMoneyConcurrentCallsTwoProcesses(t *testing.T) {
	if testing.Short() {
		t.Skip("places real calls that run to their cut-off")
	}
	t.Parallel()
	if _, err := exec.LookPath("flite"); err != nil {
		t.Skip("flite is not installed")
	}
	u := storetest.SchemaURL(t) // skips without PostgreSQL
	// Processes sharing a database share the key its secrets are sealed
	// with (MINIVOICE_SECRET_KEY), as a real deployment must.
	var key [32]byte
	_, _ = rand.Read(key[:])
	secret := base64.StdEncoding.EncodeToString(key[:])
	a := moneyPlatform(t, u, secret, false)
	a.freeRates()
	h := &scHooks{routes: map[string]scRoute{}, reqs: map[string][]map[string]any{}}
	h.srv = httptest.NewServer(h)
	t.Cleanup(h.srv.Close)
	// The second process starts once the customer and its rates exist: a
	// process loads the rate deck at start and reloads it only on changes
	// made through its own API.
	moneyRace(t, &scEnv{l: a, sim: a.st.Sim, hooks: h}, func() *live { return moneyPlatform(t, u, secret, true) })
}

// moneyPlatform starts a platform on the PostgreSQL database at u with the
// secret key secret, and a simulator unless noSim; it adds no rates.
func moneyPlatform(t *testing.T, u, secret string, noSim bool) *live {
	t.Helper()
	return newLive(t, stacktest.Config{NoSim: noSim, SimAnswerDelay: 200 * time.Millisecond, Platform: func(pc *platform.Config) {
		pc.Serve.Database, pc.SecretKey = u, secret
	}})
}

// moneyRace places moneyCalls calls at once on a balance for three first
// increments, through e's platform and, when second is not nil, alternately
// through the platform it starts, and checks what was admitted, how the calls
// ended and what the balance came to.
func moneyRace(t *testing.T, e *scEnv, second func() *live) {
	t.Helper()
	// The customer owns the caller number it calls from.
	c := e.bilCustomer(t, bilOpts{credit: moneyCredit, rates: []bilRate{moneyRate}, answer: `[{"action":"pause","length":60}]`,
		dids: []string{scCaller}})
	platforms := []*live{e.l}
	if second != nil {
		platforms = append(platforms, second())
	}
	answers := make([]bilAnswer, moneyCalls)
	var wg sync.WaitGroup
	start := make(chan struct{})
	for i := range moneyCalls {
		l := platforms[i%len(platforms)]
		wg.Go(func() {
			<-start
			// Suffix 0000: the simulator answers and stays on the line.
			body, _ := json.Marshal(map[string]any{"to": fmt.Sprintf("+15551%02d0000", i), "from": scCaller,
				"application_id": c.app, "time_limit": 60})
			req, _ := http.NewRequest("POST", l.api+"/v1/calls", bytes.NewReader(body))
			req.Header.Set("Authorization", "Bearer "+l.key)
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
	began := time.Now()
	close(start)
	wg.Wait()
	t.Logf("%d POST /v1/calls answered in %v", moneyCalls, time.Since(began).Round(time.Millisecond))
	var placed []string
	refused := 0
	byPlatform := make([]int, len(platforms))
	for i, a := range answers {
		switch {
		case a.status == 201:
			placed = append(placed, a.body["id"].(string))
			byPlatform[i%len(platforms)]++
		case a.status == 402 && a.code() == "insufficient_balance":
			refused++
		default:
			t.Errorf("unexpected answer %d: %s", a.status, a.raw)
		}
	}
	t.Logf("%d calls admitted (per platform: %v), %d refused with 402 insufficient_balance", len(placed), byPlatform, refused)
	if len(placed) > 3 || len(placed)+refused != moneyCalls {
		t.Fatalf("%d admitted and %d refused, want at most 3 admitted and the rest refused", len(placed), refused)
	}
	if len(placed) < 3 {
		t.Errorf("only %d calls admitted where the balance pays for 3 first increments", len(placed))
	}
	if n := len(scCalls(t, e.l, "limit=200&direction=outbound&customer_id="+c.id)); n != len(placed) {
		t.Errorf("%d outbound call records, want the %d admitted", n, len(placed))
	}
	increment := decimal.RequireFromString(moneyIncrement)
	for _, id := range placed {
		call := scWaitCall(t, e.l, id)
		price := bilDec(t, "price", call["price"])
		t.Logf("call %s: %s, %s, %v s, price %s", id, call["status"], scStr(call["hangup_cause"]), call["duration"], price)
		// Each admitted call holds its first increment; no money is left
		// for a second, so each is cut at the end of its first.
		if call["status"] != "completed" || scStr(call["hangup_cause"]) != "insufficient_balance" {
			t.Errorf("call %s ended %v/%v, want completed/insufficient_balance", id, call["status"], call["hangup_cause"])
		}
		if price.GreaterThan(increment) {
			t.Errorf("call %s charged %s, more than the one increment it could reserve", id, price)
		}
	}
	bal := e.bilBalance(t, c.id)
	floor := increment.Neg()
	t.Logf("final balance %s (floor %s)", bal, floor)
	if bal.LessThan(floor) {
		t.Errorf("balance %s is below minus one increment (%s)", bal, floor)
	}
	e.bilCheckLedgerChain(t, c.id, e.bilLedger(t, c.id))
	// Nothing is held any more: a new call is admitted only if money is
	// left, and refused as insufficient_balance otherwise, never by a
	// reservation that outlived its call.
	if bal.GreaterThanOrEqual(increment) {
		id := e.bilPlaced(t, c, "+15551990408", nil)
		scDo(t, e.l, "POST", "/v1/calls/"+id+"/hangup", nil, 200)
		scWaitCall(t, e.l, id)
	}
}
