package billing_test

import (
	"errors"
	"fmt"
	"time"

	"github.com/minivoice/minivoice/internal/billing"
	"github.com/minivoice/minivoice/internal/voice"
	"github.com/shopspring/decimal"
)

func ExampleAdmitter_Admit() {
	admitter := billing.NewAdmitter() // one per process
	limit := decimal.RequireFromString("5")
	cust := &voice.Customer{ID: "cust_a", Status: voice.CustomerActive, Currency: "EUR",
		Balance: decimal.RequireFromString("1.00"), CreditLimit: decimal.Zero,
		MaxConcurrentCalls: 1, MaxCPS: 5, DailySpendLimit: &limit}
	rate := &voice.Rate{PricePerMinute: decimal.RequireFromString("0.60"), InitialIncrement: 60, SubsequentIncrement: 60,
		Currency: "EUR"}
	now := time.Date(2026, 3, 4, 12, 0, 0, 0, time.UTC)
	req := billing.Request{Customer: cust, Rate: rate, Digits: "442071234567", SpentToday: decimal.Zero, Now: now}
	release, verr := admitter.Admit(req)
	fmt.Println("first call:", verr == nil, "calls held here:", admitter.Calls.Live("cust_a"))
	release() // the call ended
	req.SpentToday = decimal.RequireFromString("4.50")
	_, verr = admitter.Admit(req)
	fmt.Println("after spending 4.50:", verr.Code, "Retry-After", verr.RetryAfter)
	status, reason := billing.SIPResponse(verr)
	fmt.Println("inbound answer:", status, reason)
	// Output:
	// first call: true calls held here: 1
	// after spending 4.50: daily_spend_limit Retry-After 43200
	// inbound answer: 403 Forbidden
}

func ExampleTrunkLimitError() {
	// What Gate.AdmitTrunk returns for a trunk at its limit, and how the
	// engine tells it from a database failure.
	var err error = &billing.TrunkLimitError{Limit: billing.ErrTrunkAtMaxChannels, Max: 30}
	if errors.Is(err, billing.ErrTrunkAtMaxChannels) || errors.Is(err, billing.ErrTrunkAtMaxCPS) {
		fmt.Printf("trunk %q was skipped: %v\n", "carrier", err)
	}
	// Output:
	// trunk "carrier" was skipped: at its max_channels (30)
}

func ExampleCheckDestination() {
	maxRate := decimal.RequireFromString("0.20")
	cust := &voice.Customer{BlockedPrefixes: []string{"1900"}, MaxRatePerMinute: &maxRate}
	premium := &voice.Rate{PricePerMinute: decimal.RequireFromString("1.50"), Currency: "EUR"}
	fmt.Println(billing.CheckDestination(cust, premium, "19005550100"))
	fmt.Println(billing.CheckDestination(cust, premium, "882123456"))
	fmt.Println(billing.CheckDestination(cust, nil, "999123"))
	// Output:
	// destination_not_allowed: calls to +19005550100 are blocked for this customer (blocked prefix 1900)
	// destination_not_allowed: +882123456 is priced at 1.5 EUR per minute, above this customer's max_rate_per_minute of 0.2
	// destination_not_allowed: no active rate matches +999123
}
