package api

import (
	"net/http"
	"time"

	"github.com/minivoice/minivoice/internal/auth"
	"github.com/minivoice/minivoice/internal/voice"
)

// sourceRank orders the recordings of a call when the client does not name
// one: the whole-call recording says most about the call, then a bridged
// conversation, then a voicemail.
var sourceRank = map[string]int{voice.RecordingSourceCall: 0, voice.RecordingSourceDial: 1, voice.RecordingSourceRecordAction: 2}

// callInsights finds the pipeline record the call's insights endpoints show:
// the one of ?recording_id= if given, else of the call's preferred recording.
// A call without a recording is 404 not_found (insights.md's "where data
// exists"); so is one whose application has insights off. A recording still
// being made, of an application with insights on, reads as queued.
func (s *Server) callInsights(r *http.Request, p *auth.Principal) (*voice.Insights, error) {
	ctx := r.Context()
	scope := p.Scope()
	call, err := s.store.Call(ctx, scope, r.PathValue("id"))
	if err != nil {
		return nil, err
	}
	recs, err := s.store.Recordings(ctx, voice.RecordingFilter{Scope: scope, CallID: call.ID}, voice.Page{Limit: 100})
	if err != nil {
		return nil, err
	}
	want := r.URL.Query().Get("recording_id")
	byID := map[string]*voice.Recording{}
	for _, rec := range recs.Data {
		if want == "" || rec.ID == want {
			byID[rec.ID] = rec
		}
	}
	if len(byID) == 0 {
		if want != "" {
			return nil, voice.Errorf(voice.ECodeNotFound, "call %s has no recording %s", call.ID, want)
		}
		return nil, voice.Errorf(voice.ECodeNotFound, "call %s has no recording", call.ID)
	}
	records, err := s.store.CallInsights(ctx, scope, call.ID)
	if err != nil {
		return nil, err
	}
	var pick *voice.Insights
	for _, in := range records {
		rec := byID[in.RecordingID]
		if rec == nil {
			continue
		}
		// Recordings list newest first, records oldest first: among equal
		// sources the later record wins.
		if pick == nil || sourceRank[rec.Source] <= sourceRank[byID[pick.RecordingID].Source] {
			pick = in
		}
	}
	if pick != nil {
		return pick, nil
	}
	// No record: the recordings are still being made, failed, or their
	// application does not run insights.
	app, err := s.store.Application(ctx, voice.Scope{}, call.ApplicationID)
	if err != nil && !voice.IsNotFound(err) {
		return nil, err
	}
	if app == nil || !app.Insights {
		return nil, voice.Errorf(voice.ECodeNotFound, "call %s has no insights: its application has insights turned off", call.ID)
	}
	var live *voice.Recording
	for _, rec := range recs.Data {
		if byID[rec.ID] != nil && rec.Status == voice.RecordingInProgress && (live == nil || sourceRank[rec.Source] < sourceRank[live.Source]) {
			live = rec
		}
	}
	if live == nil {
		return nil, voice.Errorf(voice.ECodeNotFound, "call %s has no insights: none of its recordings completed", call.ID)
	}
	return &voice.Insights{RecordingID: live.ID, CallID: call.ID, CustomerID: call.CustomerID, ApplicationID: call.ApplicationID,
		Transcription: voice.Transcription{CallID: call.ID, RecordingID: live.ID, Status: voice.InsightQueued,
			Segments: []voice.Segment{}, CreatedAt: live.CreatedAt, UpdatedAt: live.UpdatedAt},
		InsightsStatus: voice.InsightQueued, CreatedAt: live.CreatedAt, UpdatedAt: live.UpdatedAt}, nil
}

func (s *Server) getTranscription(w http.ResponseWriter, r *http.Request, p *auth.Principal) error {
	in, err := s.callInsights(r, p)
	if err != nil {
		return err
	}
	t := in.Transcription
	t.CallID, t.RecordingID = in.CallID, in.RecordingID
	if t.Segments == nil {
		t.Segments = []voice.Segment{}
	}
	if t.CreatedAt.IsZero() {
		t.CreatedAt, t.UpdatedAt = in.CreatedAt, in.UpdatedAt
	}
	t.CreatedAt, t.UpdatedAt = t.CreatedAt.UTC().Truncate(time.Millisecond), t.UpdatedAt.UTC().Truncate(time.Millisecond)
	writeJSON(w, http.StatusOK, t)
	return nil
}

// insightsState is the status, engine and error every result of the insights
// step shows until the step completes.
func insightsState(in *voice.Insights) (status, engine string, e *voice.StepError) {
	return in.InsightsStatus, in.InsightsEngine, in.InsightsError
}

func (s *Server) getSummary(w http.ResponseWriter, r *http.Request, p *auth.Principal) error {
	in, err := s.callInsights(r, p)
	if err != nil {
		return err
	}
	out := in.Summary
	if out == nil || in.InsightsStatus != voice.InsightCompleted {
		status, engine, e := insightsState(in)
		out = &voice.Summary{Status: status, Engine: engine, KeyPoints: []string{}, Error: e}
	}
	out.CallID, out.RecordingID = in.CallID, in.RecordingID
	writeJSON(w, http.StatusOK, out)
	return nil
}

func (s *Server) getScore(w http.ResponseWriter, r *http.Request, p *auth.Principal) error {
	in, err := s.callInsights(r, p)
	if err != nil {
		return err
	}
	out := in.Score
	if out == nil || in.InsightsStatus != voice.InsightCompleted {
		status, engine, e := insightsState(in)
		out = &voice.Score{Status: status, Engine: engine, Criteria: []voice.Criterion{}, Error: e}
	}
	out.CallID, out.RecordingID = in.CallID, in.RecordingID
	writeJSON(w, http.StatusOK, out)
	return nil
}

func (s *Server) getTopics(w http.ResponseWriter, r *http.Request, p *auth.Principal) error {
	in, err := s.callInsights(r, p)
	if err != nil {
		return err
	}
	out := in.Topics
	if out == nil || in.InsightsStatus != voice.InsightCompleted {
		status, engine, e := insightsState(in)
		out = &voice.Topics{Status: status, Engine: engine, Topics: []voice.Topic{}, Error: e}
	}
	out.CallID, out.RecordingID = in.CallID, in.RecordingID
	writeJSON(w, http.StatusOK, out)
	return nil
}
