package voice

import (
	"time"

	"github.com/shopspring/decimal"
)

// Reservation asks the store to hold money for a call (billing.md,
// Reservations): the call's reservation is set to Amount if the customer's
// balance + credit_limit, less every other open reservation of the customer,
// covers it. The check and the write are one transaction that serialises the
// customer's reservations, so two calls can never both take the same money.
type Reservation struct {
	CustomerID string
	CallID     string
	// Amount is the call's whole reservation after the request: the first
	// increment's cost at admission, then the price through the end of the
	// next increment each time an answered call is extended. It replaces the
	// previous amount, it is not added to it.
	Amount decimal.Decimal
	// DailySpendLimit, when set, also requires today's charges (from
	// DayStart) + the other open reservations + Amount <= the limit.
	// Admission sets it; extensions of an answered call leave it nil, as the
	// daily limit is an admission check.
	DailySpendLimit *decimal.Decimal
	DayStart        time.Time
	// Now is the caller's clock: the row's times and the age of reservations
	// whose call was never recorded.
	Now time.Time
}

// ReservationResult is what the store found under the customer's lock, for
// the refusal's message.
type ReservationResult struct {
	// Refused is "" when the reservation was written, otherwise
	// ECodeInsufficientBalance or ECodeDailySpendLimit (nothing was written).
	Refused     string
	Balance     decimal.Decimal
	CreditLimit decimal.Decimal
	// Reserved is the sum of the customer's other open reservations.
	Reserved   decimal.Decimal
	SpentToday decimal.Decimal
	Currency   string
}
