package api_test

import (
	"context"
	"net"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/minivoice/minivoice/internal/api"
	"github.com/minivoice/minivoice/internal/auth"
	"github.com/minivoice/minivoice/internal/store/storetest"
)

// TestReadyzNamesNoInternalAddress: /readyz answers anyone, so a check that
// failed to connect says so without the address it dialled (a database or
// a dependency on the operator's network).
func TestReadyzNamesNoInternalAddress(t *testing.T) {
	t.Parallel()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	db := storetest.Open(t, "sqlite", nil)
	srv := api.New(api.Config{Store: db, Auth: auth.New(auth.Config{Store: db, OperatorKey: testOperatorKey}),
		Ready: map[string]api.Readiness{"queue": func(ctx context.Context) error {
			var d net.Dialer
			c, err := d.DialContext(ctx, "tcp", addr)
			if err == nil {
				c.Close()
			}
			return err
		}}})
	ts := httptest.NewServer(srv)
	t.Cleanup(ts.Close)
	b := &bundle{t: t, url: ts.URL, store: db, op: testOperatorKey}
	r := b.want(b.call("GET", "/readyz", "", nil), 503, "not_ready")
	checks, _ := r.JSON["error"].(map[string]any)["checks"].(map[string]any)
	if checks["queue"] != "the connection was refused" || strings.Contains(string(r.Raw), "127.0.0.1") {
		t.Fatalf("readyz: %s", r.Raw)
	}
}
