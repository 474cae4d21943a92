package console

import (
	"errors"
	"net/http"
	"strconv"
	"time"

	"github.com/minivoice/minivoice/internal/api"
	"github.com/minivoice/minivoice/internal/voice"
	"github.com/shopspring/decimal"
)

// Chart geometry (SVG user units). The chart is drawn as wide as the
// page's content (CSS), so the view box is wide and low: a 640-unit box
// capped at 40rem left half a desktop page empty.
const (
	usageW               = 960
	usageLeft, usageBase = 48, 190
	usageTop             = 10
	// usageLabelHalf is half a day label's width ("12-07" at 11 units a
	// character em, with room to spare): a label this close to an edge is
	// anchored at it instead of centred, so it stays inside the view box.
	usageLabelHalf = 18
)

type usageView struct {
	From, To string
	Rows     []api.UsageRow
	Chart    *usageChart
	Error    string
}

// usageChart is the daily spend as bars, in one currency.
type usageChart struct {
	// Width is the view box's width, usageW.
	Width    int
	Currency string
	Max      string
	Bars     []usageBar
	Desc     string
}

type usageBar struct {
	Date, Cost  string
	X, Y, W, H  float64
	LabelY      float64
	ShowLabel   bool
	LabelX      float64
	LabelAnchor string
}

// usagePage shows GET /v1/usage's report (operator and customer keys) per
// day and direction, with the daily spend as a server-drawn SVG bar chart.
func (c *Console) usagePage(w http.ResponseWriter, r *http.Request, s *session) error {
	if err := need(api.CustomerKeys, r, s); err != nil {
		return err
	}
	q := r.URL.Query()
	v := usageView{From: q.Get("from"), To: q.Get("to")}
	today := c.now().UTC().Truncate(24 * time.Hour)
	from, to := today.AddDate(0, 0, -29), today
	var err error
	if t, perr := parseDate("to", v.To); perr != nil {
		err = perr
	} else if t != nil {
		to = *t
		from = to.AddDate(0, 0, -29)
	}
	if t, perr := parseDate("from", v.From); err == nil && perr != nil {
		err = perr
	} else if t != nil {
		from = *t
	}
	var u api.Usage
	if err == nil {
		u, err = c.api.Usage(r.Context(), s.p, from, to, "")
	}
	if err != nil {
		var ve *voice.Error
		if !errors.As(err, &ve) || ve.Code != voice.ECodeInvalidRequest {
			return err
		}
		v.Error = ve.Message
		c.render(w, r, http.StatusBadRequest, "usage", s, "Usage", "usage", v)
		return nil
	}
	v.From, v.To, v.Rows = u.From, u.To, u.Data
	v.Chart = spendChart(u)
	c.render(w, r, http.StatusOK, "usage", s, "Usage", "usage", v)
	return nil
}

// spendChart draws the daily spend of the report's first currency (the
// table has every currency), one bar per day from From to To.
func spendChart(u api.Usage) *usageChart {
	if len(u.Data) == 0 {
		return nil
	}
	cur := u.Data[0].Currency
	from, _ := time.Parse(time.DateOnly, u.From)
	to, _ := time.Parse(time.DateOnly, u.To)
	days := int(to.Sub(from)/(24*time.Hour)) + 1
	spend := map[string]decimal.Decimal{}
	var maxSpend decimal.Decimal
	for _, row := range u.Data {
		if row.Currency != cur {
			continue
		}
		spend[row.Date] = spend[row.Date].Add(row.Cost)
		if spend[row.Date].GreaterThan(maxSpend) {
			maxSpend = spend[row.Date]
		}
	}
	ch := &usageChart{Width: usageW, Currency: cur, Max: maxSpend.String()}
	slot := float64(usageW-usageLeft) / float64(days)
	maxF := maxSpend.InexactFloat64()
	for i := range days {
		d := from.AddDate(0, 0, i).Format(time.DateOnly)
		cost := spend[d]
		h := 0.0
		if maxF > 0 {
			h = cost.InexactFloat64() / maxF * float64(usageBase-usageTop)
		}
		x := usageLeft + float64(i)*slot
		b := usageBar{Date: d, Cost: cost.String(), X: x + slot*0.1, W: slot * 0.8, H: h, Y: usageBase - h,
			LabelX: x + slot/2, LabelY: usageBase + 16, LabelAnchor: "middle"}
		switch {
		case b.LabelX+usageLabelHalf > usageW:
			b.LabelX, b.LabelAnchor = usageW, "end"
		case b.LabelX-usageLabelHalf < 0:
			b.LabelX, b.LabelAnchor = 0, "start"
		}
		// Label the first and last day and about every seventh between.
		b.ShowLabel = i == 0 || i == days-1 || (days > 14 && i%7 == 0 && days-1-i > 3) || days <= 14
		ch.Bars = append(ch.Bars, b)
	}
	ch.Desc = "Daily spend in " + cur + " from " + u.From + " to " + u.To + ", " + strconv.Itoa(days) + " days; highest day " + ch.Max + " " + cur + "."
	return ch
}
