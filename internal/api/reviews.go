package api

import (
	"context"
	"net/http"
	"slices"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/minivoice/minivoice/internal/auth"
	"github.com/minivoice/minivoice/internal/voice"
)

type reviewInput struct {
	Verdict string `json:"verdict"`
	Note    string `json:"note"`
}

// errVerdict is the error of a verdict that is not one of voice.Verdicts.
func errVerdict(param string) *voice.Error {
	return voice.Invalid(param, "must be one of %s", strings.Join(voice.Verdicts, ", "))
}

// createReview records a verdict on a call (api.md, call reviews): any key
// that can read the call may review it.
func (s *Server) createReview(w http.ResponseWriter, r *http.Request, p *auth.Principal) error {
	c, err := s.store.Call(r.Context(), p.Scope(), r.PathValue("id"))
	if err != nil {
		return err
	}
	var in reviewInput
	if err := decode(r, &in); err != nil {
		return err
	}
	rv, err := CreateReview(r.Context(), s.store, p, c.ID, in.Verdict, in.Note, s.clock())
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusCreated, rv)
	return nil
}

// CreateReview checks a verdict and note and records them as p's review of
// the call callID visible to p: the review, the call's latest verdict and
// the call.reviewed event are written in one transaction. POST
// /v1/calls/{id}/reviews and the web console's review form both go through
// it. now is the review's time, at the store's millisecond precision.
func CreateReview(ctx context.Context, store voice.Store, p *auth.Principal, callID, verdict, note string, now time.Time) (*voice.Review, error) {
	if badID(callID) {
		return nil, voice.NotFound("call")
	}
	if err := checkText("verdict", verdict, "note", note); err != nil {
		return nil, err
	}
	c, err := store.Call(ctx, p.Scope(), callID)
	if err != nil {
		return nil, err
	}
	verdict = strings.TrimSpace(verdict)
	if verdict == "" {
		return nil, required("verdict")
	}
	if !slices.Contains(voice.Verdicts, verdict) {
		return nil, errVerdict("verdict")
	}
	note = strings.TrimSpace(note)
	if utf8.RuneCountInString(note) > voice.MaxReviewNote {
		return nil, voice.Invalid("note", "must be at most %d characters", voice.MaxReviewNote)
	}
	rv := &voice.Review{ID: voice.NewID(voice.PrefixReview, now), CallID: c.ID, CustomerID: c.CustomerID,
		ApplicationID: c.ApplicationID, Verdict: verdict, Note: note, Reviewer: voice.Reviewer{Kind: p.Kind}, CreatedAt: now}
	if p.KeyID != "" {
		id := p.KeyID
		rv.Reviewer.KeyID = &id
	}
	// The event goes to the application's webhook like the call's own
	// events; an application deleted since reads as none (nothing to send).
	app, err := store.Application(ctx, voice.Scope{}, c.ApplicationID)
	if err != nil && !voice.IsNotFound(err) {
		return nil, err
	}
	ev := voice.NewEvent(app, voice.EventCallReviewed, voice.EventSubject{CustomerID: c.CustomerID,
		ApplicationID: c.ApplicationID, CallID: c.ID}, rv, now)
	if err := store.CreateReviewWithEvents(ctx, p.Scope(), rv, ev); err != nil {
		return nil, err
	}
	return rv, nil
}

// listReviews lists a call's reviews, newest first: the first is the call's
// current verdict.
func (s *Server) listReviews(w http.ResponseWriter, r *http.Request, p *auth.Principal) error {
	pg, err := parsePage(r)
	if err != nil {
		return err
	}
	c, err := s.store.Call(r.Context(), p.Scope(), r.PathValue("id"))
	if err != nil {
		return err
	}
	list, err := s.store.Reviews(r.Context(), voice.ReviewFilter{Scope: p.Scope(), CallID: c.ID}, pg)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, list)
	return nil
}
