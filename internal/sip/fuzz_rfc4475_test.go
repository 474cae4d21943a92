package sip

import (
	"bytes"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	sipmsg "github.com/emiago/sipgo/sip"
)

// capture is a net.PacketConn that keeps what is written to it.
type capture struct {
	net.PacketConn // nil: only WriteTo is called
	written        [][]byte
}

func (c *capture) WriteTo(b []byte, _ net.Addr) (int, error) {
	c.written = append(c.written, append([]byte{}, b...))
	return len(b), nil
}

var fuzzSource = &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 5060}

// FuzzRFC4475Screen feeds arbitrary datagrams through what stands between
// the network and the handlers, with RFC 4475's messages as the seed
// corpus: the read filter must never fail (that would stop the UDP
// listener) nor panic; what it passes on must parse; what it answers must
// be one well-formed response no longer than the request plus a status
// line; and the middleware's checks must hold on whatever parses.
//
//	go test -run '^$' -fuzz FuzzRFC4475Screen -fuzztime 30s ./internal/sip/
func FuzzRFC4475Screen(f *testing.F) {
	files, err := filepath.Glob(filepath.Join("testdata", "rfc4475", "*.dat"))
	if err != nil || len(files) == 0 {
		f.Fatalf("no seed corpus: %v", err)
	}
	for _, name := range files {
		data, err := os.ReadFile(name)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(data)
	}
	f.Add([]byte("\r\n\r\n"))
	f.Add([]byte("INVITE sip:+15550001@example.com SIP/2.0\r\nVia: SIP/2.0/UDP h;branch=z9hG4bK1\r\nCSeq: 1 OPTIONS\r\n\r\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		conn := &capture{}
		s := &screen{conn: conn, parser: sipmsg.NewParser(), bucket: newBucket(1e9, 1<<30),
			log: slog.New(slog.DiscardHandler), now: time.Now}
		out, err := s.filter(sipmsg.TransportReadProps{Transport: "UDP", RemoteAddr: fuzzSource}, data)
		if err != nil {
			t.Fatalf("filter failed, which would stop the listener: %v", err)
		}
		if out != nil {
			if len(conn.written) > 0 {
				t.Fatalf("passed on and answered")
			}
			if !bytes.Equal(out, data) {
				t.Fatalf("passed on changed bytes")
			}
			if len(bytes.Trim(data, "\r\n")) == 0 {
				return // a keep-alive
			}
			msg, err := sipmsg.NewParser().ParseSIP(out)
			if err != nil {
				t.Fatalf("passed on what sipgo cannot parse: %v", err)
			}
			if req, ok := msg.(*sipmsg.Request); ok {
				if m := checkRequest(req); m != nil && missingHeader(req) == "" {
					res := sipmsg.NewResponseFromRequest(req, m.code, m.reason, nil)
					for _, h := range m.headers {
						res.AppendHeader(h)
					}
					_ = res.String()
				}
			}
			return
		}
		if len(conn.written) > 1 {
			t.Fatalf("%d answers to one datagram", len(conn.written))
		}
		if len(conn.written) == 1 {
			checkStatelessAnswer(t, data, conn.written[0])
		}
	})
}

// checkStatelessAnswer checks an answer screen wrote for data.
func checkStatelessAnswer(t *testing.T, data, ans []byte) {
	t.Helper()
	if !bytes.HasSuffix(ans, []byte("\r\n\r\n")) {
		t.Fatalf("answer not ended by a blank line: %q", ans)
	}
	lines := strings.Split(strings.TrimSuffix(string(ans), "\r\n\r\n"), "\r\n")
	status := strings.SplitN(lines[0], " ", 3)
	if len(status) != 3 || status[0] != "SIP/2.0" {
		t.Fatalf("status line %q", lines[0])
	}
	if code, err := strconv.Atoi(status[1]); err != nil || code < 400 || code > 599 {
		t.Fatalf("status %q", status[1])
	}
	via := false
	for _, l := range lines {
		if strings.ContainsAny(l, "\r\n\x00") {
			t.Fatalf("answer line %q has a CR, LF or NUL", l)
		}
		name, _, _ := strings.Cut(l, ":")
		if n := strings.ToLower(strings.TrimSpace(name)); n == "via" || n == "v" {
			via = true
		}
	}
	if !via {
		t.Fatalf("answer without Via: %q", ans)
	}
	// The echoed fields are a subset of the request's: an answer cannot be
	// a large amplification of what came in.
	if len(ans) > len(data)+128 {
		t.Fatalf("answer of %d bytes to a request of %d", len(ans), len(data))
	}
	if bytes.HasPrefix(bytes.ToUpper(data), []byte("ACK ")) {
		t.Fatalf("an ACK was answered")
	}
}
