package api_test

import (
	"context"
	"errors"
	"net/http/httptest"
	"testing"

	"github.com/minivoice/minivoice/internal/api"
	"github.com/minivoice/minivoice/internal/auth"
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
