package console_test

import (
	"context"
	"database/sql"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"
)

// TestCallsScoreAndTopicFilters: the calls page keeps analysed calls whose
// score lies in the range and that have the topic, within the key's scope;
// bad values are refused with a message; the overview averages the scores.
func TestCallsScoreAndTopicFilters(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	// Recordings get their insights record as the platform's outbox would.
	h.store.SetInsightsOutbox(func(context.Context, *sql.Tx, string, string, float64) error { return nil })
	cust, other := h.customer("score-a"), h.customer("score-b")
	app, otherApp := h.application(cust), h.application(other)
	now := time.Now().UTC()
	low := analysed(t, h, cust, app, now.Add(-3*time.Hour), 20, true, "Billing")
	mid := analysed(t, h, cust, app, now.Add(-2*time.Hour), 55, true, "appointment")
	high := analysed(t, h, cust, app, now.Add(-time.Hour), 90, true, "billing")
	plain := h.addCall(cust, app, now.Add(-30*time.Minute), nil) // never analysed
	theirs := analysed(t, h, other, otherApp, now.Add(-time.Hour), 40, true, "billing")
	key, _ := h.customerKey(cust)
	b := h.browser()
	b.signIn(key)

	ids := func(query string) []string {
		t.Helper()
		p := b.get("/calls?" + query)
		if p.status != http.StatusOK {
			t.Fatalf("/calls?%s: %d %s", query, p.status, p.body)
		}
		var out []string
		for _, m := range queueRowID.FindAllStringSubmatch(p.body, -1) {
			out = append(out, m[1])
		}
		return out
	}
	for _, tc := range []struct {
		query string
		want  []string
	}{
		{"min_score=50", []string{high.ID, mid.ID}},
		{"max_score=60", []string{mid.ID, low.ID}},
		{"min_score=50&max_score=60", []string{mid.ID}},
		{"topic=billing", []string{high.ID, low.ID}},
		{"topic=BILLING&max_score=30", []string{low.ID}},
		{"topic=nothing", nil},
		{"", []string{plain.ID, high.ID, mid.ID, low.ID}},
	} {
		if got := ids(tc.query); !slices.Equal(got, tc.want) {
			t.Errorf("%q: %v, want %v", tc.query, got, tc.want)
		}
	}
	if got := ids("min_score=0"); slices.Contains(got, theirs.ID) || slices.Contains(got, plain.ID) {
		t.Errorf("score filter shows another tenant's or an unanalysed call: %v", got)
	}
	for _, bad := range []string{"min_score=x", "max_score=101", "min_score=70&max_score=20"} {
		if p := b.get("/calls?" + bad); p.status != http.StatusBadRequest || !strings.Contains(p.body, `role="alert"`) {
			t.Errorf("%q: %d, want 400 with the reason", bad, p.status)
		}
	}
	// (20 + 55 + 90) / 3 = 55, the other tenant's 40 left out.
	if p := b.get("/"); !strings.Contains(p.body, `<dd data-stat="avg-score">55 <span class="meta">(3 analysed)</span></dd>`) {
		t.Errorf("overview lacks the average score 55 of 3 calls:\n%s", p.body)
	}
}
