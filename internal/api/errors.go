package api

import (
	"context"
	"errors"
	"log/slog"
	"net/http"
	"strconv"

	"github.com/minivoice/minivoice/internal/voice"
)

// errorBody is the one error shape every non-2xx answer has (the seed's).
type errorBody struct {
	Error map[string]any `json:"error"`
}

// writeError answers with err: a *voice.Error as itself, anything else as
// internal_error with the details only in the log.
func (s *Server) writeError(w http.ResponseWriter, r *http.Request, err error) {
	var ve *voice.Error
	status := HTTPStatus(err)
	if !errors.As(err, &ve) {
		if errors.Is(err, context.Canceled) && r.Context().Err() != nil {
			// The client went away; nobody reads the answer.
			ve, status = &voice.Error{Code: voice.ECodeInternal, Message: "request canceled"}, 499
		} else {
			s.log.ErrorContext(r.Context(), "internal error", slog.String("request_id", requestID(r.Context())), slog.Any("error", err))
			ve = &voice.Error{Code: voice.ECodeInternal, Message: "internal error; quote the request_id when reporting it"}
		}
	}
	body := map[string]any{"code": ve.Code, "message": ve.Message, "request_id": requestID(r.Context())}
	if ve.Param != "" {
		body["param"] = ve.Param
	}
	for k, v := range ve.Extra {
		body[k] = v
	}
	if ve.RetryAfter > 0 {
		w.Header().Set("Retry-After", strconv.Itoa(ve.RetryAfter))
	}
	writeJSON(w, status, errorBody{Error: body})
}
