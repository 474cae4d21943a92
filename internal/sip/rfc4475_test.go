package sip

import (
	"bufio"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	sipmsg "github.com/emiago/sipgo/sip"
	"github.com/minivoice/minivoice/internal/store"
	"github.com/minivoice/minivoice/internal/store/storetest"
	"github.com/minivoice/minivoice/internal/voice"
)

// torture is one message of RFC 4475 section 3 and what the engine must do
// with it.
type torture struct {
	name    string // testdata/rfc4475/<name>.dat
	section string // of RFC 4475
	// want is the final status the engine answers with; 0 means no answer
	// at all (a response, which no transaction of ours matches, or one the
	// RFC says to drop).
	want int
	// header, when set, must be in the answer ("Name: value", value a
	// substring), e.g. the Unsupported of a 420.
	header string
	// deviation says why the outcome differs from what the RFC asks, if it
	// does; such a case still must hold as written, and is counted.
	deviation string
}

// rfc4475Cases is every message of RFC 4475 section 3, with the outcome
// the RFC asks for of a user agent server (the platform is one; it is no
// proxy and no registrar) sent over UDP, as the RFC assumes. The table in
// docs/sip-conformance.md is this one in prose.
var rfc4475Cases = []torture{
	// 3.1.1: valid messages, which must be processed as any other.
	{name: "wsinv", section: "3.1.1.1", want: 400, deviation: "sipgo keeps the blanks around = in header parameters, so the From tag ('tag = 98asjd8') is not found; the branch lacks the RFC 3261 cookie, RFC 2543 transaction matching needs the From tag, so sipgo's transaction layer answers 400 before any handler sees the INVITE"},
	{name: "intmeth", section: "3.1.1.2", want: 501},                    // an unknown method: RFC 3261 21.5.2
	{name: "esc01", section: "3.1.1.3", want: 404},                      // INVITE: normal path
	{name: "escnull", section: "3.1.1.4", want: 405, header: "Allow: "}, // REGISTER: no registrar here
	{name: "esc02", section: "3.1.1.5", want: 501},                      // RE%47IST%45R is an unknown method, not REGISTER
	{name: "lwsdisp", section: "3.1.1.6", want: 200},                    // OPTIONS
	{name: "longreq", section: "3.1.1.7", want: 0, deviation: "processed (refused 404 by the number check), but the 404 copies the request's long header fields and sipgo sends no UDP message over 1300 bytes; over TCP, which RFC 3261 18.1.1 requires for a request this long and which its Via names, the 404 arrives (TestRFC4475Stream)"},
	{name: "dblreq", section: "3.1.1.8", want: 405, header: "CSeq: 8 REGISTER"}, // the REGISTER, not the trailing INVITE
	{name: "semiuri", section: "3.1.1.9", want: 200},                            // OPTIONS
	{name: "transports", section: "3.1.1.10", want: 200},                        // OPTIONS
	{name: "mpart01", section: "3.1.1.11", want: 405},                           // MESSAGE: not handled
	{name: "unreason", section: "3.1.1.12", want: 0},                            // a response matching no transaction: dropped (RFC 3261 18.1.2)
	{name: "noreason", section: "3.1.1.13", want: 0},                            // likewise
	// 3.1.2: invalid messages.
	{name: "badinv01", section: "3.1.2.1", want: 400},
	{name: "clerr", section: "3.1.2.2", want: 400}, // over UDP; over TCP see TestRFC4475Stream
	{name: "ncl", section: "3.1.2.3", want: 400},
	{name: "scalar02", section: "3.1.2.4", want: 400},
	{name: "scalarlg", section: "3.1.2.5", want: 0}, // a response: "simply discard it"
	{name: "quotbal", section: "3.1.2.6", want: 400},
	{name: "ltgtruri", section: "3.1.2.7", want: 400},
	{name: "lwsruri", section: "3.1.2.8", want: 400},
	{name: "lwsstart", section: "3.1.2.9", want: 400},
	{name: "trws", section: "3.1.2.10", want: 400},
	{name: "escruri", section: "3.1.2.11", want: 400}, // 400 is one of the answers the RFC allows
	{name: "baddate", section: "3.1.2.12", want: 404}, // the RFC allows ignoring Date: processed as any INVITE
	{name: "regbadct", section: "3.1.2.13", want: 400},
	{name: "badaspec", section: "3.1.2.14", want: 400},
	{name: "baddn", section: "3.1.2.15", want: 400},
	{name: "badvers", section: "3.1.2.16", want: 505},
	{name: "mismatch01", section: "3.1.2.17", want: 400},
	{name: "mismatch02", section: "3.1.2.18", want: 400}, // the RFC prefers 501, "a 400 Bad Request is also acceptable"
	{name: "bigcode", section: "3.1.2.19", want: 0},      // a response: dropped
	// 3.2: transaction layer.
	{name: "badbranch", section: "3.2.1", want: 200}, // OPTIONS with a bare magic cookie as branch: processed
	// 3.3: application layer.
	{name: "insuf", section: "3.3.1", want: 400},
	{name: "unkscm", section: "3.3.2", want: 416},
	{name: "novelsc", section: "3.3.3", want: 416},
	{name: "unksm2", section: "3.3.4", want: 405, header: "Allow: "}, // REGISTER: no registrar to judge its URIs
	{name: "bext01", section: "3.3.5", want: 420, header: "Unsupported: nothingSupportsThis, nothingSupportsThisEither"},
	{name: "invut", section: "3.3.6", want: 415, header: "Accept: application/sdp"},
	{name: "regaut01", section: "3.3.7", want: 405, header: "Allow: "}, // REGISTER: no registrar to challenge
	{name: "multi01", section: "3.3.8", want: 400},
	{name: "mcl01", section: "3.3.9", want: 400},
	{name: "bcast", section: "3.3.10", want: 0},      // a response: dropped
	{name: "zeromf", section: "3.3.11", want: 200},   // Max-Forwards 0 stops proxies, not the UAS it reached
	{name: "cparam01", section: "3.3.12", want: 405}, // REGISTER
	{name: "cparam02", section: "3.3.13", want: 405}, // REGISTER
	{name: "regescrt", section: "3.3.14", want: 405}, // REGISTER
	{name: "sdp01", section: "3.3.15", want: 406},
	// 3.4: backward compatibility.
	{name: "inv2543", section: "3.4.1", want: 400, deviation: "RFC 2543 syntax: no branch and no From tag, so sipgo's transaction layer can build no transaction key and answers 400 before any handler sees the INVITE"},
}

// rfc4475Message reads one torture message, byte for byte.
func rfc4475Message(t testing.TB, name string) []byte {
	t.Helper()
	data, err := os.ReadFile(filepath.Join("testdata", "rfc4475", name+".dat"))
	if err != nil {
		t.Fatalf("read %s: %v", name, err)
	}
	return data
}

// TestRFC4475Corpus checks that the torture messages are still byte for
// byte those of the RFC (testdata/rfc4475/README.md).
func TestRFC4475Corpus(t *testing.T) {
	t.Parallel()
	sums, err := os.ReadFile(filepath.Join("testdata", "rfc4475", "SHA256SUMS"))
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, line := range strings.Split(strings.TrimSpace(string(sums)), "\n") {
		want, name, ok := strings.Cut(line, "  ")
		if !ok {
			t.Fatalf("SHA256SUMS line %q", line)
		}
		got := sha256.Sum256(rfc4475Message(t, strings.TrimSuffix(name, ".dat")))
		if hex.EncodeToString(got[:]) != want {
			t.Errorf("%s changed: sha256 %x, want %s", name, got, want)
		}
		n++
	}
	if n != 49 {
		t.Errorf("%d sums, want 49", n)
	}
}

// TestRFC4475 sends every torture message of RFC 4475 to a running engine
// over UDP on loopback and checks the answer of each against the RFC.
func TestRFC4475(t *testing.T) {
	if len(rfc4475Cases) != 49 {
		t.Fatalf("%d cases, RFC 4475 has 49 messages", len(rfc4475Cases))
	}
	files, _ := filepath.Glob(filepath.Join("testdata", "rfc4475", "*.dat"))
	if len(files) != 49 {
		t.Fatalf("%d .dat files in testdata/rfc4475, want 49", len(files))
	}
	storetest.Each(t, func(t *testing.T, backend string) {
		db := tortureStore(t, backend)
		for _, c := range rfc4475Cases {
			t.Run(c.name, func(t *testing.T) {
				// An engine per message: several messages share a branch
				// and sent-by, so to one engine the later would be
				// retransmissions of the earlier (RFC 3261 17.2.3).
				addr := startTortureEngine(t, db)
				conn := tortureClient(t)
				msg := rfc4475Message(t, c.name)
				if _, err := conn.WriteTo(msg, addr); err != nil {
					t.Fatalf("send: %v", err)
				}
				if c.want == 0 {
					expectSilence(t, conn, addr, c.name)
					return
				}
				res := readAnswer(t, conn, rawCallID(msg))
				ackFinal(t, func(b []byte) error { _, err := conn.WriteTo(b, addr); return err }, msg, res)
				if res.code != c.want {
					t.Fatalf("RFC 4475 %s: answered %d %s, want %d", c.section, res.code, res.reason, c.want)
				}
				if c.header != "" && !res.has(c.header) {
					t.Errorf("RFC 4475 %s: answer lacks %q:\n%s", c.section, c.header, res.raw)
				}
				if res.version != "SIP/2.0" {
					t.Errorf("answered in %s, want SIP/2.0", res.version)
				}
			})
		}
	})
}

// TestRFC4475Stream sends over TCP the messages whose outcome depends on
// a stream: RFC 4475 3.1.2.3 and 3.3.9 ask for the connection to be closed
// (the framing is lost), 3.1.2.2 for the receiver to wait for the rest of
// the body, which never comes, so nothing is answered before the sender
// gives up; and 3.1.1.7, a request too long for UDP (RFC 3261 18.1.1).
func TestRFC4475Stream(t *testing.T) {
	storetest.Each(t, func(t *testing.T, backend string) {
		db := tortureStore(t, backend)
		for _, c := range []struct {
			name, section string
			// want is the answer that must come; 0 for none.
			want int
			// closes: the engine closes the connection by itself; an
			// answer (want, if set) may or may not make it out before the
			// close. Otherwise the test half-closes the connection after
			// the answer (or at once), and nothing more may come.
			closes bool
			// via replaces a Via line (old, new) for the send over TCP.
			via [2]string
		}{
			{name: "longreq", section: "3.1.1.7", want: 404},
			{name: "clerr", section: "3.1.2.2"},
			{name: "ncl", section: "3.1.2.3", closes: true},
			// The first Content-Length frames a message (answered 400 as
			// over UDP, while the connection is still open); what follows
			// is no message, and the connection is closed. Sent with its
			// Via on loopback: when the connection is gone before the
			// message's transaction is made, sipgo looks up the Via's host
			// to answer there (RFC 3261 18.2.2), and tests stay on
			// loopback.
			{name: "mcl01", section: "3.3.9", want: 400, closes: true,
				via: [2]string{"Via: SIP/2.0/UDP host5.example.net;", "Via: SIP/2.0/TCP 127.0.0.1:9;"}},
		} {
			t.Run(c.name, func(t *testing.T) {
				addr := startTortureEngine(t, db)
				conn, err := net.Dial("tcp", addr.String())
				if err != nil {
					t.Fatalf("dial: %v", err)
				}
				defer conn.Close()
				// A failsafe, not an assertion: a hung read fails the test
				// instead of the package's deadline.
				_ = conn.SetDeadline(time.Now().Add(20 * time.Second))
				msg := rfc4475Message(t, c.name)
				if c.via[0] != "" {
					if !bytes.Contains(msg, []byte(c.via[0])) {
						t.Fatalf("%s has no %q", c.name, c.via[0])
					}
					msg = bytes.Replace(msg, []byte(c.via[0]), []byte(c.via[1]), 1)
				}
				if _, err := conn.Write(msg); err != nil {
					t.Fatalf("send: %v", err)
				}
				rd := bufio.NewReader(conn)
				if c.want != 0 {
					res, ok := readStreamAnswer(t, rd, c.closes)
					if ok && res.code != c.want {
						t.Fatalf("RFC 4475 %s: answered %d %s, want %d", c.section, res.code, res.reason, c.want)
					}
					if ok && !c.closes {
						ackFinal(t, func(b []byte) error { _, err := conn.Write(b); return err }, msg, res)
					}
				}
				if !c.closes {
					if err := conn.(*net.TCPConn).CloseWrite(); err != nil {
						t.Fatalf("half-close: %v", err)
					}
				}
				rest, err := io.ReadAll(rd)
				if err != nil && !errors.Is(err, syscall.ECONNRESET) {
					t.Fatalf("RFC 4475 %s: connection not closed: %v", c.section, err)
				}
				if len(rest) > 0 {
					t.Fatalf("RFC 4475 %s: sent %q, want nothing more", c.section, rest)
				}
			})
		}
	})
}

// readStreamAnswer reads the first final answer from a stream; if
// closeOK, the stream may end before one comes (ok false).
func readStreamAnswer(t *testing.T, rd *bufio.Reader, closeOK bool) (answer, bool) {
	t.Helper()
	for {
		raw, err := readStreamMessage(rd)
		if err != nil {
			if closeOK && raw == "" && (errors.Is(err, io.EOF) || errors.Is(err, syscall.ECONNRESET)) {
				return answer{}, false
			}
			t.Fatalf("read answer: %v (read %q)", err, raw)
		}
		if a := parseAnswer(t, raw); a.code >= 200 {
			return a, true
		}
	}
}

// readStreamMessage reads one body-less message from a stream.
func readStreamMessage(rd *bufio.Reader) (string, error) {
	var b strings.Builder
	for !strings.HasSuffix(b.String(), "\r\n\r\n") {
		line, err := rd.ReadString('\n')
		b.WriteString(line)
		if err != nil {
			return b.String(), err
		}
	}
	return b.String(), nil
}

// tortureStore is a store with an inbound trunk that admits 127.0.0.0/8,
// so INVITEs go the whole normal way to the number check instead of
// stopping at the source check.
func tortureStore(t *testing.T, backend string) *store.DB {
	t.Helper()
	db := storetest.Open(t, backend, nil)
	now := time.Now().UTC().Truncate(time.Millisecond)
	trunk := &voice.Trunk{ID: voice.NewID(voice.PrefixTrunk, now), Name: "loopback", Direction: voice.DirectionInbound,
		Host: "127.0.0.1", Port: 5060, Transport: "udp", SRTP: "off", AllowedCIDRs: []string{"127.0.0.0/8"},
		Status: voice.TrunkActive, CreatedAt: now, UpdatedAt: now}
	if err := db.CreateTrunk(context.Background(), trunk); err != nil {
		t.Fatalf("create trunk: %v", err)
	}
	return db
}

// startTortureEngine runs an engine on loopback until the test ends.
func startTortureEngine(t *testing.T, db *store.DB) net.Addr {
	t.Helper()
	e, err := New(Config{Listen: "127.0.0.1:0", Store: db})
	if err != nil {
		t.Fatalf("engine: %v", err)
	}
	e.Serve()
	t.Cleanup(func() {
		if err := e.Close(); err != nil {
			t.Errorf("close engine: %v", err)
		}
	})
	return net.UDPAddrFromAddrPort(e.Addr())
}

// clientAddrs hands out loopback addresses for the test's UDP clients.
var clientAddrs atomic.Uint32

// tortureClient opens a UDP socket on port 5060 of an address of its own
// in 127.0.0.0/8. Most torture messages carry a Via without a port, so RFC
// 3261 18.2.2 sends their answers to port 5060 of the source address; a
// fresh address per message keeps one message's late retransmissions out
// of the next one's way, and the test off 127.0.0.1:5060.
func tortureClient(t *testing.T) net.PacketConn {
	t.Helper()
	if clientAddrs.Load() == 0 {
		clientAddrs.CompareAndSwap(0, rand.Uint32N(1<<20)<<2)
	}
	for range 20 {
		n := clientAddrs.Add(1)
		ip := net.IPv4(127, byte(64+(n>>16)%64), byte(n>>8), byte(n))
		if byte(n) == 0 || byte(n) == 255 {
			continue
		}
		conn, err := net.ListenPacket("udp4", net.JoinHostPort(ip.String(), "5060"))
		if err == nil {
			t.Cleanup(func() { conn.Close() })
			return conn
		}
	}
	t.Fatalf("no free 127.x.y.z:5060 to listen on")
	return nil
}

// answer is a response as received. Answers to malformed requests copy
// their header fields as they came, which a parser may refuse, so only the
// status line and the raw text are looked at.
type answer struct {
	version, reason string
	code            int
	raw             string
}

// has reports whether the answer has a header field line "Name: value..."
// whose value contains value.
func (a answer) has(field string) bool {
	name, value, _ := strings.Cut(field, ": ")
	for _, l := range strings.Split(a.raw, "\r\n")[1:] {
		n, v, ok := strings.Cut(l, ":")
		if ok && strings.EqualFold(strings.TrimSpace(n), name) && strings.Contains(v, value) {
			return true
		}
	}
	return false
}

// readAnswer reads responses until a final one for callID. The deadline
// is a failsafe against a hang, not part of what is checked.
func readAnswer(t *testing.T, conn net.PacketConn, callID string) answer {
	t.Helper()
	_ = conn.SetReadDeadline(time.Now().Add(20 * time.Second))
	buf := make([]byte, 65535)
	for {
		n, _, err := conn.ReadFrom(buf)
		if err != nil {
			t.Fatalf("no answer: %v", err)
		}
		a := parseAnswer(t, string(buf[:n]))
		if a.code < 200 {
			continue
		}
		if id := rawCallID([]byte(a.raw)); callID != "" && id != callID {
			t.Fatalf("answer for Call-ID %q, want %q: %q", id, callID, a.raw)
		}
		return a
	}
}

// parseAnswer reads the status line of a response.
func parseAnswer(t *testing.T, raw string) answer {
	t.Helper()
	line, _, _ := strings.Cut(raw, "\r\n")
	parts := strings.SplitN(line, " ", 3)
	if len(parts) < 2 || !strings.HasPrefix(parts[0], "SIP/") {
		t.Fatalf("not a response: %q", raw)
	}
	code, err := strconv.Atoi(parts[1])
	if err != nil {
		t.Fatalf("status %q: %v", parts[1], err)
	}
	a := answer{version: parts[0], code: code, raw: raw}
	if len(parts) == 3 {
		a.reason = parts[2]
	}
	return a
}

// ackFinal acknowledges a non-2xx final answer to an INVITE, as a UAC
// does (RFC 3261 17.1.1.3), so the engine's transaction ends now rather
// than at timer H, 32 s on.
func ackFinal(t *testing.T, send func([]byte) error, msg []byte, res answer) {
	t.Helper()
	m, err := sipmsg.ParseMessage(msg)
	if err != nil {
		return // answered statelessly: there is no transaction
	}
	req, ok := m.(*sipmsg.Request)
	if !ok || !req.IsInvite() || res.code < 300 || checkRequest(req) != nil {
		// Nothing to end: the middleware answers statelessly, and an ACK
		// matching no transaction would open one (and, should the engine
		// stop first, send sipgo looking up the Via's host).
		return
	}
	r, err := sipmsg.ParseMessage([]byte(res.raw))
	if err != nil {
		t.Fatalf("answer to an INVITE: %v", err)
	}
	ack := sipmsg.NewRequest(sipmsg.ACK, req.Recipient)
	ack.AppendHeader(req.Via())
	ack.AppendHeader(req.From())
	ack.AppendHeader(r.(*sipmsg.Response).To())
	ack.AppendHeader(req.CallID())
	ack.AppendHeader(&sipmsg.CSeqHeader{SeqNo: req.CSeq().SeqNo, MethodName: sipmsg.ACK})
	ack.AppendHeader(sipmsg.NewHeader("Max-Forwards", "70"))
	ack.AppendHeader(sipmsg.NewHeader("Content-Length", "0"))
	if err := send([]byte(ack.String())); err != nil {
		t.Fatalf("send ACK: %v", err)
	}
}

// expectSilence checks that a message got no answer: a probe OPTIONS sent
// after it on the same socket must be the first thing answered. Datagrams
// are screened in order, so an answer to the message would come first.
func expectSilence(t *testing.T, conn net.PacketConn, addr net.Addr, name string) {
	t.Helper()
	local := conn.LocalAddr().(*net.UDPAddr)
	callID := "probe-" + name
	probe := fmt.Sprintf("OPTIONS sip:probe@%s SIP/2.0\r\nVia: SIP/2.0/UDP %s;branch=z9hG4bK-%s;rport\r\n"+
		"From: <sip:probe@%s>;tag=p1\r\nTo: <sip:probe@%s>\r\nCall-ID: %s\r\nCSeq: 1 OPTIONS\r\nMax-Forwards: 70\r\n"+
		"Content-Length: 0\r\n\r\n", addr, local, callID, local.IP, addr, callID)
	if _, err := conn.WriteTo([]byte(probe), addr); err != nil {
		t.Fatalf("send probe: %v", err)
	}
	if res := readAnswer(t, conn, callID); res.code != 200 {
		t.Fatalf("probe answered %d %s", res.code, res.reason)
	}
}

// rawCallID finds the Call-ID of a raw message ("" if it has none, or
// several).
func rawCallID(msg []byte) string {
	head, _, _ := bytes.Cut(msg, []byte("\r\n\r\n"))
	var id string
	n := 0
	sc := bufio.NewScanner(bytes.NewReader(head))
	sc.Buffer(make([]byte, 0, 64<<10), 64<<10)
	for sc.Scan() {
		name, value, ok := strings.Cut(strings.TrimRight(sc.Text(), "\r"), ":")
		if key := strings.ToLower(strings.TrimSpace(name)); ok && (key == "call-id" || key == "i") {
			id = strings.TrimSpace(value)
		} else {
			continue
		}
		n++
	}
	if n != 1 {
		return ""
	}
	return id
}

// TestRFC4475Checks covers the middleware's checks beyond the torture
// messages: the issue's own findings (an INVITE whose CSeq names OPTIONS,
// SIP/7.0) and what must still pass (ACK and CANCEL are not held to
// Require, media types and Accept compare without case and parameters).
func TestRFC4475Checks(t *testing.T) {
	t.Parallel()
	const base = "sip:+15550001@example.com SIP/2.0\r\nVia: SIP/2.0/UDP 192.0.2.1;branch=z9hG4bKx\r\n" +
		"From: <sip:a@example.com>;tag=1\r\nTo: <sip:b@example.com>\r\nCall-ID: c1\r\nMax-Forwards: 70\r\n"
	for _, c := range []struct {
		name, msg string
		want      int // 0: passes
	}{
		{"invite with an OPTIONS CSeq", "INVITE " + base + "CSeq: 1 OPTIONS\r\n\r\n", 400},
		{"SIP/7.0", "OPTIONS " + strings.Replace(base, "SIP/2.0\r\n", "SIP/7.0\r\n", 1) + "CSeq: 1 OPTIONS\r\n\r\n", 505},
		{"plain invite", "INVITE " + base + "CSeq: 1 INVITE\r\nContact: <sip:a@192.0.2.1>\r\n\r\n", 0},
		{"require on an invite", "INVITE " + base + "CSeq: 1 INVITE\r\nRequire: 100rel\r\n\r\n", 420},
		{"require on an ack", "ACK " + base + "CSeq: 1 ACK\r\nRequire: 100rel\r\n\r\n", 0},
		{"require on a cancel", "CANCEL " + base + "CSeq: 1 CANCEL\r\nRequire: 100rel\r\n\r\n", 0},
		{"sdp in capitals with a parameter", "INVITE " + base + "CSeq: 1 INVITE\r\nContent-Type: Application/SDP; charset=utf-8\r\nContent-Length: 3\r\n\r\nv=0", 0},
		{"accept with sdp among others", "INVITE " + base + "CSeq: 1 INVITE\r\nAccept: application/dtmf-relay, application/sdp;level=1\r\n\r\n", 0},
		{"accept anything", "INVITE " + base + "CSeq: 1 INVITE\r\nAccept: */*\r\n\r\n", 0},
		{"accept of no sdp", "INVITE " + base + "CSeq: 1 INVITE\r\nAccept: text/plain\r\n\r\n", 406},
		{"tel request-uri", "OPTIONS tel:+15550001 SIP/2.0\r\n" + strings.SplitN(base, "\r\n", 2)[1] + "CSeq: 1 OPTIONS\r\n\r\n", 0},
		{"two Max-Forwards", "OPTIONS " + base + "CSeq: 1 OPTIONS\r\nMax-Forwards: 69\r\n\r\n", 400},
	} {
		msg, err := sipmsg.ParseMessage([]byte(c.msg))
		if err != nil {
			t.Errorf("%s: parse: %v", c.name, err)
			continue
		}
		got := 0
		if m := checkRequest(msg.(*sipmsg.Request)); m != nil {
			got = m.code
		}
		if got != c.want {
			t.Errorf("%s: %d, want %d", c.name, got, c.want)
		}
	}
}

// TestRFC4475Findings sends the review's finding to a running engine: an
// INVITE whose CSeq names OPTIONS was processed as a call attempt; now it
// is refused 400 and leaves nothing behind, while the same INVITE with a
// matching CSeq goes the normal way (404 for a number nobody has, and a
// line in the operator's refusal log).
func TestRFC4475Findings(t *testing.T) {
	storetest.Each(t, func(t *testing.T, backend string) {
		db := tortureStore(t, backend)
		addr := startTortureEngine(t, db)
		invite := func(callID, cseq string) []byte {
			sdp := "v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\nm=audio 40000 RTP/AVP 0\r\n"
			return []byte("INVITE sip:+15550009999@" + addr.String() + " SIP/2.0\r\n" +
				"Via: SIP/2.0/UDP 127.0.0.1;branch=z9hG4bK-" + callID + "\r\n" +
				"From: <sip:+15550001111@127.0.0.1>;tag=f1\r\nTo: <sip:+15550009999@127.0.0.1>\r\n" +
				"Call-ID: " + callID + "\r\nCSeq: 1 " + cseq + "\r\nContact: <sip:caller@127.0.0.1>\r\n" +
				"Max-Forwards: 70\r\nContent-Type: application/sdp\r\nContent-Length: " + strconv.Itoa(len(sdp)) + "\r\n\r\n" + sdp)
		}
		refusals := func() int {
			l, err := db.SIPRefusals(context.Background(), voice.SIPRefusalFilter{}, voice.Page{Limit: 10})
			if err != nil {
				t.Fatalf("refusals: %v", err)
			}
			return len(l.Data)
		}
		for _, c := range []struct {
			callID, cseq string
			want         int
			logged       int // refusal log lines after it
		}{
			{"finding-cseq-options", "OPTIONS", 400, 0},
			{"control-cseq-invite", "INVITE", 404, 1},
		} {
			conn := tortureClient(t)
			msg := invite(c.callID, c.cseq)
			if _, err := conn.WriteTo(msg, addr); err != nil {
				t.Fatalf("send: %v", err)
			}
			res := readAnswer(t, conn, c.callID)
			ackFinal(t, func(b []byte) error { _, err := conn.WriteTo(b, addr); return err }, msg, res)
			if res.code != c.want {
				t.Fatalf("%s: answered %d %s, want %d", c.callID, res.code, res.reason, c.want)
			}
			if n := refusals(); n != c.logged {
				t.Errorf("%s: %d refusal log lines, want %d", c.callID, n, c.logged)
			}
		}
	})
}

// TestRFC4475ScreenBounds checks what the UDP read filter passes, drops
// and answers, and that its answers are rate bounded.
func TestRFC4475ScreenBounds(t *testing.T) {
	t.Parallel()
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	conn := &capture{}
	s := &screen{conn: conn, parser: sipmsg.NewParser(), bucket: newBucket(1, 2), log: slog.New(slog.DiscardHandler),
		now: func() time.Time { return now }}
	udp := sipmsg.TransportReadProps{Transport: "UDP", RemoteAddr: fuzzSource}
	filter := func(props sipmsg.TransportReadProps, data []byte) []byte {
		t.Helper()
		out, err := s.filter(props, data)
		if err != nil {
			t.Fatalf("filter failed: %v", err)
		}
		return out
	}
	bad := rfc4475Message(t, "ltgtruri")
	for range 5 { // a burst from one instant: only the bucket's burst is answered
		if filter(udp, bad) != nil {
			t.Fatalf("ltgtruri passed on")
		}
	}
	if len(conn.written) != 2 {
		t.Errorf("%d answers to 5 malformed datagrams at once, want the burst of 2", len(conn.written))
	}
	conn.written = nil
	for _, name := range []string{"bigcode", "scalarlg"} { // responses sipgo cannot parse
		if filter(udp, rfc4475Message(t, name)) != nil {
			t.Errorf("%s passed on", name)
		}
	}
	noVia := []byte("INVITE <sip:x@example.com> SIP/2.0\r\nCSeq: 1 INVITE\r\n\r\n")
	ack := []byte("ACK <sip:x@example.com> SIP/2.0\r\nVia: SIP/2.0/UDP 192.0.2.1;branch=z9hG4bK1\r\n\r\n")
	for _, d := range [][]byte{noVia, ack, []byte("garbage\r\n\r\n"), []byte("\x00\x01\x02")} {
		if filter(udp, d) != nil {
			t.Errorf("%q passed on", d)
		}
	}
	now = now.Add(time.Hour) // the bucket is full again: nothing above was answered for want of it
	if len(conn.written) != 0 {
		t.Errorf("answered what gets no answer: %q", conn.written)
	}
	for _, d := range [][]byte{[]byte("\r\n\r\n"), rfc4475Message(t, "lwsdisp")} {
		if out := filter(udp, d); !bytes.Equal(out, d) {
			t.Errorf("%q not passed on as it came", d)
		}
	}
	tcp := sipmsg.TransportReadProps{Transport: "TCP", RemoteAddr: fuzzSource}
	if out := filter(tcp, bad); !bytes.Equal(out, bad) {
		t.Errorf("a TCP read was not passed on: the stream parser frames it")
	}
	if len(conn.written) != 0 {
		t.Errorf("answered a valid message or a TCP read: %q", conn.written)
	}
}
