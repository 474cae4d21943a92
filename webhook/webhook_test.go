package webhook_test

import (
	"errors"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/minivoice/minivoice/webhook"
)

// The Standard Webhooks known vector, as webhooks.md quotes it.
const (
	vecSecret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
	vecID     = "msg_p5jXN8AQM9LWM0D4loKWxJek"
	vecTS     = 1614265330
	vecBody   = `{"test": 2432232314}`
	vecSig    = "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="
	// otherSecret is a second secret, as during a rotation.
	otherSecret = "whsec_QUJDREVGR0hJSktMTU5PUFFSU1RVVldYWVo="
)

func vecHeader(sig string) http.Header {
	h := http.Header{}
	h.Set(webhook.HeaderID, vecID)
	h.Set(webhook.HeaderTimestamp, strconv.Itoa(vecTS))
	h.Set(webhook.HeaderSignature, sig)
	return h
}

func TestKnownVector(t *testing.T) {
	t.Parallel()
	ts := time.Unix(vecTS, 0)
	got, err := webhook.Sign(vecSecret, vecID, ts, []byte(vecBody))
	if err != nil || got != vecSig {
		t.Fatalf("Sign = %q, %v; want %s", got, err, vecSig)
	}
	// Verifies as given, and without the whsec_ prefix.
	for _, secret := range []string{vecSecret, strings.TrimPrefix(vecSecret, "whsec_")} {
		if err := webhook.Verify(secret, vecHeader(vecSig), []byte(vecBody), ts, 0); err != nil {
			t.Errorf("Verify(%s): %v", secret, err)
		}
	}
}

// verifyCase is one Verify call and the error it must return.
type verifyCase struct {
	name   string
	secret string
	h      http.Header
	body   string
	now    time.Time
	tol    time.Duration
	want   error
}

func TestVerify(t *testing.T) {
	t.Parallel()
	ts := time.Unix(vecTS, 0)
	rotated := http.Header{}
	if err := webhook.SignRequest(rotated, vecID, ts, []byte(vecBody), otherSecret, "", vecSecret); err != nil {
		t.Fatal(err)
	}
	if n := len(strings.Fields(rotated.Get(webhook.HeaderSignature))); n != 2 {
		t.Fatalf("rotation: %d signatures, want 2: %q", n, rotated.Get(webhook.HeaderSignature))
	}
	cases := []verifyCase{
		{"rotation: new secret", otherSecret, rotated, vecBody, ts, 0, nil},
		{"rotation: previous secret", vecSecret, rotated, vecBody, ts, 0, nil},
		{"unknown versions are ignored", vecSecret, vecHeader("v1a,AAAA v2,zzz " + vecSig), vecBody, ts, 0, nil},
		{"signature under another version", vecSecret, vecHeader("v1a," + strings.TrimPrefix(vecSig, "v1,")), vecBody, ts, 0, webhook.ErrSignature},
		{"garbage signature", vecSecret, vecHeader("v1,!!! nonsense"), vecBody, ts, 0, webhook.ErrSignature},
		{"tampered body", vecSecret, vecHeader(vecSig), `{"test": 2432232315}`, ts, 0, webhook.ErrSignature},
		{"wrong secret", "whsec_eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4", vecHeader(vecSig), vecBody, ts, 0, webhook.ErrSignature},
		{"old timestamp", vecSecret, vecHeader(vecSig), vecBody, ts.Add(6 * time.Minute), 0, webhook.ErrTimestamp},
		{"future timestamp", vecSecret, vecHeader(vecSig), vecBody, ts.Add(-6 * time.Minute), 0, webhook.ErrTimestamp},
		{"within a custom tolerance", vecSecret, vecHeader(vecSig), vecBody, ts.Add(time.Hour), 2 * time.Hour, nil},
		{"age not checked", vecSecret, vecHeader(vecSig), vecBody, ts.Add(1000 * time.Hour), -1, nil},
		{"missing headers", vecSecret, http.Header{}, vecBody, ts, 0, webhook.ErrMissingHeaders},
		{"bad secret", "whsec_not base64", vecHeader(vecSig), vecBody, ts, 0, webhook.ErrSecret},
	}
	for _, name := range []string{webhook.HeaderID, webhook.HeaderTimestamp, webhook.HeaderSignature} {
		h := vecHeader(vecSig)
		h.Del(name)
		cases = append(cases, verifyCase{"no " + name, vecSecret, h, vecBody, ts, 0, webhook.ErrMissingHeaders})
	}
	bad := vecHeader(vecSig)
	bad.Set(webhook.HeaderTimestamp, "soon")
	other := vecHeader(vecSig)
	other.Set(webhook.HeaderID, "msg_other")
	cases = append(cases, []verifyCase{
		{"timestamp not a number", vecSecret, bad, vecBody, ts, 0, webhook.ErrTimestamp},
		{"another id", vecSecret, other, vecBody, ts, 0, webhook.ErrSignature},
	}...)
	for _, tc := range cases {
		err := webhook.Verify(tc.secret, tc.h, []byte(tc.body), tc.now, tc.tol)
		if (tc.want == nil && err != nil) || !errors.Is(err, tc.want) {
			t.Errorf("%s: %v, want %v", tc.name, err, tc.want)
		}
	}
	if err := webhook.SignRequest(http.Header{}, "x", ts, nil); err == nil {
		t.Error("signing without a secret succeeded")
	}
	if _, err := webhook.Sign("whsec_", "x", ts, nil); !errors.Is(err, webhook.ErrSecret) {
		t.Errorf("empty secret: %v", err)
	}
}

func TestVerifyRequest(t *testing.T) {
	t.Parallel()
	body := `{"id": "evt_1", "event": "call.completed"}`
	req := httptest.NewRequest(http.MethodPost, "/hooks", strings.NewReader(body))
	if err := webhook.SignRequest(req.Header, "evt_1", time.Now(), []byte(body), vecSecret); err != nil {
		t.Fatal(err)
	}
	got, err := webhook.VerifyRequest(req, vecSecret, 0)
	if err != nil || string(got) != body {
		t.Fatalf("VerifyRequest = %q, %v", got, err)
	}
	// The body is still there for the next reader.
	again, err := webhook.VerifyRequest(req, vecSecret, 0)
	if err != nil || string(again) != body {
		t.Fatalf("second VerifyRequest = %q, %v", again, err)
	}

	stale := httptest.NewRequest(http.MethodPost, "/hooks", strings.NewReader(body))
	_ = webhook.SignRequest(stale.Header, "evt_1", time.Now().Add(-10*time.Minute), []byte(body), vecSecret)
	if _, err := webhook.VerifyRequest(stale, vecSecret, 0); !errors.Is(err, webhook.ErrTimestamp) {
		t.Errorf("stale request: %v, want ErrTimestamp", err)
	}

	huge := httptest.NewRequest(http.MethodPost, "/hooks", strings.NewReader(strings.Repeat("x", webhook.MaxBodyBytes+1)))
	if _, err := webhook.VerifyRequest(huge, vecSecret, 0); !errors.Is(err, webhook.ErrBodyTooLarge) {
		t.Errorf("huge body: %v, want ErrBodyTooLarge", err)
	}
}
