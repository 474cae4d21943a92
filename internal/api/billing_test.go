package api_test

// Admission through the API with a real billing.Gate (billing.md, api.md):
// every refusal of POST /v1/calls with its code, status and Retry-After, the
// order of the checks, and rate changes made through the API taking effect
// for the very next call (the Book reloads). No SIP: a fake call controller
// holds each admitted call's ticket until the call is hung up, as the engine
// holds it until the call ends, so the concurrency limit can be seen too.

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/minivoice/minivoice/internal/api"
	"github.com/minivoice/minivoice/internal/auth"
	"github.com/minivoice/minivoice/internal/billing"
	"github.com/minivoice/minivoice/internal/callctl"
	"github.com/minivoice/minivoice/internal/store/storetest"
	"github.com/minivoice/minivoice/internal/voice"
	"github.com/shopspring/decimal"
)

// blClock is the gate's clock: it stands still unless moved, so the CPS
// bucket refills only when a test says so and Retry-After is exact.
type blClock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *blClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *blClock) add(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}

// blCalls is a call controller that places nothing: it keeps each admitted
// call's ticket (its concurrency slot) until the call is hung up through the
// API, as the engine keeps it until the call ends.
type blCalls struct {
	mu      sync.Mutex
	tickets map[string]*billing.Ticket
}

func (f *blCalls) Accepting() bool { return true }

func (f *blCalls) PlaceCall(c *voice.Call, t *billing.Ticket) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if t == nil {
		return
	}
	f.tickets[c.ID] = t
}

func (f *blCalls) HasTrunk(context.Context, string) (bool, error) { return true, nil }

func (f *blCalls) Hangup(_ context.Context, c *voice.Call) (bool, error) {
	f.mu.Lock()
	t, ok := f.tickets[c.ID]
	delete(f.tickets, c.ID)
	f.mu.Unlock()
	if ok {
		t.Release()
	}
	return ok, nil
}

func (f *blCalls) ReplaceActions(context.Context, *voice.Call, []callctl.Action, json.RawMessage) (bool, error) {
	return false, nil
}

// ticket returns the ticket a call was admitted with.
func (f *blCalls) ticket(callID string) *billing.Ticket {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.tickets[callID]
}

// blBundle is an API server with billing: a Gate built from the test store
// the way the platform builds it.
type blBundle struct {
	*bundle
	clock *blClock
	calls *blCalls
	gate  *billing.Gate
}

func blSetup(t *testing.T, backend string) *blBundle {
	t.Helper()
	db := storetest.Open(t, backend, nil)
	book, err := billing.NewBook(context.Background(), db)
	if err != nil {
		t.Fatalf("book: %v", err)
	}
	clk := &blClock{now: time.Now().UTC()}
	gate := &billing.Gate{Store: db, Book: book, Admitter: billing.NewAdmitter(), Now: clk.Now}
	calls := &blCalls{tickets: map[string]*billing.Ticket{}}
	srv := api.New(api.Config{
		Store:            db,
		Auth:             auth.New(auth.Config{Store: db, OperatorKey: testOperatorKey}),
		AllowPrivateURLs: []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8")},
		Version:          "test",
		Calls:            calls,
		Billing:          gate,
	})
	ts := httptest.NewServer(srv)
	t.Cleanup(ts.Close)
	return &blBundle{bundle: &bundle{t: t, url: ts.URL, store: db, op: testOperatorKey}, clock: clk, calls: calls, gate: gate}
}

// blEach runs fn against a fresh billing server on every configured backend.
func blEach(t *testing.T, fn func(t *testing.T, b *blBundle)) {
	t.Helper()
	t.Parallel()
	storetest.Each(t, func(t *testing.T, backend string) { fn(t, blSetup(t, backend)) })
}

// customer creates a customer with fields (limits far above what a test
// needs unless given), credits it and returns its id and an application.
func (b *blBundle) customer(fields map[string]any, credit string) (cust, app string) {
	b.t.Helper()
	body := map[string]any{"name": "billing " + b.t.Name(), "max_cps": 10000, "max_concurrent_calls": 1000,
		"verified_caller_ids": []string{testCallerID}}
	for k, v := range fields {
		body[k] = v
	}
	cust = b.ok(201, "POST", "/v1/customers", b.op, body).str("id")
	if credit != "" {
		b.ok(201, "POST", "/v1/customers/"+cust+"/credits", b.op, map[string]any{"amount": credit, "description": "top-up"})
	}
	return cust, b.application(cust)
}

// rate creates a rate (outbound, 60/60 unless given) and returns its id.
func (b *blBundle) rate(fields map[string]any) string {
	b.t.Helper()
	body := map[string]any{"direction": "outbound", "initial_increment": 60, "subsequent_increment": 60}
	for k, v := range fields {
		body[k] = v
	}
	return b.ok(201, "POST", "/v1/rates", b.op, body).str("id")
}

// try asks for a call from app to to.
func (b *blBundle) try(app, to string) *response {
	b.t.Helper()
	return b.call("POST", "/v1/calls", b.op, map[string]any{"to": to, "from": "+15551230001", "application_id": app})
}

// admitted places a call that must be admitted and returns its id.
func (b *blBundle) admitted(app, to string) string {
	b.t.Helper()
	return b.want(b.try(app, to), 201, "").str("id")
}

// refused asks for a call that must be refused with status and code and a
// Retry-After of retryAfter (0: no header).
func (b *blBundle) refused(app, to string, status int, code string, retryAfter int) *response {
	b.t.Helper()
	r := b.want(b.try(app, to), status, code)
	got := r.Header.Get("Retry-After")
	if retryAfter == 0 && got != "" {
		b.t.Errorf("%s to %s: Retry-After %q on a refusal that has none", code, to, got)
	}
	if retryAfter != 0 && got != strconv.Itoa(retryAfter) {
		b.t.Errorf("%s to %s: Retry-After %q, want %d", code, to, got, retryAfter)
	}
	return r
}

// callCount is the number of call records of a customer.
func (b *blBundle) callCount(cust string) int {
	b.t.Helper()
	return len(b.ok(200, "GET", "/v1/calls?limit=200&customer_id="+cust, b.op, nil).data())
}

// ended hangs up a call the fake controller holds, which releases its
// ticket: its concurrency slot and its reservation, as the engine's final
// write of a call does (billing.md, Reservations).
func (b *blBundle) ended(callID string) {
	b.t.Helper()
	b.ok(200, "POST", "/v1/calls/"+callID+"/hangup", b.op, nil)
}

// charge writes a call_charge of amount for a call of the customer at at,
// as the engine writes it when the call ends.
func (b *blBundle) charge(cust, callID, amount string, at time.Time) {
	b.t.Helper()
	id := callID
	e := &voice.LedgerEntry{ID: voice.NewID(voice.PrefixLedger, at), CustomerID: cust, Amount: decimal.RequireFromString(amount).Neg(),
		Kind: voice.LedgerCallCharge, CallID: &id, Description: "test charge", CreatedAt: at}
	if err := b.store.AddLedgerEntry(context.Background(), e); err != nil {
		b.t.Fatalf("charge: %v", err)
	}
}

// TestBillingAdmissionRefusals: POST /v1/calls refuses each case of
// billing.md's admission table with api.md's status and code, with
// Retry-After exactly where it applies, and creates no call record.
func TestBillingAdmissionRefusals(t *testing.T) {
	blEach(t, func(t *testing.T, b *blBundle) {
		// The default deck prices +1 at nothing, so that "no rate" needs a
		// number outside it, and customer decks are seen to take precedence.
		b.rate(map[string]any{"prefix": "1", "price_per_minute": "0", "initial_increment": 1, "subsequent_increment": 1})

		t.Run("no_rate", func(t *testing.T) {
			cust, app := b.customer(nil, "10")
			b.rate(map[string]any{"customer_id": cust, "prefix": "1555", "price_per_minute": "0.60"})
			r := b.refused(app, "+447700900123", 403, "destination_not_allowed", 0)
			t.Logf("no rate: %s", r.Raw)
			// An inbound rate does not price an outbound call.
			b.rate(map[string]any{"customer_id": cust, "direction": "inbound", "prefix": "44", "price_per_minute": "0.01"})
			b.refused(app, "+447700900123", 403, "destination_not_allowed", 0)
			// Nor does an inactive one.
			b.rate(map[string]any{"customer_id": cust, "prefix": "447", "price_per_minute": "0.01", "status": "inactive"})
			b.refused(app, "+447700900123", 403, "destination_not_allowed", 0)
			if n := b.callCount(cust); n != 0 {
				t.Errorf("%d call records after refusals, want 0", n)
			}
		})

		t.Run("customer_deck_first", func(t *testing.T) {
			// The customer's 1555 rate (which it cannot pay) wins over the
			// free default deck; a number its deck does not match falls back
			// to the default deck.
			cust, app := b.customer(nil, "")
			b.rate(map[string]any{"customer_id": cust, "prefix": "1555", "price_per_minute": "0.60"})
			b.refused(app, "+15551230099", 402, "insufficient_balance", 0)
			b.admitted(app, "+15561230099")
			// Longest prefix within the customer's deck: a free 15551 rate
			// beats the 1555 one.
			b.rate(map[string]any{"customer_id": cust, "prefix": "15551", "price_per_minute": "0"})
			b.admitted(app, "+15551230099")
			b.refused(app, "+15559230099", 402, "insufficient_balance", 0)
			if n := b.callCount(cust); n != 2 {
				t.Errorf("%d call records, want the 2 admitted calls", n)
			}
		})

		t.Run("blocked_prefixes", func(t *testing.T) {
			cust, app := b.customer(map[string]any{"blocked_prefixes": []string{"1900", "4420"}}, "10")
			b.rate(map[string]any{"customer_id": cust, "prefix": "", "price_per_minute": "0.01"})
			b.refused(app, "+19005550100", 403, "destination_not_allowed", 0)
			b.refused(app, "+442071234567", 403, "destination_not_allowed", 0)
			b.admitted(app, "+19015550100")
			// Unblocking through PATCH takes effect at once.
			b.ok(200, "PATCH", "/v1/customers/"+cust, b.op, map[string]any{"blocked_prefixes": []string{"4420"}})
			b.admitted(app, "+19005550100")
			if n := b.callCount(cust); n != 2 {
				t.Errorf("%d call records, want the 2 admitted calls", n)
			}
		})

		t.Run("max_rate_per_minute", func(t *testing.T) {
			cust, app := b.customer(map[string]any{"max_rate_per_minute": "0.50"}, "10")
			b.rate(map[string]any{"customer_id": cust, "prefix": "1900", "price_per_minute": "0.500001"})
			b.rate(map[string]any{"customer_id": cust, "prefix": "1555", "price_per_minute": "0.50", "connection_fee": "1.00"})
			b.refused(app, "+19005550100", 403, "destination_not_allowed", 0)
			// Equal is allowed, and only the per-minute price is compared.
			b.admitted(app, "+15555550100")
			// 0 allows only free destinations (the default deck's +1 is not
			// reached: the customer deck matches +1900).
			b.ok(200, "PATCH", "/v1/customers/"+cust, b.op, map[string]any{"max_rate_per_minute": "0"})
			b.refused(app, "+15555550100", 403, "destination_not_allowed", 0)
			b.admitted(app, "+15565550100") // default deck, free
			if n := b.callCount(cust); n != 2 {
				t.Errorf("%d call records, want the 2 admitted calls", n)
			}
		})

		t.Run("insufficient_balance", func(t *testing.T) {
			// First increment: 0.05 + 30/60 * 0.60 = 0.35.
			cust, app := b.customer(nil, "0.349999")
			b.rate(map[string]any{"customer_id": cust, "prefix": "1555", "price_per_minute": "0.60", "connection_fee": "0.05",
				"initial_increment": 30, "subsequent_increment": 6})
			b.refused(app, "+15551230001", 402, "insufficient_balance", 0)
			if n := b.callCount(cust); n != 0 {
				t.Errorf("%d call records after a refusal, want 0", n)
			}
			// Exactly enough is enough.
			b.ok(201, "POST", "/v1/customers/"+cust+"/credits", b.op, map[string]any{"amount": "0.000001"})
			b.ended(b.admitted(app, "+15551230001")) // ended unanswered: its reservation is free again
			// The credit limit counts: balance -0.20 with a limit of 0.55 leaves 0.35.
			b.ok(201, "POST", "/v1/customers/"+cust+"/credits", b.op, map[string]any{"amount": "-0.55", "kind": "adjustment"})
			b.refused(app, "+15551230001", 402, "insufficient_balance", 0)
			b.ok(200, "PATCH", "/v1/customers/"+cust, b.op, map[string]any{"credit_limit": "0.549999"})
			b.refused(app, "+15551230001", 402, "insufficient_balance", 0)
			b.ok(200, "PATCH", "/v1/customers/"+cust, b.op, map[string]any{"credit_limit": "0.55"})
			b.admitted(app, "+15551230001")
			if n := b.callCount(cust); n != 2 {
				t.Errorf("%d call records, want the 2 admitted calls", n)
			}
		})

		t.Run("daily_spend_limit", func(t *testing.T) {
			cust, app := b.customer(map[string]any{"daily_spend_limit": "1.00"}, "100")
			b.rate(map[string]any{"customer_id": cust, "prefix": "1555", "price_per_minute": "0.60", "connection_fee": "0.05",
				"initial_increment": 30, "subsequent_increment": 6}) // first increment 0.35
			now := time.Now().UTC()
			// (A charge of yesterday not counting is TestCheckDailySpend's in
			// internal/billing: here the ledger's created_at only moves
			// forward per customer, so it cannot be backdated.)
			c1 := b.admitted(app, "+15551230001")
			b.charge(cust, c1, "0.30", now)
			b.ended(c1)
			c2 := b.admitted(app, "+15551230001") // 0.30 + 0.35 <= 1.00
			b.charge(cust, c2, "0.35", now)
			b.ended(c2)
			// Credits and adjustments are not spend: a refund does not raise
			// the allowance, a negative adjustment does not use it.
			b.ok(201, "POST", "/v1/customers/"+cust+"/credits", b.op, map[string]any{"amount": "-3", "kind": "adjustment"})
			b.ok(201, "POST", "/v1/customers/"+cust+"/credits", b.op, map[string]any{"amount": "0.50", "kind": "adjustment"})
			// 0.65 spent + 0.35 = 1.00: reaching the limit exactly is allowed.
			c3 := b.admitted(app, "+15551230001")
			b.charge(cust, c3, "0.000001", now)
			b.ended(c3)
			// 0.650001 + 0.35 > 1.00.
			next := billing.DayStart(b.clock.Now()).AddDate(0, 0, 1)
			wait := int((next.Sub(b.clock.Now()) + time.Second - 1) / time.Second)
			r := b.refused(app, "+15551230001", 429, "daily_spend_limit", wait)
			t.Logf("daily_spend_limit: Retry-After %s: %s", r.Header.Get("Retry-After"), r.Raw)
			// A destination whose first increment is free still fits.
			b.admitted(app, "+15561230001")
			if n := b.callCount(cust); n != 4 {
				t.Errorf("%d call records, want the 4 admitted calls", n)
			}
			// The next UTC day the allowance is back.
			b.clock.add(time.Duration(wait) * time.Second)
			b.admitted(app, "+15551230001")
		})

		t.Run("concurrency_limit", func(t *testing.T) {
			cust, app := b.customer(map[string]any{"max_concurrent_calls": 2}, "10")
			b.rate(map[string]any{"customer_id": cust, "prefix": "1555", "price_per_minute": "0.01"})
			a := b.admitted(app, "+15551230001")
			b.admitted(app, "+15551230002")
			r := b.refused(app, "+15551230003", 429, "concurrency_limit", 5)
			t.Logf("concurrency_limit: %s", r.Raw)
			if n := b.callCount(cust); n != 2 {
				t.Errorf("%d call records, want the 2 admitted calls", n)
			}
			// Hanging one up gives its slot back.
			b.ok(200, "POST", "/v1/calls/"+a+"/hangup", b.op, nil)
			b.admitted(app, "+15551230003")
			b.refused(app, "+15551230004", 429, "concurrency_limit", 5)
			// Raising the limit takes effect at once.
			b.ok(200, "PATCH", "/v1/customers/"+cust, b.op, map[string]any{"max_concurrent_calls": 3})
			b.admitted(app, "+15551230004")
		})

		t.Run("cps_limit", func(t *testing.T) {
			// The gate's clock stands still: the bucket (burst 2) refills
			// only when the test moves the clock.
			cust, app := b.customer(map[string]any{"max_cps": 2}, "10")
			b.rate(map[string]any{"customer_id": cust, "prefix": "1555", "price_per_minute": "0.01"})
			b.admitted(app, "+15551230001")
			b.admitted(app, "+15551230002")
			r := b.refused(app, "+15551230003", 429, "cps_limit", 1)
			t.Logf("cps_limit: %s", r.Raw)
			if n := b.callCount(cust); n != 2 {
				t.Errorf("%d call records, want the 2 admitted calls", n)
			}
			// Half a second gives one token back (2 per second).
			b.clock.add(500 * time.Millisecond)
			b.admitted(app, "+15551230003")
			b.refused(app, "+15551230004", 429, "cps_limit", 1)
			// A call refused for a permanent reason takes no token.
			b.clock.add(500 * time.Millisecond)
			b.refused(app, "+447700900123", 403, "destination_not_allowed", 0)
			b.admitted(app, "+15551230004")
		})

		t.Run("check_order", func(t *testing.T) {
			// A blocked destination the customer cannot pay for either is
			// refused for the destination (403), not the balance (402).
			cust, app := b.customer(map[string]any{"blocked_prefixes": []string{"1555"}, "max_concurrent_calls": 1}, "")
			b.rate(map[string]any{"customer_id": cust, "prefix": "", "price_per_minute": "0.60"})
			b.refused(app, "+15551230001", 403, "destination_not_allowed", 0)
			// Unpayable and the concurrency limit reached: 402 (a retry will
			// not help), and the slot is not taken by the refusal.
			b.rate(map[string]any{"customer_id": cust, "prefix": "1666", "price_per_minute": "0"})
			held := b.admitted(app, "+16661230001")
			b.refused(app, "+17771230001", 402, "insufficient_balance", 0)
			b.refused(app, "+16661230002", 429, "concurrency_limit", 5)
			b.ok(200, "POST", "/v1/calls/"+held+"/hangup", b.op, nil)
			b.admitted(app, "+16661230002")
			// A suspended customer is refused before anything else.
			b.ok(200, "PATCH", "/v1/customers/"+cust, b.op, map[string]any{"status": "suspended"})
			b.refused(app, "+15551230001", 403, "customer_suspended", 0)
		})
	})
}

// TestBillingRateChangesTakeEffect: rates created, updated, deleted and
// imported through the API price the very next call: the API reloads the
// gate's Book after each change.
func TestBillingRateChangesTakeEffect(t *testing.T) {
	blEach(t, func(t *testing.T, b *blBundle) {
		cust, app := b.customer(map[string]any{"max_rate_per_minute": "1.00"}, "0.50")
		const to = "+15551230001"
		b.refused(app, to, 403, "destination_not_allowed", 0)

		// Create.
		id := b.rate(map[string]any{"customer_id": cust, "prefix": "1555", "price_per_minute": "0.30"})
		call := b.admitted(app, to)
		if tk := b.calls.ticket(call); tk == nil || tk.Rate == nil || tk.Rate.ID != id {
			t.Errorf("call admitted with ticket %+v, want rate %s", tk, id)
		}

		// Update: dearer than the balance can start (60 s at 0.60 = 0.60 > 0.50).
		b.ok(200, "PATCH", "/v1/rates/"+id, b.op, map[string]any{"price_per_minute": "0.60"})
		b.refused(app, to, 402, "insufficient_balance", 0)
		// ... above max_rate_per_minute.
		b.ok(200, "PATCH", "/v1/rates/"+id, b.op, map[string]any{"price_per_minute": "1.20", "initial_increment": 1, "subsequent_increment": 1})
		b.refused(app, to, 403, "destination_not_allowed", 0)
		// ... affordable again with 1 s increments (0.01).
		b.ok(200, "PATCH", "/v1/rates/"+id, b.op, map[string]any{"price_per_minute": "0.60"})
		b.admitted(app, to)
		// ... a connection fee the balance cannot pay.
		b.ok(200, "PATCH", "/v1/rates/"+id, b.op, map[string]any{"connection_fee": "0.500001"})
		b.refused(app, to, 402, "insufficient_balance", 0)
		// ... inactive: as good as absent.
		b.ok(200, "PATCH", "/v1/rates/"+id, b.op, map[string]any{"connection_fee": "0", "status": "inactive"})
		b.refused(app, to, 403, "destination_not_allowed", 0)
		b.ok(200, "PATCH", "/v1/rates/"+id, b.op, map[string]any{"status": "active"})
		b.admitted(app, to)

		// Delete.
		b.ok(204, "DELETE", "/v1/rates/"+id, b.op, nil)
		b.refused(app, to, 403, "destination_not_allowed", 0)

		// Import a deck for the customer.
		b.want(b.importCSV("?customer_id="+cust, "prefix,price_per_minute,initial_increment,subsequent_increment,connection_fee,description\n"+
			"1555,0.06,1,1,0,US test\n44,0.02,1,1,,UK\n"), 200, "")
		tk := b.calls.ticket(b.admitted(app, to))
		if tk == nil || tk.Rate == nil || !tk.Rate.PricePerMinute.Equal(decimal.RequireFromString("0.06")) {
			t.Errorf("after import: ticket %+v, want the imported 0.06 rate", tk)
		}
		b.admitted(app, "+447700900123")
		// Re-import the deck without 44: the deck is replaced as a whole.
		b.want(b.importCSV("?customer_id="+cust, "1555,0.06,1,1\n"), 200, "")
		b.refused(app, "+447700900123", 403, "destination_not_allowed", 0)
		// ... with a price the balance cannot pay for one increment (60 s at 0.60).
		b.want(b.importCSV("?customer_id="+cust, "1555,0.60,60,60\n"), 200, "")
		b.refused(app, to, 402, "insufficient_balance", 0)

		// The default deck: imported, it prices another customer's calls.
		_, app2 := b.customer(nil, "1")
		b.refused(app2, "+33612345678", 403, "destination_not_allowed", 0)
		b.want(b.importCSV("", "33,0.10,1,1\n"), 200, "")
		b.admitted(app2, "+33612345678")
		// ... but not this customer's: its own deck matches +1555 only, so
		// +33 falls back to the default deck and is admitted too.
		b.admitted(app, "+33612345678")
	})
}

// TestBillingConcurrentAdmission: 50 simultaneous POST /v1/calls against
// max_concurrent_calls 5 admit exactly 5; the 45 others get 429
// concurrency_limit with Retry-After 5 and leave no call record.
func TestBillingConcurrentAdmission(t *testing.T) {
	blEach(t, func(t *testing.T, b *blBundle) {
		cust, app := b.customer(map[string]any{"max_concurrent_calls": 5, "max_cps": 1000}, "100")
		b.rate(map[string]any{"customer_id": cust, "prefix": "1555", "price_per_minute": "0.60", "initial_increment": 6, "subsequent_increment": 6})
		const n = 50
		var wg sync.WaitGroup
		results := make(chan *response, n)
		start := make(chan struct{})
		for i := range n {
			wg.Go(func() {
				<-start
				results <- blRaw(b.bundle, "POST", "/v1/calls", map[string]any{"to": fmt.Sprintf("+1555123%04d", i),
					"from": "+15551230001", "application_id": app})
			})
		}
		close(start)
		wg.Wait()
		close(results)
		created, limited := 0, 0
		for r := range results {
			switch {
			case r.Status == 201:
				created++
			case r.Status == 429 && r.errCode() == "concurrency_limit" && r.Header.Get("Retry-After") == "5":
				limited++
			default:
				t.Errorf("unexpected answer %d (Retry-After %q): %s", r.Status, r.Header.Get("Retry-After"), r.Raw)
			}
		}
		if created != 5 || limited != 45 {
			t.Fatalf("%d created and %d refused with concurrency_limit, want 5 and 45", created, limited)
		}
		calls := b.ok(200, "GET", "/v1/calls?limit=200&customer_id="+cust, b.op, nil).data()
		if len(calls) != 5 {
			t.Fatalf("%d call records, want 5", len(calls))
		}
		if live := b.gate.Admitter.Calls.Live(cust); live != 5 {
			t.Errorf("%d live slots, want 5", live)
		}
		for _, c := range calls {
			b.ok(200, "POST", "/v1/calls/"+c["id"].(string)+"/hangup", b.op, nil)
		}
		if live := b.gate.Admitter.Calls.Live(cust); live != 0 {
			t.Errorf("%d live slots after hanging every call up, want 0", live)
		}
		b.admitted(app, "+15551239999")
	})
}

// blRaw sends a request from any goroutine: failures are in the answer
// (Status -1) rather than on a test.
func blRaw(b *bundle, method, path string, body any) *response {
	j, _ := json.Marshal(body)
	req, err := http.NewRequest(method, b.url+path, bytes.NewReader(j))
	if err != nil {
		return &response{Status: -1, Raw: []byte(err.Error())}
	}
	req.Header.Set("Authorization", "Bearer "+b.op)
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return &response{Status: -1, Raw: []byte(err.Error())}
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	r := &response{Status: resp.StatusCode, Header: resp.Header, Raw: raw}
	_ = json.Unmarshal(raw, &r.JSON)
	return r
}

// TestBillingIdempotentRetryAfterLimit: a call refused for a transient limit
// (429 with Retry-After) and retried after it with the same Idempotency-Key,
// as a client retrying safely does, is placed: the refusal is not stored and
// replayed for 24 h, as server errors are not.
func TestBillingIdempotentRetryAfterLimit(t *testing.T) {
	blEach(t, func(t *testing.T, b *blBundle) {
		cust, app := b.customer(map[string]any{"max_concurrent_calls": 1}, "10")
		b.rate(map[string]any{"customer_id": cust, "prefix": "1555", "price_per_minute": "0.01"})
		held := b.admitted(app, "+15551230001")
		body := map[string]any{"to": "+15551230002", "from": "+15551230001", "application_id": app}
		r := b.want(b.call("POST", "/v1/calls", b.op, body, "Idempotency-Key: retry-1"), 429, "concurrency_limit")
		if r.Header.Get("Retry-After") != "5" {
			t.Errorf("Retry-After %q, want 5", r.Header.Get("Retry-After"))
		}
		b.ok(200, "POST", "/v1/calls/"+held+"/hangup", b.op, nil)
		// The slot is free: the same request with the same key is placed.
		r = b.call("POST", "/v1/calls", b.op, body, "Idempotency-Key: retry-1")
		if r.Status != 201 {
			t.Errorf("retry after the limit cleared, same Idempotency-Key: %d %s (Idempotent-Replayed %q, Retry-After %q), want 201",
				r.Status, r.errCode(), r.Header.Get("Idempotent-Replayed"), r.Header.Get("Retry-After"))
		}
	})
}
