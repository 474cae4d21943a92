// Package e2e drives the real `minivoice` binary as a user would: it builds it,
// starts `minivoice serve` on loopback, walks through the README with HTTP
// requests, and stops it with SIGTERM.
package e2e

import (
	"bufio"
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/minivoice/minivoice/internal/store/storetest"
)

type server struct {
	cmd    *exec.Cmd
	url    string
	sip    string // HOST:PORT of the SIP listener
	key    string
	stderr *bytes.Buffer
	done   chan error
}

var (
	servingRe = regexp.MustCompile(`serving the API on (http://\S+) and SIP on (\S+)`)
	keyRe     = regexp.MustCompile(`operator key \(shown once.*\): (\S+)`)
)

// start runs `minivoice serve` on a free loopback port and waits until it says where it listens.
func start(t *testing.T, bin string, args ...string) *server {
	t.Helper()
	return startIn(t, bin, t.TempDir(), args...)
}

// startIn is start on a given data directory, so a test can restart a
// server on the data a previous one left.
func startIn(t *testing.T, bin, data string, args ...string) *server {
	t.Helper()
	cmd := exec.Command(bin, append([]string{"serve", "--data", data, "--http", "127.0.0.1:0", "--sip", "127.0.0.1:0"}, args...)...)
	cmd.Env = []string{"PATH=" + os.Getenv("PATH"), "HOME=" + os.Getenv("HOME")}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	s := &server{cmd: cmd, stderr: &bytes.Buffer{}, done: make(chan error, 1)}
	cmd.Stderr = s.stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		<-s.done
	})
	lines := make(chan string)
	go func() {
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			lines <- sc.Text()
		}
		close(lines)
		s.done <- cmd.Wait()
	}()
	timeout := time.After(60 * time.Second)
	for s.url == "" {
		select {
		case line, ok := <-lines:
			if !ok {
				t.Fatalf("serve exited before listening:\n%s", s.stderr)
			}
			if m := keyRe.FindStringSubmatch(line); m != nil {
				s.key = m[1]
			}
			if m := servingRe.FindStringSubmatch(line); m != nil {
				s.url, s.sip = m[1], m[2]
			}
		case <-timeout:
			t.Fatalf("serve did not start:\n%s", s.stderr)
		}
	}
	go func() {
		for range lines {
		}
	}()
	b, err := os.ReadFile(filepath.Join(data, "admin.key"))
	if err != nil {
		t.Fatalf("admin.key: %v", err)
	}
	if st, _ := os.Stat(filepath.Join(data, "admin.key")); st.Mode().Perm() != 0o600 {
		t.Errorf("admin.key mode %v, want 0600", st.Mode().Perm())
	}
	if s.key == "" {
		s.key = strings.TrimSpace(string(b)) // a restart on existing data prints no key
	}
	if strings.TrimSpace(string(b)) != s.key {
		t.Fatalf("printed key differs from admin.key")
	}
	return s
}

// do sends a request and decodes a JSON answer.
func (s *server) do(t *testing.T, method, path, key, ctype, body string, want int) map[string]any {
	t.Helper()
	req, err := http.NewRequest(method, s.url+path, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+key)
	req.Header.Set("Content-Type", ctype)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != want {
		t.Fatalf("%s %s: %d, want %d\n%s", method, path, resp.StatusCode, want, raw)
	}
	var out map[string]any
	_ = json.Unmarshal(raw, &out)
	return out
}

func TestServeWalkthrough(t *testing.T) {
	t.Parallel()
	bin := build(t)
	for _, backend := range storetest.Backends() {
		t.Run(backend, func(t *testing.T) {
			var args []string
			if backend == "postgres" {
				args = append(args, "--database", storetest.SchemaURL(t))
			}
			s := start(t, bin, args...)
			op := s.key
			j := "application/json"
			cust := s.do(t, "POST", "/v1/customers", op, j, `{"name": "Acme", "verified_caller_ids": ["+15551230001"]}`, 201)["id"].(string)
			s.do(t, "POST", "/v1/customers/"+cust+"/credits", op, j, `{"amount": "10.00"}`, 201)
			app := s.do(t, "POST", "/v1/applications", op, j, `{"customer_id": "`+cust+`", "name": "IVR",
				"answer_url": "https://example.com/answer", "webhook_url": "https://example.com/hooks"}`, 201)
			if !strings.HasPrefix(app["webhook_secret"].(string), "whsec_") {
				t.Fatalf("webhook_secret: %v", app["webhook_secret"])
			}
			appID := app["id"].(string)
			key := s.do(t, "POST", "/v1/applications/"+appID+"/keys", op, j, ``, 201)["key"].(string)
			s.do(t, "POST", "/v1/rates", op, j, `{"prefix": "1", "price_per_minute": "0.01", "initial_increment": 6, "subsequent_increment": 6}`, 201)
			imp := s.do(t, "POST", "/v1/rates/import?customer_id="+cust, op, "text/csv",
				"prefix,price_per_minute,initial_increment,subsequent_increment,connection_fee,description\n44,0.02,60,60,0,UK\n", 200)
			if imp["imported"].(float64) != 1 {
				t.Fatalf("import: %v", imp)
			}
			rate := s.do(t, "GET", "/v1/rates/lookup?customer_id="+cust+"&to=%2B15551230002", op, j, ``, 200)
			if rate["prefix"] != "1" || rate["price_per_minute"] != "0.01" {
				t.Fatalf("lookup: %v", rate)
			}
			trunk := s.do(t, "POST", "/v1/trunks", op, j, `{"name": "carrier", "host": "sip.example.net", "username": "acme", "password": "s3cret"}`, 201)
			if _, ok := trunk["password"]; ok {
				t.Fatalf("trunk password returned")
			}
			s.do(t, "POST", "/v1/numbers", op, j, `{"number": "+15551230002", "customer_id": "`+cust+`", "application_id": "`+appID+`"}`, 201)
			call := s.do(t, "POST", "/v1/calls", key, j, `{"to": "+15551230002", "from": "+15551230001", "record": true}`, 201)
			got := s.do(t, "GET", "/v1/calls/"+call["id"].(string), key, j, ``, 200)
			// The trunk's host does not resolve here, so the call may already
			// have failed; what it must show is who placed it and how.
			if st := got["status"]; (st != "queued" && st != "ringing" && st != "failed") || got["application_id"] != appID || got["record"] != true {
				t.Fatalf("call: %v", got)
			}
			// Graceful shutdown on SIGTERM: exit status 0.
			if err := s.cmd.Process.Signal(syscall.SIGTERM); err != nil {
				t.Fatal(err)
			}
			select {
			case err := <-s.done:
				if err != nil {
					t.Fatalf("serve exited with %v after SIGTERM\n%s", err, s.stderr)
				}
				s.done <- nil // for the cleanup
			case <-time.After(30 * time.Second):
				t.Fatal("serve did not stop after SIGTERM")
			}
			if strings.Contains(s.stderr.String(), op) {
				t.Fatal("the operator key appears in the logs")
			}
		})
	}
}
