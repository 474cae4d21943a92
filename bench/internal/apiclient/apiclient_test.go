package apiclient_test

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/minivoice/minivoice/bench/internal/apiclient"
)

func TestDo(t *testing.T) {
	t.Parallel()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		if r.Header.Get("Authorization") != "Bearer k" {
			w.WriteHeader(401)
			return
		}
		w.WriteHeader(201)
		_, _ = w.Write([]byte(`{"echo":` + string(b) + `}`))
	}))
	defer srv.Close()
	ctx := context.Background()
	var out struct {
		Echo map[string]string `json:"echo"`
	}
	if err := apiclient.Do(ctx, srv.Client(), srv.URL, "k", "POST", "/x", map[string]string{"a": "b"}, 201, &out); err != nil || out.Echo["a"] != "b" {
		t.Fatalf("Do = %v, %+v", err, out)
	}
	err := apiclient.Do(ctx, srv.Client(), srv.URL, "wrong", "GET", "/x", nil, 200, nil)
	if err == nil || !strings.Contains(err.Error(), "401, want 200") {
		t.Fatalf("wrong key: %v", err)
	}
	if apiclient.Str(3) != "" || apiclient.Str("s") != "s" {
		t.Error("Str")
	}
	cctx, cancel := context.WithCancel(ctx)
	cancel()
	if err := apiclient.Sleep(cctx, 1<<40); err == nil {
		t.Error("Sleep ignored its context")
	}
}
