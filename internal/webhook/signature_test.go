package webhook_test

import (
	"errors"
	"net/http"
	"testing"
	"time"

	"github.com/minivoice/minivoice/internal/webhook"
)

// The Standard Webhooks known vector, as webhooks.md quotes it.
const (
	vecSecret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
	vecID     = "msg_p5jXN8AQM9LWM0D4loKWxJek"
	vecTS     = 1614265330
	vecBody   = `{"test": 2432232314}`
	vecSig    = "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="
)

func TestSignKnownVector(t *testing.T) {
	t.Parallel()
	got, err := webhook.Sign(vecSecret, vecID, time.Unix(vecTS, 0), []byte(vecBody))
	if err != nil {
		t.Fatal(err)
	}
	if got != vecSig {
		t.Fatalf("Sign = %s, want %s", got, vecSig)
	}
}

func TestVerify(t *testing.T) {
	t.Parallel()
	ts := time.Unix(vecTS, 0)
	h := http.Header{}
	other := "whsec_" + "QUJDREVGR0hJSktMTU5PUFFSU1RVVldYWVo="
	if err := webhook.SignRequest(h, vecID, ts, []byte(vecBody), other, vecSecret); err != nil {
		t.Fatal(err)
	}
	// Both secrets of a rotation verify.
	for _, s := range []string{vecSecret, other} {
		if err := webhook.Verify(s, h, []byte(vecBody), ts, webhook.DefaultTolerance); err != nil {
			t.Errorf("verify with %s: %v", s, err)
		}
	}
	cases := []struct {
		name   string
		secret string
		mutate func(h http.Header)
		body   string
		now    time.Time
		want   error
	}{
		{"tampered body", vecSecret, nil, `{"test": 2432232315}`, ts, webhook.ErrNoValidSignature},
		{"wrong secret", "whsec_" + "eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4", nil, vecBody, ts, webhook.ErrNoValidSignature},
		{"old", vecSecret, nil, vecBody, ts.Add(6 * time.Minute), webhook.ErrTimestampSkew},
		{"future", vecSecret, nil, vecBody, ts.Add(-6 * time.Minute), webhook.ErrTimestampSkew},
		{"no id", vecSecret, func(h http.Header) { h.Del(webhook.HeaderID) }, vecBody, ts, webhook.ErrMissingHeaders},
		{"bad ts", vecSecret, func(h http.Header) { h.Set(webhook.HeaderTimestamp, "soon") }, vecBody, ts, webhook.ErrBadTimestamp},
		{"other id", vecSecret, func(h http.Header) { h.Set(webhook.HeaderID, "msg_other") }, vecBody, ts, webhook.ErrNoValidSignature},
	}
	for _, tc := range cases {
		hh := h.Clone()
		if tc.mutate != nil {
			tc.mutate(hh)
		}
		if err := webhook.Verify(tc.secret, hh, []byte(tc.body), tc.now, webhook.DefaultTolerance); !errors.Is(err, tc.want) {
			t.Errorf("%s: %v, want %v", tc.name, err, tc.want)
		}
	}
	// Zero tolerance verifies a captured request long after.
	if err := webhook.Verify(vecSecret, h, []byte(vecBody), ts.Add(100*time.Hour), 0); err != nil {
		t.Errorf("zero tolerance: %v", err)
	}
	if err := webhook.SignRequest(http.Header{}, "x", ts, nil); err == nil {
		t.Error("signing without a secret succeeded")
	}
}
