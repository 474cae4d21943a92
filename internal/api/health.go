package api

import (
	"context"
	"net/http"
	"time"

	"github.com/minivoice/minivoice/internal/auth"
)

func (s *Server) healthz(w http.ResponseWriter, _ *http.Request, _ *auth.Principal) error {
	writeJSON(w, http.StatusOK, map[string]string{"status": "ok", "version": s.version})
	return nil
}

// readyz checks the database and every registered dependency, each within a second.
func (s *Server) readyz(w http.ResponseWriter, r *http.Request, _ *auth.Principal) error {
	ctx, cancel := context.WithTimeout(r.Context(), time.Second)
	defer cancel()
	checks := map[string]string{}
	ok := true
	record := func(name string, err error) {
		if err != nil {
			checks[name] = err.Error()
			ok = false
			return
		}
		checks[name] = "ok"
	}
	record("database", s.store.Ping(ctx))
	for name, check := range s.ready {
		record(name, check(ctx))
	}
	status := http.StatusOK
	if !ok {
		status = http.StatusServiceUnavailable
	}
	writeJSON(w, status, map[string]any{"ready": ok, "checks": checks})
	return nil
}

func (s *Server) metricsHandler(w http.ResponseWriter, r *http.Request, _ *auth.Principal) error {
	s.metrics.Handler().ServeHTTP(w, r)
	return nil
}
