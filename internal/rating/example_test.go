package rating_test

import (
	"fmt"
	"sync/atomic"
	"time"

	"github.com/minivoice/minivoice/internal/rating"
	"github.com/minivoice/minivoice/internal/voice"
	"github.com/shopspring/decimal"
)

func ExampleBillableSeconds() {
	d := 95*time.Second + 200*time.Millisecond // answered to ended
	for _, inc := range [][2]int{{60, 60}, {30, 6}, {6, 6}, {1, 1}} {
		fmt.Printf("%d/%d: %d s\n", inc[0], inc[1], rating.BillableSeconds(d, true, inc[0], inc[1]))
	}
	fmt.Println("never answered:", rating.BillableSeconds(d, false, 60, 60))
	// Output:
	// 60/60: 120 s
	// 30/6: 96 s
	// 6/6: 96 s
	// 1/1: 96 s
	// never answered: 0
}

func ExamplePrice() {
	r := &voice.Rate{PricePerMinute: decimal.RequireFromString("0.0123"), ConnectionFee: decimal.RequireFromString("0.01"),
		InitialIncrement: 30, SubsequentIncrement: 6}
	secs := rating.BillableSeconds(31*time.Second, true, r.InitialIncrement, r.SubsequentIncrement)
	// 0.01 + 36/60 * 0.0123 = 0.01738
	fmt.Println(secs, rating.Price(r, secs, true).StringFixed(rating.PriceDecimals))
	// Exactly half a micro-unit rounds up: 10 s at 0.000003/min is 0.0000005.
	tiny := &voice.Rate{PricePerMinute: decimal.RequireFromString("0.000003"), InitialIncrement: 1, SubsequentIncrement: 1}
	fmt.Println(rating.Price(tiny, 10, true))
	// Output:
	// 36 0.017380
	// 0.000001
}

func ExampleMaxAffordable() {
	r := &voice.Rate{PricePerMinute: decimal.RequireFromString("0.60"), ConnectionFee: decimal.RequireFromString("0.05"),
		InitialIncrement: 30, SubsequentIncrement: 6}
	balance, credit := decimal.RequireFromString("0.30"), decimal.RequireFromString("0.20")
	d, unlimited := rating.MaxAffordable(r, balance.Add(credit))
	fmt.Println(d, unlimited, rating.Price(r, int(d/time.Second), true))

	answeredAt := time.Date(2026, 1, 1, 12, 0, 0, 0, time.UTC)
	fmt.Println("hang up at", rating.Cutoff(answeredAt, d).Format("15:04:05.000"))
	// Output:
	// 42s false 0.47
	// hang up at 12:00:41.500
}

func ExampleIndex_Lookup() {
	cust := "cust_a"
	rates := []*voice.Rate{
		{ID: "rate_us", Direction: voice.DirectionOutbound, Prefix: "1", Status: voice.RateActive},
		{ID: "rate_us_555", Direction: voice.DirectionOutbound, Prefix: "1555", Status: voice.RateActive},
		{ID: "rate_uk", Direction: voice.DirectionOutbound, Prefix: "44", Status: voice.RateActive},
		{ID: "rate_uk_london", Direction: voice.DirectionOutbound, Prefix: "4420", Status: voice.RateActive},
		{ID: "rate_a_uk", CustomerID: &cust, Direction: voice.DirectionOutbound, Prefix: "44", Status: voice.RateActive},
	}
	// Publish through an atomic pointer; rebuild and Store on any rate change.
	var current atomic.Pointer[rating.Index]
	idx, err := rating.NewIndex(rates)
	if err != nil {
		panic(err)
	}
	current.Store(idx)

	show := func(customerID, number string) {
		who := customerID
		if who == "" {
			who = "(default deck)"
		}
		if r := current.Load().Lookup(customerID, voice.DirectionOutbound, number); r != nil {
			fmt.Println(who, number, "->", r.ID)
		} else {
			fmt.Println(who, number, "-> destination_not_allowed")
		}
	}
	show("", "+15551234567")        // longest prefix in the default deck
	show("cust_a", "+442071234567") // the customer's own 44 wins over the default 4420
	show("cust_a", "+15551234567")  // no match in the customer's deck: default deck
	show("cust_a", "+33612345678")  // no match anywhere
	// Output:
	// (default deck) +15551234567 -> rate_us_555
	// cust_a +442071234567 -> rate_a_uk
	// cust_a +15551234567 -> rate_us_555
	// cust_a +33612345678 -> destination_not_allowed
}
