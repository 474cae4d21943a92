package api

import (
	"context"
	"log/slog"
	"net/http"
	"sort"
	"strings"
	"time"

	"github.com/minivoice/minivoice/internal/auth"
	"github.com/minivoice/minivoice/internal/insights"
	"github.com/minivoice/minivoice/internal/publicmsg"
	"github.com/minivoice/minivoice/internal/voice"
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
			// /readyz answers anyone: it says what kind of failure (refused,
			// timeout), the log says where (the database's address).
			s.log.WarnContext(r.Context(), "not ready", slog.String("check", name), slog.Any("error", err))
			checks[name] = publicmsg.Text(err)
			ok = false
			return
		}
		checks[name] = "ok"
	}
	record("database", s.store.Ping(ctx))
	for name, check := range s.ready {
		record(name, check(ctx))
	}
	// Engines are reported, not required: calls run without ASR or an LLM,
	// and a missing engine fails its own jobs with a clear error.
	var engines []insights.EngineStatus
	if s.engines != nil {
		engines = s.engines(ctx)
	}
	if !ok {
		var down []string
		for name, v := range checks {
			if v != "ok" {
				down = append(down, name)
			}
		}
		sort.Strings(down)
		extra := map[string]any{"checks": checks}
		if engines != nil {
			extra["engines"] = engines
		}
		return &voice.Error{Code: voice.ECodeNotReady, Message: "not ready: " + strings.Join(down, ", "), Extra: extra}
	}
	body := map[string]any{"ready": true, "checks": checks}
	if engines != nil {
		body["engines"] = engines
	}
	writeJSON(w, http.StatusOK, body)
	return nil
}

func (s *Server) metricsHandler(w http.ResponseWriter, r *http.Request, _ *auth.Principal) error {
	s.metrics.Handler().ServeHTTP(w, r)
	return nil
}
