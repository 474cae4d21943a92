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
	// Limits, when set, also applies the customer's call limits in the same
	// transaction, so they hold across every process on the database.
	// Admission sets it; extensions leave it nil.
	Limits *AdmissionLimits
	// Now is the caller's clock: the row's times and the age of reservations
	// whose call was never recorded.
	Now time.Time
}

// AdmissionLimits are a customer's call limits as admission applies them
// (billing.md, Limits): the call is refused when the customer's other open
// reservations (its calls that are up or being admitted, on any process)
// number MaxConcurrentCalls or more, or when its max_cps token bucket is
// empty. A limit of 0 or less admits nothing.
type AdmissionLimits struct {
	MaxConcurrentCalls int
	MaxCPS             int
}

// ReservationResult is what the store found under the customer's lock, for
// the refusal's message.
type ReservationResult struct {
	// Refused is "" when the reservation was written, otherwise
	// ECodeInsufficientBalance, ECodeDailySpendLimit, ECodeConcurrencyLimit
	// or ECodeCPSLimit, checked in that order (nothing was written).
	Refused     string
	Balance     decimal.Decimal
	CreditLimit decimal.Decimal
	// Reserved is the sum of the customer's other open reservations.
	Reserved   decimal.Decimal
	SpentToday decimal.Decimal
	Currency   string
	// Live is how many other open reservations the customer has: its
	// other calls that are up or being admitted.
	Live int
	// RetryAfter is, for ECodeCPSLimit, the time until the customer's
	// bucket holds a token again.
	RetryAfter time.Duration
}

// TrunkChannel asks the store for one of a trunk's channels for an outbound
// call about to be sent to it (telephony.md, Outbound): granted when the
// trunk's other live calls number fewer than its max_channels and its
// max_cps token bucket holds a token, both read and taken in one
// transaction serialised per trunk, so they hold across processes.
type TrunkChannel struct {
	TrunkID string
	CallID  string
	// Now is the caller's clock: the bucket's refill and the age of
	// channels whose call was never recorded.
	Now time.Time
}

// Why a TrunkChannel was refused.
const (
	TrunkAtMaxChannels = "max_channels"
	TrunkAtMaxCPS      = "max_cps"
)

// TrunkChannelResult is what the store found under the trunk's lock.
type TrunkChannelResult struct {
	// Refused is "" when the channel was taken, otherwise
	// TrunkAtMaxChannels or TrunkAtMaxCPS (nothing was written).
	Refused string
	// MaxChannels and MaxCPS are the trunk's limits as the check read them.
	MaxChannels int
	MaxCPS      int
	// Live is how many other calls hold a channel of the trunk.
	Live int
	// RetryAfter is, for TrunkAtMaxCPS, the time until the trunk's bucket
	// holds a token again.
	RetryAfter time.Duration
}
