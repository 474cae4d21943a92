package cli_test

import (
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"
)

func TestChecklistUsageErrors(t *testing.T) {
	t.Parallel()
	if code, _, stderr := run(t, "checklist", "--data", filepath.Join(t.TempDir(), "none")); code != 2 ||
		!strings.Contains(stderr, "no operator key") {
		t.Errorf("no key: exit %d, stderr %q; want 2 naming the missing key", code, stderr)
	}
	if code, _, stderr := run(t, "checklist", "--bogus"); code != 2 || !strings.Contains(stderr, "bogus") ||
		strings.Count(stderr, "\n") > 2 {
		t.Errorf("unknown flag: exit %d, stderr %q; want 2 and a short reason", code, stderr)
	}
	if code, _, stderr := run(t, "checklist", "--key", "k", "--replay", t.TempDir()); code != 2 ||
		!strings.Contains(stderr, "no checklist fixtures") {
		t.Errorf("replay of an empty directory: exit %d, stderr %q; want 2", code, stderr)
	}
	for _, cmd := range []string{"checklist", "demo"} {
		if code, _, stderr := run(t, cmd, "--cases", "busy,nonsense"); code != 2 ||
			!strings.Contains(stderr, `unknown case "nonsense"`) || !strings.Contains(stderr, "outbound_recorded") {
			t.Errorf("%s, unknown case: exit %d, stderr %q; want 2 listing the cases", cmd, code, stderr)
		}
		// Help goes to standard output, flags written as the docs write them.
		code, stdout, _ := run(t, cmd, "--help")
		if code != 0 || !strings.Contains(stdout, "Usage: minivoice "+cmd) || !strings.Contains(stdout, "--cases CASES") ||
			!strings.Contains(stdout, "[MINIVOICE_CASES]") {
			t.Errorf("%s --help: exit %d, stdout %q", cmd, code, stdout)
		}
	}
}

// TestChecklistWrongKey: a key the platform refuses stops the run at once
// with the API's answer, before any call.
func TestChecklistWrongKey(t *testing.T) {
	t.Parallel()
	api := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusUnauthorized)
		_, _ = w.Write([]byte(`{"error": {"code": "unauthorized", "message": "invalid API key"}}`))
	}))
	t.Cleanup(api.Close)
	code, _, stderr := run(t, "checklist", "--api", api.URL, "--key", "mvk_op_wrong", "--sip", "127.0.0.1:9")
	if code != 1 || !strings.Contains(stderr, "401 unauthorized: invalid API key") {
		t.Errorf("wrong key: exit %d, stderr %q; want 1 with the API's answer", code, stderr)
	}
}
