package api

import (
	"context"
	"fmt"
	"net/http"
	"sort"
	"time"

	"github.com/minivoice/minivoice/internal/auth"
	"github.com/minivoice/minivoice/internal/voice"
	"github.com/shopspring/decimal"
)

// maxUsageDays bounds one usage report.
const maxUsageDays = 366

// UsageRow is one day and direction of a usage report.
type UsageRow struct {
	Date            string          `json:"date"`
	Direction       string          `json:"direction"`
	Calls           int             `json:"calls"`
	BillableMinutes decimal.Decimal `json:"billable_minutes"`
	Cost            decimal.Decimal `json:"cost"`
	Currency        string          `json:"currency"`
}

// usage reports, per UTC day (of the call's end) and direction, the number of
// calls, billable minutes and cost. Dates are inclusive; the default is the
// last 30 days.
func (s *Server) usage(w http.ResponseWriter, r *http.Request, p *auth.Principal) error {
	today := s.clock().Truncate(24 * time.Hour)
	from, err := queryTime(r, "from")
	if err != nil {
		return err
	}
	to, err := queryTime(r, "to")
	if err != nil {
		return err
	}
	if to == nil {
		to = &today
	}
	if from == nil {
		f := to.AddDate(0, 0, -29)
		from = &f
	}
	u, err := s.Usage(r.Context(), p, *from, *to, r.URL.Query().Get("customer_id"))
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, u)
	return nil
}

// Usage is a usage report: GET /v1/usage's answer.
type Usage struct {
	Data []UsageRow `json:"data"`
	From string     `json:"from"`
	To   string     `json:"to"`
}

// Usage reports p's usage per UTC day and direction from the day of from to
// the day of to, both included, as GET /v1/usage does; customerID narrows
// it to one customer p can see ("" for all).
func (s *Server) Usage(ctx context.Context, p *auth.Principal, from, to time.Time, customerID string) (Usage, error) {
	fromDay, toDay := from.Truncate(24*time.Hour), to.Truncate(24*time.Hour)
	if toDay.Before(fromDay) {
		return Usage{}, voice.Invalid("to", "must not be before from")
	}
	// Both ends count: from = to is one day, so the span may be maxUsageDays-1 days.
	if toDay.Sub(fromDay) >= maxUsageDays*24*time.Hour {
		return Usage{}, voice.Invalid("from", "the range must be at most %d days", maxUsageDays)
	}
	if customerID != "" {
		if _, err := s.store.Customer(ctx, p.Scope(), customerID); err != nil {
			return Usage{}, err
		}
	}
	calls, err := s.store.EndedCalls(ctx, p.Scope(), customerID, fromDay, toDay.Add(24*time.Hour))
	if err != nil {
		return Usage{}, fmt.Errorf("usage: %w", err)
	}
	type key struct{ date, direction, currency string }
	rows := map[key]*UsageRow{}
	sixty := decimal.NewFromInt(60)
	for _, c := range calls {
		k := key{c.EndedAt.UTC().Format(time.DateOnly), c.Direction, c.Currency}
		row := rows[k]
		if row == nil {
			row = &UsageRow{Date: k.date, Direction: k.direction, Currency: k.currency}
			rows[k] = row
		}
		row.Calls++
		row.BillableMinutes = row.BillableMinutes.Add(decimal.NewFromInt(int64(c.BillableSeconds)).Div(sixty))
		if c.Price != nil {
			row.Cost = row.Cost.Add(*c.Price)
		}
	}
	out := make([]UsageRow, 0, len(rows))
	for _, row := range rows {
		row.BillableMinutes = row.BillableMinutes.Round(4)
		out = append(out, *row)
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].Date != out[j].Date {
			return out[i].Date < out[j].Date
		}
		if out[i].Direction != out[j].Direction {
			return out[i].Direction < out[j].Direction
		}
		return out[i].Currency < out[j].Currency // rows come from a map: keep the order stable
	})
	return Usage{Data: out, From: fromDay.Format(time.DateOnly), To: toDay.Format(time.DateOnly)}, nil
}
