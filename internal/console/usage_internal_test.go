package console

import (
	"testing"
	"time"

	"github.com/minivoice/minivoice/internal/api"
	"github.com/shopspring/decimal"
)

// TestSpendChartLabelsInside: every day label, centred or anchored at an
// edge, stays inside the view box (the last one was cut to "12-0").
func TestSpendChartLabelsInside(t *testing.T) {
	for _, days := range []int{1, 7, 14, 30, 31, 90} {
		to := time.Date(2026, 12, 7, 0, 0, 0, 0, time.UTC)
		from := to.AddDate(0, 0, 1-days)
		u := api.Usage{From: from.Format(time.DateOnly), To: to.Format(time.DateOnly),
			Data: []api.UsageRow{{Date: to.Format(time.DateOnly), Direction: "outbound", Cost: decimal.NewFromInt(3), Currency: "EUR"}}}
		ch := spendChart(u)
		if ch.Width != usageW || len(ch.Bars) != days {
			t.Fatalf("%d days: width %d, %d bars", days, ch.Width, len(ch.Bars))
		}
		if last := ch.Bars[days-1]; !last.ShowLabel || last.Date != "2026-12-07" {
			t.Errorf("%d days: last bar %+v; want its label shown", days, last)
		}
		for _, b := range ch.Bars {
			if !b.ShowLabel {
				continue
			}
			lo, hi := b.LabelX-usageLabelHalf, b.LabelX+usageLabelHalf
			switch b.LabelAnchor {
			case "start":
				lo, hi = b.LabelX, b.LabelX+2*usageLabelHalf
			case "end":
				lo, hi = b.LabelX-2*usageLabelHalf, b.LabelX
			}
			if lo < 0 || hi > float64(ch.Width) {
				t.Errorf("%d days: label %s spans %.1f-%.1f, outside 0-%d", days, b.Date, lo, hi, ch.Width)
			}
			if b.X+b.W > float64(ch.Width) {
				t.Errorf("%d days: bar %s ends at %.1f, outside the view box", days, b.Date, b.X+b.W)
			}
		}
	}
}
