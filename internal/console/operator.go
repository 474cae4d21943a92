package console

import (
	"errors"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"

	"github.com/minivoice/minivoice/internal/api"
	"github.com/minivoice/minivoice/internal/voice"
	"github.com/shopspring/decimal"
)

// The rate import's path and body bound: the API's 1 MiB CSV plus the
// form's other fields and multipart framing.
const (
	rateImportPath     = "/rates/import"
	maxImportFormBytes = api.MaxBodyBytes + 64<<10
)

// operatorOnly answers 404 for every key but the operator's: the pages of
// the API's operator-only routes are not there for the others.
func operatorOnly(r *http.Request, s *session) error { return need(api.OperatorOnly, r, s) }

// invalid is err's message when the API refused the input, else "" and
// err is to be returned as is.
func invalid(err error) string {
	var ve *voice.Error
	if errors.As(err, &ve) && ve.Code == voice.ECodeInvalidRequest {
		return ve.Message
	}
	return ""
}

type customersView struct {
	Customers []*voice.Customer
}

// customersPage lists the customers (operator only).
func (c *Console) customersPage(w http.ResponseWriter, r *http.Request, s *session) error {
	if err := operatorOnly(r, s); err != nil {
		return err
	}
	list, err := c.store.Customers(r.Context(), s.p.Scope(), voice.Page{Limit: voice.MaxListLimit})
	if err != nil {
		return err
	}
	c.render(w, r, http.StatusOK, "customers", s, "Customers", "customers", customersView{Customers: list.Data})
	return nil
}

type customerView struct {
	Customer *voice.Customer
	Ledger   []*voice.LedgerEntry
	Amount   string
	Desc     string
	Error    string
	Done     string
}

// customerPage shows a customer: balance, limits, recent ledger, a credit
// form and suspend/activate (operator only).
func (c *Console) customerPage(w http.ResponseWriter, r *http.Request, s *session) error {
	if err := operatorOnly(r, s); err != nil {
		return err
	}
	return c.renderCustomer(w, r, s, http.StatusOK, customerView{Done: r.URL.Query().Get("done")})
}

func (c *Console) renderCustomer(w http.ResponseWriter, r *http.Request, s *session, status int, v customerView) error {
	cust, err := c.store.Customer(r.Context(), s.p.Scope(), r.PathValue("id"))
	if err != nil {
		return err
	}
	ledger, err := c.store.LedgerEntries(r.Context(), cust.ID, voice.Page{Limit: 20})
	if err != nil {
		return err
	}
	v.Customer, v.Ledger = cust, ledger.Data
	c.render(w, r, status, "customer", s, "Customer "+cust.Name, "customers", v)
	return nil
}

// addCredit adds a ledger entry through POST /v1/customers/{id}/credits's
// code (operator only).
func (c *Console) addCredit(w http.ResponseWriter, r *http.Request, s *session) error {
	if err := operatorOnly(r, s); err != nil {
		return err
	}
	cust, err := c.store.Customer(r.Context(), s.p.Scope(), r.PathValue("id"))
	if err != nil {
		return err
	}
	v := customerView{Amount: r.PostFormValue("amount"), Desc: r.PostFormValue("description")}
	var amount *decimal.Decimal
	if a := strings.TrimSpace(v.Amount); a != "" {
		d, err := decimal.NewFromString(a)
		if err != nil {
			v.Error = "amount: must be a decimal number"
			return c.renderCustomer(w, r, s, http.StatusBadRequest, v)
		}
		amount = &d
	}
	if _, err := c.api.AddCredit(r.Context(), cust, amount, r.PostFormValue("kind"), v.Desc); err != nil {
		if v.Error = invalid(err); v.Error == "" {
			return err
		}
		return c.renderCustomer(w, r, s, http.StatusBadRequest, v)
	}
	http.Redirect(w, r, "/customers/"+url.PathEscape(cust.ID)+"?done=credit", http.StatusSeeOther)
	return nil
}

// setCustomerStatus suspends or activates a customer through PATCH
// /v1/customers/{id}'s code (operator only).
func (c *Console) setCustomerStatus(w http.ResponseWriter, r *http.Request, s *session) error {
	if err := operatorOnly(r, s); err != nil {
		return err
	}
	cust, err := c.store.Customer(r.Context(), s.p.Scope(), r.PathValue("id"))
	if err != nil {
		return err
	}
	if err := c.api.SetCustomerStatus(r.Context(), cust, r.PostFormValue("status")); err != nil {
		msg := invalid(err)
		if msg == "" {
			return err
		}
		return c.renderCustomer(w, r, s, http.StatusBadRequest, customerView{Error: msg})
	}
	http.Redirect(w, r, "/customers/"+url.PathEscape(cust.ID)+"?done=status", http.StatusSeeOther)
	return nil
}

type ratesView struct {
	Rates  []*voice.Rate
	Filter struct{ Deck, Direction, Prefix, Status string }
	Older  string
	Error  string
	// Import is the last import's result or refusal.
	Imported    *api.RateImport
	ImportError string
	ImportLines []string
	CSV         string
	// Lookup is the lookup form and its answer.
	LookupTo, LookupDeck, LookupDirection, LookupError string
	Match                                              *voice.Rate
	Customers                                          []*voice.Customer
}

// ratesPage lists rates with GET /v1/rates's filters and answers the
// lookup form with GET /v1/rates/lookup's code (operator only: the
// console's rate pages are the operator's).
func (c *Console) ratesPage(w http.ResponseWriter, r *http.Request, s *session) error {
	if err := operatorOnly(r, s); err != nil {
		return err
	}
	return c.renderRates(w, r, s, ratesView{})
}

func (c *Console) renderRates(w http.ResponseWriter, r *http.Request, s *session, v ratesView) error {
	ctx := r.Context()
	q := r.URL.Query()
	status := http.StatusOK
	v.Filter.Deck, v.Filter.Direction, v.Filter.Prefix, v.Filter.Status = q.Get("customer_id"), q.Get("direction"), q.Get("prefix"), q.Get("status")
	pg := voice.Page{Limit: callsPageSize}
	if after := q.Get("after"); after != "" {
		cur, err := voice.DecodeCursor(after)
		if err != nil {
			return err
		}
		pg.After = &cur
	}
	f := voice.RateFilter{Deck: v.Filter.Deck, Direction: v.Filter.Direction, Prefix: strings.TrimPrefix(v.Filter.Prefix, "+"), Status: v.Filter.Status}
	list, err := c.api.ListRates(ctx, s.p, f, pg)
	if err != nil {
		if v.Error = invalid(err); v.Error == "" {
			return err
		}
		status = http.StatusBadRequest
	}
	v.Rates = list.Data
	if list.HasMore {
		n := url.Values{}
		for k, vs := range q {
			if k != "after" && len(vs) > 0 && vs[0] != "" && !strings.HasPrefix(k, "lookup_") {
				n.Set(k, vs[0])
			}
		}
		n.Set("after", list.NextCursor)
		v.Older = "/rates?" + n.Encode()
	}
	v.LookupTo, v.LookupDeck, v.LookupDirection = q.Get("lookup_to"), q.Get("lookup_customer_id"), q.Get("lookup_direction")
	if v.LookupTo != "" {
		v.Match, err = c.api.LookupRate(ctx, s.p, v.LookupTo, v.LookupDirection, v.LookupDeck)
		var ve *voice.Error
		if err != nil {
			if !errors.As(err, &ve) {
				return err
			}
			v.LookupError = ve.Message
		}
	}
	cs, err := c.store.Customers(ctx, s.p.Scope(), voice.Page{Limit: voice.MaxListLimit})
	if err != nil {
		return err
	}
	v.Customers = cs.Data
	if v.ImportError != "" && status == http.StatusOK {
		status = http.StatusBadRequest
	}
	c.render(w, r, status, "rates", s, "Rates", "rates", v)
	return nil
}

// importRates replaces a deck with a CSV (a file or the textarea) through
// POST /v1/rates/import's code (operator only).
func (c *Console) importRates(w http.ResponseWriter, r *http.Request, s *session) error {
	if err := operatorOnly(r, s); err != nil {
		return err
	}
	csv := []byte(r.PostFormValue("csv"))
	if f, _, err := r.FormFile("file"); err == nil {
		defer f.Close()
		b, err := io.ReadAll(io.LimitReader(f, api.MaxBodyBytes+1))
		if err != nil {
			return voice.Errorf(voice.ECodeInvalidRequest, "could not read the file: %s", err.Error())
		}
		if len(b) > 0 {
			csv = b
		}
	}
	v := ratesView{}
	if len(csv) > api.MaxBodyBytes {
		v.ImportError = "body is larger than 1 MiB"
		return c.renderRates(w, r, s, v)
	}
	res, err := c.api.ImportRates(r.Context(), r.PostFormValue("customer_id"), r.PostFormValue("direction"), r.PostFormValue("currency"), csv)
	if err != nil {
		var ve *voice.Error
		if !errors.As(err, &ve) || ve.Code != voice.ECodeInvalidRequest {
			return err
		}
		v.ImportError, v.CSV = ve.Message, string(csv)
		if lines, ok := ve.Extra["errors"]; ok {
			v.ImportLines = lineMessages(lines)
		}
		return c.renderRates(w, r, s, v)
	}
	v.Imported = &res
	return c.renderRates(w, r, s, v)
}

type trunksView struct {
	Trunks []trunkRow
}

// trunkRow is a trunk with its customer's name (empty for a shared trunk,
// or the id when the customer is gone).
type trunkRow struct {
	*voice.Trunk
	CustomerName string
}

// Inbound and Outbound say which halves of a trunk's settings apply: the
// carrier's host:port to outbound calls, the allowed sources to inbound.
func (t trunkRow) Inbound() bool  { return t.Direction != voice.DirectionOutbound }
func (t trunkRow) Outbound() bool { return t.Direction != voice.DirectionInbound }

// trunksPage lists the SIP trunks, read-only (operator only), each with its
// customer's name: one lookup per customer that has trunks, few in practice.
func (c *Console) trunksPage(w http.ResponseWriter, r *http.Request, s *session) error {
	if err := operatorOnly(r, s); err != nil {
		return err
	}
	list, err := c.store.Trunks(r.Context(), voice.Page{Limit: voice.MaxListLimit})
	if err != nil {
		return err
	}
	names := map[string]string{}
	rows := make([]trunkRow, 0, len(list.Data))
	for _, t := range list.Data {
		row := trunkRow{Trunk: t}
		if t.CustomerID != nil {
			id := *t.CustomerID
			if _, ok := names[id]; !ok {
				names[id] = id
				cust, err := c.store.Customer(r.Context(), s.p.Scope(), id)
				if err == nil {
					names[id] = cust.Name
				} else if !voice.IsNotFound(err) {
					return err
				}
			}
			row.CustomerName = names[id]
		}
		rows = append(rows, row)
	}
	c.render(w, r, http.StatusOK, "trunks", s, "Trunks", "trunks", trunksView{Trunks: rows})
	return nil
}

type refusalsView struct {
	Refusals      []*voice.SIPRefusal
	Dropped       int64
	Since, Source string
	Older, Newest string
	Error         string
}

// refusalsPage is GET /v1/sip/refusals's log, 50 a page, filtered by since
// and source (operator only).
func (c *Console) refusalsPage(w http.ResponseWriter, r *http.Request, s *session) error {
	if err := operatorOnly(r, s); err != nil {
		return err
	}
	q := r.URL.Query()
	v := refusalsView{Since: q.Get("since"), Source: strings.TrimSpace(q.Get("source"))}
	pg := voice.Page{Limit: callsPageSize}
	if after := q.Get("after"); after != "" {
		cur, err := voice.DecodeCursor(after)
		if err != nil {
			return err
		}
		pg.After = &cur
		v.Newest = refusalsURL(v, "")
	}
	since, err := parseDate("since", v.Since)
	var list api.RefusalList
	if err == nil {
		list, err = c.api.SIPRefusals(r.Context(), since, v.Source, pg)
	}
	if err != nil {
		if v.Error = invalid(err); v.Error == "" {
			return err
		}
		c.render(w, r, http.StatusBadRequest, "refusals", s, "SIP refusals", "refusals", v)
		return nil
	}
	v.Refusals, v.Dropped = list.Data, list.Dropped
	if list.HasMore {
		v.Older = refusalsURL(v, list.NextCursor)
	}
	c.render(w, r, http.StatusOK, "refusals", s, "SIP refusals", "refusals", v)
	return nil
}

func refusalsURL(v refusalsView, after string) string {
	n := url.Values{}
	if v.Since != "" {
		n.Set("since", v.Since)
	}
	if v.Source != "" {
		n.Set("source", v.Source)
	}
	if after != "" {
		n.Set("after", after)
	}
	if len(n) == 0 {
		return "/sip-refusals"
	}
	return "/sip-refusals?" + n.Encode()
}

// lineMessages shows an import's bad lines (the API's Extra "errors").
func lineMessages(v any) []string {
	errs, _ := v.([]api.LineError)
	out := make([]string, len(errs))
	for i, e := range errs {
		out[i] = "line " + strconv.Itoa(e.Line) + ": " + e.Message
	}
	return out
}
