package console

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/minivoice/minivoice/internal/voice"
)

// callsPageSize is how many calls a page of the list shows.
const callsPageSize = 50

type callsView struct {
	Calls []*voice.Call
	// Filter echoes the form's fields.
	Filter       callsFilter
	Statuses     []string
	Applications []*voice.Application
	Verdicts     []string
	// Older is the next page's URL, "" on the last page; Newest links back
	// to the first page when this is not it.
	Older, Newest string
	Error         string
	// Capped says the score/topic filters matched more analysed calls
	// than scoredCallsCap: only the newest of them are listed.
	Capped bool
}

type callsFilter struct {
	Status, Direction, Number, CreatedAfter, CreatedBefore, Application, Q string
	// Reviewed is "", "yes" or "no"; Verdict is one of voice.Verdicts or "".
	Reviewed, Verdict string
	// MinScore, MaxScore (0-100) and Topic keep analysed calls only.
	MinScore, MaxScore, Topic string
}

// callsPage lists the calls the key can see, newest first, with the API's
// filters and cursor pagination. Everything goes through the principal's
// scope, as GET /v1/calls does.
func (c *Console) callsPage(w http.ResponseWriter, r *http.Request, s *session) error {
	ctx := r.Context()
	scope := s.p.Scope()
	q := r.URL.Query()
	in := callsFilter{Status: q.Get("status"), Direction: q.Get("direction"), Number: strings.TrimSpace(q.Get("number")),
		CreatedAfter: q.Get("created_after"), CreatedBefore: q.Get("created_before"), Application: q.Get("application"),
		Q: strings.TrimSpace(q.Get("q")), Reviewed: q.Get("reviewed"), Verdict: q.Get("verdict"),
		MinScore: strings.TrimSpace(q.Get("min_score")), MaxScore: strings.TrimSpace(q.Get("max_score")), Topic: strings.TrimSpace(q.Get("topic"))}
	v := callsView{Filter: in, Statuses: voice.CallStatuses, Verdicts: voice.Verdicts}
	status := http.StatusOK
	if in.Q != "" {
		// The search box jumps to a call; one the key cannot see reads as
		// missing, as in the API.
		call, err := c.store.Call(ctx, scope, in.Q)
		switch {
		case err == nil:
			http.Redirect(w, r, "/calls/"+url.PathEscape(call.ID), http.StatusSeeOther)
			return nil
		case voice.IsNotFound(err):
			v.Error, status = "No call "+in.Q+".", http.StatusNotFound
		default:
			return err
		}
	}
	// The application filter offers the applications the key can see (the
	// first page of them; the API's limit).
	apps, err := c.store.Applications(ctx, scope, voice.Page{Limit: voice.MaxListLimit})
	if err != nil {
		return err
	}
	v.Applications = apps.Data
	f, pg, err := parseCallsFilter(in, q.Get("after"))
	if err != nil {
		v.Error, status = err.Error(), http.StatusBadRequest
		var ve *voice.Error
		if errors.As(err, &ve) {
			v.Error = ve.Message
			if ve.Param != "" {
				v.Error = ve.Param + " " + ve.Message
			}
		}
		c.render(w, r, status, "calls", s, "Calls", "calls", v)
		return nil
	}
	f.Scope = scope
	if in.MinScore != "" || in.MaxScore != "" || in.Topic != "" {
		sf, err := parseScoreFilter(in)
		if err != nil {
			v.Error = err.Error()
			var ve *voice.Error
			if errors.As(err, &ve) {
				v.Error = ve.Param + " " + ve.Message
			}
			c.render(w, r, http.StatusBadRequest, "calls", s, "Calls", "calls", v)
			return nil
		}
		if f.IDs, v.Capped, err = c.scoredCalls(ctx, f, sf); err != nil {
			return err
		}
	}
	list, err := c.store.Calls(ctx, f, pg)
	if err != nil {
		return err
	}
	v.Calls = list.Data
	if list.HasMore {
		v.Older = pageURL(q, list.NextCursor)
	}
	if pg.After != nil {
		v.Newest = pageURL(q, "")
	}
	c.render(w, r, status, "calls", s, "Calls", "calls", v)
	return nil
}

// parseCallsFilter checks the filter form as GET /v1/calls checks its
// query; the number matches either end of a call.
func parseCallsFilter(in callsFilter, after string) (f voice.CallFilter, pg voice.Page, err error) {
	pg = voice.Page{Limit: callsPageSize}
	if after != "" {
		cur, err := voice.DecodeCursor(after)
		if err != nil {
			return f, pg, err
		}
		pg.After = &cur
	}
	if in.Status != "" && !slices.Contains(voice.CallStatuses, in.Status) {
		return f, pg, voice.Invalid("status", "must be one of %s", strings.Join(voice.CallStatuses, ", "))
	}
	if in.Direction != "" && in.Direction != voice.DirectionInbound && in.Direction != voice.DirectionOutbound {
		return f, pg, voice.Invalid("direction", "must be inbound or outbound")
	}
	f.Status, f.Direction, f.ApplicationID = in.Status, in.Direction, in.Application
	if in.Number != "" {
		e, ok := voice.NormalizeE164(in.Number)
		if !ok {
			return f, pg, voice.Invalid("number", "must be an E.164 number such as +15551230000")
		}
		f.Number = e
	}
	switch in.Reviewed {
	case "":
	case "yes", "no":
		reviewed := in.Reviewed == "yes"
		f.Reviewed = &reviewed
	default:
		return f, pg, voice.Invalid("reviewed", "must be yes or no")
	}
	if in.Verdict != "" {
		if !slices.Contains(voice.Verdicts, in.Verdict) {
			return f, pg, voice.Invalid("verdict", "must be one of %s", strings.Join(voice.Verdicts, ", "))
		}
		f.Verdict = in.Verdict
	}
	if f.CreatedAfter, err = parseDate("created_after", in.CreatedAfter); err != nil {
		return f, pg, err
	}
	if f.CreatedBefore, err = parseDate("created_before", in.CreatedBefore); err != nil {
		return f, pg, err
	}
	return f, pg, nil
}

// parseDate reads a YYYY-MM-DD date (the form's date input) or an RFC 3339
// time, as the API's created_after and created_before do.
func parseDate(name, s string) (*time.Time, error) {
	if s == "" {
		return nil, nil
	}
	if t, err := time.Parse(time.RFC3339, s); err == nil {
		t = t.UTC()
		return &t, nil
	}
	if t, err := time.Parse(time.DateOnly, s); err == nil {
		return &t, nil
	}
	return nil, voice.Invalid(name, "must be a YYYY-MM-DD date or an RFC 3339 time")
}

// pageURL is the calls list with the same filters and the given cursor.
func pageURL(q url.Values, after string) string {
	n := url.Values{}
	for k, vs := range q {
		if k != "after" && k != "q" && len(vs) > 0 && vs[0] != "" {
			n.Set(k, vs[0])
		}
	}
	if after != "" {
		n.Set("after", after)
	}
	if len(n) == 0 {
		return "/calls"
	}
	return "/calls?" + n.Encode()
}

// scoredCallsCap bounds how many analysed calls the score and topic
// filters pass on to the calls query (the newest first).
const scoredCallsCap = 5000

// scoreFilter is the calls page's insights filter.
type scoreFilter struct {
	min, max int
	topic    string
}

func parseScoreFilter(in callsFilter) (scoreFilter, error) {
	sf := scoreFilter{min: 0, max: 100, topic: strings.ToLower(in.Topic)}
	for _, b := range []struct {
		name, v string
		dst     *int
	}{{"min_score", in.MinScore, &sf.min}, {"max_score", in.MaxScore, &sf.max}} {
		if b.v == "" {
			continue
		}
		n, err := strconv.Atoi(b.v)
		if err != nil || n < 0 || n > 100 {
			return sf, voice.Invalid(b.name, "must be a whole number from 0 to 100")
		}
		*b.dst = n
	}
	if sf.min > sf.max {
		return sf, voice.Invalid("min_score", "must not be above max_score")
	}
	return sf, nil
}

// scoredCalls walks the analysed calls that f's scope, application and
// creation range allow (the last 366 days when no range is given, the
// review dashboard's bound) and returns the ids of those whose score lies
// in [min, max] and that have the topic, newest first, at most
// scoredCallsCap of them.
func (c *Console) scoredCalls(ctx context.Context, f voice.CallFilter, sf scoreFilter) ([]string, bool, error) {
	rf := voice.ReviewInsightsFilter{Scope: f.Scope, ApplicationID: f.ApplicationID,
		CreatedBefore: c.now().UTC().Add(time.Millisecond), CreatedAfter: c.now().UTC().Add(-366 * 24 * time.Hour)}
	if f.CreatedAfter != nil {
		rf.CreatedAfter = *f.CreatedAfter
	}
	if f.CreatedBefore != nil {
		rf.CreatedBefore = *f.CreatedBefore
	}
	ids := []string{}
	capped := false
	errCap := errors.New("cap")
	err := c.store.ReviewInsights(ctx, rf, func(in *voice.ReviewInsight) error {
		if in.Score == nil || in.Score.Status != voice.InsightCompleted || in.Score.Score < sf.min || in.Score.Score > sf.max {
			return nil
		}
		if sf.topic != "" {
			found := false
			if in.Topics != nil {
				for _, t := range in.Topics.Topics {
					if strings.ToLower(t.Name) == sf.topic {
						found = true
					}
				}
			}
			if !found {
				return nil
			}
		}
		if len(ids) == scoredCallsCap {
			capped = true
			return errCap
		}
		ids = append(ids, in.CallID)
		return nil
	})
	if err != nil && !errors.Is(err, errCap) {
		return nil, false, fmt.Errorf("score filter: %w", err)
	}
	return ids, capped, nil
}
