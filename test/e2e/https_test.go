package e2e

import (
	"bufio"
	"bytes"
	"crypto/tls"
	"crypto/x509"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/minivoice/minivoice/internal/certs/certstest"
)

var (
	httpsServingRe = regexp.MustCompile(`serving the API on https://(\S+) and SIP on`)
	sipTLSRe       = regexp.MustCompile(`serving SIP over TLS on (\S+)`)
)

// lockedBuffer is a bytes.Buffer written by one goroutine, read by the test.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// TestServeHTTPSAndSIGHUPReload runs `minivoice serve` with --tls-cert and
// --sip-tls on one certificate pair: the API answers only HTTPS, the
// console's cookies are Secure, /readyz reports sip_tls. A renewed pair
// written over the files is served by both listeners after SIGHUP; a broken
// one is refused with a log line, the renewed certificate stays and the
// server keeps running; SIGTERM still stops it cleanly.
func TestServeHTTPSAndSIGHUPReload(t *testing.T) {
	t.Parallel()
	bin := build(t)
	dir := t.TempDir()
	ca := certstest.NewCA(t, dir, "https")
	first := ca.Issue(t, dir, "first", time.Time{}, time.Time{}, "127.0.0.1")
	second := ca.Issue(t, dir, "second", time.Time{}, time.Time{}, "127.0.0.1")
	certFile, keyFile := filepath.Join(dir, "server.pem"), filepath.Join(dir, "server-key.pem")
	install := func(l *certstest.Leaf) {
		for src, dst := range map[string]string{l.CertFile: certFile, l.KeyFile: keyFile} {
			b, err := os.ReadFile(src)
			if err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(dst, b, 0o600); err != nil {
				t.Fatal(err)
			}
		}
	}
	install(first)

	cmd := exec.Command(bin, "serve", "--data", filepath.Join(dir, "data"), "--http", "127.0.0.1:0", "--sip", "127.0.0.1:0",
		"--sip-tls", "127.0.0.1:0", "--sip-tls-cert", certFile, "--sip-tls-key", keyFile, "--tls-cert", certFile, "--tls-key", keyFile)
	cmd.Env = []string{"PATH=" + os.Getenv("PATH"), "HOME=" + os.Getenv("HOME")}
	stderr := &lockedBuffer{}
	cmd.Stderr = stderr
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	lines := make(chan string, 16)
	go func() {
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			select {
			case lines <- sc.Text():
			default: // nobody reads any more
			}
		}
		done <- cmd.Wait()
	}()
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		<-done
	})
	var api, sipTLS string
	timeout := time.After(60 * time.Second)
	for api == "" || sipTLS == "" {
		select {
		case line := <-lines:
			if m := httpsServingRe.FindStringSubmatch(line); m != nil {
				api = m[1]
			}
			if m := sipTLSRe.FindStringSubmatch(line); m != nil {
				sipTLS = m[1]
			}
		case err := <-done:
			t.Fatalf("serve exited: %v\n%s", err, stderr)
		case <-timeout:
			t.Fatalf("serve did not say where it listens:\n%s", stderr)
		}
	}

	roots := x509.NewCertPool()
	roots.AddCert(ca.Cert)
	client := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: roots}}, Timeout: 10 * time.Second,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	served := func(addr string) *x509.Certificate {
		t.Helper()
		c, err := tls.Dial("tcp", addr, &tls.Config{RootCAs: roots, ServerName: "127.0.0.1"})
		if err != nil {
			t.Fatalf("TLS to %s: %v", addr, err)
		}
		defer c.Close()
		return c.ConnectionState().PeerCertificates[0]
	}
	// Both listeners serve the first certificate.
	if !served(api).Equal(first.Cert) || !served(sipTLS).Equal(first.Cert) {
		t.Fatal("the listeners do not serve the configured certificate")
	}
	resp, err := client.Get("https://" + api + "/readyz")
	if err != nil {
		t.Fatal(err)
	}
	var body bytes.Buffer
	_, _ = body.ReadFrom(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || !strings.Contains(body.String(), `"sip_tls":"ok"`) {
		t.Errorf("readyz over HTTPS: %d %s", resp.StatusCode, body.String())
	}
	// Plain HTTP to the HTTPS port is refused.
	if resp, err := http.Get("http://" + api + "/readyz"); err == nil {
		resp.Body.Close()
		if resp.StatusCode != http.StatusBadRequest {
			t.Errorf("plain HTTP to the HTTPS port: %d, want 400", resp.StatusCode)
		}
	}
	// The console's cookies are Secure over HTTPS.
	resp, err = client.Get("https://" + api + "/signin")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	cookies := resp.Cookies()
	if len(cookies) == 0 {
		t.Error("the sign-in page set no cookie")
	}
	for _, c := range cookies {
		if !c.Secure || !c.HttpOnly {
			t.Errorf("cookie %s: Secure %v HttpOnly %v", c.Name, c.Secure, c.HttpOnly)
		}
	}

	// A renewed pair, then SIGHUP.
	install(second)
	if err := cmd.Process.Signal(syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(10 * time.Second)
	for !served(api).Equal(second.Cert) || !served(sipTLS).Equal(second.Cert) {
		if time.Now().After(deadline) {
			t.Fatalf("the renewed certificate is not served 10 s after SIGHUP:\n%s", stderr)
		}
		time.Sleep(50 * time.Millisecond)
	}
	// A broken pair: refused, logged, the renewed one stays.
	if err := os.WriteFile(certFile, []byte("-----BEGIN CERTIFICATE-----\nbroken\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := cmd.Process.Signal(syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
	deadline = time.Now().Add(10 * time.Second)
	for strings.Count(stderr.String(), "certificate not reloaded") < 2 {
		if time.Now().After(deadline) {
			t.Fatalf("no log line for the broken certificate (one per listener):\n%s", stderr)
		}
		time.Sleep(50 * time.Millisecond)
	}
	if !served(api).Equal(second.Cert) || !served(sipTLS).Equal(second.Cert) {
		t.Error("a broken certificate file replaced the one in use")
	}
	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("serve exited with %v after SIGTERM:\n%s", err, stderr)
		}
		done <- err // for the cleanup
	case <-time.After(30 * time.Second):
		t.Fatal("serve did not stop after SIGTERM")
	}
}
