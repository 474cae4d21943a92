package webhook_test

import (
	"errors"
	"net/http"
	"testing"
	"time"

	"github.com/minivoice/minivoice/internal/webhook"
)

// The forwarding names keep their old contract: the known vector signs, both
// secrets of a rotation verify, and a zero tolerance skips the age check.
func TestForwarders(t *testing.T) {
	t.Parallel()
	const (
		secret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
		other  = "whsec_QUJDREVGR0hJSktMTU5PUFFSU1RVVldYWVo="
		body   = `{"test": 2432232314}`
	)
	ts := time.Unix(1614265330, 0)
	if sig, err := webhook.Sign(secret, "msg_p5jXN8AQM9LWM0D4loKWxJek", ts, []byte(body)); err != nil ||
		sig != "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=" {
		t.Fatalf("Sign = %q, %v", sig, err)
	}
	h := http.Header{}
	if err := webhook.SignRequest(h, "evt_1", ts, []byte(body), secret, other); err != nil {
		t.Fatal(err)
	}
	for _, s := range []string{secret, other} {
		if err := webhook.Verify(s, h, []byte(body), ts.Add(100*time.Hour), 0); err != nil {
			t.Errorf("zero tolerance, %s: %v", s, err)
		}
	}
	if err := webhook.Verify(secret, h, []byte(body), ts.Add(time.Hour), webhook.DefaultTolerance); !errors.Is(err, webhook.ErrTimestampSkew) {
		t.Errorf("stale: %v", err)
	}
	if err := webhook.Verify(secret, h, []byte(body+" "), ts, webhook.DefaultTolerance); !errors.Is(err, webhook.ErrNoValidSignature) {
		t.Errorf("tampered: %v", err)
	}
	if _, err := webhook.DecodeSecret("whsec_%%"); err == nil {
		t.Error("DecodeSecret accepted garbage")
	}
}
