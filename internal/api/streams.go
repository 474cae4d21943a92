package api

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"

	"github.com/minivoice/minivoice/internal/auth"
	"github.com/minivoice/minivoice/internal/callctl"
	"github.com/minivoice/minivoice/internal/netguard"
	"github.com/minivoice/minivoice/internal/publicmsg"
	"github.com/minivoice/minivoice/internal/sip"
	"github.com/minivoice/minivoice/internal/voice"
)

// StreamController starts and stops live media streams (docs/streams.md) on
// the calls this process holds: the telephony engine.
type StreamController interface {
	StartStream(ctx context.Context, callID string, opts *callctl.Stream) (string, error)
	StopStream(callID, streamID string) bool
}

// streamStarted is the answer to POST /v1/calls/{id}/streams.
type streamStarted struct {
	ID     string `json:"id"`
	CallID string `json:"call_id"`
	Status string `json:"status"`
}

// startStream opens a one-way stream on a call in progress.
func (s *Server) startStream(w http.ResponseWriter, r *http.Request, p *auth.Principal) error {
	c, err := s.store.Call(r.Context(), p.Scope(), r.PathValue("id"))
	if err != nil {
		return err
	}
	b, err := body(r)
	if err != nil {
		return err
	}
	var fields map[string]json.RawMessage
	if err := decodeJSON(b, &fields); err != nil {
		return err
	}
	if fields == nil {
		return required("url")
	}
	if raw, ok := fields["bidirectional"]; ok && string(raw) == "true" {
		return voice.Invalid("bidirectional", "a bidirectional stream holds the call: start it with the stream action (POST /v1/calls/{id}/actions)")
	}
	opts, err := callctl.ParseStream("", fields)
	if err != nil {
		var pe *callctl.ParseError
		if errors.As(err, &pe) {
			return pe.APIError()
		}
		return err
	}
	if err := netguard.CheckURL(callctl.StreamHTTPURL(opts.URL), s.allow); err != nil {
		return voice.Invalid("url", "%v", err)
	}
	if opts.StatusURL != "" {
		if err := netguard.CheckURL(opts.StatusURL, s.allow); err != nil {
			return voice.Invalid("status_url", "%v", err)
		}
	}
	if c.Status != voice.CallInProgress || s.streams == nil {
		return voice.Errorf(voice.ECodeConflict, "call %s is not in progress (%s)", c.ID, c.Status)
	}
	id, err := s.streams.StartStream(r.Context(), c.ID, opts)
	switch {
	case errors.Is(err, sip.ErrNoCall):
		return voice.Errorf(voice.ECodeConflict, "call %s is not in progress on the node that answered (streams are started where the call is held)", c.ID)
	case errors.Is(err, sip.ErrStreamLimit):
		return voice.Errorf(voice.ECodeConcurrencyLimit, "the customer has as many streams open as it may")
	case err != nil:
		return voice.Invalid("url", "the stream could not be opened: %s", publicmsg.Text(err))
	}
	writeJSON(w, http.StatusCreated, streamStarted{ID: id, CallID: c.ID, Status: "started"})
	return nil
}

// stopStream stops a stream; stream.stopped follows with reason "stopped".
func (s *Server) stopStream(w http.ResponseWriter, r *http.Request, p *auth.Principal) error {
	c, err := s.store.Call(r.Context(), p.Scope(), r.PathValue("id"))
	if err != nil {
		return err
	}
	sid := r.PathValue("stream_id")
	if s.streams == nil || !s.streams.StopStream(c.ID, sid) {
		return voice.Errorf(voice.ECodeNotFound, "call %s has no open stream %s", c.ID, sid)
	}
	writeJSON(w, http.StatusOK, streamStarted{ID: sid, CallID: c.ID, Status: "stopped"})
	return nil
}
