package api

import (
	"context"
	"fmt"
	"net/http"
	"regexp"
	"slices"
	"strings"
	"unicode/utf8"

	"github.com/minivoice/minivoice/internal/auth"
	"github.com/minivoice/minivoice/internal/voice"
	"github.com/shopspring/decimal"
)

// Customer defaults: a new customer can make a few calls at once, which is what
// a trial account on Twilio or Telnyx gets, and the operator raises it.
const (
	defaultCurrency           = "EUR"
	defaultMaxConcurrentCalls = 10
	defaultMaxCPS             = 5
)

var currencyRe = regexp.MustCompile(`^[A-Z]{3}$`)

type customerInput struct {
	Name               Opt[string]          `json:"name"`
	Status             Opt[string]          `json:"status"`
	Currency           Opt[string]          `json:"currency"`
	CreditLimit        Opt[decimal.Decimal] `json:"credit_limit"`
	MaxConcurrentCalls Opt[int]             `json:"max_concurrent_calls"`
	MaxCPS             Opt[int]             `json:"max_cps"`
	DailySpendLimit    Opt[decimal.Decimal] `json:"daily_spend_limit"`
	MaxRatePerMinute   Opt[decimal.Decimal] `json:"max_rate_per_minute"`
	BlockedPrefixes    Opt[[]string]        `json:"blocked_prefixes"`
	VerifiedCallerIDs  Opt[[]string]        `json:"verified_caller_ids"`
	AllowAnyCallerID   Opt[bool]            `json:"allow_any_caller_id"`
}

// maxVerifiedCallerIDs bounds verified_caller_ids: a business's own lines,
// not a block of numbers to rotate through.
const maxVerifiedCallerIDs = 100

// apply copies the given fields onto c and validates the result.
func (in *customerInput) apply(c *voice.Customer, create bool) error {
	if in.Name.Set {
		c.Name = strings.TrimSpace(in.Name.Value)
	}
	if err := checkName("name", c.Name); err != nil {
		return err
	}
	if in.Status.Set {
		c.Status = in.Status.Value
	}
	if c.Status != voice.CustomerActive && c.Status != voice.CustomerSuspended {
		return voice.Invalid("status", "must be active or suspended")
	}
	if in.Currency.Set {
		if !create && in.Currency.Value != c.Currency {
			return voice.Invalid("currency", "cannot change after creation: balances and rates are in it")
		}
		c.Currency = in.Currency.Value
	}
	if !currencyRe.MatchString(c.Currency) {
		return voice.Invalid("currency", "must be an ISO 4217 code such as EUR")
	}
	if in.CreditLimit.Set {
		if in.CreditLimit.Null {
			return voice.Invalid("credit_limit", "must be a decimal string")
		}
		c.CreditLimit = in.CreditLimit.Value
	}
	if err := money("credit_limit", c.CreditLimit); err != nil {
		return err
	}
	if in.MaxConcurrentCalls.Set {
		c.MaxConcurrentCalls = in.MaxConcurrentCalls.Value
	}
	if c.MaxConcurrentCalls < 1 || c.MaxConcurrentCalls > 100000 {
		return voice.Invalid("max_concurrent_calls", "must be from 1 to 100000")
	}
	if in.MaxCPS.Set {
		c.MaxCPS = in.MaxCPS.Value
	}
	if c.MaxCPS < 1 || c.MaxCPS > 10000 {
		return voice.Invalid("max_cps", "must be from 1 to 10000")
	}
	if in.DailySpendLimit.Set {
		c.DailySpendLimit = optDecimal(in.DailySpendLimit)
	}
	if c.DailySpendLimit != nil {
		if !c.DailySpendLimit.IsPositive() {
			return voice.Invalid("daily_spend_limit", "must be positive, or null for none")
		}
		if err := money("daily_spend_limit", *c.DailySpendLimit); err != nil {
			return err
		}
	}
	if in.MaxRatePerMinute.Set {
		c.MaxRatePerMinute = optDecimal(in.MaxRatePerMinute)
	}
	if c.MaxRatePerMinute != nil {
		if c.MaxRatePerMinute.IsNegative() {
			return voice.Invalid("max_rate_per_minute", "must not be negative, or null for none")
		}
		if err := money("max_rate_per_minute", *c.MaxRatePerMinute); err != nil {
			return err
		}
	}
	if in.BlockedPrefixes.Set {
		c.BlockedPrefixes = in.BlockedPrefixes.Value
	}
	if c.BlockedPrefixes == nil {
		c.BlockedPrefixes = []string{}
	}
	if len(c.BlockedPrefixes) > 1000 {
		return voice.Invalid("blocked_prefixes", "must have at most 1000 entries")
	}
	for _, p := range c.BlockedPrefixes {
		if !digitsRe.MatchString(p) || p == "" {
			return voice.Invalid("blocked_prefixes", "entries must be 1 to 15 digits, got %q", p)
		}
	}
	if in.VerifiedCallerIDs.Set {
		ids, err := checkCallerIDs(in.VerifiedCallerIDs.Value)
		if err != nil {
			return err
		}
		c.VerifiedCallerIDs = ids
	}
	if c.VerifiedCallerIDs == nil {
		c.VerifiedCallerIDs = []string{}
	}
	if in.AllowAnyCallerID.Set {
		if in.AllowAnyCallerID.Null {
			return voice.Invalid("allow_any_caller_id", "must be true or false")
		}
		c.AllowAnyCallerID = in.AllowAnyCallerID.Value
	}
	return nil
}

// checkCallerIDs normalises verified_caller_ids: each an E.164 number, at
// most maxVerifiedCallerIDs, duplicates dropped, in the order given.
func checkCallerIDs(list []string) ([]string, error) {
	if len(list) > maxVerifiedCallerIDs {
		return nil, voice.Invalid("verified_caller_ids", "must have at most %d entries", maxVerifiedCallerIDs)
	}
	out := make([]string, 0, len(list))
	for i, v := range list {
		e, ok := voice.ParseE164(strings.TrimSpace(v))
		if !ok {
			return nil, voice.Invalid(fmt.Sprintf("verified_caller_ids[%d]", i), "must be an E.164 number, got %q", v)
		}
		if !slices.Contains(out, e) {
			out = append(out, e)
		}
	}
	return out, nil
}

func optDecimal(o Opt[decimal.Decimal]) *decimal.Decimal {
	if o.Null {
		return nil
	}
	v := o.Value
	return &v
}

func (s *Server) createCustomer(w http.ResponseWriter, r *http.Request, _ *auth.Principal) error {
	var in customerInput
	if err := decode(r, &in); err != nil {
		return err
	}
	now := s.clock()
	c := &voice.Customer{ID: voice.NewID(voice.PrefixCustomer, now), Status: voice.CustomerActive, Currency: defaultCurrency,
		MaxConcurrentCalls: defaultMaxConcurrentCalls, MaxCPS: defaultMaxCPS, CreatedAt: now, UpdatedAt: now}
	if err := in.apply(c, true); err != nil {
		return err
	}
	if err := s.store.CreateCustomer(r.Context(), c); err != nil {
		return err
	}
	v, err := s.customerView(r.Context(), c)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusCreated, v)
	return nil
}

// customerView is a customer as POST /v1/customers, GET and PATCH
// /v1/customers/{id} show it: with what its calls that are up have reserved
// (billing.md, Reservations), when the store keeps reservations. Read-only:
// no request decodes it. Lists leave it out (one sum per row).
type customerView struct {
	*voice.Customer
	Reserved *decimal.Decimal `json:"reserved,omitempty"`
}

// reservedStore is the store's sum of a customer's open reservations.
type reservedStore interface {
	Reserved(ctx context.Context, customerID string) (decimal.Decimal, error)
}

func (s *Server) getCustomer(w http.ResponseWriter, r *http.Request, p *auth.Principal) error {
	c, err := s.store.Customer(r.Context(), p.Scope(), r.PathValue("id"))
	if err != nil {
		return err
	}
	v, err := s.customerView(r.Context(), c)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, v)
	return nil
}

// customerView adds what c's calls that are up have reserved, when the
// store keeps reservations.
func (s *Server) customerView(ctx context.Context, c *voice.Customer) (customerView, error) {
	v := customerView{Customer: c}
	if rs, ok := s.store.(reservedStore); ok {
		reserved, err := rs.Reserved(ctx, c.ID)
		if err != nil {
			return v, fmt.Errorf("customer %s: %w", c.ID, err)
		}
		v.Reserved = &reserved
	}
	return v, nil
}

func (s *Server) listCustomers(w http.ResponseWriter, r *http.Request, p *auth.Principal) error {
	pg, err := parsePage(r)
	if err != nil {
		return err
	}
	list, err := s.store.Customers(r.Context(), p.Scope(), pg)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, list)
	return nil
}

func (s *Server) updateCustomer(w http.ResponseWriter, r *http.Request, p *auth.Principal) error {
	c, err := s.store.Customer(r.Context(), p.Scope(), r.PathValue("id"))
	if err != nil {
		return err
	}
	var in customerInput
	if err := decode(r, &in); err != nil {
		return err
	}
	if err := s.saveCustomer(r.Context(), c, &in); err != nil {
		return err
	}
	v, err := s.customerView(r.Context(), c)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, v)
	return nil
}

func (s *Server) saveCustomer(ctx context.Context, c *voice.Customer, in *customerInput) error {
	if err := in.apply(c, false); err != nil {
		return err
	}
	c.UpdatedAt = s.clock()
	return s.store.UpdateCustomer(ctx, c)
}

// SetCustomerStatus suspends or activates c as PATCH /v1/customers/{id}
// with {"status": ...} does (an operator-only route).
func (s *Server) SetCustomerStatus(ctx context.Context, c *voice.Customer, status string) error {
	return s.saveCustomer(ctx, c, &customerInput{Status: Opt[string]{Set: true, Value: status}})
}

type creditInput struct {
	Amount      *decimal.Decimal `json:"amount"`
	Description string           `json:"description"`
	Kind        string           `json:"kind"`
}

// addCredit adds money (or, as an adjustment, removes it) through the ledger.
func (s *Server) addCredit(w http.ResponseWriter, r *http.Request, p *auth.Principal) error {
	c, err := s.store.Customer(r.Context(), p.Scope(), r.PathValue("id"))
	if err != nil {
		return err
	}
	var in creditInput
	if err := decode(r, &in); err != nil {
		return err
	}
	e, err := s.AddCredit(r.Context(), c, in.Amount, in.Kind, in.Description)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusCreated, e)
	return nil
}

// AddCredit adds a ledger entry to c as POST /v1/customers/{id}/credits
// does (an operator-only route): kind credit (the default, positive) or
// adjustment (either sign), with the same checks.
func (s *Server) AddCredit(ctx context.Context, c *voice.Customer, amount *decimal.Decimal, kind, description string) (*voice.LedgerEntry, error) {
	in := creditInput{Amount: amount, Kind: kind, Description: description}
	if err := checkText("kind", kind, "description", description); err != nil {
		return nil, err
	}
	if in.Amount == nil {
		return nil, voice.Invalid("amount", "is required")
	}
	if in.Kind == "" {
		in.Kind = voice.LedgerCredit
	}
	switch in.Kind {
	case voice.LedgerCredit:
		if !in.Amount.IsPositive() {
			return nil, voice.Invalid("amount", "must be positive for a credit; use kind adjustment to remove money")
		}
	case voice.LedgerAdjustment:
		if in.Amount.IsZero() {
			return nil, voice.Invalid("amount", "must not be zero")
		}
	default:
		return nil, voice.Invalid("kind", "must be credit or adjustment")
	}
	if in.Amount.Exponent() < -6 {
		return nil, voice.Invalid("amount", "must have at most 6 decimal places")
	}
	if in.Amount.Abs().GreaterThan(decimal.New(1, 12)) {
		return nil, voice.Invalid("amount", "must be below 1000000000000")
	}
	if utf8.RuneCountInString(in.Description) > 500 {
		return nil, voice.Invalid("description", "must be at most 500 characters")
	}
	now := s.clock()
	e := &voice.LedgerEntry{ID: voice.NewID(voice.PrefixLedger, now), CustomerID: c.ID, Amount: *in.Amount, Kind: in.Kind,
		Description: in.Description, CreatedAt: now}
	if err := s.store.AddLedgerEntry(ctx, e); err != nil {
		return nil, err
	}
	return e, nil
}

func (s *Server) listLedger(w http.ResponseWriter, r *http.Request, p *auth.Principal) error {
	c, err := s.store.Customer(r.Context(), p.Scope(), r.PathValue("id"))
	if err != nil {
		return err
	}
	pg, err := parsePage(r)
	if err != nil {
		return err
	}
	list, err := s.store.LedgerEntries(r.Context(), c.ID, pg)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, list)
	return nil
}
