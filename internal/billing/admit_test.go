package billing

import (
	"testing"
	"time"

	"github.com/minivoice/minivoice/internal/voice"
	"github.com/shopspring/decimal"
)

func TestAdmitOrder(t *testing.T) {
	r := rate("0.60", "0", 60, 60)
	tests := []struct {
		name   string
		change func(c *voice.Customer, req *Request)
		code   string
	}{
		{"admitted", func(*voice.Customer, *Request) {}, ""},
		{"suspended before all", func(c *voice.Customer, req *Request) {
			c.Status = voice.CustomerSuspended
			c.BlockedPrefixes = []string{"44"}
		}, voice.ECodeCustomerSuspended},
		{"blocked before balance", func(c *voice.Customer, _ *Request) {
			c.BlockedPrefixes = []string{"44"}
			c.Balance = dec("0")
		}, voice.ECodeDestinationNotAllowed},
		{"no rate", func(_ *voice.Customer, req *Request) { req.Rate = nil }, voice.ECodeDestinationNotAllowed},
		{"max rate", func(c *voice.Customer, _ *Request) { c.MaxRatePerMinute = decp("0.10") }, voice.ECodeDestinationNotAllowed},
		{"balance before daily spend", func(c *voice.Customer, req *Request) {
			c.Balance = dec("0.10")
			c.DailySpendLimit = decp("1")
			req.SpentToday = dec("5")
		}, voice.ECodeInsufficientBalance},
		{"daily spend", func(c *voice.Customer, req *Request) {
			c.DailySpendLimit = decp("1")
			req.SpentToday = dec("0.50")
		}, voice.ECodeDailySpendLimit},
		{"spent today ignored without a limit", func(_ *voice.Customer, req *Request) { req.SpentToday = dec("1000") }, ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			a := NewAdmitter()
			c := customer()
			req := Request{Customer: c, Rate: r, Digits: "442071234567", Now: t0}
			tc.change(c, &req)
			release, err := a.Admit(req)
			if release == nil {
				t.Fatal("nil release")
			}
			if tc.code == "" {
				if err != nil {
					t.Fatalf("refused: %v", err)
				}
				if a.Calls.Live(c.ID) != 1 {
					t.Errorf("Live = %d after admission", a.Calls.Live(c.ID))
				}
				release()
				if a.Calls.Live(c.ID) != 0 {
					t.Errorf("Live = %d after release", a.Calls.Live(c.ID))
				}
				return
			}
			if err == nil || err.Code != tc.code {
				t.Fatalf("Admit = %v, want %s", err, tc.code)
			}
			// A refusal counts no call.
			if a.Calls.Live(c.ID) != 0 {
				t.Errorf("refusal left Live %d", a.Calls.Live(c.ID))
			}
		})
	}
}

func TestSIPResponse(t *testing.T) {
	tests := []struct {
		code   string
		status int
	}{
		{voice.ECodeDestinationNotAllowed, 403},
		{voice.ECodeInsufficientBalance, 403},
		{voice.ECodeCustomerSuspended, 403},
		{voice.ECodeDailySpendLimit, 403},
		{voice.ECodeConcurrencyLimit, 503},
		{voice.ECodeCPSLimit, 503},
		{voice.ECodeInternal, 500},
	}
	for _, tc := range tests {
		if got, reason := SIPResponse(&voice.Error{Code: tc.code}); got != tc.status || reason == "" {
			t.Errorf("SIPResponse(%s) = %d %q, want %d", tc.code, got, reason, tc.status)
		}
	}
}

// TestErrorCodesKnown checks each refusal carries the code api.md documents
// for it (the API maps codes to HTTP statuses).
func TestErrorCodesKnown(t *testing.T) {
	c := customer()
	c.DailySpendLimit = decp("0")
	errs := []*voice.Error{
		CheckDestination(c, nil, "1"),
		CheckBalance(&voice.Customer{Balance: decimal.Zero}, rate("1", "0", 60, 60)),
		CheckDailySpend(c, dec("1"), nil, t0),
		CPSError(1, time.Second),
		ConcurrencyError(1),
	}
	want := []string{voice.ECodeDestinationNotAllowed, voice.ECodeInsufficientBalance, voice.ECodeDailySpendLimit,
		voice.ECodeCPSLimit, voice.ECodeConcurrencyLimit}
	for i, e := range errs {
		if e == nil || e.Code != want[i] {
			t.Errorf("error %d: %v, want code %s", i, e, want[i])
		}
	}
}
