package webhook_test

import (
	"encoding/json"
	"fmt"
	"log"
	"net/http"
	"net/http/httptest"
	"strings"
	"time"

	"github.com/minivoice/minivoice/webhook"
)

// A receiver: an http.Handler that verifies each request before it trusts
// the body, answers 2xx quickly, and leaves slow work for later.
func Example_receiver() {
	secret := "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw" // the application's webhook_secret
	handler := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, err := webhook.VerifyRequest(r, secret, webhook.DefaultTolerance)
		if err != nil {
			http.Error(w, "invalid signature", http.StatusUnauthorized)
			return
		}
		var ev webhook.Payload
		if err := json.Unmarshal(body, &ev); err != nil {
			http.Error(w, "bad body", http.StatusBadRequest)
			return
		}
		// De-duplicate on ev.ID (delivery is at least once), then queue the work.
		fmt.Println("received", ev.Event, ev.ID)
		w.WriteHeader(http.StatusNoContent)
	})

	// What MiniVoice sends (here signed by hand, as a receiver's own tests may do).
	body := `{"id": "evt_123", "event": "call.completed", "created_at": "2026-05-29T12:10:00Z", "call": {"id": "call_123"}, "variables": {}, "data": {}}`
	req := httptest.NewRequest(http.MethodPost, "/hooks", strings.NewReader(body))
	if err := webhook.SignRequest(req.Header, "evt_123", time.Now(), []byte(body), secret); err != nil {
		log.Fatal(err)
	}
	rec := httptest.NewRecorder()
	handler.ServeHTTP(rec, req)
	fmt.Println(rec.Code)

	// A tampered body is refused.
	req = httptest.NewRequest(http.MethodPost, "/hooks", strings.NewReader(strings.Replace(body, "completed", "answered", 1)))
	_ = webhook.SignRequest(req.Header, "evt_123", time.Now(), []byte(body), secret)
	rec = httptest.NewRecorder()
	handler.ServeHTTP(rec, req)
	fmt.Println(rec.Code)
	// Output:
	// received call.completed evt_123
	// 204
	// 401
}

// Verify checks headers and a body you have already read.
func ExampleVerify() {
	h := http.Header{}
	h.Set("webhook-id", "msg_p5jXN8AQM9LWM0D4loKWxJek")
	h.Set("webhook-timestamp", "1614265330")
	h.Set("webhook-signature", "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=")
	now := time.Unix(1614265330, 0) // in a receiver: time.Now()
	err := webhook.Verify("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw", h, []byte(`{"test": 2432232314}`), now, webhook.DefaultTolerance)
	fmt.Println(err)
	// Output: <nil>
}
