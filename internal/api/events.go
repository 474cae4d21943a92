package api

import (
	"net/http"
	"slices"

	"github.com/minivoice/minivoice/internal/auth"
	"github.com/minivoice/minivoice/internal/voice"
)

func (s *Server) listEvents(w http.ResponseWriter, r *http.Request, p *auth.Principal) error {
	pg, err := parsePage(r)
	if err != nil {
		return err
	}
	q := r.URL.Query()
	f := voice.EventFilter{Scope: p.Scope(), Event: q.Get("event"), CallID: q.Get("call_id")}
	if f.Event != "" && f.Event != "webhook.test" && !slices.Contains(WebhookEvents, f.Event) {
		return voice.Invalid("event", "unknown event type %q", f.Event)
	}
	if f.CallID != "" {
		if _, err := s.store.Call(r.Context(), p.Scope(), f.CallID); err != nil {
			return err
		}
	}
	list, err := s.store.Events(r.Context(), f, pg)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, list)
	return nil
}

func (s *Server) getEvent(w http.ResponseWriter, r *http.Request, p *auth.Principal) error {
	e, err := s.store.EventByID(r.Context(), p.Scope(), r.PathValue("id"))
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, e)
	return nil
}

func (s *Server) listCallEvents(w http.ResponseWriter, r *http.Request, p *auth.Principal) error {
	c, err := s.store.Call(r.Context(), p.Scope(), r.PathValue("id"))
	if err != nil {
		return err
	}
	events, err := s.store.CallEvents(r.Context(), p.Scope(), c.ID)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, voice.List[*voice.Event]{Data: events})
	return nil
}
