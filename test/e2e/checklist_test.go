package e2e

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/minivoice/minivoice/internal/checklist"
	"github.com/minivoice/minivoice/internal/stacktest"
	"github.com/minivoice/minivoice/internal/store/storetest"
)

// fixturesDir is the checklist run committed to the repository.
const fixturesDir = "../fixtures/checklist"

// TestChecklistReplay runs every case of the end-to-end checklist against a
// fresh platform on each backend and compares the results with the
// committed fixtures: a change to what an integrator sees (a status, a
// hangup cause, an error message, which webhooks arrive) fails here, named.
func TestChecklistReplay(t *testing.T) {
	if testing.Short() {
		t.Skip("places real calls and transcribes them")
	}
	// Not parallel: the fixtures hold what real-time DTMF and speech
	// produced, which a machine busy with other calls changes.
	for _, backend := range []string{"sqlite", "postgres"} {
		t.Run(backend, func(t *testing.T) {
			if backend == "postgres" {
				storetest.SchemaURL(t) // skips without MINIVOICE_TEST_DATABASE_URL
			}
			st := stacktest.Start(t, stacktest.Config{Backend: backend})
			cases, err := checklist.FixtureCases(fixturesDir)
			if err != nil {
				t.Fatal(err)
			}
			if len(cases) != len(checklist.CaseNames()) {
				t.Fatalf("fixtures hold %d cases, the checklist has %d: regenerate them (docs/checklist.md)",
					len(cases), len(checklist.CaseNames()))
			}
			ctx, cancel := context.WithTimeout(context.Background(), 6*time.Minute)
			defer cancel()
			rep, err := checklist.Run(ctx, checklist.Config{API: st.API, Key: st.Key, SIP: st.SIPAddr(), Cases: cases})
			if err != nil {
				t.Fatal(err)
			}
			n, err := checklist.CompareFixtures(fixturesDir, rep.Results)
			if err != nil {
				t.Fatal(err)
			}
			for _, r := range rep.Results {
				if !r.Passed() {
					t.Errorf("%s failed: %s", r.Case, r.Failure)
				}
				if len(r.Differences) > 0 {
					t.Errorf("%s differs from its fixture:\n  %s", r.Case, strings.Join(r.Differences, "\n  "))
				}
			}
			if n > 0 {
				t.Logf("%d cases differ; after an intended change regenerate with: go run ./cmd/minivoice demo --fixtures test/fixtures/checklist", n)
			}
		})
	}
}

// TestChecklistRerun runs the checklist twice against the same platform:
// the second run finds the objects the first made (nothing piles up) and
// still passes every case it runs.
func TestChecklistRerun(t *testing.T) {
	if testing.Short() {
		t.Skip("places real calls")
	}
	t.Parallel()
	st := stacktest.Start(t, stacktest.Config{})
	cfg := checklist.Config{API: st.API, Key: st.Key, SIP: st.SIPAddr(), Cases: []string{"busy", "caller_hangup", "webhook_test"}}
	for run := 1; run <= 2; run++ {
		rep, err := checklist.Run(context.Background(), cfg)
		if err != nil {
			t.Fatalf("run %d: %v", run, err)
		}
		for _, r := range rep.Results {
			if !r.Passed() {
				t.Errorf("run %d: %s failed: %s", run, r.Case, r.Failure)
			}
		}
	}
	for _, path := range []string{"/v1/customers", "/v1/applications", "/v1/trunks", "/v1/numbers"} {
		page := st.Do(t, "GET", path+"?limit=200", nil, 200)
		names := map[string]int{}
		for _, x := range page["data"].([]any) {
			m := x.(map[string]any)
			key := stacktest.Str(m["name"]) + stacktest.Str(m["number"])
			names[key]++
		}
		for name, n := range names {
			if n > 1 {
				t.Errorf("%s: %d objects named %q after two runs, want 1", path, n, name)
			}
		}
	}
}
