package console

import (
	"context"
	"encoding/csv"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/minivoice/minivoice/internal/voice"
)

// Review dashboard defaults (console.md, review dashboard).
const (
	// DefaultReviewThreshold queues calls scoring below it.
	DefaultReviewThreshold = 60
	// DefaultReviewDays is the range the dashboard opens on, today included.
	DefaultReviewDays = 30
	// maxReviewDays bounds a range, and so the chart's bars and the walk.
	maxReviewDays = 366
	// reviewPageSize is how many queued calls a page of the queue shows.
	reviewPageSize = 50
	// topTopics is how many topics the frequency chart shows.
	topTopics = 10
)

// criterionSentiment is the scorecard criterion whose failure means the
// caller sounded negative (insights.md).
const criterionSentiment = "caller_sentiment"

// reviewParams is the dashboard's form, as typed and as parsed.
type reviewParams struct {
	Application, From, To, Threshold, Topics string

	app       string
	from, to  time.Time // [from, to) in UTC days
	threshold int
	topics    []string // lower case
	page      int
}

// queueRow is a queued call.
type queueRow struct {
	*voice.ReviewInsight
	// Reasons says why it is queued: low score, negative sentiment, topic.
	Reasons []string
}

// dayPoint is one day of the score trend.
type dayPoint struct {
	Day   string
	Calls int
	// Avg is the average score, meaningful when Calls > 0.
	Avg float64
	// X, Y, W, H place the day's bar in the chart.
	X, Y, W, H float64
}

// countBar is one topic of the frequency chart.
type countBar struct {
	Name  string
	Calls int
	Y, W  float64
}

// criterionRate is one criterion's pass rate over the range.
type criterionRate struct {
	Name           string
	Passed, Scored int
	Rate           float64
}

type reviewView struct {
	Params       reviewParams
	Applications []*voice.Application
	Error        string
	// Analysed counts the calls with insights in the range; Queued the
	// calls in the queue.
	Analysed, Queued int
	Queue            []queueRow
	Trend            []dayPoint
	TrendData        bool
	Topics           []countBar
	TopicsH          float64
	Criteria         []criterionRate
	Page, Pages      int
	Prev, Next, CSV  string
}

// Chart geometry, in SVG user units.
const (
	chartW, chartH = 600.0, 160.0
	topicRowH      = 22.0
	topicLabelW    = 160.0
)

// reviewPage is the AI review dashboard: the queue of analysed, unreviewed
// calls matching the queue rule, the score trend, topic frequencies and
// criteria pass rates, all in the session's scope.
func (c *Console) reviewPage(w http.ResponseWriter, r *http.Request, s *session) error {
	ctx := r.Context()
	scope := s.p.Scope()
	q := r.URL.Query()
	v := reviewView{}
	apps, err := c.store.Applications(ctx, scope, voice.Page{Limit: voice.MaxListLimit})
	if err != nil {
		return err
	}
	v.Applications = apps.Data
	p, err := parseReviewParams(q, c.now())
	v.Params = p
	if err != nil {
		v.Error = formError(err)
		c.render(w, r, http.StatusBadRequest, "review", s, "Review", "review", v)
		return nil
	}
	v.Page = p.page
	first := (p.page - 1) * reviewPageSize
	days := map[string]*dayPoint{}
	topics := map[string]int{}
	criteria := map[string]*criterionRate{}
	err = c.walkReview(ctx, scope, p, func(in *voice.ReviewInsight, reasons []string) {
		v.Analysed++
		if in.Score != nil {
			d := in.CreatedAt.UTC().Format(time.DateOnly)
			dp := days[d]
			if dp == nil {
				dp = &dayPoint{Day: d}
				days[d] = dp
			}
			dp.Calls++
			dp.Avg += float64(in.Score.Score)
			for _, cr := range in.Score.Criteria {
				rate := criteria[cr.Name]
				if rate == nil {
					rate = &criterionRate{Name: cr.Name}
					criteria[cr.Name] = rate
				}
				rate.Scored++
				if cr.Passed {
					rate.Passed++
				}
			}
		}
		if in.Topics != nil {
			seen := map[string]bool{}
			for _, t := range in.Topics.Topics {
				if !seen[t.Name] {
					seen[t.Name] = true
					topics[t.Name]++
				}
			}
		}
		if reasons != nil {
			if v.Queued >= first && v.Queued < first+reviewPageSize {
				v.Queue = append(v.Queue, queueRow{ReviewInsight: in, Reasons: reasons})
			}
			v.Queued++
		}
	})
	if err != nil {
		return err
	}
	v.Trend, v.TrendData = trend(p.from, p.to, days)
	v.Topics = topicBars(topics)
	v.TopicsH = float64(len(v.Topics)) * topicRowH
	for _, rate := range criteria {
		rate.Rate = float64(rate.Passed) / float64(rate.Scored)
		v.Criteria = append(v.Criteria, *rate)
	}
	sort.Slice(v.Criteria, func(i, j int) bool { return v.Criteria[i].Name < v.Criteria[j].Name })
	v.Pages = max(1, (v.Queued+reviewPageSize-1)/reviewPageSize)
	if p.page > 1 {
		v.Prev = reviewURL("/review", q, p.page-1)
	}
	if p.page < v.Pages {
		v.Next = reviewURL("/review", q, p.page+1)
	}
	v.CSV = reviewURL("/review.csv", q, 0)
	c.render(w, r, http.StatusOK, "review", s, "Review", "review", v)
	return nil
}

// reviewCSV exports the whole filtered queue (every page) as CSV.
func (c *Console) reviewCSV(w http.ResponseWriter, r *http.Request, s *session) error {
	p, err := parseReviewParams(r.URL.Query(), c.now())
	if err != nil {
		return err
	}
	var rows []queueRow
	err = c.walkReview(r.Context(), s.p.Scope(), p, func(in *voice.ReviewInsight, reasons []string) {
		if reasons != nil {
			rows = append(rows, queueRow{ReviewInsight: in, Reasons: reasons})
		}
	})
	if err != nil {
		return err
	}
	h := w.Header()
	h.Set("Content-Type", "text/csv; charset=utf-8")
	h.Set("Content-Disposition", fmt.Sprintf(`attachment; filename="review-queue-%s-%s.csv"`,
		p.from.Format(time.DateOnly), p.to.AddDate(0, 0, -1).Format(time.DateOnly)))
	h.Set("Cache-Control", "no-store")
	cw := csv.NewWriter(w)
	_ = cw.Write([]string{"call_id", "created_at", "from", "to", "application_id", "score", "rating", "topics", "verdict", "reasons"})
	for _, row := range rows {
		score, rating := "", ""
		if row.Score != nil {
			score, rating = strconv.Itoa(row.Score.Score), row.Score.Rating
		}
		var names []string
		if row.Topics != nil {
			for _, t := range row.Topics.Topics {
				names = append(names, t.Name)
			}
		}
		rec := []string{row.CallID, row.CreatedAt.UTC().Format(time.RFC3339), row.From, row.To, row.ApplicationID,
			score, rating, strings.Join(names, "; "), row.Verdict, strings.Join(row.Reasons, "; ")}
		for i := range rec {
			rec[i] = csvSafe(rec[i])
		}
		if err := cw.Write(rec); err != nil {
			return fmt.Errorf("write review csv: %w", err)
		}
	}
	cw.Flush()
	if err := cw.Error(); err != nil {
		return fmt.Errorf("write review csv: %w", err)
	}
	return nil
}

// csvSafe defuses a cell a spreadsheet would read as a formula: one
// starting with = + - @ (or a tab or carriage return) gets a leading quote.
func csvSafe(s string) string {
	if s != "" && strings.ContainsRune("=+-@\t\r", rune(s[0])) {
		return "'" + s
	}
	return s
}

// walkReview visits every analysed call of the range with the reasons it
// is queued, nil when it is not: reviewed calls never are.
func (c *Console) walkReview(ctx context.Context, scope voice.Scope, p reviewParams, visit func(*voice.ReviewInsight, []string)) error {
	f := voice.ReviewInsightsFilter{Scope: scope, ApplicationID: p.app, CreatedAfter: p.from, CreatedBefore: p.to}
	return c.store.ReviewInsights(ctx, f, func(in *voice.ReviewInsight) error {
		visit(in, queueReasons(in, p))
		return nil
	})
}

// queueReasons is the queue rule: an unreviewed call is queued when its
// score is below the threshold, its caller_sentiment criterion did not
// pass, or it has one of the chosen topics.
func queueReasons(in *voice.ReviewInsight, p reviewParams) []string {
	if in.Verdict != "" {
		return nil
	}
	var reasons []string
	if in.Score != nil {
		if in.Score.Score < p.threshold {
			reasons = append(reasons, "score "+strconv.Itoa(in.Score.Score))
		}
		for _, cr := range in.Score.Criteria {
			if cr.Name == criterionSentiment && !cr.Passed {
				reasons = append(reasons, "negative sentiment")
				break
			}
		}
	}
	if in.Topics != nil && len(p.topics) > 0 {
		for _, t := range in.Topics.Topics {
			if slices.Contains(p.topics, strings.ToLower(t.Name)) {
				reasons = append(reasons, "topic "+t.Name)
			}
		}
	}
	return reasons
}

// parseReviewParams reads the dashboard's query: application, from and to
// (YYYY-MM-DD, both included; default the last 30 days), threshold (0..100,
// default 60), topics (comma-separated) and page.
func parseReviewParams(q url.Values, now time.Time) (reviewParams, error) {
	p := reviewParams{Application: q.Get("application"), From: strings.TrimSpace(q.Get("from")), To: strings.TrimSpace(q.Get("to")),
		Threshold: strings.TrimSpace(q.Get("threshold")), Topics: strings.TrimSpace(q.Get("topics")), page: 1}
	p.app = p.Application
	today := now.UTC().Truncate(24 * time.Hour)
	last := today
	if p.To != "" {
		t, err := time.Parse(time.DateOnly, p.To)
		if err != nil {
			return p, voice.Invalid("to", "must be a YYYY-MM-DD date")
		}
		last = t
	} else {
		p.To = last.Format(time.DateOnly)
	}
	p.from = last.AddDate(0, 0, 1-DefaultReviewDays)
	if p.From != "" {
		t, err := time.Parse(time.DateOnly, p.From)
		if err != nil {
			return p, voice.Invalid("from", "must be a YYYY-MM-DD date")
		}
		p.from = t
	} else {
		p.From = p.from.Format(time.DateOnly)
	}
	p.to = last.AddDate(0, 0, 1)
	if !p.from.Before(p.to) {
		return p, voice.Invalid("from", "must not be after to")
	}
	if p.to.Sub(p.from) > maxReviewDays*24*time.Hour {
		return p, voice.Invalid("from", "the range must be at most %d days", maxReviewDays)
	}
	p.threshold = DefaultReviewThreshold
	if p.Threshold != "" {
		n, err := strconv.Atoi(p.Threshold)
		if err != nil || n < 0 || n > 100 {
			return p, voice.Invalid("threshold", "must be a whole number from 0 to 100")
		}
		p.threshold = n
	} else {
		p.Threshold = strconv.Itoa(p.threshold)
	}
	for _, t := range strings.Split(p.Topics, ",") {
		if t = strings.ToLower(strings.TrimSpace(t)); t != "" && !slices.Contains(p.topics, t) {
			p.topics = append(p.topics, t)
		}
	}
	if s := q.Get("page"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n < 1 {
			return p, voice.Invalid("page", "must be a whole number from 1")
		}
		p.page = n
	}
	return p, nil
}

// formError is an error as a form shows it.
func formError(err error) string {
	var ve *voice.Error
	if errors.As(err, &ve) {
		if ve.Param != "" {
			return ve.Param + " " + ve.Message
		}
		return ve.Message
	}
	return err.Error()
}

// reviewURL is path with the dashboard's filters and page (0: none).
func reviewURL(path string, q url.Values, page int) string {
	n := url.Values{}
	for _, k := range []string{"application", "from", "to", "threshold", "topics"} {
		if v := q.Get(k); v != "" {
			n.Set(k, v)
		}
	}
	if page > 1 {
		n.Set("page", strconv.Itoa(page))
	}
	if len(n) == 0 {
		return path
	}
	return path + "?" + n.Encode()
}

// trend is the score trend's bars: one slot per day of [from, to), a bar
// where the day has scored calls; data says whether any day has.
func trend(from, to time.Time, days map[string]*dayPoint) ([]dayPoint, bool) {
	n := int(to.Sub(from) / (24 * time.Hour))
	out := make([]dayPoint, 0, n)
	slot := chartW / float64(n)
	data := false
	for i := range n {
		d := from.AddDate(0, 0, i).Format(time.DateOnly)
		dp := dayPoint{Day: d}
		if got := days[d]; got != nil {
			dp.Calls, dp.Avg = got.Calls, got.Avg/float64(got.Calls)
			data = true
		}
		dp.X, dp.W = float64(i)*slot+slot*0.1, slot*0.8
		dp.H = dp.Avg / 100 * chartH
		dp.Y = chartH - dp.H
		out = append(out, dp)
	}
	return out, data
}

// topicBars is the topic frequency chart: the ten topics on most calls.
func topicBars(topics map[string]int) []countBar {
	bars := make([]countBar, 0, len(topics))
	for name, n := range topics {
		bars = append(bars, countBar{Name: name, Calls: n})
	}
	sort.Slice(bars, func(i, j int) bool {
		if bars[i].Calls != bars[j].Calls {
			return bars[i].Calls > bars[j].Calls
		}
		return bars[i].Name < bars[j].Name
	})
	if len(bars) > topTopics {
		bars = bars[:topTopics]
	}
	for i := range bars {
		bars[i].Y = float64(i) * topicRowH
		bars[i].W = float64(bars[i].Calls) / float64(bars[0].Calls) * (chartW - topicLabelW - 40)
	}
	return bars
}
