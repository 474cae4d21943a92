package e2e

import (
	"bytes"
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"
)

// tourBlock is a ```sh block the README marks with <!-- tour -->.
var tourBlock = regexp.MustCompile("(?s)<!-- tour -->\\s*```sh\\n(.*?)```")

// TestREADMETour runs the README's five-minute tour as written, in a copy of
// the repository (so it writes nothing here), against the fresh server its
// first block starts. Only the four loopback ports are swapped for free ones,
// so the test never collides with a MiniVoice the developer is running.
func TestREADMETour(t *testing.T) {
	if testing.Short() {
		t.Skip("the tour builds the binary and places real calls")
	}
	t.Parallel()
	for _, tool := range []string{"curl", "jq", "flite", "git", "pocketsphinx_continuous"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Skipf("%s is not installed (.ci/run installs it)", tool)
		}
	}
	root, err := filepath.Abs("../..")
	if err != nil {
		t.Fatal(err)
	}
	readme, err := os.ReadFile(filepath.Join(root, "README.md"))
	if err != nil {
		t.Fatal(err)
	}
	blocks := tourBlock.FindAllSubmatch(readme, -1)
	if len(blocks) < 5 {
		t.Fatalf("README.md has %d <!-- tour --> blocks, want the whole tour", len(blocks))
	}
	var script strings.Builder
	for _, b := range blocks {
		script.Write(b[1])
		script.WriteString("\n")
	}
	s := script.String()
	for _, port := range []string{"8080", "5060", "5080", "3000"} {
		if !strings.Contains(s, "127.0.0.1:"+port) {
			t.Fatalf("the tour no longer uses 127.0.0.1:%s; update this test", port)
		}
		free := freePort(t)
		s = strings.ReplaceAll(s, "127.0.0.1:"+port, "127.0.0.1:"+free)
		s = strings.ReplaceAll(s, `"port": `+port, `"port": `+free)
	}

	dir := copyRepo(t, root)
	bin := filepath.Join(t.TempDir(), "bin")
	ctx, cancel := context.WithTimeout(context.Background(), 8*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, "bash", "-euo", "pipefail", "-c", s)
	cmd.Dir = dir
	// GOBIN keeps `go install` away from the developer's own GOPATH/bin.
	cmd.Env = append(os.Environ(), "GOBIN="+bin, "PATH="+bin+":"+os.Getenv("PATH"))
	// Its own process group, so the servers it starts in the background
	// stop with it.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	cmd.Cancel = func() error { return syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) }
	// A file, not a pipe: the servers the tour leaves running in the
	// background keep its output open, and Run would wait for them.
	outFile, err := os.Create(filepath.Join(t.TempDir(), "tour.out"))
	if err != nil {
		t.Fatal(err)
	}
	defer outFile.Close()
	cmd.Stdout, cmd.Stderr = outFile, outFile
	cmd.WaitDelay = 10 * time.Second
	err = cmd.Run()
	if cmd.Process != nil {
		// What the tour left running (serve, the app, the simulator).
		_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGTERM)
	}
	outBytes, _ := os.ReadFile(outFile.Name())
	out := bytes.NewBuffer(outBytes)
	logs := func() string {
		var b strings.Builder
		for _, f := range []string{"serve.log", "hello.log", "sim.log"} {
			data, _ := os.ReadFile(filepath.Join(dir, f))
			if len(data) > 4000 {
				data = data[len(data)-4000:]
			}
			fmt.Fprintf(&b, "\n--- %s (tail)\n%s", f, data)
		}
		return b.String()
	}
	if err != nil {
		t.Fatalf("the tour failed: %v\n--- output\n%s%s", err, out.String(), logs())
	}
	t.Logf("tour output:\n%s", out.String())
	got := out.String()
	for _, want := range []string{
		`"status": "completed"`,    // the inbound call, then the outbound one
		"call.completed delivered", // its webhooks reached the hello app
		"recording.completed delivered",
		`"rating":`,
	} {
		if !strings.Contains(got, want) {
			t.Errorf("tour output lacks %q%s", want, logs())
		}
	}
	hello, _ := os.ReadFile(filepath.Join(dir, "hello.log"))
	for _, want := range []string{"answer_url: call", `digits "7"`, `digits "1"`, "webhook: call.completed"} {
		if !bytes.Contains(hello, []byte(want)) {
			t.Errorf("hello.log lacks %q:\n%s", want, hello)
		}
	}
	if bytes.Contains(hello, []byte("refused")) {
		t.Errorf("the hello app refused a request's signature:\n%s", hello)
	}
}

// freePort returns a loopback port free for both TCP and UDP right now.
func freePort(t *testing.T) string {
	t.Helper()
	for range 20 {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		port := l.Addr().(*net.TCPAddr).Port
		u, err := net.ListenPacket("udp", fmt.Sprintf("127.0.0.1:%d", port))
		l.Close()
		if err == nil {
			u.Close()
			return fmt.Sprint(port)
		}
	}
	t.Fatal("no free port")
	return ""
}

// copyRepo copies the repository's tracked files (as they are on disk) into
// a temporary directory.
func copyRepo(t *testing.T, root string) string {
	t.Helper()
	out, err := exec.Command("git", "-C", root, "ls-files", "-z").Output()
	if err != nil {
		t.Skipf("git ls-files: %v (the tour test needs a git checkout)", err)
	}
	dir := t.TempDir()
	for _, name := range strings.Split(strings.TrimRight(string(out), "\x00"), "\x00") {
		data, err := os.ReadFile(filepath.Join(root, name))
		if os.IsNotExist(err) {
			continue // deleted in the work tree
		}
		if err != nil {
			t.Fatal(err)
		}
		dst := filepath.Join(dir, name)
		if err := os.MkdirAll(filepath.Dir(dst), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(dst, data, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}
