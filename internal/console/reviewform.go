package console

import (
	"net/http"
	"net/url"
	"time"

	"github.com/minivoice/minivoice/internal/api"
	"github.com/minivoice/minivoice/internal/voice"
)

// reviewHistory is how many of a call's reviews its page lists.
const reviewHistory = 50

// reviewCall records the review form's verdict and note as the session's
// key's review of the call, through the API's code (the same checks, the
// same call.reviewed event), and goes back to the call's review history.
// Another tenant's call is a 404.
func (c *Console) reviewCall(w http.ResponseWriter, r *http.Request, s *session) error {
	rv, err := api.CreateReview(r.Context(), c.store, s.p, r.PathValue("id"), r.PostFormValue("verdict"),
		r.PostFormValue("note"), c.now().UTC().Truncate(time.Millisecond))
	if err != nil {
		return err
	}
	http.Redirect(w, r, "/calls/"+url.PathEscape(rv.CallID)+"?reviewed="+url.QueryEscape(rv.ID)+"#reviews", http.StatusSeeOther)
	return nil
}

// callReviews is the review history the call page shows, newest first.
func (c *Console) callReviews(r *http.Request, scope voice.Scope, callID string) ([]*voice.Review, error) {
	list, err := c.store.Reviews(r.Context(), voice.ReviewFilter{Scope: scope, CallID: callID}, voice.Page{Limit: reviewHistory})
	if err != nil {
		return nil, err
	}
	return list.Data, nil
}
