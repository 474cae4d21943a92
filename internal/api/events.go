package api

import (
	"context"
	"net/http"
	"slices"
	"strings"

	"github.com/minivoice/minivoice/internal/auth"
	"github.com/minivoice/minivoice/internal/voice"
)

func (s *Server) listEvents(w http.ResponseWriter, r *http.Request, p *auth.Principal) error {
	pg, err := parsePage(r)
	if err != nil {
		return err
	}
	q := r.URL.Query()
	f := voice.EventFilter{Scope: p.Scope(), Event: q.Get("event"), CallID: q.Get("call_id"),
		ApplicationID: q.Get("application_id"), DeliveryStatus: q.Get("delivery_status")}
	if f.Event != "" && f.Event != "webhook.test" && !slices.Contains(WebhookEvents, f.Event) {
		return voice.Invalid("event", "unknown event type %q", f.Event)
	}
	if f.DeliveryStatus != "" && !slices.Contains(voice.DeliveryStatuses, f.DeliveryStatus) {
		return voice.Invalid("delivery_status", "must be one of %s", strings.Join(voice.DeliveryStatuses, ", "))
	}
	// A filter naming another tenant's object is not_found, as on calls.
	if f.CallID != "" {
		if _, err := s.store.Call(r.Context(), p.Scope(), f.CallID); err != nil {
			return err
		}
	}
	if f.ApplicationID != "" {
		if _, err := s.store.Application(r.Context(), p.Scope(), f.ApplicationID); err != nil {
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

// redeliverEvent queues one more delivery of an event's webhook, whatever its
// delivery status, and answers 202 with the event (pending again). It needs
// a webhook to deliver to: an application without webhook_url, with its
// webhook disabled (by a 410 Gone; PATCH webhook_status back to active), or
// deleted, is 409 conflict, the spec's "wrong state".
func (s *Server) redeliverEvent(w http.ResponseWriter, r *http.Request, p *auth.Principal) error {
	ev, err := Redeliver(r.Context(), s.store, p.Scope(), r.PathValue("id"))
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusAccepted, ev)
	return nil
}

// Redeliver queues one more delivery of the event id visible to scope, after
// checking there is a webhook to deliver to; the web console's redeliver
// button goes through it too.
func Redeliver(ctx context.Context, store voice.Store, scope voice.Scope, id string) (*voice.Event, error) {
	if badID(id) {
		return nil, voice.NotFound("event")
	}
	ev, err := store.EventByID(ctx, scope, id)
	if err != nil {
		return nil, err
	}
	app, err := store.Application(ctx, voice.Scope{}, ev.ApplicationID)
	switch {
	case voice.IsNotFound(err):
		return nil, voice.Errorf(voice.ECodeConflict, "the event's application was deleted: there is no webhook to deliver to")
	case err != nil:
		return nil, err
	case app.WebhookURL == "":
		return nil, voice.Errorf(voice.ECodeConflict, "application %s has no webhook_url: set one with PATCH /v1/applications/%s", app.ID, app.ID)
	case app.WebhookStatus == voice.WebhookDisabled:
		return nil, voice.Errorf(voice.ECodeConflict, "application %s's webhook is disabled (a receiver answered 410 Gone): "+
			"set webhook_status to active with PATCH /v1/applications/%s first", app.ID, app.ID)
	}
	return store.RedeliverEvent(ctx, scope, ev.ID)
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
