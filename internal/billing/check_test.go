package billing

import (
	"strings"
	"testing"
	"time"

	"github.com/minivoice/minivoice/internal/voice"
	"github.com/shopspring/decimal"
)

func dec(s string) decimal.Decimal { return decimal.RequireFromString(s) }

func decp(s string) *decimal.Decimal { d := dec(s); return &d }

func customer() *voice.Customer {
	return &voice.Customer{ID: "cust_a", Name: "A", Status: voice.CustomerActive, Currency: "EUR",
		Balance: dec("10"), CreditLimit: dec("0"), MaxConcurrentCalls: 5, MaxCPS: 5, BlockedPrefixes: []string{}}
}

func rate(ppm, fee string, initial, subsequent int) *voice.Rate {
	return &voice.Rate{ID: "rate_t", Direction: voice.DirectionOutbound, Prefix: "44", PricePerMinute: dec(ppm),
		ConnectionFee: dec(fee), InitialIncrement: initial, SubsequentIncrement: subsequent, Currency: "EUR", Status: voice.RateActive}
}

// wantErr checks e against the expected code ("" for none) and a message
// fragment.
func wantErr(t *testing.T, e *voice.Error, code string, fragment string) {
	t.Helper()
	if code == "" {
		if e != nil {
			t.Fatalf("unexpected error %v", e)
		}
		return
	}
	if e == nil {
		t.Fatalf("no error, want %s", code)
	}
	if e.Code != code {
		t.Fatalf("got %s, want %s: %s", e.Code, code, e.Message)
	}
	if !strings.Contains(e.Message, fragment) {
		t.Errorf("message %q does not mention %q", e.Message, fragment)
	}
}

func TestCheckDestination(t *testing.T) {
	r := rate("0.50", "0", 60, 60)
	tests := []struct {
		name     string
		blocked  []string
		maxRate  *decimal.Decimal
		rate     *voice.Rate
		digits   string
		code     string
		fragment string
	}{
		{"allowed", nil, nil, r, "442071234567", "", ""},
		{"no rate", nil, nil, nil, "442071234567", voice.ECodeDestinationNotAllowed, "no active rate matches +442071234567"},
		{"blocked", []string{"1900", "44"}, nil, r, "442071234567", voice.ECodeDestinationNotAllowed, "blocked prefix 44"},
		{"blocked with plus", []string{"44"}, nil, r, "+442071234567", voice.ECodeDestinationNotAllowed, "blocked prefix 44"},
		{"blocked wins over no rate", []string{"44"}, nil, nil, "442071234567", voice.ECodeDestinationNotAllowed, "blocked"},
		{"other blocked prefix", []string{"1900", "4490"}, nil, r, "442071234567", "", ""},
		{"longer blocked prefix than number", []string{"44207123456789"}, nil, r, "442071234567", "", ""},
		{"above max rate", nil, decp("0.49"), r, "442071234567", voice.ECodeDestinationNotAllowed, "max_rate_per_minute of 0.49"},
		{"at max rate", nil, decp("0.50"), r, "442071234567", "", ""},
		{"max rate zero refuses priced", nil, decp("0"), r, "442071234567", voice.ECodeDestinationNotAllowed, "max_rate_per_minute"},
		{"max rate zero allows free", nil, decp("0"), rate("0", "1", 60, 60), "442071234567", "", ""},
		{"max rate ignores connection fee", nil, decp("0.50"), rate("0.50", "5", 60, 60), "442071234567", "", ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c := customer()
			c.BlockedPrefixes = tc.blocked
			c.MaxRatePerMinute = tc.maxRate
			wantErr(t, CheckDestination(c, tc.rate, tc.digits), tc.code, tc.fragment)
		})
	}
}

func TestCheckBalance(t *testing.T) {
	tests := []struct {
		name            string
		balance, credit string
		rate            *voice.Rate
		code            string
	}{
		{"plenty", "10", "0", rate("0.60", "0", 60, 60), ""},
		{"exactly the first increment", "0.60", "0", rate("0.60", "0", 60, 60), ""},
		{"a micro short", "0.599999", "0", rate("0.60", "0", 60, 60), voice.ECodeInsufficientBalance},
		{"credit limit covers it", "0", "0.60", rate("0.60", "0", 60, 60), ""},
		{"negative balance within credit", "-4.40", "5", rate("0.60", "0", 60, 60), ""},
		{"negative balance beyond credit", "-4.41", "5", rate("0.60", "0", 60, 60), voice.ECodeInsufficientBalance},
		{"6/6 needs only 6 s", "0.06", "0", rate("0.60", "0", 6, 6), ""},
		{"connection fee counts", "0.40", "0", rate("0.60", "0.05", 30, 6), ""},
		{"connection fee counts, short", "0.34", "0", rate("0.60", "0.05", 30, 6), voice.ECodeInsufficientBalance},
		{"connection fee alone exceeds", "0.99", "0", rate("0", "1", 60, 60), voice.ECodeInsufficientBalance},
		{"free rate on zero", "0", "0", rate("0", "0", 60, 60), ""},
		{"free rate below credit limit", "-0.01", "0", rate("0", "0", 60, 60), voice.ECodeInsufficientBalance},
		{"no rate", "10", "0", nil, voice.ECodeDestinationNotAllowed},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c := customer()
			c.Balance, c.CreditLimit = dec(tc.balance), dec(tc.credit)
			wantErr(t, CheckBalance(c, tc.rate), tc.code, "")
		})
	}
}

func TestCheckDailySpend(t *testing.T) {
	noon := time.Date(2026, 3, 4, 12, 0, 0, 0, time.UTC)
	r := rate("0.60", "0", 60, 60)
	tests := []struct {
		name       string
		limit      *decimal.Decimal
		spent      string
		rate       *voice.Rate
		now        time.Time
		code       string
		retryAfter int
	}{
		{"no limit", nil, "1000000", r, noon, "", 0},
		{"well under", decp("10"), "1", r, noon, "", 0},
		{"first increment reaches the limit exactly", decp("10"), "9.40", r, noon, "", 0},
		{"first increment would pass", decp("10"), "9.400001", r, noon, voice.ECodeDailySpendLimit, 12 * 3600},
		{"already over", decp("10"), "10.01", r, noon, voice.ECodeDailySpendLimit, 12 * 3600},
		{"spent exactly the limit", decp("10"), "10", r, noon, voice.ECodeDailySpendLimit, 12 * 3600},
		{"free call at the limit", decp("10"), "10", rate("0", "0", 60, 60), noon, "", 0},
		{"nil rate counts zero", decp("10"), "10", nil, noon, "", 0},
		{"retry rounds up", decp("10"), "10", r, time.Date(2026, 3, 4, 23, 59, 59, 1, time.UTC), voice.ECodeDailySpendLimit, 1},
		{"retry at midnight is a full day", decp("10"), "10", r, time.Date(2026, 3, 4, 0, 0, 0, 0, time.UTC), voice.ECodeDailySpendLimit, 86400},
		{"UTC day, not local", decp("10"), "10", r,
			time.Date(2026, 3, 4, 23, 0, 0, 0, time.FixedZone("X", -5*3600)), voice.ECodeDailySpendLimit, 20 * 3600}, // 04:00 UTC
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c := customer()
			c.DailySpendLimit = tc.limit
			e := CheckDailySpend(c, dec(tc.spent), tc.rate, tc.now)
			wantErr(t, e, tc.code, "daily_spend_limit")
			if e != nil && e.RetryAfter != tc.retryAfter {
				t.Errorf("RetryAfter = %d, want %d", e.RetryAfter, tc.retryAfter)
			}
		})
	}
}

func TestDayStart(t *testing.T) {
	got := DayStart(time.Date(2026, 3, 4, 23, 30, 0, 0, time.FixedZone("X", -5*3600)))
	if want := time.Date(2026, 3, 5, 0, 0, 0, 0, time.UTC); !got.Equal(want) || got.Location() != time.UTC {
		t.Errorf("DayStart = %v, want %v", got, want)
	}
}

func TestLimitsOfCopies(t *testing.T) {
	c := customer()
	c.DailySpendLimit, c.MaxRatePerMinute, c.BlockedPrefixes = decp("10"), decp("1"), []string{"1900"}
	l := LimitsOf(c)
	*c.DailySpendLimit, *c.MaxRatePerMinute, c.BlockedPrefixes[0] = dec("99"), dec("99"), "44"
	if l.MaxConcurrentCalls != 5 || l.MaxCPS != 5 || !l.DailySpendLimit.Equal(dec("10")) ||
		!l.MaxRatePerMinute.Equal(dec("1")) || l.BlockedPrefixes[0] != "1900" {
		t.Errorf("LimitsOf shares state with the customer: %+v", l)
	}
	if l := LimitsOf(customer()); l.DailySpendLimit != nil || l.MaxRatePerMinute != nil {
		t.Errorf("unset limits should stay nil: %+v", l)
	}
}

func TestAvailable(t *testing.T) {
	c := customer()
	c.Balance, c.CreditLimit = dec("-2.5"), dec("10")
	if got := Available(c); !got.Equal(dec("7.5")) {
		t.Errorf("Available = %s", got)
	}
}
