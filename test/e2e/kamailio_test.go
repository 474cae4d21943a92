package e2e

import (
	"bufio"
	"bytes"
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"io"
	mrand "math/rand/v2"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	_ "github.com/jackc/pgx/v5/stdlib" // database/sql driver "pgx", for the test's own database
	"github.com/minivoice/minivoice/internal/store/storetest"
)

// The addresses on loopback: the callers (sipp) are 127.0.0.2, Kamailio
// 127.0.0.3, the nodes 127.0.0.1. The inbound trunk allows only the
// callers' address, so a node that took Kamailio's address for the
// caller's would refuse every call.
const (
	kamCallerIP = "127.0.0.2"
	kamProxyIP  = "127.0.0.3"
	kamDigestIP = "127.0.0.4" // a carrier that authenticates by digest
)

// TestKamailioSpreadsCallsOverNodes: the shipped deploy/kamailio
// configuration in front of two `minivoice serve` nodes on one PostgreSQL
// database. Calls from sipp through Kamailio land on both nodes and pass a
// trunk ACL that lists the caller's address, not Kamailio's, over UDP and
// TCP; a carrier that authenticates by digest gets through (its retry with
// credentials reaches the node that challenged it); a node that
// drains (SIGTERM) answers OPTIONS 503, Kamailio stops sending to it, new
// calls all land on the other node while its own live call finishes; the
// drained node, restarted, is back in rotation; a node killed (SIGKILL)
// is passed over and new calls all land on the survivor.
func TestKamailioSpreadsCallsOverNodes(t *testing.T) {
	t.Parallel()
	if testing.Short() {
		t.Skip("starts Kamailio, two serve processes and sipp: not under -short")
	}
	kamailio := lookKamailio(t)
	if _, err := exec.LookPath("sipp"); err != nil {
		t.Skip("sipp (Debian sip-tester) is not installed; .ci/run installs it")
	}
	base := os.Getenv(storetest.EnvDatabaseURL)
	if base == "" {
		t.Skip(storetest.EnvDatabaseURL + " is not set: the nodes share a PostgreSQL database")
	}
	dbURL := freshDatabase(t, base, "mv_kamailio_")
	bin := build(t)
	root := repoRoot(t)

	// The applications: short calls (a second of silence, then the
	// platform hangs up) and one long call that keeps a draining node busy.
	app := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		w.Header().Set("Content-Type", "application/json")
		if r.URL.Path == "/long" {
			_, _ = io.WriteString(w, `[{"action":"pause","length":6},{"action":"hangup"}]`)
			return
		}
		_, _ = io.WriteString(w, `[{"action":"pause","length":1},{"action":"hangup"}]`)
	}))
	t.Cleanup(app.Close)

	key := "mvk_op_kamailio_e2e_" + randomHex(t, 8)
	secret := make([]byte, 32)
	_, _ = rand.Read(secret)
	nodeEnv := []string{"MINIVOICE_ADMIN_KEY=" + key, "MINIVOICE_SECRET_KEY=" + base64.StdEncoding.EncodeToString(secret)}
	withNodeID := serveHasFlag(t, bin, "-node-id")
	node := func(name string) *kamNode {
		return &kamNode{name: name, bin: bin, db: dbURL, env: nodeEnv, key: key, withID: withNodeID, data: t.TempDir(),
			sip: net.JoinHostPort("127.0.0.1", strconv.Itoa(freeUDPPortOn(t, "127.0.0.1")))}
	}
	a, b := node("node-a"), node("node-b")
	a.start(t)

	// One customer, the two numbers and the callers' trunk, through node A:
	// node B reads them from the same database (rate changes reach every
	// node through NOTIFY minivoice_rates; B starts after them anyway).
	cust := a.api(t, "POST", "/v1/customers", `{"name":"kamailio","max_concurrent_calls":100,"max_cps":100}`, 201)["id"].(string)
	a.api(t, "POST", "/v1/customers/"+cust+"/credits", `{"amount":"100.00"}`, 201)
	a.api(t, "POST", "/v1/rates", `{"customer_id":"`+cust+`","direction":"inbound","prefix":"1","price_per_minute":"0.01"}`, 201)
	a.api(t, "POST", "/v1/trunks", `{"name":"callers","direction":"inbound","allowed_cidrs":["`+kamCallerIP+`/32"],"max_cps":100}`, 201)
	for did, path := range map[string]string{"+15551230002": "/short", "+15551230003": "/long"} {
		id := a.api(t, "POST", "/v1/applications", `{"customer_id":"`+cust+`","name":"`+path[1:]+`","answer_url":"`+app.URL+path+`"}`, 201)["id"].(string)
		a.api(t, "POST", "/v1/numbers", `{"number":"`+did+`","customer_id":"`+cust+`","application_id":"`+id+`"}`, 201)
	}

	b.start(t)
	kam := startKamailio(t, kamailio, root, a.sip, b.sip)
	kam.waitFlags(t, map[string]byte{a.sip: 'A', b.sip: 'A'})

	// 1. Calls through Kamailio land on both nodes (Kamailio picks by a
	// hash of the Call-ID: one node taking all 12 has odds of 1 in 2048).
	before := map[*kamNode]int{a: a.completed(t), b: b.completed(t)}
	ok, failed := sippThrough(t, root, kam.addr, "15551230002", 12)
	if ok != 12 || failed != 0 {
		t.Fatalf("through Kamailio: %d calls succeeded, %d failed; want 12 and 0\n%s\nnode A:\n%s\nnode B:\n%s", ok, failed, kam.logs(),
			a.stderr, b.stderr)
	}
	da, db := waitCompleted(t, a, before[a], b, before[b], 12)
	t.Logf("12 calls: %d on node A, %d on node B", da, db)
	if da == 0 || db == 0 {
		t.Errorf("calls by node: A %d, B %d: want both to take calls", da, db)
	}
	checkNodeIDs(t, dbURL, withNodeID)
	// Callers over TCP: Kamailio relays to the nodes over UDP and stays in
	// both (two Record-Route entries), so the node's BYE reaches them.
	before = map[*kamNode]int{a: a.completed(t), b: b.completed(t)}
	if ok, failed := sippRun(t, root, kam.addr, "15551230002", 2, kamCallerIP, [2]int{freeUDPPortOn(t, kamCallerIP), freeMediaPortsOn(t, kamCallerIP)},
		t.TempDir(), "-t", "t1"); ok != 2 || failed != 0 {
		t.Fatalf("over TCP through Kamailio: %d succeeded, %d failed; want 2 and 0\n%s", ok, failed, kam.logs())
	}
	waitCompleted(t, a, before[a], b, before[b], 2)
	// A carrier that authenticates by digest, from an address no trunk
	// lists: the node Kamailio picks challenges it, and the INVITE with
	// credentials (same Call-ID) must reach that node, the only one that
	// knows the nonce.
	a.api(t, "POST", "/v1/trunks", `{"name":"digest","direction":"inbound","username":"carrier","password":"digest-secret-1"}`, 201)
	before = map[*kamNode]int{a: a.completed(t), b: b.completed(t)}
	if ok, failed := sippRun(t, root, kam.addr, "15551230002", 6, kamDigestIP, [2]int{freeUDPPortOn(t, kamDigestIP), freeMediaPortsOn(t, kamDigestIP)},
		t.TempDir(), "-sf", filepath.Join(root, "test", "e2e", "testdata", "sipp", "uac_digest_via_proxy.xml"),
		"-au", "carrier", "-ap", "digest-secret-1"); ok != 6 || failed != 0 {
		t.Fatalf("digest through Kamailio: %d succeeded, %d failed; want 6 and 0\n%s", ok, failed, kam.logs())
	}
	waitCompleted(t, a, before[a], b, before[b], 6)

	// 2. Node A drains with a live call (placed on it directly): its
	// OPTIONS answer turns 503, Kamailio takes it out of rotation, new calls
	// all go to node B, and the live call finishes.
	long := make(chan [2]int, 1)
	ports, dir := [2]int{freeUDPPortOn(t, kamCallerIP), freeMediaPortsOn(t, kamCallerIP)}, t.TempDir()
	go func() {
		o, f := sippRun(t, root, a.sip, "15551230003", 1, kamCallerIP, ports, dir)
		long <- [2]int{o, f}
	}()
	waitFor(t, "the long call to be live on node A", func() bool { return a.active(t) == 1 })
	if err := a.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "node A to drain", func() bool { return a.readyz(t) == http.StatusServiceUnavailable })
	// Calls at once, before Kamailio's next health check of A perhaps: an
	// INVITE it still sends A is answered 503 and goes on to B.
	before = map[*kamNode]int{a: a.completed(t), b: b.completed(t)}
	if ok, failed := sippThrough(t, root, kam.addr, "15551230002", 4); ok != 4 || failed != 0 {
		t.Fatalf("while node A drains: %d succeeded, %d failed; want 4 and 0\n%s", ok, failed, kam.logs())
	}
	if da, db := waitCompleted(t, a, before[a], b, before[b], 4); da != 0 || db != 4 {
		t.Errorf("while node A drains: A took %d, B %d; want all 4 on B", da, db)
	}
	t.Logf("INVITEs the draining node answered 503 and Kamailio sent on: %d", strings.Count(kam.logs(), "failed the INVITE (503)"))
	kam.waitFlags(t, map[string]byte{a.sip: 'I', b.sip: 'A'})
	if r := <-long; r[0] != 1 {
		t.Errorf("the live call on the draining node: %d succeeded, %d failed; want it to finish", r[0], r[1])
	}
	a.wait(t, 0)

	// 3. Node A back (same address): in rotation again once its OPTIONS
	// answer is 200. Node B killed: passed over, every new call on A.
	a.start(t)
	kam.waitFlags(t, map[string]byte{a.sip: 'A', b.sip: 'A'})
	if err := b.cmd.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	b.wait(t, -1)
	before = map[*kamNode]int{a: a.completed(t)}
	if ok, failed := sippThrough(t, root, kam.addr, "15551230002", 4); ok != 4 || failed != 0 {
		t.Fatalf("after node B's death: %d succeeded, %d failed; want 4 and 0\n%s", ok, failed, kam.logs())
	}
	if da, _ := waitCompleted(t, a, before[a], nil, 0, 4); da != 4 {
		t.Errorf("after node B's death: A took %d of 4", da)
	}
	kam.waitFlags(t, map[string]byte{a.sip: 'A', b.sip: 'I'})
}

// lookKamailio finds Debian's kamailio binary (in /usr/sbin, often not on
// a user's PATH) or skips.
func lookKamailio(t *testing.T) string {
	t.Helper()
	if p, err := exec.LookPath("kamailio"); err == nil {
		return p
	}
	if _, err := os.Stat("/usr/sbin/kamailio"); err == nil {
		return "/usr/sbin/kamailio"
	}
	t.Skip("kamailio is not installed (Debian: apt-get install kamailio; .ci/run installs it)")
	return ""
}

// freshDatabase creates a uniquely named PostgreSQL database (prefix and
// random hex) on the server of base and drops it after the test: the
// nodes' LISTEN/NOTIFY and leases are per database, so no other test's
// nodes can meet them.
func freshDatabase(t *testing.T, base, prefix string) string {
	t.Helper()
	name := prefix + randomHex(t, 6)
	admin, err := sql.Open("pgx", base)
	if err != nil {
		t.Fatal(err)
	}
	defer admin.Close()
	if _, err := admin.Exec("CREATE DATABASE " + name); err != nil {
		t.Fatalf("create database: %v", err)
	}
	t.Cleanup(func() {
		a, err := sql.Open("pgx", base)
		if err != nil {
			return
		}
		defer a.Close()
		if _, err := a.Exec("DROP DATABASE IF EXISTS " + name + " WITH (FORCE)"); err != nil {
			t.Logf("drop database %s: %v", name, err)
		}
	})
	u, err := url.Parse(base)
	if err != nil {
		t.Fatal(err)
	}
	u.Path = "/" + name
	return u.String()
}

func randomHex(t *testing.T, n int) string {
	t.Helper()
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		t.Fatal(err)
	}
	return hex.EncodeToString(b)
}

// repoRoot is the module's root (the test runs in test/e2e).
func repoRoot(t *testing.T) string {
	t.Helper()
	root, err := filepath.Abs("../..")
	if err != nil {
		t.Fatal(err)
	}
	return root
}

// freeUDPPortOn is a port free on ip now for UDP and TCP both (SIP
// listens on both). Kamailio and a node that restarts on the same address
// need a port number, not an open socket. The ports come from below
// Linux's ephemeral range (32768 up), where no outgoing connection and no
// other test's port 0 can take them, and above the RTP ports (10000-20000)
// in-process platforms use.
// freeMediaPortsOn is a port P on ip with P to P+3 free for UDP: sipp's
// -mp binds all four (audio RTP and RTCP, video RTP and RTCP), and fails
// if any is taken, which a check of P alone let happen.
func freeMediaPortsOn(t *testing.T, ip string) int {
	t.Helper()
	for range 200 {
		port := 20000 + mrand.IntN(12000)
		var held []net.PacketConn
		for i := range 4 {
			u, err := net.ListenPacket("udp", net.JoinHostPort(ip, strconv.Itoa(port+i)))
			if err != nil {
				break
			}
			held = append(held, u)
		}
		for _, u := range held {
			u.Close()
		}
		if len(held) == 4 {
			return port
		}
	}
	t.Fatalf("no four consecutive UDP ports free on %s", ip)
	return 0
}

func freeUDPPortOn(t *testing.T, ip string) int {
	t.Helper()
	for range 200 {
		port := 20000 + mrand.IntN(12000)
		addr := net.JoinHostPort(ip, strconv.Itoa(port))
		u, err := net.ListenPacket("udp", addr)
		if err != nil {
			continue
		}
		l, err := net.Listen("tcp", addr)
		u.Close()
		if err != nil {
			continue
		}
		l.Close()
		return port
	}
	t.Fatalf("no port free for UDP and TCP on %s", ip)
	return 0
}

// serveHasFlag reports whether `minivoice serve --help` lists flag.
func serveHasFlag(t *testing.T, bin, flag string) bool {
	t.Helper()
	out, _ := exec.Command(bin, "serve", "--help").CombinedOutput()
	return bytes.Contains(out, []byte(flag+" "))
}

// kamNode is one `minivoice serve` process on the shared database.
type kamNode struct {
	name, bin, db, key, data, sip string
	env                           []string
	withID                        bool
	url                           string
	cmd                           *exec.Cmd
	stderr                        *syncBuffer // written by the process while the test runs
	done                          chan error
}

// start runs the node and waits until it serves.
func (n *kamNode) start(t *testing.T) {
	t.Helper()
	args := []string{"serve", "--data", n.data, "--http", "127.0.0.1:0", "--sip", n.sip, "--database", n.db,
		"--allow-private-urls", "127.0.0.0/8", "--sip-trusted-proxies", kamProxyIP, "--drain-timeout", "30s"}
	if n.withID {
		args = append(args, "--node-id", n.name)
	}
	cmd := exec.Command(n.bin, args...)
	cmd.Env = append([]string{"PATH=" + os.Getenv("PATH"), "HOME=" + os.Getenv("HOME")}, n.env...)
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	n.cmd, n.stderr, n.done, n.url = cmd, &syncBuffer{}, make(chan error, 1), ""
	cmd.Stderr = n.stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := n.done
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		<-done
	})
	found := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			if m := servingRe.FindStringSubmatch(sc.Text()); m != nil {
				found <- m[1]
			}
		}
		done <- cmd.Wait()
	}()
	select {
	case n.url = <-found:
	case err := <-done:
		done <- err // for the cleanup
		t.Fatalf("%s exited before serving (%v):\n%s", n.name, err, n.stderr)
	case <-time.After(60 * time.Second):
		t.Fatalf("%s did not start:\n%s", n.name, n.stderr)
	}
}

// wait waits for the node's process to exit; want is its exit code, or
// -1 for "killed by a signal".
func (n *kamNode) wait(t *testing.T, want int) {
	t.Helper()
	select {
	case err := <-n.done:
		n.done <- err // for the cleanup
		code := 0
		if ee, ok := err.(*exec.ExitError); ok {
			code = ee.ExitCode()
		}
		if code != want {
			t.Errorf("%s exited with %v, want code %d\n%s", n.name, err, want, n.stderr)
		}
	case <-time.After(40 * time.Second):
		t.Fatalf("%s did not exit", n.name)
	}
}

func (n *kamNode) api(t *testing.T, method, path, body string, want int) map[string]any {
	t.Helper()
	s := &server{url: n.url}
	return s.do(t, method, path, n.key, "application/json", body, want)
}

// metric sums the node's /metrics samples of name whose labels contain
// every one of labels.
func (n *kamNode) metric(t *testing.T, name string, labels ...string) int {
	t.Helper()
	req, _ := http.NewRequest("GET", n.url+"/metrics", nil)
	req.Header.Set("Authorization", "Bearer "+n.key)
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("%s metrics: %v", n.name, err)
	}
	defer res.Body.Close()
	sum := 0.0
	sc := bufio.NewScanner(res.Body)
	for sc.Scan() {
		line := sc.Text()
		if !strings.HasPrefix(line, name+"{") && !strings.HasPrefix(line, name+" ") {
			continue
		}
		all := true
		for _, l := range labels {
			all = all && strings.Contains(line, l)
		}
		if !all {
			continue
		}
		f := strings.Fields(line)
		v, _ := strconv.ParseFloat(f[len(f)-1], 64)
		sum += v
	}
	return int(sum)
}

// readyz is the status of the node's GET /readyz (503 while it drains).
func (n *kamNode) readyz(t *testing.T) int {
	t.Helper()
	res, err := http.Get(n.url + "/readyz")
	if err != nil {
		t.Fatalf("%s readyz: %v", n.name, err)
	}
	res.Body.Close()
	return res.StatusCode
}

// completed is how many inbound calls this node process completed.
func (n *kamNode) completed(t *testing.T) int {
	return n.metric(t, "minivoice_calls_total", `direction="inbound"`, `status="completed"`)
}

// active is the node's live calls.
func (n *kamNode) active(t *testing.T) int { return n.metric(t, "minivoice_active_calls") }

// waitCompleted waits until nodes a and b (b may be nil) completed want
// more calls between them than their counts before, and returns each
// one's share.
func waitCompleted(t *testing.T, a *kamNode, beforeA int, b *kamNode, beforeB int, want int) (int, int) {
	t.Helper()
	var da, db int
	waitFor(t, fmt.Sprintf("%d calls completed on the nodes", want), func() bool {
		da = a.completed(t) - beforeA
		if b != nil {
			db = b.completed(t) - beforeB
		}
		return da+db >= want
	})
	return da, db
}

// waitFor polls cond for up to 20 s.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// checkNodeIDs: with node ids (--node-id), the calls of the test are
// spread over both ids in calls.node_id.
func checkNodeIDs(t *testing.T, dbURL string, withNodeID bool) {
	t.Helper()
	if !withNodeID {
		t.Log("serve has no --node-id here: calls counted per node from each node's /metrics only")
		return
	}
	db, err := sql.Open("pgx", dbURL)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	rows, err := db.Query("SELECT node_id, count(*) FROM calls WHERE node_id IS NOT NULL GROUP BY node_id")
	if err != nil {
		t.Fatalf("calls by node_id: %v", err)
	}
	defer rows.Close()
	by := map[string]int{}
	for rows.Next() {
		var id string
		var n int
		if err := rows.Scan(&id, &n); err != nil {
			t.Fatal(err)
		}
		by[id] = n
	}
	if by["node-a"] == 0 || by["node-b"] == 0 {
		t.Errorf("calls by node_id %v: want calls on node-a and node-b", by)
	}
}

// kamailioProc is Kamailio running the shipped configuration.
type kamailioProc struct {
	addr, ctl string
	out       *syncBuffer
}

// syncBuffer is a bytes.Buffer written by a process and read by the test.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

func (k *kamailioProc) logs() string { return "kamailio:\n" + k.out.String() }

var substdefRe = regexp.MustCompile(`(?m)^#!substdef "!(MV_[A-Z_]+)!([^!]*)!g"$`)

// renderKamailio is the shipped configuration with its site settings
// (the #!substdef lines at its top) replaced; a setting the configuration
// no longer has fails the test rather than being skipped silently.
func renderKamailio(t *testing.T, cfg string, set map[string]string) string {
	t.Helper()
	seen := map[string]bool{}
	out := substdefRe.ReplaceAllStringFunc(cfg, func(line string) string {
		m := substdefRe.FindStringSubmatch(line)
		v, ok := set[m[1]]
		if !ok {
			return line
		}
		seen[m[1]] = true
		return `#!substdef "!` + m[1] + `!` + v + `!g"`
	})
	for k := range set {
		if !seen[k] {
			t.Fatalf("deploy/kamailio/kamailio.cfg has no setting %s", k)
		}
	}
	return out
}

// startKamailio runs Kamailio on kamProxyIP with deploy/kamailio's
// configuration and a dispatcher list of the nodes, health checks every
// second.
func startKamailio(t *testing.T, bin, root string, nodes ...string) *kamailioProc {
	t.Helper()
	dir := t.TempDir()
	cfg, err := os.ReadFile(filepath.Join(root, "deploy", "kamailio", "kamailio.cfg"))
	if err != nil {
		t.Fatal(err)
	}
	var list strings.Builder
	for i, n := range nodes {
		fmt.Fprintf(&list, "1 sip:%s 0 0 duid=node-%d\n", n, i)
	}
	if err := os.WriteFile(filepath.Join(dir, "dispatcher.list"), []byte(list.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	addr := net.JoinHostPort(kamProxyIP, strconv.Itoa(freeUDPPortOn(t, kamProxyIP)))
	k := &kamailioProc{addr: addr, ctl: "unix:" + filepath.Join(dir, "ctl"), out: &syncBuffer{}}
	rendered := renderKamailio(t, string(cfg), map[string]string{
		"MV_LISTEN_UDP": "udp:" + addr, "MV_LISTEN_TCP": "tcp:" + addr,
		"MV_DISPATCHER_LIST": filepath.Join(dir, "dispatcher.list"), "MV_CTL_SOCKET": k.ctl,
		"MV_PING_INTERVAL": "1", "MV_NODE_TIMEOUT": "2000",
	})
	path := filepath.Join(dir, "kamailio.cfg")
	if err := os.WriteFile(path, []byte(rendered), 0o644); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(bin, "-f", path, "-DD", "-E", "-Y", dir, "-P", filepath.Join(dir, "kamailio.pid"), "-w", dir, "-m", "64", "-M", "8")
	cmd.Stdout, cmd.Stderr = k.out, k.out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan struct{})
	go func() { _ = cmd.Wait(); close(exited) }()
	t.Cleanup(func() {
		// SIGTERM: the main process stops its workers and exits.
		_ = cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-exited:
		case <-time.After(10 * time.Second):
			_ = cmd.Process.Kill()
			<-exited
		}
	})
	return k
}

var dsEntryRe = regexp.MustCompile(`URI: sip:(\S+)\s+FLAGS: (\S+)`)

// flags is each node's dispatcher state (AP: active, IP: inactive and
// probed, ...) from kamcmd dispatcher.list.
func (k *kamailioProc) flags(t *testing.T) map[string]string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	out, err := exec.CommandContext(ctx, kamcmdPath(), "-s", k.ctl, "dispatcher.list").CombinedOutput()
	if err != nil {
		return nil // not up yet
	}
	got := map[string]string{}
	for _, m := range dsEntryRe.FindAllStringSubmatch(string(out), -1) {
		got[m[1]] = m[2]
	}
	return got
}

func kamcmdPath() string {
	if p, err := exec.LookPath("kamcmd"); err == nil {
		return p
	}
	return "/usr/sbin/kamcmd"
}

// waitFlags waits until each node's dispatcher state begins with the
// given letter (A: active, I: inactive).
func (k *kamailioProc) waitFlags(t *testing.T, want map[string]byte) {
	t.Helper()
	var got map[string]string
	deadline := time.Now().Add(20 * time.Second)
	for {
		got = k.flags(t)
		all := got != nil
		for n, f := range want {
			all = all && len(got[n]) > 0 && got[n][0] == f
		}
		if all {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("dispatcher states %v, want %q\n%s", got, want, k.logs())
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// sippThrough places calls to did through the proxy at addr from
// kamCallerIP, five a second, and returns sipp's counts.
func sippThrough(t *testing.T, root, addr, did string, calls int) (ok, failed int) {
	t.Helper()
	return sippRun(t, root, addr, did, calls, kamCallerIP, [2]int{freeUDPPortOn(t, kamCallerIP), freeMediaPortsOn(t, kamCallerIP)}, t.TempDir())
}

var sippCountRe = regexp.MustCompile(`(?m)^\s*(Successful|Failed) call\s*\|\s*\d+\s*\|\s*(\d+)`)

// sippRun runs bench/sipp/uac_via_proxy.xml (or the -sf among extra,
// which come last) from ip (SIP and media on ports) in dir against target,
// bounded in calls and time, and returns sipp's counts. It may run on a
// goroutine of its own.
func sippRun(t *testing.T, root, target, did string, calls int, ip string, ports [2]int, dir string, extra ...string) (ok, failed int) {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	scenario := []string{"-sf", filepath.Join(root, "bench", "sipp", "uac_via_proxy.xml")}
	for _, a := range extra {
		if a == "-sf" {
			scenario = nil // extra names its own
		}
	}
	cmd := exec.CommandContext(ctx, "sipp", append(append([]string{target}, scenario...),
		"-s", did, "-i", ip, "-p", strconv.Itoa(ports[0]), "-mp", strconv.Itoa(ports[1]), "-m", strconv.Itoa(calls), "-r", "5",
		"-nostdin", "-timeout", "40", "-timeout_error")...)
	cmd.Args = append(cmd.Args, extra...)
	cmd.Dir = dir
	out, _ := cmd.CombinedOutput()
	for _, m := range sippCountRe.FindAllStringSubmatch(string(out), -1) {
		n, _ := strconv.Atoi(m[2])
		if m[1] == "Successful" {
			ok = n
		} else {
			failed = n
		}
	}
	if ok != calls {
		t.Logf("sipp to %s:\n%s", target, out)
	}
	return ok, failed
}
