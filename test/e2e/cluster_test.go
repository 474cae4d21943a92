package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"io/fs"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/minivoice/minivoice/internal/sim"
	"github.com/minivoice/minivoice/internal/store/storetest"
)

// clusterLease is the nodes' --node-lease: short, so the test sees a node's
// death taken over in seconds.
const clusterLease = 3 * time.Second

// TestClusterTwoNodes runs two real `minivoice serve` processes on one fresh
// PostgreSQL database. Calls placed through node B's API, and a call from
// the simulator to B's SIP port, are held by B; an API hangup sent to node
// A ends one of them, and new actions sent to A steer another (B runs both,
// told over LISTEN/NOTIFY). Then B is killed with SIGKILL with calls up: A
// answers a hangup for them with 503 node_unavailable, and closes each
// within the lease plus a margin, failed/node_lost, with exactly one
// call.completed and one charge, after the events B wrote while it held
// them; the recording B was writing into the shared directory is completed
// from its file.
func TestClusterTwoNodes(t *testing.T) {
	if testing.Short() {
		t.Skip("starts two serve processes on PostgreSQL and waits for a lease to run out")
	}
	base := os.Getenv(storetest.EnvDatabaseURL)
	if base == "" {
		t.Skip(storetest.EnvDatabaseURL + " is not set")
	}
	t.Parallel()
	dbURL := freshDatabase(t, base, "mv_cluster_")
	bin := build(t)

	carrier, err := sim.New(sim.Config{Listen: "127.0.0.1:0", AnswerDelay: 100 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	carrier.Serve()
	t.Cleanup(func() { carrier.Close() })

	args := func(id string) []string {
		return []string{"--database", dbURL, "--node-id", id, "--node-lease", clusterLease.String(),
			"--allow-private-urls", "127.0.0.0/8", "--drain-timeout", "1s"}
	}
	dirA, dirB := t.TempDir(), t.TempDir()
	a := startIn(t, bin, dirA, args("node-a")...)
	// The nodes share the operator key and the key that seals secrets in
	// the database, as a deployment's nodes do.
	for _, f := range []string{"admin.key", "secret.key"} {
		b, err := os.ReadFile(filepath.Join(dirA, f))
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dirB, f), b, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	// And one recordings directory, as deployment.md has them share it.
	if err := os.Symlink(filepath.Join(dirA, "recordings"), filepath.Join(dirB, "recordings")); err != nil {
		t.Fatal(err)
	}
	b := startIn(t, bin, dirB, args("node-b")...)
	op, j := a.key, "application/json"

	cust := a.do(t, "POST", "/v1/customers", op, j, `{"name": "Acme", "max_concurrent_calls": 100, "max_cps": 100,
		"verified_caller_ids": ["+15551230001"]}`, 201)["id"].(string)
	a.do(t, "POST", "/v1/customers/"+cust+"/credits", op, j, `{"amount": "10.00"}`, 201)
	a.do(t, "POST", "/v1/rates", op, j, `{"prefix": "1", "price_per_minute": "0.01", "initial_increment": 1, "subsequent_increment": 1}`, 201)
	a.do(t, "POST", "/v1/rates", op, j, `{"direction": "inbound", "prefix": "1", "price_per_minute": "0.004", "initial_increment": 1,
		"subsequent_increment": 1}`, 201)
	// The application holds inbound calls on a long pause too.
	answer := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write([]byte(`[{"action": "pause", "length": 600}]`))
	}))
	t.Cleanup(answer.Close)
	app := a.do(t, "POST", "/v1/applications", op, j, `{"customer_id": "`+cust+`", "name": "hold",
		"answer_url": "`+answer.URL+`/answer"}`, 201)["id"].(string)
	a.do(t, "POST", "/v1/trunks", op, j, `{"name": "in", "direction": "inbound", "allowed_cidrs": ["127.0.0.1"]}`, 201)
	a.do(t, "POST", "/v1/numbers", op, j, `{"number": "+15551230002", "customer_id": "`+cust+`", "application_id": "`+app+`"}`, 201)
	sc := carrier.Addr()
	a.do(t, "POST", "/v1/trunks", op, j, fmt.Sprintf(`{"name": "sim", "host": %q, "port": %d}`, sc.Addr().String(), sc.Port()), 201)

	// Calls placed through B: B holds them. Each waits on a long pause.
	// The rate was written through A: B prices with it once the
	// notification has reached it, a moment later.
	place := func(record bool) string {
		t.Helper()
		body := fmt.Sprintf(`{"to": "+15550000001", "from": "+15551230001", "application_id": %q, "record": %t,
			"actions": [{"action": "pause", "length": 600}]}`, app, record)
		deadline := time.Now().Add(10 * time.Second)
		for {
			ans := b.post(t, "/v1/calls", op, body)
			if ans.status == 201 {
				return ans.id
			}
			if ans.code != "destination_not_allowed" || time.Now().After(deadline) {
				t.Fatalf("place a call through B: %d %s", ans.status, ans.code)
			}
			time.Sleep(50 * time.Millisecond)
		}
	}
	waitStatus := func(s *server, id string, want ...string) map[string]any {
		t.Helper()
		deadline := time.Now().Add(30 * time.Second)
		for {
			c := s.do(t, "GET", "/v1/calls/"+id, op, j, ``, 200)
			for _, w := range want {
				if c["status"] == w {
					return c
				}
			}
			if time.Now().After(deadline) {
				t.Fatalf("call %s: status %v, want %v\nnode B:\n%s", id, c["status"], want, b.stderr)
			}
			time.Sleep(50 * time.Millisecond)
		}
	}

	// A hangup sent to A ends a call B holds.
	first := place(false)
	waitStatus(a, first, "in-progress")
	a.do(t, "POST", "/v1/calls/"+first+"/hangup", op, j, ``, 200)
	c := waitStatus(a, first, "completed", "failed", "canceled")
	if c["status"] != "completed" || c["hangup_source"] != "api" {
		t.Fatalf("call hung up through A: %v", c)
	}

	// New actions sent to A run on a call B holds.
	steered := place(false)
	waitStatus(a, steered, "in-progress")
	a.do(t, "POST", "/v1/calls/"+steered+"/actions", op, j, `{"actions": [{"action": "hangup"}]}`, 200)
	c = waitStatus(a, steered, "completed", "failed", "canceled")
	if c["status"] != "completed" || c["hangup_cause"] != "normal_clearing" {
		t.Fatalf("call steered through A: %v", c)
	}

	// Calls up on B, then B dies.
	const held = 3
	var ids []string
	for i := range held {
		ids = append(ids, place(i == held-1)) // the last one recorded
	}
	// And one inbound call to B's SIP port: B holds it too.
	caller, err := sim.New(sim.Config{Listen: "127.0.0.1:0"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { caller.Close() })
	callCtx, cancelCall := context.WithCancel(context.Background())
	t.Cleanup(cancelCall)
	go func() {
		_, _ = caller.Call(callCtx, sim.CallOptions{Platform: b.sip, From: "+15550009999", To: "+15551230002",
			MaxDuration: time.Minute})
	}()
	ids = append(ids, waitInbound(t, a, op))
	for _, id := range ids {
		waitStatus(a, id, "in-progress")
	}
	recordedID := ids[held-1]
	// B flushes the recording to the shared directory every second: kill
	// it once there is audio in the file to keep.
	waitRecorded(t, filepath.Join(dirA, "recordings"), 64000)
	if err := b.cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	killed := time.Now()
	// A command for a call of the dead node is refused with a clear error.
	req := a.doRaw(t, "POST", "/v1/calls/"+ids[0]+"/hangup", op)
	if req.status != 503 || req.code != "node_unavailable" {
		t.Errorf("hangup of a dead node's call: %d %s, want 503 node_unavailable", req.status, req.code)
	}
	var slowest time.Duration
	for _, id := range ids {
		c := waitStatus(a, id, "completed", "failed", "canceled", "busy", "no-answer")
		ended, err := time.Parse(time.RFC3339Nano, fmt.Sprint(c["ended_at"]))
		if err != nil {
			t.Fatalf("call %s ended_at %v: %v", id, c["ended_at"], err)
		}
		if d := ended.Sub(killed); d > slowest {
			slowest = d
		}
		if c["status"] != "failed" || c["hangup_cause"] != "node_lost" || c["hangup_source"] != "system" {
			t.Errorf("call %s after its node died: %v", id, c)
		}
		if c["price"] == nil || c["duration"].(float64) < 1 {
			t.Errorf("call %s: not charged for its answered time: price %v duration %v", id, c["price"], c["duration"])
		}
	}
	// One round of A (a third of a lease) after the lease, plus a margin
	// for a loaded machine.
	if limit := clusterLease + clusterLease/3 + 10*time.Second; slowest > limit {
		t.Errorf("calls closed %s after the kill, want within %s", slowest, limit)
	}
	t.Logf("the dead node's %d calls were closed %s after SIGKILL (lease %s)", len(ids), slowest.Round(10*time.Millisecond), clusterLease)

	for _, id := range append([]string{first, steered}, ids...) {
		events := a.eventNames(t, id, op)
		if n := strings.Count(events, "call.completed"); n != 1 {
			t.Errorf("call %s events %q: want exactly one call.completed", id, events)
		}
		if !strings.Contains(events, "call.answered") {
			t.Errorf("call %s events %q: the events written before lack call.answered", id, events)
		}
	}
	// The recorded call's recording, written by B into the shared
	// directory until it died, is finished by A from the file.
	recorded := a.do(t, "GET", "/v1/calls/"+recordedID, op, j, ``, 200)
	recIDs, _ := recorded["recording_ids"].([]any)
	if len(recIDs) != 1 {
		t.Fatalf("recorded call's recording_ids: %v", recorded["recording_ids"])
	}
	rec := a.do(t, "GET", "/v1/recordings/"+fmt.Sprint(recIDs[0]), op, j, ``, 200)
	if rec["status"] != "completed" || rec["duration"] == nil || rec["duration"].(float64) < 1 {
		t.Errorf("the dead node's recording: %v, want completed from the shared file", rec)
	}
	if events := a.eventNames(t, recordedID, op); !strings.Contains(events, "call.completed,recording.completed") {
		t.Errorf("recorded call's events %q: want recording.completed after call.completed", events)
	}
	charges := map[string]int{}
	ledger := a.do(t, "GET", "/v1/customers/"+cust+"/ledger?limit=100", op, j, ``, 200)["data"].([]any)
	for _, e := range ledger {
		e := e.(map[string]any)
		if e["kind"] == "call_charge" {
			charges[fmt.Sprint(e["call_id"])]++
		}
	}
	for _, id := range append([]string{first, steered}, ids...) {
		if charges[id] != 1 {
			t.Errorf("call %s has %d charges, want 1 (ledger %v)", id, charges[id], charges)
		}
	}
	// A is still serving and holds nothing of B's any more.
	a.do(t, "GET", "/readyz", op, j, ``, 200)
}

// waitInbound waits for the inbound call to appear and returns its id.
func waitInbound(t *testing.T, s *server, key string) string {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		list := s.do(t, "GET", "/v1/calls?direction=inbound", key, "application/json", ``, 200)["data"].([]any)
		if len(list) > 0 {
			return list[0].(map[string]any)["id"].(string)
		}
		if time.Now().After(deadline) {
			t.Fatal("the inbound call never appeared")
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// waitRecorded waits until a file under dir has grown past size bytes.
func waitRecorded(t *testing.T, dir string, size int64) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		var largest int64
		_ = filepath.WalkDir(dir, func(_ string, d fs.DirEntry, err error) error {
			if err == nil && !d.IsDir() {
				if info, err := d.Info(); err == nil {
					largest = max(largest, info.Size())
				}
			}
			return nil
		})
		if largest > size {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("no recording in %s grew past %d bytes (largest %d)", dir, size, largest)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// rawAnswer is an API answer's status, error code and object id.
type rawAnswer struct {
	status int
	code   string
	id     string
}

// doRaw sends a bodiless request and returns its status and error code,
// whatever they are.
func (s *server) doRaw(t *testing.T, method, path, key string) rawAnswer {
	t.Helper()
	return s.send(t, method, path, key, "")
}

// post sends a JSON body and returns the answer, whatever it is.
func (s *server) post(t *testing.T, path, key, body string) rawAnswer {
	t.Helper()
	return s.send(t, "POST", path, key, body)
}

func (s *server) send(t *testing.T, method, path, key, body string) rawAnswer {
	t.Helper()
	req, err := http.NewRequest(method, s.url+path, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+key)
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	var out struct {
		ID    string `json:"id"`
		Error struct {
			Code string `json:"code"`
		} `json:"error"`
	}
	_ = json.NewDecoder(resp.Body).Decode(&out)
	return rawAnswer{status: resp.StatusCode, code: out.Error.Code, id: out.ID}
}

// eventNames lists a call's events, oldest first, joined with commas.
func (s *server) eventNames(t *testing.T, id, key string) string {
	t.Helper()
	list := s.do(t, "GET", "/v1/calls/"+id+"/events?limit=100", key, "application/json", ``, 200)["data"].([]any)
	names := make([]string, len(list))
	for i, e := range list {
		names[i] = e.(map[string]any)["event"].(string)
	}
	return strings.Join(names, ",")
}
