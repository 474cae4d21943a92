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

// nxdomainResolver is a resolver whose only server, on loopback UDP,
// answers every question "no such name", as a real one does for a name that
// does not exist.
func nxdomainResolver(t *testing.T) *net.Resolver {
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
			// The question echoed with QR, RD, RA set and RCODE 3 (NXDOMAIN).
			buf[2], buf[3] = 0x81, 0x83
			_, _ = pc.WriteTo(buf[:n], from)
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
		Client: netguard.NewClient(netguard.ClientConfig{Resolver: nxdomainResolver(t)})})
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
		{strict, "http://no-such-name.test/answer", callctl.CodeUnreachable, "cannot reach the URL: the host name could not be resolved (no such host)"},
		{loose, gone.URL + "/answer", callctl.CodeUnreachable, "cannot reach the URL: the connection was refused"},
	} {
		_, err := tc.f.Fetch(context.Background(), callctl.FetchRequest{URL: tc.url, App: fetchApp(), Call: fetchCall()})
		fe := asFetchError(t, err)
		if fe.Code != tc.code || fe.Message != tc.want {
			t.Errorf("%s: %s %q, want %s %q (error %v)", tc.url, fe.Code, fe.Message, tc.code, tc.want, fe.Err)
		}
		if publicmsg.Scrub(fe.Message) != fe.Message || strings.Contains(fe.Message, "127.0.0.1") || strings.Contains(fe.Message, ":53") {
			t.Errorf("%s: the message %q names an address or a path", tc.url, fe.Message)
		}
	}
}
