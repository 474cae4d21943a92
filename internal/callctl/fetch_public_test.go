package callctl_test

import (
	"context"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strings"
	"testing"

	"github.com/minivoice/minivoice/internal/callctl"
	"github.com/minivoice/minivoice/internal/netguard"
	"github.com/minivoice/minivoice/internal/netguard/dnstest"
	"github.com/minivoice/minivoice/internal/publicmsg"
)

// internalIP is what internalName resolves to: an address on the operator's network.
const (
	internalName = "intranet.test."
	internalIP   = "10.1.2.3"
)

func TestFetchErrorsNameNoInternalAddress(t *testing.T) {
	t.Parallel()
	gone := httptest.NewServer(http.NotFoundHandler())
	gone.Close()
	_, port, _ := net.SplitHostPort(strings.TrimPrefix(gone.URL, "http://"))
	strict := callctl.NewFetcher(callctl.FetcherConfig{Now: fetchNow,
		Client: netguard.NewClient(netguard.ClientConfig{Resolver: dnstest.Resolver(t, map[string][]netip.Addr{
			strings.TrimSuffix(internalName, "."): {netip.MustParseAddr(internalIP)}})})})
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
