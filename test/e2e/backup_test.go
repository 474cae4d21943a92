package e2e

import (
	"bytes"
	"crypto/rand"
	"crypto/sha256"
	"database/sql"
	"encoding/hex"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"testing"
	"time"

	"github.com/minivoice/minivoice/internal/platform"
	"github.com/minivoice/minivoice/internal/stacktest"
)

// TestBackupRestoreUnderLoad: `minivoice backup` (the binary, as an
// operator's cron job runs it) copies a SQLite platform while it takes
// calls: one recorded call is up through the whole backup and short recorded
// calls are placed while it runs. `minivoice restore` puts the copy in a new
// data directory and a platform started on it has every call that had
// completed, each with its recording (the same bytes) and its charge; the
// call that was up is closed as after a crash (system_restart) with the
// audio written before the backup.
func TestBackupRestoreUnderLoad(t *testing.T) {
	if testing.Short() {
		t.Skip("real calls through a whole platform, backed up and restored")
	}
	t.Parallel()
	bin := build(t)
	app := http.NewServeMux()
	app.HandleFunc("/short", func(w http.ResponseWriter, _ *http.Request) {
		fmt.Fprint(w, `[{"action":"say","text":"this call is recorded"},{"action":"hangup"}]`)
	})
	app.HandleFunc("/long", func(w http.ResponseWriter, _ *http.Request) {
		fmt.Fprint(w, `[{"action":"say","text":"this call stays up during the backup"},{"action":"pause","length":60}]`)
	})
	var data string
	st := stacktest.Start(t, stacktest.Config{App: app, SimAnswerDelay: -1, Platform: func(pc *platform.Config) { data = pc.Serve.Data }})
	cust := st.Customer(t, "backup")
	st.OutboundTrunkToSim(t, cust)
	short := st.Application(t, cust, st.AppURL+"/short")
	long := st.Application(t, cust, st.AppURL+"/long")
	n := 0
	place := func(appID string) string {
		n++
		return stacktest.Str(st.Do(t, "POST", "/v1/calls", map[string]any{"to": fmt.Sprintf("+1555007%04d", n),
			"from": "+15551230001", "application_id": appID, "record": true}, 201)["id"])
	}

	// Before the backup: completed calls with their recordings.
	var before []string
	for range 3 {
		before = append(before, place(short))
	}
	for _, id := range before {
		st.WaitCall(t, id)
	}
	// A call that is up for the whole backup.
	up := place(long)
	deadline := time.Now().Add(stacktest.CallTimeout)
	for st.Do(t, "GET", "/v1/calls/"+up, nil, 200)["status"] != "in-progress" {
		if time.Now().After(deadline) {
			t.Fatalf("call %s not answered after %v", up, stacktest.CallTimeout)
		}
		time.Sleep(50 * time.Millisecond)
	}
	// ... and has audio on disk: a second of it flushed to the WAV file.
	// The recording starts just after the answer is written.
	var recs []any
	for {
		if recs = st.Do(t, "GET", "/v1/recordings?call_id="+up, nil, 200)["data"].([]any); len(recs) == 1 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("call %s has %d recordings, want 1", up, len(recs))
		}
		time.Sleep(50 * time.Millisecond)
	}
	upRec := stacktest.Str(recs[0].(map[string]any)["id"])
	wav := filepath.Join(data, "recordings", cust, upRec+".wav")
	for {
		if fi, err := os.Stat(wav); err == nil && fi.Size() > 44+16000*2*2 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("no second of audio in %s after %v", wav, stacktest.CallTimeout)
		}
		time.Sleep(50 * time.Millisecond)
	}

	backupDir := filepath.Join(t.TempDir(), "backup")
	cmd := exec.Command(bin, "backup", "--data", data, "--to", backupDir)
	// Wait returns once the output is copied: out is read only after it.
	out := &bytes.Buffer{}
	cmd.Stdout, cmd.Stderr = out, out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	var during []string
	var backupErr error
placing:
	for {
		select {
		case backupErr = <-done:
			break placing
		default:
			during = append(during, place(short))
		}
	}
	if backupErr != nil {
		t.Fatalf("minivoice backup: %v\n%s", backupErr, out.String())
	}
	t.Logf("%s(%d calls placed while it ran)", out.String(), len(during))
	st.Do(t, "POST", "/v1/calls/"+up+"/hangup", map[string]any{}, 200)
	for _, id := range append(during, up) {
		st.WaitCall(t, id)
	}

	restored := filepath.Join(t.TempDir(), "restored")
	if out, err := exec.Command(bin, "restore", "--from", backupDir, "--data", restored).CombinedOutput(); err != nil {
		t.Fatalf("minivoice restore: %v\n%s", err, out)
	}
	st2 := stacktest.Start(t, stacktest.Config{NoSim: true, Platform: func(pc *platform.Config) { pc.Serve.Data = restored }})

	orig := map[string]map[string]any{}
	for _, c := range st.Calls(t, "") {
		orig[stacktest.Str(c["id"])] = c
	}
	got := map[string]map[string]any{}
	for _, c := range st2.Calls(t, "") {
		got[stacktest.Str(c["id"])] = c
	}
	charges := map[string]map[string]any{}
	for _, e := range ledger(t, st2, cust) {
		if id := stacktest.Str(e["call_id"]); id != "" {
			charges[id] = e
		}
	}
	origCharges := map[string]map[string]any{}
	for _, e := range ledger(t, st, cust) {
		if id := stacktest.Str(e["call_id"]); id != "" {
			origCharges[id] = e
		}
	}
	for _, id := range before {
		if got[id] == nil {
			t.Errorf("call %s, completed before the backup, is not in the restored platform", id)
		}
	}
	completed := 0
	for id, c := range got {
		if id == up {
			if c["status"] == "completed" || c["hangup_cause"] != "system_restart" {
				t.Errorf("the call up during the backup, restored: status %v cause %v; want closed by the restart", c["status"], c["hangup_cause"])
			}
			rec := st2.WaitRecording(t, upRec)
			if rec["status"] != "completed" || stacktest.Num(rec["duration"]) <= 0 {
				t.Errorf("its recording, restored: %v; want completed with the audio before the backup", rec)
			}
			continue
		}
		if c["status"] != "completed" {
			continue // ringing when the backup began: closed by the restart
		}
		completed++
		if !reflect.DeepEqual(c, orig[id]) {
			t.Errorf("call %s differs after restore:\n got %v\nwant %v", id, c, orig[id])
		}
		if !reflect.DeepEqual(charges[id], origCharges[id]) || charges[id] == nil {
			t.Errorf("call %s: charge %v after restore, want %v", id, charges[id], origCharges[id])
		}
		recs, _ := c["recording_ids"].([]any)
		if len(recs) == 0 {
			t.Errorf("completed call %s has no recording", id)
		}
		for _, r := range recs {
			rid := stacktest.Str(r)
			if a, b := st.Do(t, "GET", "/v1/recordings/"+rid, nil, 200), st2.Do(t, "GET", "/v1/recordings/"+rid, nil, 200); !reflect.DeepEqual(a, b) {
				t.Errorf("recording %s differs after restore:\n got %v\nwant %v", rid, b, a)
			}
			if a, b := mediaSum(t, st, rid), mediaSum(t, st2, rid); a != b {
				t.Errorf("recording %s: media sha256 %s after restore, want %s", rid, b, a)
			}
		}
	}
	t.Logf("restored: %d calls, %d completed with recordings and charges (%d completed before the backup, %d placed during it)",
		len(got), completed, len(before), len(during))
	if completed < len(before) {
		t.Errorf("%d completed calls restored, want at least %d", completed, len(before))
	}
}

// ledger lists a customer's ledger entries (newest first).
func ledger(t *testing.T, st *stacktest.Stack, cust string) []map[string]any {
	t.Helper()
	var out []map[string]any
	for _, e := range st.Do(t, "GET", "/v1/customers/"+cust+"/ledger?limit=200", nil, 200)["data"].([]any) {
		out = append(out, e.(map[string]any))
	}
	return out
}

// mediaSum is the SHA-256 of a recording's WAV as the API serves it.
func mediaSum(t *testing.T, st *stacktest.Stack, id string) string {
	t.Helper()
	req, _ := http.NewRequest("GET", st.API+"/v1/recordings/"+id+"/media", nil)
	req.Header.Set("Authorization", "Bearer "+st.Key)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Fatalf("GET recording %s media: %d", id, resp.StatusCode)
	}
	h := sha256.New()
	if _, err := io.Copy(h, resp.Body); err != nil {
		t.Fatal(err)
	}
	return hex.EncodeToString(h.Sum(nil))
}

// TestPostgresBackupWithPgDump: the PostgreSQL way docs/operations.md
// gives, end to end: pg_dump of the platform's database, then a copy of the
// recordings directory and the secret key; pg_restore into a new database
// and a platform started on it with the copied files has every call, its
// recording (the same bytes) and its charge.
func TestPostgresBackupWithPgDump(t *testing.T) {
	if testing.Short() {
		t.Skip("real calls through a whole platform, dumped and restored")
	}
	for _, tool := range []string{"pg_dump", "pg_restore"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Skipf("%s is not installed (Debian package postgresql-client)", tool)
		}
	}
	t.Parallel()
	app := http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		fmt.Fprint(w, `[{"action":"say","text":"this call is recorded"},{"action":"hangup"}]`)
	})
	var dbURL, data string
	st := stacktest.Start(t, stacktest.Config{Backend: "postgres", App: app, SimAnswerDelay: -1, Platform: func(pc *platform.Config) {
		dbURL, data = pc.Serve.Database, pc.Serve.Data
	}})
	cust := st.Customer(t, "pgdump")
	st.OutboundTrunkToSim(t, cust)
	appID := st.Application(t, cust, st.AppURL)
	var calls []string
	for i := range 2 {
		calls = append(calls, stacktest.Str(st.Do(t, "POST", "/v1/calls", map[string]any{"to": fmt.Sprintf("+1555009%04d", i),
			"from": "+15551230001", "application_id": appID, "record": true}, 201)["id"]))
	}
	for _, id := range calls {
		c := st.WaitCall(t, id)
		for _, r := range c["recording_ids"].([]any) {
			st.WaitRecording(t, stacktest.Str(r))
		}
	}

	// The dump, then the files (docs/operations.md, PostgreSQL).
	u, err := url.Parse(dbURL)
	if err != nil {
		t.Fatal(err)
	}
	schema := u.Query().Get("search_path")
	libpq := *u // pg_dump takes libpq's parameters only
	libpq.RawQuery = "sslmode=disable"
	dump := filepath.Join(t.TempDir(), "minivoice.dump")
	if out, err := exec.Command("pg_dump", "--format=custom", "--schema="+schema, "--file="+dump, libpq.String()).CombinedOutput(); err != nil {
		t.Fatalf("pg_dump: %v\n%s", err, out)
	}
	restoredData := t.TempDir()
	if out, err := exec.Command("cp", "-a", filepath.Join(data, "recordings"), filepath.Join(data, platform.SecretKeyFile), restoredData).CombinedOutput(); err != nil {
		t.Fatalf("copy the recordings and the secret key: %v\n%s", err, out)
	}

	// A new database, restored.
	var b [4]byte
	_, _ = rand.Read(b[:])
	dbName := "mv_restore_" + hex.EncodeToString(b[:])
	admin, err := sql.Open("pgx", libpq.String())
	if err != nil {
		t.Fatal(err)
	}
	defer admin.Close()
	if _, err := admin.Exec("CREATE DATABASE " + dbName); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		a, err := sql.Open("pgx", libpq.String())
		if err != nil {
			return
		}
		defer a.Close()
		_, _ = a.Exec("DROP DATABASE " + dbName + " WITH (FORCE)")
	})
	target := libpq
	target.Path = "/" + dbName
	if out, err := exec.Command("pg_restore", "--no-owner", "--exit-on-error", "--dbname="+target.String(), dump).CombinedOutput(); err != nil {
		t.Fatalf("pg_restore: %v\n%s", err, out)
	}
	restoredURL := *u
	restoredURL.Path = "/" + dbName
	st2 := stacktest.Start(t, stacktest.Config{NoSim: true, Platform: func(pc *platform.Config) {
		pc.Serve.Database, pc.Serve.Data = restoredURL.String(), restoredData
	}})
	for _, id := range calls {
		if a, b := st.Do(t, "GET", "/v1/calls/"+id, nil, 200), st2.Do(t, "GET", "/v1/calls/"+id, nil, 200); !reflect.DeepEqual(a, b) {
			t.Errorf("call %s after pg_restore:\n got %v\nwant %v", id, b, a)
		}
		for _, r := range st.Do(t, "GET", "/v1/calls/"+id, nil, 200)["recording_ids"].([]any) {
			rid := stacktest.Str(r)
			if a, b := mediaSum(t, st, rid), mediaSum(t, st2, rid); a != b {
				t.Errorf("recording %s: media sha256 %s after restore, want %s", rid, b, a)
			}
		}
	}
	if a, b := ledger(t, st, cust), ledger(t, st2, cust); !reflect.DeepEqual(a, b) {
		t.Errorf("ledger after pg_restore:\n got %v\nwant %v", b, a)
	}
}
