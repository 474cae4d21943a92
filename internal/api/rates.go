package api

import (
	"bytes"
	"context"
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"regexp"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/minivoice/minivoice/internal/auth"
	"github.com/minivoice/minivoice/internal/textcheck"
	"github.com/minivoice/minivoice/internal/voice"
	"github.com/shopspring/decimal"
)

var digitsRe = regexp.MustCompile(`^[0-9]{0,15}$`)

// Rate defaults: per-minute billing, the most common carrier deck.
const defaultIncrement = 60

type rateInput struct {
	CustomerID          Opt[string]          `json:"customer_id"`
	Direction           Opt[string]          `json:"direction"`
	Prefix              Opt[string]          `json:"prefix"`
	PricePerMinute      Opt[decimal.Decimal] `json:"price_per_minute"`
	ConnectionFee       Opt[decimal.Decimal] `json:"connection_fee"`
	InitialIncrement    Opt[int]             `json:"initial_increment"`
	SubsequentIncrement Opt[int]             `json:"subsequent_increment"`
	Currency            Opt[string]          `json:"currency"`
	Status              Opt[string]          `json:"status"`
	Description         Opt[string]          `json:"description"`
}

// validateRate checks every field of x; line > 0 prefixes messages for CSV import.
func validateRate(x *voice.Rate) error {
	if x.Direction != voice.DirectionOutbound && x.Direction != voice.DirectionInbound {
		return voice.Invalid("direction", "must be outbound or inbound")
	}
	x.Prefix = strings.TrimPrefix(x.Prefix, "+")
	if !digitsRe.MatchString(x.Prefix) {
		return voice.Invalid("prefix", "must be 0 to 15 digits")
	}
	if err := money("price_per_minute", x.PricePerMinute); err != nil {
		return err
	}
	if err := money("connection_fee", x.ConnectionFee); err != nil {
		return err
	}
	if x.InitialIncrement < 1 || x.InitialIncrement > 3600 {
		return voice.Invalid("initial_increment", "must be from 1 to 3600 seconds")
	}
	if x.SubsequentIncrement < 1 || x.SubsequentIncrement > 3600 {
		return voice.Invalid("subsequent_increment", "must be from 1 to 3600 seconds")
	}
	if !currencyRe.MatchString(x.Currency) {
		return voice.Invalid("currency", "must be an ISO 4217 code such as EUR")
	}
	if x.Status != voice.RateActive && x.Status != voice.RateInactive {
		return voice.Invalid("status", "must be active or inactive")
	}
	if utf8.RuneCountInString(x.Description) > 500 {
		return voice.Invalid("description", "must be at most 500 characters")
	}
	return nil
}

func money(param string, d decimal.Decimal) error {
	if d.IsNegative() {
		return voice.Invalid(param, "must not be negative")
	}
	if d.Exponent() < -6 {
		return voice.Invalid(param, "must have at most 6 decimal places")
	}
	if d.GreaterThanOrEqual(decimal.New(1, 9)) {
		return voice.Invalid(param, "must be below 1000000000")
	}
	return nil
}

func (in *rateInput) apply(x *voice.Rate) {
	if in.Direction.Set {
		x.Direction = in.Direction.Value
	}
	setStr(&x.Prefix, in.Prefix)
	if in.PricePerMinute.Set {
		x.PricePerMinute = in.PricePerMinute.Value
	}
	if in.ConnectionFee.Set {
		x.ConnectionFee = in.ConnectionFee.Value
	}
	if in.InitialIncrement.Set {
		x.InitialIncrement = in.InitialIncrement.Value
	}
	if in.SubsequentIncrement.Set {
		x.SubsequentIncrement = in.SubsequentIncrement.Value
	}
	setStr(&x.Currency, in.Currency)
	setStr(&x.Status, in.Status)
	if in.Description.Set {
		x.Description = in.Description.Value
	}
}

// deckCustomer resolves an optional customer_id to the deck's owner and its
// currency (the default deck's currency is EUR unless given).
func (s *Server) deckCustomer(ctx context.Context, id string) (*string, string, error) {
	if id == "" {
		return nil, defaultCurrency, nil
	}
	c, err := s.store.Customer(ctx, voice.Scope{}, id)
	if err != nil {
		if voice.IsNotFound(err) {
			return nil, "", voice.Invalid("customer_id", "no such customer")
		}
		return nil, "", err
	}
	return &c.ID, c.Currency, nil
}

func (s *Server) createRate(w http.ResponseWriter, r *http.Request, _ *auth.Principal) error {
	var in rateInput
	if err := decode(r, &in); err != nil {
		return err
	}
	if !in.PricePerMinute.Set || in.PricePerMinute.Null {
		return voice.Invalid("price_per_minute", "is required")
	}
	cust, currency, err := s.deckCustomer(r.Context(), in.CustomerID.Value)
	if err != nil {
		return err
	}
	now := s.clock()
	x := &voice.Rate{ID: voice.NewID(voice.PrefixRate, now), CustomerID: cust, Direction: voice.DirectionOutbound,
		InitialIncrement: defaultIncrement, SubsequentIncrement: defaultIncrement, Currency: currency,
		Status: voice.RateActive, CreatedAt: now}
	in.apply(x)
	if err := validateRate(x); err != nil {
		return err
	}
	if err := s.store.CreateRate(r.Context(), x); err != nil {
		return err
	}
	s.ratesChanged(r.Context())
	writeJSON(w, http.StatusCreated, x)
	return nil
}

// visibleRate returns a rate if p may see it: customers see their own deck and the default deck.
func (s *Server) visibleRate(r *http.Request, p *auth.Principal) (*voice.Rate, error) {
	x, err := s.store.Rate(r.Context(), r.PathValue("id"))
	if err != nil {
		return nil, err
	}
	if !p.IsOperator() && x.CustomerID != nil && *x.CustomerID != p.CustomerID {
		return nil, voice.NotFound("rate")
	}
	return x, nil
}

func (s *Server) getRate(w http.ResponseWriter, r *http.Request, p *auth.Principal) error {
	x, err := s.visibleRate(r, p)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, x)
	return nil
}

func (s *Server) listRates(w http.ResponseWriter, r *http.Request, p *auth.Principal) error {
	pg, err := parsePage(r)
	if err != nil {
		return err
	}
	q := r.URL.Query()
	f := voice.RateFilter{Deck: q.Get("customer_id"), Direction: q.Get("direction"), Prefix: strings.TrimPrefix(q.Get("prefix"), "+"), Status: q.Get("status")}
	list, err := s.ListRates(r.Context(), p, f, pg)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, list)
	return nil
}

// ListRates lists the rates p may see matching f (Deck, Direction, Prefix
// without "+", Status), checked as GET /v1/rates checks its query.
func (s *Server) ListRates(ctx context.Context, p *auth.Principal, f voice.RateFilter, pg voice.Page) (voice.List[*voice.Rate], error) {
	var none voice.List[*voice.Rate]
	if err := checkText("customer_id", f.Deck, "direction", f.Direction, "prefix", f.Prefix, "status", f.Status); err != nil {
		return none, err
	}
	if f.Direction != "" && f.Direction != voice.DirectionOutbound && f.Direction != voice.DirectionInbound {
		return none, voice.Invalid("direction", "must be outbound or inbound")
	}
	if f.Status != "" && f.Status != voice.RateActive && f.Status != voice.RateInactive {
		return none, voice.Invalid("status", "must be active or inactive")
	}
	if !digitsRe.MatchString(f.Prefix) {
		return none, voice.Invalid("prefix", "must be 0 to 15 digits")
	}
	if !p.IsOperator() {
		f.VisibleTo = p.CustomerID
	}
	if f.Deck != "" && f.Deck != "default" {
		if _, err := s.store.Customer(ctx, p.Scope(), f.Deck); err != nil {
			return none, err
		}
	}
	return s.store.Rates(ctx, f, pg)
}

func (s *Server) updateRate(w http.ResponseWriter, r *http.Request, p *auth.Principal) error {
	x, err := s.visibleRate(r, p)
	if err != nil {
		return err
	}
	var in rateInput
	if err := decode(r, &in); err != nil {
		return err
	}
	if in.CustomerID.Set {
		return voice.Invalid("customer_id", "cannot change; create the rate in the other deck")
	}
	if in.PricePerMinute.Null {
		return voice.Invalid("price_per_minute", "must be a decimal string")
	}
	in.apply(x)
	if err := validateRate(x); err != nil {
		return err
	}
	if err := s.store.UpdateRate(r.Context(), x); err != nil {
		return err
	}
	s.ratesChanged(r.Context())
	writeJSON(w, http.StatusOK, x)
	return nil
}

func (s *Server) deleteRate(w http.ResponseWriter, r *http.Request, p *auth.Principal) error {
	x, err := s.visibleRate(r, p)
	if err != nil {
		return err
	}
	if err := s.store.DeleteRate(r.Context(), x.ID); err != nil {
		return err
	}
	s.ratesChanged(r.Context())
	w.WriteHeader(http.StatusNoContent)
	return nil
}

// csvColumns is the import format's column order.
var csvColumns = []string{"prefix", "price_per_minute", "initial_increment", "subsequent_increment", "connection_fee", "description"}

// maxImportRows bounds one import; a deck of every country code with its
// mobile and fixed ranges is a few tens of thousands of rows.
const maxImportRows = 100000

// LineError is one bad line of a CSV import (in the error's Extra "errors").
type LineError struct {
	Line    int    `json:"line"`
	Field   string `json:"field,omitempty"`
	Message string `json:"message"`
}

// importRates replaces a whole deck with a CSV body, in one transaction, or
// changes nothing and lists every bad line.
func (s *Server) importRates(w http.ResponseWriter, r *http.Request, _ *auth.Principal) error {
	q := r.URL.Query()
	direction := q.Get("direction")
	if direction != "" && direction != voice.DirectionOutbound && direction != voice.DirectionInbound {
		return voice.Invalid("direction", "must be outbound or inbound")
	}
	if _, _, err := s.deckCustomer(r.Context(), q.Get("customer_id")); err != nil {
		return err
	}
	b, err := body(r)
	if err != nil {
		return err
	}
	res, err := s.ImportRates(r.Context(), q.Get("customer_id"), direction, q.Get("currency"), b)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, res)
	return nil
}

// RateImport is what a deck import did.
type RateImport struct {
	CustomerID *string `json:"customer_id"`
	Currency   string  `json:"currency"`
	Direction  string  `json:"direction"`
	Imported   int     `json:"imported"`
}

// ImportRates replaces a whole deck (customerID's, or the default one for
// "") with a CSV, in one transaction, or changes nothing and lists every
// bad line (Extra "errors"), as POST /v1/rates/import (an operator-only
// route) does; direction defaults to outbound, currency to the deck's.
func (s *Server) ImportRates(ctx context.Context, customerID, direction, currency string, csv []byte) (RateImport, error) {
	if err := checkText("customer_id", customerID, "direction", direction, "currency", currency); err != nil {
		return RateImport{}, err
	}
	if direction == "" {
		direction = voice.DirectionOutbound
	}
	if direction != voice.DirectionOutbound && direction != voice.DirectionInbound {
		return RateImport{}, voice.Invalid("direction", "must be outbound or inbound")
	}
	cust, deckCurrency, err := s.deckCustomer(ctx, customerID)
	if err != nil {
		return RateImport{}, err
	}
	if currency == "" {
		currency = deckCurrency
	}
	rates, errs := s.parseRateCSV(csv, cust, direction, currency)
	if len(errs) > 0 {
		first := errs[0]
		return RateImport{}, &voice.Error{Code: voice.ECodeInvalidRequest, Param: "body",
			Message: fmt.Sprintf("line %d: %s (%d bad lines; nothing was imported)", first.Line, first.Message, len(errs)),
			Extra:   map[string]any{"errors": errs}}
	}
	if len(rates) == 0 {
		// An empty file would silently empty the deck and refuse every call it priced.
		return RateImport{}, voice.Invalid("body", "has no rates; to empty a deck, delete its rates one by one")
	}
	if err := s.store.ReplaceDeck(ctx, cust, direction, rates); err != nil {
		return RateImport{}, err
	}
	s.ratesChanged(ctx)
	return RateImport{Imported: len(rates), CustomerID: cust, Direction: direction, Currency: currency}, nil
}

func (s *Server) parseRateCSV(b []byte, cust *string, direction, currency string) ([]*voice.Rate, []LineError) {
	// Spreadsheets ("CSV UTF-8") start the file with a byte order mark, which
	// would otherwise hide the header.
	b = bytes.TrimPrefix(b, []byte("\xef\xbb\xbf"))
	cr := csv.NewReader(bytes.NewReader(b))
	cr.FieldsPerRecord = -1
	cr.TrimLeadingSpace = true
	var rates []*voice.Rate
	var errs []LineError
	seen := map[string]int{}
	now := s.clock()
	for {
		rec, err := cr.Read()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			// FieldPos panics when the record failed before its first field
			// (a bare quote on line 1), so the line comes from the error.
			line := 1
			var pe *csv.ParseError
			if errors.As(err, &pe) {
				line = pe.Line
			}
			errs = append(errs, LineError{Line: line, Message: "not valid CSV: " + err.Error()})
			break
		}
		line, _ := cr.FieldPos(0)
		if i, why := badField(rec); why != "" {
			field := "field " + strconv.Itoa(i+1)
			if i < len(csvColumns) {
				field = csvColumns[i]
			}
			errs = append(errs, LineError{Line: line, Field: field, Message: field + ": " + why})
			continue
		}
		if len(rates) == 0 && len(errs) == 0 && strings.EqualFold(strings.TrimSpace(rec[0]), "prefix") {
			continue // the header
		}
		if len(errs) >= 100 {
			break
		}
		if len(rates) >= maxImportRows {
			errs = append(errs, LineError{Line: line, Message: fmt.Sprintf("more than %d rows", maxImportRows)})
			break
		}
		if len(rec) < 2 || len(rec) > len(csvColumns) {
			errs = append(errs, LineError{Line: line, Message: fmt.Sprintf("has %d fields; want 2 to %d: %s", len(rec), len(csvColumns), strings.Join(csvColumns, ","))})
			continue
		}
		x := &voice.Rate{ID: voice.NewID(voice.PrefixRate, now), CustomerID: cust, Direction: direction, Prefix: strings.TrimSpace(rec[0]),
			InitialIncrement: defaultIncrement, SubsequentIncrement: defaultIncrement, Currency: currency, Status: voice.RateActive, CreatedAt: now}
		if err := parseRateFields(x, rec); err != nil {
			errs = append(errs, LineError{Line: line, Field: err.Param, Message: err.Message})
			continue
		}
		if err := validateRate(x); err != nil {
			ve := err.(*voice.Error)
			errs = append(errs, LineError{Line: line, Field: ve.Param, Message: ve.Message})
			continue
		}
		if prev, ok := seen[x.Prefix]; ok {
			errs = append(errs, LineError{Line: line, Field: "prefix", Message: fmt.Sprintf("prefix: %q repeats line %d", x.Prefix, prev)})
			continue
		}
		seen[x.Prefix] = line
		rates = append(rates, x)
	}
	return rates, errs
}

// badField finds the first field of a CSV record the database could not
// store (NUL, invalid UTF-8: the JSON bodies' rule) and says why.
func badField(rec []string) (int, string) {
	for i, f := range rec {
		if why := textcheck.String(f); why != "" {
			return i, why
		}
	}
	return 0, ""
}

func parseRateFields(x *voice.Rate, rec []string) *voice.Error {
	field := func(i int) string {
		if i < len(rec) {
			return strings.TrimSpace(rec[i])
		}
		return ""
	}
	var err error
	if field(1) == "" {
		return required("price_per_minute")
	}
	if x.PricePerMinute, err = decimal.NewFromString(field(1)); err != nil {
		return voice.Invalid("price_per_minute", "%q is not a decimal number", field(1))
	}
	for i, dst := range []*int{&x.InitialIncrement, &x.SubsequentIncrement} {
		if v := field(2 + i); v != "" {
			n, err := strconv.Atoi(v)
			if err != nil {
				return voice.Invalid(csvColumns[2+i], "%q is not a whole number of seconds", v)
			}
			*dst = n
		}
	}
	if v := field(4); v != "" {
		if x.ConnectionFee, err = decimal.NewFromString(v); err != nil {
			return voice.Invalid("connection_fee", "%q is not a decimal number", v)
		}
	}
	x.Description = field(5)
	return nil
}

// lookupRate answers which rate a call to `to` would be priced at.
func (s *Server) lookupRate(w http.ResponseWriter, r *http.Request, p *auth.Principal) error {
	q := r.URL.Query()
	x, err := s.LookupRate(r.Context(), p, q.Get("to"), q.Get("direction"), q.Get("customer_id"))
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, x)
	return nil
}

// LookupRate finds the rate a call to `to` would be priced at, as GET
// /v1/rates/lookup does: direction defaults to outbound; customerID is the
// deck to look in (a customer key: its own).
func (s *Server) LookupRate(ctx context.Context, p *auth.Principal, to, direction, customerID string) (*voice.Rate, error) {
	if err := checkText("to", to, "direction", direction, "customer_id", customerID); err != nil {
		return nil, err
	}
	raw := strings.TrimSpace(to)
	if raw == "" {
		return nil, required("to")
	}
	to, ok := voice.NormalizeE164(raw)
	if !ok {
		return nil, voice.Invalid("to", "must be an E.164 number")
	}
	if direction == "" {
		direction = voice.DirectionOutbound
	}
	if direction != voice.DirectionOutbound && direction != voice.DirectionInbound {
		return nil, voice.Invalid("direction", "must be outbound or inbound")
	}
	if !p.IsOperator() {
		if customerID != "" && customerID != p.CustomerID {
			return nil, voice.NotFound("customer")
		}
		customerID = p.CustomerID
	} else if customerID != "" {
		if _, err := s.store.Customer(ctx, voice.Scope{}, customerID); err != nil {
			return nil, err
		}
	}
	x, err := s.store.MatchRate(ctx, customerID, direction, strings.TrimPrefix(to, "+"))
	if voice.IsNotFound(err) {
		return nil, voice.Errorf(voice.ECodeDestinationNotAllowed, "no active %s rate matches %s", direction, to)
	}
	if err != nil {
		return nil, err
	}
	return x, nil
}

// ratesChanged rebuilds the in-memory rate index that prices calls, so the
// next call sees the change. A failed rebuild keeps the previous index and is
// logged: the rate itself is saved and a later change or restart retries.
func (s *Server) ratesChanged(ctx context.Context) {
	if s.gate == nil || s.gate.Book == nil {
		return
	}
	if err := s.gate.Book.Reload(context.WithoutCancel(ctx)); err != nil {
		s.log.Error("rate index reload", slog.Any("error", err))
	}
}
