package e2e

// The Python and Node echo receivers of docs/streams.md ("Echo receivers"),
// run as the docs print them: the test takes their code blocks from the
// doc itself (so the two cannot drift apart), starts each with its
// interpreter on a free loopback port (the examples read PORT), and has the
// simulator call a DID whose answer is a two-way stream to it. The caller
// must hear its own speech back. A machine without the interpreter or its
// WebSocket module skips the subtest; CI installs python3-websockets and
// node-ws (.ci/run).

import (
	"context"
	"errors"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/minivoice/minivoice/internal/sim"
	"github.com/minivoice/minivoice/internal/stacktest"
)

// docsEchoReceivers returns the code blocks of docs/streams.md's "Echo
// receivers" section by their fence's language ("go", "python", "js"),
// failing the test when a language has more than one block.
func docsEchoReceivers(t *testing.T) map[string]string {
	t.Helper()
	doc, err := os.ReadFile(filepath.Join("..", "..", "docs", "streams.md"))
	if err != nil {
		t.Fatal(err)
	}
	blocks := map[string]string{}
	in, lang := false, ""
	var code []string
	for line := range strings.SplitSeq(string(doc), "\n") {
		switch {
		case !in && line == "## Echo receivers":
			in = true
		case in && lang == "" && strings.HasPrefix(line, "## "):
			return blocks
		case in && lang == "" && strings.HasPrefix(line, "```"):
			lang, code = strings.TrimPrefix(line, "```"), nil
		case in && lang != "" && line == "```":
			if _, dup := blocks[lang]; dup {
				t.Fatalf("docs/streams.md: two %s blocks in Echo receivers", lang)
			}
			blocks[lang] = strings.Join(code, "\n") + "\n"
			lang = ""
		case in && lang != "":
			code = append(code, line)
		}
	}
	if !in {
		t.Fatal(`docs/streams.md has no "## Echo receivers" section`)
	}
	return blocks
}

// echoRuntime is how one language's receiver runs: the interpreter, the
// file name to write the code to, the environment it needs, and a probe
// that succeeds when the interpreter has the WebSocket module.
type echoRuntime struct {
	file  string
	env   []string
	probe []string // arguments to the interpreter
	paths []string // interpreters to try, first that passes the probe
	needs string   // what to install, for the skip message
}

func echoRuntimes() map[string]echoRuntime {
	// Debian's node-ws lives in /usr/share/nodejs, which a nodesource or
	// nvm node does not search; a node_modules elsewhere still comes first
	// through the caller's own NODE_PATH.
	nodePath := "/usr/share/nodejs"
	if p := os.Getenv("NODE_PATH"); p != "" {
		nodePath = p + string(os.PathListSeparator) + nodePath
	}
	return map[string]echoRuntime{
		// Debian's python3 first: a pyenv python3 earlier on PATH usually
		// lacks Debian's python3-websockets.
		"python": {file: "echo.py", paths: []string{"/usr/bin/python3", "python3"},
			probe: []string{"-c", "import websockets"},
			needs: "python3 with websockets (apt-get install python3-websockets)"},
		"js": {file: "echo.js", paths: []string{"node"}, env: []string{"NODE_PATH=" + nodePath},
			probe: []string{"-e", `if (typeof require("ws").WebSocketServer !== "function") process.exit(1)`},
			needs: "node with ws 8 or later (apt-get install node-ws)"},
	}
}

// interpreter is the first of rt.paths that passes rt.probe, or "".
func (rt echoRuntime) interpreter(t *testing.T) string {
	for _, p := range rt.paths {
		path, err := exec.LookPath(p)
		if err != nil {
			continue
		}
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		cmd := exec.CommandContext(ctx, path, rt.probe...)
		cmd.Env = append(os.Environ(), rt.env...)
		err = cmd.Run()
		cancel()
		if err == nil {
			return path
		}
		t.Logf("%s: no WebSocket module (%v)", path, err)
	}
	return ""
}

// startEchoReceiver runs code with rt on a free loopback port until the
// test ends and returns the port once it accepts connections.
func startEchoReceiver(t *testing.T, rt echoRuntime, interp, code string) (port string, logs *lockedBuffer) {
	t.Helper()
	dir := t.TempDir()
	file := filepath.Join(dir, rt.file)
	if err := os.WriteFile(file, []byte(code), 0o644); err != nil {
		t.Fatal(err)
	}
	port = freePort(t)
	ctx, cancel := context.WithTimeout(context.Background(), 3*stacktest.CallTimeout)
	cmd := exec.CommandContext(ctx, interp, file)
	cmd.Dir = dir
	cmd.Env = append(append(os.Environ(), rt.env...), "PORT="+port)
	logs = &lockedBuffer{}
	cmd.Stdout, cmd.Stderr = logs, logs
	cmd.WaitDelay = 5 * time.Second
	if err := cmd.Start(); err != nil {
		cancel()
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	t.Cleanup(func() {
		cancel() // kills the receiver
		<-exited
		if t.Failed() {
			t.Logf("%s %s output:\n%s", interp, rt.file, logs.String())
		}
	})
	// Wait for it to listen: bounded by ctx, and by the process ending.
	for {
		c, err := net.DialTimeout("tcp", "127.0.0.1:"+port, time.Second)
		if err == nil {
			_ = c.Close()
			return port, logs
		}
		select {
		case err := <-exited:
			exited <- err
			t.Fatalf("%s %s exited before listening on %s: %v\n%s", interp, rt.file, port, err, logs.String())
		case <-ctx.Done():
			t.Fatalf("%s %s: nothing listens on %s: %v\n%s", interp, rt.file, port, errors.Join(err, ctx.Err()), logs.String())
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// TestStreamEchoReceiversFromDocs: each of the docs' Python and Node echo
// receivers, given a real call's two-way stream, plays the caller's speech
// back to the caller, with no message of theirs refused.
func TestStreamEchoReceiversFromDocs(t *testing.T) {
	t.Parallel()
	blocks := docsEchoReceivers(t)
	const said = "Hello, this is the caller, listening for my own voice."
	for i, lang := range []string{"python", "js"} {
		t.Run(map[string]string{"python": "python", "js": "node"}[lang], func(t *testing.T) {
			t.Parallel()
			code, ok := blocks[lang]
			if !ok {
				t.Fatalf("docs/streams.md: no %s block in Echo receivers", lang)
			}
			rt := echoRuntimes()[lang]
			interp := rt.interpreter(t)
			if interp == "" {
				t.Skipf("needs %s", rt.needs)
			}
			port, _ := startEchoReceiver(t, rt, interp, code)

			st := stacktest.Start(t, stacktest.Config{})
			wantActive := spokenDuration(t, said)
			cust := st.Customer(t, "acme")
			app, _ := streamApp(t, st, cust, func() any {
				return []map[string]any{
					{"action": "stream", "url": "ws://127.0.0.1:" + port + "/echo", "bidirectional": true},
				}
			})
			st.InboundTrunkFromSim(t)
			did := []string{"+15551230301", "+15551230302"}[i]
			st.Number(t, did, cust, app)
			// The stream (and the echo) runs from the answer: the caller
			// waits, speaks, listens for the tail of the echo, hangs up.
			rep := st.SimCall(t, sim.CallOptions{From: "+15557770301", To: did,
				Script: []string{"wait 1", "say " + said, "wait 2", "hangup"}})
			if !rep.Answered || rep.EndedBy != sim.EndedLocal {
				t.Errorf("simulator report %+v: want answered and hung up by the caller", rep)
			}
			// A two-way stream plays only what the receiver sends: without
			// the echo the caller hears silence.
			if rep.HeardActive < wantActive*7/10 {
				t.Errorf("the caller heard %v of sound back, said %v", rep.HeardActive, wantActive)
			}

			calls := st.Calls(t, "customer_id="+cust)
			if len(calls) != 1 {
				t.Fatalf("%d calls", len(calls))
			}
			c := st.WaitCall(t, stacktest.Str(calls[0]["id"]))
			evs := st.Events(t, stacktest.Str(c["id"]))
			stopped := stacktest.Event(evs, "stream.stopped")
			if stopped == nil {
				t.Fatalf("events %s, want stream.started and stream.stopped", stacktest.EventNames(evs))
			}
			// Every frame the caller sent came back, the speech's at least.
			if stopped["reason"] != "call_ended" || stacktest.Num(stopped["messages_invalid"]) != 0 ||
				stacktest.Num(stopped["frames_received"]) < float64(wantActive/(20*time.Millisecond)) {
				t.Errorf("stream.stopped %v", stopped)
			}
			if e := stacktest.Event(evs, "call.error"); e != nil {
				t.Errorf("call.error %v", e)
			}
		})
	}
}
