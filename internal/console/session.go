package console

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"net/http"
	"time"

	"github.com/minivoice/minivoice/internal/api"
	"github.com/minivoice/minivoice/internal/auth"
	"github.com/minivoice/minivoice/internal/voice"
)

// Cookie names.
const (
	sessionCookie = "mv_session"
	// signinCookie holds the sign-in form's pre-session CSRF token.
	signinCookie = "mv_signin"
)

// operatorKeyID is the session's key id for the operator key, which has no row.
const operatorKeyID = "operator"

// touchInterval is how stale last_seen_at may get before a request rewrites
// it (and moves the idle expiry): a write per page view would turn reads
// into writes, as for API keys.
const touchInterval = time.Minute

// session is a signed-in request's state.
type session struct {
	id    string // the stored id: SHA-256 of the token
	token []byte // the cookie's random token
	p     *auth.Principal
	keyID string
	csrf  string
}

type sessionKey struct{}

func (s *session) user() *userView {
	return &userView{Kind: s.p.Kind, KeyID: s.keyID, Customer: s.p.CustomerID, App: s.p.ApplicationID, Operator: s.p.IsOperator()}
}

// newToken returns 32 random bytes.
func newToken() []byte {
	b := make([]byte, 32)
	_, _ = rand.Read(b)
	return b
}

// sessionID is the stored form of a session token.
func sessionID(token []byte) string {
	h := sha256.Sum256(token)
	return hex.EncodeToString(h[:])
}

// derive is HMAC-SHA256(token, label): values bound to a session that only
// the cookie's holder can compute.
func derive(token []byte, label string) []byte {
	m := hmac.New(sha256.New, token)
	m.Write([]byte(label))
	return m.Sum(nil)
}

// maskKey masks (and unmasks) a key's hash with the session token, so the
// stored row alone cannot be checked against guesses of the key.
func maskKey(token, keyHash []byte) []byte {
	pad := derive(token, "minivoice console key")
	out := make([]byte, len(keyHash))
	for i := range keyHash {
		out[i] = keyHash[i] ^ pad[i%len(pad)]
	}
	return out
}

func csrfToken(token []byte) string {
	return base64.RawURLEncoding.EncodeToString(derive(token, "minivoice console csrf"))
}

// startSession stores a session for the key (its secret's hash) and sets
// the cookie.
func (c *Console) startSession(w http.ResponseWriter, r *http.Request, p *auth.Principal, keyHash []byte) error {
	token := newToken()
	now := c.now().UTC()
	keyID := p.KeyID
	if p.IsOperator() {
		keyID = operatorKeyID
	}
	s := &voice.ConsoleSession{ID: sessionID(token), KeyID: keyID, KeyRef: maskKey(token, keyHash), CreatedAt: now,
		LastSeenAt: now, ExpiresAt: now.Add(min(c.idle, c.maxAge))}
	if err := c.store.CreateConsoleSession(r.Context(), s); err != nil {
		return err
	}
	// The cookie lives as long as the session can; the server's expiry,
	// checked on every request, is what counts.
	http.SetCookie(w, &http.Cookie{Name: sessionCookie, Value: base64.RawURLEncoding.EncodeToString(token), Path: "/",
		Expires: now.Add(c.maxAge), MaxAge: int(c.maxAge / time.Second), HttpOnly: true, Secure: r.TLS != nil,
		SameSite: http.SameSiteStrictMode})
	return nil
}

// clearCookie deletes a cookie in the browser.
func clearCookie(w http.ResponseWriter, r *http.Request, name, path string) {
	http.SetCookie(w, &http.Cookie{Name: name, Value: "", Path: path, MaxAge: -1, HttpOnly: true, Secure: r.TLS != nil,
		SameSite: http.SameSiteStrictMode})
}

// session resolves the request's session: nil (and the cookie cleared) when
// there is none, it expired, or its key no longer authenticates. The key is
// checked on every request exactly as the API checks a bearer token, so
// revoking a key, suspending its customer or deactivating its application
// ends its sessions at once.
func (c *Console) session(w http.ResponseWriter, r *http.Request) (*session, error) {
	ck, err := r.Cookie(sessionCookie)
	if err != nil {
		return nil, nil
	}
	token, err := base64.RawURLEncoding.DecodeString(ck.Value)
	if err != nil || len(token) != 32 {
		clearCookie(w, r, sessionCookie, "/")
		return nil, nil
	}
	ctx := r.Context()
	id := sessionID(token)
	row, err := c.store.ConsoleSession(ctx, id)
	if voice.IsNotFound(err) {
		clearCookie(w, r, sessionCookie, "/")
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	now := c.now().UTC()
	if !now.Before(row.ExpiresAt) {
		return nil, c.endSession(w, r, id)
	}
	p, err := c.auth.AuthenticateHash(ctx, maskKey(token, row.KeyRef))
	if err != nil {
		var ve *voice.Error
		if st := api.HTTPStatus(err); errors.As(err, &ve) && (st == http.StatusUnauthorized || st == http.StatusForbidden) {
			return nil, c.endSession(w, r, id)
		}
		return nil, err
	}
	if now.Sub(row.LastSeenAt) >= touchInterval {
		expires := now.Add(c.idle)
		if limit := row.CreatedAt.Add(c.maxAge); expires.After(limit) {
			expires = limit
		}
		if err := c.store.TouchConsoleSession(ctx, id, now, expires); err != nil && !voice.IsNotFound(err) {
			return nil, err
		}
	}
	return &session{id: id, token: token, p: p, keyID: row.KeyID, csrf: csrfToken(token)}, nil
}

// endSession deletes a session and its cookie.
func (c *Console) endSession(w http.ResponseWriter, r *http.Request, id string) error {
	clearCookie(w, r, sessionCookie, "/")
	return c.store.DeleteConsoleSession(r.Context(), id)
}

// checkCSRF compares the form's csrf field with the session's token.
func (c *Console) checkCSRF(r *http.Request, s *session) bool {
	limit := int64(maxFormBytes)
	if r.URL.Path == rateImportPath {
		limit = maxImportFormBytes // a rate deck, as large as the API takes
	}
	r.Body = http.MaxBytesReader(nil, r.Body, limit)
	got := r.PostFormValue("csrf")
	return got != "" && subtle.ConstantTimeCompare([]byte(got), []byte(s.csrf)) == 1
}

// maxFormBytes bounds a console form's body: the forms are a few fields.
const maxFormBytes = 16 << 10
