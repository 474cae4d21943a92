package console

import (
	"context"
	"errors"
	"io/fs"
	"log/slog"
	"net/http"
	"net/url"

	"github.com/minivoice/minivoice/internal/api"
	"github.com/minivoice/minivoice/internal/voice"
)

// responseExcerpt is how much of a webhook receiver's answer the timeline shows.
const responseExcerpt = 200

type callView struct {
	Call     *voice.Call
	Events   []eventView
	Insights *voice.Insights
	// Recording is the recording the player plays (completed), or nil.
	Recording   *voice.Recording
	Recordings  []*voice.Recording
	Redelivered string
	// Reviews is the call's review history, newest first; Reviewed is the
	// id of the review just posted.
	Reviews  []*voice.Review
	Reviewed string
	Verdicts []string
}

type eventView struct {
	*voice.Event
	Attempts []attemptView
}

type attemptView struct {
	voice.Attempt
	Excerpt string
}

// sourceRank orders a call's recordings as the API's insights endpoints do:
// the whole call first, then a bridged conversation, then a voicemail.
var sourceRank = map[string]int{voice.RecordingSourceCall: 0, voice.RecordingSourceDial: 1, voice.RecordingSourceRecordAction: 2}

// callPage shows one call: its fields and cost, its events with their
// webhook deliveries, its recording, transcript and insights. Another
// tenant's call is a 404, as in the API.
func (c *Console) callPage(w http.ResponseWriter, r *http.Request, s *session) error {
	ctx := r.Context()
	scope := s.p.Scope()
	call, err := c.store.Call(ctx, scope, r.PathValue("id"))
	if err != nil {
		return err
	}
	events, err := c.store.CallEvents(ctx, scope, call.ID)
	if err != nil {
		return err
	}
	v := callView{Call: call, Events: make([]eventView, len(events)), Redelivered: r.URL.Query().Get("redelivered")}
	for i, e := range events {
		ev := eventView{Event: e, Attempts: make([]attemptView, len(e.Attempts))}
		for j, a := range e.Attempts {
			ev.Attempts[j] = attemptView{Attempt: a, Excerpt: excerpt(a.Response, responseExcerpt)}
		}
		v.Events[i] = ev
	}
	v.Insights, v.Recording, v.Recordings, err = c.callMedia(ctx, scope, call.ID)
	if err != nil {
		return err
	}
	if v.Reviews, err = c.callReviews(r, scope, call.ID); err != nil {
		return err
	}
	v.Reviewed, v.Verdicts = r.URL.Query().Get("reviewed"), voice.Verdicts
	c.render(w, r, http.StatusOK, "call", s, "Call "+call.ID, "calls", v)
	return nil
}

// callMedia picks what the call page shows: the insights record of the
// preferred recording (as GET /v1/calls/{id}/transcription picks it) and
// the completed recording to play, the insights' own when it has one, so
// the transcript's times match the audio.
func (c *Console) callMedia(ctx context.Context, scope voice.Scope, callID string) (*voice.Insights, *voice.Recording, []*voice.Recording, error) {
	recs, err := c.store.Recordings(ctx, voice.RecordingFilter{Scope: scope, CallID: callID}, voice.Page{Limit: 100})
	if err != nil {
		return nil, nil, nil, err
	}
	if len(recs.Data) == 0 {
		return nil, nil, recs.Data, nil
	}
	byID := map[string]*voice.Recording{}
	var play *voice.Recording
	for _, rec := range recs.Data {
		byID[rec.ID] = rec
		if rec.Status == voice.RecordingCompleted && (play == nil || sourceRank[rec.Source] < sourceRank[play.Source]) {
			play = rec
		}
	}
	records, err := c.store.CallInsights(ctx, scope, callID)
	if err != nil {
		return nil, nil, nil, err
	}
	var pick *voice.Insights
	for _, in := range records {
		rec := byID[in.RecordingID]
		if rec == nil {
			continue
		}
		if pick == nil || sourceRank[rec.Source] <= sourceRank[byID[pick.RecordingID].Source] {
			pick = in
		}
	}
	if pick != nil {
		if rec := byID[pick.RecordingID]; rec.Status == voice.RecordingCompleted {
			play = rec
		}
	}
	return pick, play, recs.Data, nil
}

// playedRecording is the recording the page of the call in the request's
// path plays, found through the session's scope; not_found when the call is
// not the key's or has no completed recording.
func (c *Console) playedRecording(r *http.Request, s *session) (*voice.Recording, error) {
	scope := s.p.Scope()
	call, err := c.store.Call(r.Context(), scope, r.PathValue("id"))
	if err != nil {
		return nil, err
	}
	_, rec, _, err := c.callMedia(r.Context(), scope, call.ID)
	if err != nil {
		return nil, err
	}
	if rec == nil || c.files == nil {
		return nil, voice.Errorf(voice.ECodeNotFound, "call %s has no completed recording", call.ID)
	}
	return rec, nil
}

// recording serves the call's recording (the one the page plays) with the
// session's scope, through the API's media code: Range requests, ETag.
func (c *Console) recording(w http.ResponseWriter, r *http.Request, s *session) error {
	ctx := r.Context()
	rec, err := c.playedRecording(r, s)
	if err != nil {
		return err
	}
	err = api.ServeRecording(w, r, c.files, rec, nil)
	if errors.Is(err, fs.ErrNotExist) {
		c.log.ErrorContext(ctx, "recording file missing", slog.String("recording_id", rec.ID), slog.String("storage_key", rec.StorageKey))
		return voice.Errorf(voice.ECodeNotFound, "the media of recording %s is missing", rec.ID)
	}
	return err
}

// redeliver queues one more delivery of an event of the call, as POST
// /v1/events/{id}/redeliver does, and goes back to the call.
func (c *Console) redeliver(w http.ResponseWriter, r *http.Request, s *session) error {
	ctx := r.Context()
	scope := s.p.Scope()
	call, err := c.store.Call(ctx, scope, r.PathValue("id"))
	if err != nil {
		return err
	}
	ev, err := c.store.EventByID(ctx, scope, r.PathValue("event_id"))
	if err != nil {
		return err
	}
	// The event must be this call's: the URL names both.
	if ev.CallID == nil || *ev.CallID != call.ID {
		return voice.NotFound("event")
	}
	if _, err := api.Redeliver(ctx, c.store, scope, ev.ID); err != nil {
		return err
	}
	http.Redirect(w, r, "/calls/"+url.PathEscape(call.ID)+"?redelivered="+url.QueryEscape(ev.ID)+"#"+url.PathEscape(ev.ID), http.StatusSeeOther)
	return nil
}
