package publicmsg_test

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/minivoice/minivoice/internal/publicmsg"
)

func TestTextOfRealErrors(t *testing.T) {
	dir := t.TempDir()
	_, openErr := os.Open(filepath.Join(dir, "media", "etc", "passwd"))
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	_, dialErr := net.Dial("tcp", addr)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	for _, tc := range []struct {
		err  error
		want string
	}{
		{openErr, "the file does not exist"},
		{fmt.Errorf("play: %w", openErr), "the file does not exist"},
		{publicmsg.Wrap(openErr, "play file://../../etc/passwd"), "play file://../../etc/passwd: the file does not exist"},
		{publicmsg.Wrap(publicmsg.New("the file is not in the media directory", openErr), "play file://x.wav"),
			"play file://x.wav: the file is not in the media directory"},
		{dialErr, "the connection was refused"},
		{&net.DNSError{Err: "no such host", Name: "x.example", Server: "10.0.0.2:53", IsNotFound: true},
			"the host name could not be resolved (no such host)"},
		{&net.DNSError{Err: "i/o timeout", Name: "x.example", Server: "10.0.0.2:53", IsTimeout: true},
			"the host name could not be resolved in time"},
		{fmt.Errorf("get: %w", context.DeadlineExceeded), "timeout: no answer in time"},
		{ctx.Err(), "canceled"},
		{errors.New("say: flite failed writing /var/lib/minivoice/media/tts/abc.wav"), "say: flite failed writing (path)"},
		{errors.New("dial 10.9.8.7:5060 and [fd00::1]:80 failed"), "dial (address) and (address) failed"},
		{errors.New("HTTP 404"), "HTTP 404"},
		{nil, ""},
	} {
		got := publicmsg.Text(tc.err)
		if got != tc.want {
			t.Errorf("Text(%v) = %q, want %q", tc.err, got, tc.want)
		}
		if tc.err != nil && strings.Contains(got, dir) {
			t.Errorf("Text(%v) names the local path", tc.err)
		}
	}
	// The error itself, for the log, keeps every detail.
	full := publicmsg.New("the file is not in the media directory", openErr).Error()
	if !strings.Contains(full, dir) {
		t.Errorf("the logged error lost the path: %s", full)
	}
}

func TestScrubKeepsURLsAndWords(t *testing.T) {
	for in, want := range map[string]string{
		"the URL answered HTTP 500":                        "the URL answered HTTP 500",
		"play https://example.com/a/b.wav: HTTP 404":       "play https://example.com/a/b.wav: HTTP 404",
		"open /srv/minivoice/media/etc/passwd: denied":     "open (path): denied",
		"lookup x on 127.0.0.53:53: no such host":          "lookup x on (address): no such host",
		"std::vector is not an address but 2001:db8::1 is": "std::vector is not an address but (address) is",
	} {
		if got := publicmsg.Scrub(in); got != want {
			t.Errorf("Scrub(%q) = %q, want %q", in, got, want)
		}
	}
}
