package console_test

import (
	"context"
	"database/sql"
	"encoding/csv"
	"net/http"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/minivoice/minivoice/internal/voice"
)

// analysed stores an ended call of app created at at, with a recording whose
// insights completed with score, a caller_sentiment criterion that passed or
// not, and topics. The harness's store must have an insights outbox.
func analysed(t *testing.T, h *harness, cust, app string, at time.Time, score int, sentimentOK bool, topics ...string) *voice.Call {
	t.Helper()
	ctx := context.Background()
	call := h.addCall(cust, app, at, func(c *voice.Call) {
		end := at.Add(time.Minute)
		c.EndedAt = &end
	})
	rec := addRecording(t, h, call, []byte("RIFF"))
	in, err := h.store.Insights(ctx, voice.Scope{}, rec.ID)
	if err != nil {
		t.Fatal(err)
	}
	in.Transcription = voice.Transcription{Status: voice.InsightCompleted, Engine: "test", Language: "en", Segments: []voice.Segment{}}
	if _, err := h.store.FinishInsightsStep(ctx, in, voice.StepTranscription, voice.StepInsights); err != nil {
		t.Fatal(err)
	}
	in.InsightsStatus, in.InsightsEngine = voice.InsightCompleted, "offline"
	in.Score = &voice.Score{Status: voice.InsightCompleted, Score: score, Rating: voice.RatingFair, Criteria: []voice.Criterion{
		{Name: "caller_sentiment", Score: 50, Passed: sentimentOK}, {Name: "greeting", Score: 100, Passed: true}}}
	in.Topics = &voice.Topics{Status: voice.InsightCompleted, Topics: []voice.Topic{}}
	for _, name := range topics {
		in.Topics.Topics = append(in.Topics.Topics, voice.Topic{Name: name, Confidence: 1, Mentions: 1})
	}
	if _, err := h.store.FinishInsightsStep(ctx, in, voice.StepInsights, ""); err != nil {
		t.Fatal(err)
	}
	return call
}

var queueRowID = regexp.MustCompile(`<tr data-call-id="(call_[^"]+)"`)

func queueIDs(body string) []string {
	i := strings.Index(body, `<table id="queue">`)
	j := strings.Index(body, `</table>`)
	if i < 0 || j < i {
		return nil
	}
	var ids []string
	for _, m := range queueRowID.FindAllStringSubmatch(body[i:j], -1) {
		ids = append(ids, m[1])
	}
	return ids
}

func TestReviewDashboard(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	h.store.SetInsightsOutbox(func(context.Context, *sql.Tx, string, string, float64) error { return nil })
	cust := h.customer("acme")
	app := h.application(cust)
	key, _ := h.customerKey(cust)
	now := time.Now().UTC()
	day := now.Add(-48 * time.Hour)
	low := analysed(t, h, cust, app, day, 40, true, "billing")
	sad := analysed(t, h, cust, app, day.Add(time.Minute), 90, false)
	topic := analysed(t, h, cust, app, now.Add(-2*time.Minute), 80, true, "=cancel")
	fine := analysed(t, h, cust, app, now.Add(-time.Minute), 85, true, "billing")
	old := analysed(t, h, cust, app, now.AddDate(0, 0, -40), 10, false)
	reviewed := analysed(t, h, cust, app, now.Add(-3*time.Minute), 20, true)
	h.apiCall("POST", "/v1/calls/"+reviewed.ID+"/reviews", testOperatorKey, map[string]any{"verdict": "ok"}, 201)
	// Another tenant's analysed calls count nowhere for acme.
	other := h.customer("globex")
	otherApp := h.application(other)
	otherKey, _ := h.customerKey(other)
	foreign := analysed(t, h, other, otherApp, now.Add(-time.Hour), 5, false, "secret-topic")

	b := h.browser()
	b.signIn(key)
	p := b.get("/review")
	if p.status != 200 {
		t.Fatalf("review: %d %s", p.status, p.body)
	}
	// Defaults: threshold 60, no topics, last 30 days: low and sad queue;
	// fine and topic score well, old is out of range, reviewed is reviewed.
	if got := strings.Join(queueIDs(p.body), ","); got != sad.ID+","+low.ID {
		t.Errorf("default queue %s, want %s,%s", got, sad.ID, low.ID)
	}
	for _, want := range []string{`<a href="/review" aria-current="page">Review</a>`, `name="threshold" type="number" min="0" max="100" value="60"`,
		`<span id="queued">2</span> of <span id="analysed">5</span>`, `score 40`, `negative sentiment`,
		`<svg id="trend" class="chart"`, `<title id="trend-title">`, `<desc id="trend-desc">`, `<table id="trend-table">`,
		`<svg id="topics-chart"`, `<td>billing</td><td class="num">2</td>`, `<table id="criteria">`,
		`<td>caller_sentiment</td><td class="num">4 / 5</td><td class="num">80.0%</td>`,
		`<td>greeting</td><td class="num">5 / 5</td><td class="num">100.0%</td>`,
		day.Format(time.DateOnly) + `</td><td class="num">2</td><td class="num">65.0</td>`, `id="export-csv"`} {
		if !strings.Contains(p.body, want) {
			t.Errorf("dashboard lacks %s", want)
		}
	}
	for _, leak := range []string{foreign.ID, "secret-topic", old.ID, fine.ID} {
		if strings.Contains(p.body, leak) {
			t.Errorf("dashboard shows %s", leak)
		}
	}
	checkHeaders(t, "GET /review", p.header)

	// A topic joins the queue (case-insensitive); a higher threshold too.
	p = b.get("/review?topics=%3DCANCEL,%20nothing&threshold=81")
	if got := strings.Join(queueIDs(p.body), ","); got != topic.ID+","+sad.ID+","+low.ID {
		t.Errorf("topic queue %s", got)
	}
	if !strings.Contains(p.body, "topic =cancel") || !strings.Contains(p.body, "score 80") {
		t.Errorf("reasons missing")
	}
	// Threshold 0 and no topics: only negative sentiment.
	if got := strings.Join(queueIDs(b.get("/review?threshold=0").body), ","); got != sad.ID {
		t.Errorf("sentiment queue %s", got)
	}
	// A review takes a call out of the queue; the range reaches old calls.
	h.apiCall("POST", "/v1/calls/"+sad.ID+"/reviews", key, map[string]any{"verdict": "escalate"}, 201)
	from := now.AddDate(0, 0, -45).Format(time.DateOnly)
	if got := strings.Join(queueIDs(b.get("/review?from="+from).body), ","); got != low.ID+","+old.ID {
		t.Errorf("queue after review %s, want %s,%s", got, low.ID, old.ID)
	}
	// The application filter: another tenant's application shows nothing.
	p = b.get("/review?application=" + otherApp)
	if ids := queueIDs(p.body); len(ids) != 0 || !strings.Contains(p.body, `id="trend-empty"`) || !strings.Contains(p.body, `id="topics-empty"`) ||
		!strings.Contains(p.body, `id="criteria-empty"`) || strings.Contains(p.body, "secret-topic") {
		t.Errorf("other tenant's application: %v", ids)
	}
	for _, q := range []string{"?threshold=101", "?from=yesterday", "?from=2026-02-01&to=2026-01-01", "?page=0"} {
		if p := b.get("/review" + q); p.status != http.StatusBadRequest || !strings.Contains(p.body, `role="alert"`) {
			t.Errorf("review%s: %d", q, p.status)
		}
	}

	// The other tenant sees only its own numbers.
	o := h.browser()
	o.signIn(otherKey)
	p = o.get("/review")
	if got := strings.Join(queueIDs(p.body), ","); got != foreign.ID || !strings.Contains(p.body, `<span id="analysed">1</span>`) {
		t.Errorf("other tenant queue %s", got)
	}
	for _, leak := range []string{low.ID, "<td>billing</td>"} {
		if strings.Contains(p.body, leak) {
			t.Errorf("other tenant sees %s", leak)
		}
	}
}

func TestReviewDashboardEmpty(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	b := h.browser()
	b.signIn(testOperatorKey)
	p := b.get("/review")
	if p.status != 200 {
		t.Fatalf("empty dashboard: %d %s", p.status, p.body)
	}
	for _, want := range []string{`Nothing to review.`, `id="trend-empty"`, `id="topics-empty"`, `id="criteria-empty"`, `Page 1 of 1`} {
		if !strings.Contains(p.body, want) {
			t.Errorf("empty dashboard lacks %s", want)
		}
	}
	if strings.Contains(p.body, "<svg") {
		t.Error("a chart without data")
	}
	c := b.get("/review.csv")
	if c.status != 200 || strings.TrimSpace(c.body) != "call_id,created_at,from,to,application_id,score,rating,topics,verdict,reasons" {
		t.Errorf("empty csv: %d %q", c.status, c.body)
	}
}

func TestReviewCSV(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	h.store.SetInsightsOutbox(func(context.Context, *sql.Tx, string, string, float64) error { return nil })
	cust := h.customer("acme")
	app := h.application(cust)
	now := time.Now().UTC()
	a := analysed(t, h, cust, app, now.Add(-2*time.Minute), 30, true, "=HYPERLINK(1)", "billing")
	bb := analysed(t, h, cust, app, now.Add(-time.Minute), 90, true, "@cmd")
	other := h.customer("globex")
	foreign := analysed(t, h, other, h.application(other), now.Add(-time.Minute), 10, false)
	key, _ := h.customerKey(cust)

	br := h.browser()
	br.signIn(key)
	p := br.get("/review.csv?topics=@cmd")
	if p.status != 200 || p.header.Get("Content-Type") != "text/csv; charset=utf-8" ||
		!regexp.MustCompile(`^attachment; filename="review-queue-\d{4}-\d{2}-\d{2}-\d{4}-\d{2}-\d{2}\.csv"$`).MatchString(p.header.Get("Content-Disposition")) ||
		p.header.Get("Cache-Control") != "no-store" {
		t.Fatalf("csv: %d %v", p.status, p.header)
	}
	rows, err := csv.NewReader(strings.NewReader(p.body)).ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	if len(rows) != 3 || strings.Join(rows[0], ",") != "call_id,created_at,from,to,application_id,score,rating,topics,verdict,reasons" {
		t.Fatalf("csv rows: %q", rows)
	}
	if rows[1][0] != bb.ID || rows[2][0] != a.ID {
		t.Errorf("csv order: %s %s", rows[1][0], rows[2][0])
	}
	want := []string{a.ID, a.CreatedAt.UTC().Format(time.RFC3339), "'+15551230001", "'+15557654321", app, "30", "fair",
		"'=HYPERLINK(1); billing", "", "score 30"}
	if strings.Join(rows[2], "|") != strings.Join(want, "|") {
		t.Errorf("csv row\n got %q\nwant %q", rows[2], want)
	}
	if rows[1][7] != "'@cmd" || rows[1][9] != "topic @cmd" {
		t.Errorf("csv row %q", rows[1])
	}
	if strings.Contains(p.body, foreign.ID) {
		t.Error("csv has another tenant's call")
	}
	if p := br.get("/review.csv?threshold=x"); p.status != http.StatusBadRequest {
		t.Errorf("bad csv query: %d", p.status)
	}
}
