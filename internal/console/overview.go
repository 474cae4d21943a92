package console

import (
	"net/http"
	"time"

	"github.com/minivoice/minivoice/internal/voice"
)

type overviewView struct {
	Windows []windowView
	// Live is the number of calls not ended yet; the page keeps it current
	// through /live.
	Live int
}

type windowView struct {
	Name  string
	ID    string
	Stats voice.CallStats
	// AnswerRate is answered over ended calls; Known is false with none ended.
	AnswerRate float64
	Known      bool
	Minutes    float64
	// AvgScore is the mean score of the window's analysed calls; Scored
	// says how many there were (0: no average).
	AvgScore float64
	Scored   int
}

// overview sums the key's calls today (UTC), over the last 7 and the last
// 30 days: one aggregate query per window, in the key's scope.
func (c *Console) overview(w http.ResponseWriter, r *http.Request, s *session) error {
	now := c.now().UTC()
	end := now.Add(time.Millisecond) // a call created this millisecond counts
	windows := []struct {
		name, id string
		from     time.Time
	}{
		{"Today (UTC)", "today", now.Truncate(24 * time.Hour)},
		{"Last 7 days", "7d", now.Add(-7 * 24 * time.Hour)},
		{"Last 30 days", "30d", now.Add(-30 * 24 * time.Hour)},
	}
	v := overviewView{}
	live, err := c.store.LiveCalls(r.Context(), s.p.Scope())
	if err != nil {
		return err
	}
	v.Live = live
	for _, win := range windows {
		st, err := c.store.CallStats(r.Context(), s.p.Scope(), win.from, end)
		if err != nil {
			return err
		}
		wv := windowView{Name: win.name, ID: win.id, Stats: st, Minutes: float64(st.BillableSeconds) / 60}
		sum := 0
		err = c.store.ReviewInsights(r.Context(), voice.ReviewInsightsFilter{Scope: s.p.Scope(), CreatedAfter: win.from, CreatedBefore: end},
			func(in *voice.ReviewInsight) error {
				if in.Score != nil && in.Score.Status == voice.InsightCompleted {
					sum += in.Score.Score
					wv.Scored++
				}
				return nil
			})
		if err != nil {
			return err
		}
		if wv.Scored > 0 {
			wv.AvgScore = float64(sum) / float64(wv.Scored)
		}
		if st.Ended > 0 {
			wv.AnswerRate, wv.Known = float64(st.Answered)/float64(st.Ended), true
		}
		v.Windows = append(v.Windows, wv)
	}
	c.render(w, r, http.StatusOK, "overview", s, "Overview", "overview", v)
	return nil
}
