package callctl_test

import (
	"context"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/minivoice/minivoice/internal/callctl"
	"github.com/minivoice/minivoice/internal/netguard"
	"github.com/minivoice/minivoice/internal/publicmsg"
)

// internalIP is what internalName resolves to: an address on the operator's network.
const (
	internalName = "intranet.test."
	internalIP   = "10.1.2.3"
)

// testResolver is a resolver whose only server, on loopback UDP, answers
// internalName's A question with internalIP (and its AAAA question with no
// address) and every other name "no such name", as a real one does for a
// name that does not exist.
func testResolver(t *testing.T) *net.Resolver {
	t.Helper()
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = pc.Close() })
	go func() {
		buf := make([]byte, 1500)
		for {
			n, from, err := pc.ReadFrom(buf)
			if err != nil {
				return
			}
			if n < 12 {
				continue
			}
			_, _ = pc.WriteTo(dnsReply(buf[:n]), from)
		}
	}()
	server := pc.LocalAddr().String()
	return &net.Resolver{PreferGo: true, Dial: func(ctx context.Context, _, _ string) (net.Conn, error) {
		var d net.Dialer
		return d.DialContext(ctx, "udp", server)
	}}
}

// TestFetchErrorsNameNoInternalAddress: the message of a failed fetch, which
// the customer reads in call.error, names no address a host name resolved
// to, no resolver and no path; the IP literal a customer wrote may stay.
func TestFetchErrorsNameNoInternalAddress(t *testing.T) {
	t.Parallel()
	gone := httptest.NewServer(http.NotFoundHandler())
	gone.Close()
	_, port, _ := net.SplitHostPort(strings.TrimPrefix(gone.URL, "http://"))
	strict := callctl.NewFetcher(callctl.FetcherConfig{Now: fetchNow,
		Client: netguard.NewClient(netguard.ClientConfig{Resolver: testResolver(t)})})
	loose := callctl.NewFetcher(callctl.FetcherConfig{Now: fetchNow, Allow: loopback})
	for _, tc := range []struct {
		f    *callctl.Fetcher
		url  string
		code string
		want string
	}{
		// localhost resolves to 127.0.0.1 and ::1 (the hosts file), both
		// refused without --allow-private-urls.
		{callctl.NewFetcher(callctl.FetcherConfig{Now: fetchNow}), "http://localhost:" + port + "/answer", callctl.CodeURLNotAllowed, netguard.RefusedText},
		{callctl.NewFetcher(callctl.FetcherConfig{Now: fetchNow}), "http://10.11.12.13/answer", callctl.CodeURLNotAllowed, netguard.RefusedText},
		{strict, "http://" + strings.TrimSuffix(internalName, ".") + "/answer", callctl.CodeURLNotAllowed, netguard.RefusedText},
		{strict, "http://no-such-name.test/answer", callctl.CodeUnreachable, "cannot reach the URL: the host name could not be resolved (no such host)"},
		{loose, gone.URL + "/answer", callctl.CodeUnreachable, "cannot reach the URL: the connection was refused"},
	} {
		_, err := tc.f.Fetch(context.Background(), callctl.FetchRequest{URL: tc.url, App: fetchApp(), Call: fetchCall()})
		fe := asFetchError(t, err)
		if fe.Code != tc.code || fe.Message != tc.want {
			t.Errorf("%s: %s %q, want %s %q (error %v)", tc.url, fe.Code, fe.Message, tc.code, tc.want, fe.Err)
		}
		if publicmsg.Scrub(fe.Message) != fe.Message || strings.Contains(fe.Message, "127.0.0.1") || strings.Contains(fe.Message, internalIP) ||
			strings.Contains(fe.Message, ":53") {
			t.Errorf("%s: the message %q names an address or a path", tc.url, fe.Message)
		}
		if strings.Contains(tc.url, "intranet") && !strings.Contains(fe.Err.Error(), internalIP) {
			t.Errorf("%s: the logged cause %q lost the address it resolved to", tc.url, fe.Err)
		}
	}
}

// dnsReply answers one DNS query (RFC 1035): internalName's A question with
// internalIP, its other questions with no record, any other name NXDOMAIN.
func dnsReply(q []byte) []byte {
	// The question's name: labels from byte 12 to a zero length.
	i := 12
	var name strings.Builder
	for i < len(q) && q[i] != 0 {
		l := int(q[i])
		if i+1+l > len(q) {
			return nil
		}
		name.WriteString(strings.ToLower(string(q[i+1:i+1+l])) + ".")
		i += 1 + l
	}
	end := i + 5 // the zero, QTYPE and QCLASS
	if end > len(q) {
		return nil
	}
	out := append([]byte(nil), q[:end]...)
	out[2], out[3] = 0x81, 0x80 // QR, RD, RA; NOERROR
	out[6], out[7], out[8], out[9], out[10], out[11] = 0, 0, 0, 0, 0, 0
	if name.String() != internalName {
		out[3] = 0x83 // NXDOMAIN
		return out
	}
	if qtype := int(q[i+1])<<8 | int(q[i+2]); qtype == 1 {
		out[7] = 1 // one answer: a pointer to the question's name, A, IN, TTL 60, 4 bytes
		out = append(out, 0xc0, 12, 0, 1, 0, 1, 0, 0, 0, 60, 0, 4)
		out = append(out, net.ParseIP(internalIP).To4()...)
	}
	return out
}
