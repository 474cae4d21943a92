package api

import (
	"encoding/json"
	"net/http"
	"strconv"
	"time"

	"github.com/minivoice/minivoice/internal/voice"
)

func writeJSON(w http.ResponseWriter, status int, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		status = http.StatusInternalServerError
		b = []byte(`{"error":{"code":"internal_error","message":"could not encode response"}}`)
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_, _ = w.Write(append(b, '\n'))
}

// parsePage reads limit and after.
func parsePage(r *http.Request) (voice.Page, error) {
	p := voice.Page{Limit: voice.DefaultListLimit}
	q := r.URL.Query()
	if s := q.Get("limit"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n < 1 || n > voice.MaxListLimit {
			return p, voice.Invalid("limit", "must be an integer from 1 to %d", voice.MaxListLimit)
		}
		p.Limit = n
	}
	if s := q.Get("after"); s != "" {
		c, err := voice.DecodeCursor(s)
		if err != nil {
			return p, err
		}
		p.After = &c
	}
	return p, nil
}

// queryTime parses an optional RFC 3339 time or YYYY-MM-DD date parameter.
func queryTime(r *http.Request, name string) (*time.Time, error) {
	s := r.URL.Query().Get(name)
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
	return nil, voice.Invalid(name, "must be an RFC 3339 time or a YYYY-MM-DD date")
}
