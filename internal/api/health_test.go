package api_test

import (
	"context"
	"errors"
	"net/http/httptest"
	"testing"

	"github.com/minivoice/minivoice/internal/api"
	"github.com/minivoice/minivoice/internal/auth"
	"github.com/minivoice/minivoice/internal/insights"
	"github.com/minivoice/minivoice/internal/store/storetest"
)

func TestReadyzReportsADownDependency(t *testing.T) {
	t.Parallel()
	db := storetest.Open(t, "sqlite", nil)
	srv := api.New(api.Config{Store: db, Auth: auth.New(auth.Config{Store: db, OperatorKey: testOperatorKey}),
		Ready: map[string]api.Readiness{"sip": func(context.Context) error { return errors.New("listener not started") }}})
	ts := httptest.NewServer(srv)
	t.Cleanup(ts.Close)
	b := &bundle{t: t, url: ts.URL, store: db, op: testOperatorKey}
	r := b.want(b.call("GET", "/readyz", "", nil), 503, "not_ready")
	checks, _ := r.JSON["error"].(map[string]any)["checks"].(map[string]any)
	if checks["database"] != "ok" || checks["sip"] != "listener not started" {
		t.Fatalf("checks: %s", r.Raw)
	}
}

// TestReadyzReportsEngines: the engines are listed, and a missing one does
// not make the platform unready (calls run without ASR).
func TestReadyzReportsEngines(t *testing.T) {
	t.Parallel()
	db := storetest.Open(t, "sqlite", nil)
	srv := api.New(api.Config{Store: db, Auth: auth.New(auth.Config{Store: db, OperatorKey: testOperatorKey}),
		Engines: func(context.Context) []insights.EngineStatus {
			return []insights.EngineStatus{{Kind: "tts", Name: "flite", Available: true},
				{Kind: "asr", Name: "pocketsphinx", Available: false, Detail: "pocketsphinx_continuous not found"}}
		}})
	ts := httptest.NewServer(srv)
	t.Cleanup(ts.Close)
	b := &bundle{t: t, url: ts.URL, store: db, op: testOperatorKey}
	r := b.ok(200, "GET", "/readyz", "", nil)
	engines, _ := r.JSON["engines"].([]any)
	if len(engines) != 2 || engines[1].(map[string]any)["available"] != false ||
		engines[1].(map[string]any)["detail"] != "pocketsphinx_continuous not found" {
		t.Errorf("readyz: %s", r.Raw)
	}
}
