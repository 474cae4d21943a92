package callctl_test

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"time"

	"github.com/minivoice/minivoice/internal/callctl"
	"github.com/minivoice/minivoice/internal/voice"
	"github.com/minivoice/minivoice/webhook"
)

// An answer_url that checks the signature and answers with a greeting. The
// server runs on 127.0.0.1, which the SSRF guard refuses unless allowed, as
// the local demo does.
func ExampleFetcher_Fetch() {
	secret := "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		if err := webhook.Verify(secret, r.Header, body, time.Now(), webhook.DefaultTolerance); err != nil {
			http.Error(w, "bad signature", http.StatusUnauthorized)
			return
		}
		fmt.Fprint(w, `[{"action": "say", "text": "Welcome to MiniVoice"}, {"action": "hangup"}]`)
	}))
	defer srv.Close()

	f := callctl.NewFetcher(callctl.FetcherConfig{Allow: []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8")}})
	res, err := f.Fetch(context.Background(), callctl.FetchRequest{
		URL:  srv.URL + "/answer",
		App:  &voice.Application{ID: "app_1", WebhookSecret: secret},
		Call: &voice.Call{ID: "call_1", Direction: "inbound", From: "+15551230001", To: "+15551230002"},
	})
	if err != nil {
		fmt.Println(err) // the caller emits call.error and hangs up
		return
	}
	for _, a := range res.Actions {
		fmt.Println(a.Kind)
	}
	fmt.Println("attempts:", res.Attempts)
	// Output:
	// say
	// hangup
	// attempts: 1
}
