package console

import (
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"log/slog"
	"net/http"
	"strings"

	"github.com/minivoice/minivoice/internal/api"
	"github.com/minivoice/minivoice/internal/auth"
	"github.com/minivoice/minivoice/internal/voice"
)

type signinView struct {
	Error string
	// CSRF is the pre-session token (the layout's .CSRF is the session's).
	CSRF string
}

// signinPage shows the sign-in form, with a pre-session CSRF token that is
// both a cookie and a hidden field: a cross-site form cannot read the
// cookie, so it cannot post the matching field.
func (c *Console) signinPage(w http.ResponseWriter, r *http.Request, _ *session) error {
	s, err := c.session(w, r)
	if err != nil {
		return err
	}
	if s != nil {
		http.Redirect(w, r, "/", http.StatusSeeOther)
		return nil
	}
	c.renderSignin(w, r, http.StatusOK, "")
	return nil
}

func (c *Console) renderSignin(w http.ResponseWriter, r *http.Request, status int, msg string) {
	token := ""
	if ck, err := r.Cookie(signinCookie); err == nil && len(ck.Value) >= 40 {
		token = ck.Value
	} else {
		token = base64.RawURLEncoding.EncodeToString(newToken())
		http.SetCookie(w, &http.Cookie{Name: signinCookie, Value: token, Path: "/signin", MaxAge: 3600, HttpOnly: true,
			Secure: r.TLS != nil, SameSite: http.SameSiteStrictMode})
	}
	c.render(w, r, status, "signin", nil, "Sign in", "", signinView{Error: msg, CSRF: token})
}

// signin checks the posted key exactly as the API checks a bearer token,
// then starts a session. The key is read from the body only; it is never
// logged, put in a URL or stored.
func (c *Console) signin(w http.ResponseWriter, r *http.Request, _ *session) error {
	r.Body = http.MaxBytesReader(w, r.Body, maxFormBytes)
	if err := r.ParseForm(); err != nil {
		return voice.Errorf(voice.ECodeInvalidRequest, "the form could not be read")
	}
	ck, err := r.Cookie(signinCookie)
	got := r.PostForm.Get("csrf")
	if err != nil || got == "" || subtle.ConstantTimeCompare([]byte(got), []byte(ck.Value)) != 1 {
		return errCSRF
	}
	key := strings.TrimSpace(r.PostForm.Get("key"))
	if key == "" {
		c.renderSignin(w, r, http.StatusUnauthorized, "Enter an API key.")
		return nil
	}
	p, err := c.auth.AuthenticateRequest(r.Context(), "Bearer "+key, r.RemoteAddr)
	if err != nil {
		var ve *voice.Error
		if !errors.As(err, &ve) {
			return err
		}
		c.log.InfoContext(r.Context(), "console sign-in refused", slog.String("code", ve.Code), slog.String("remote", r.RemoteAddr))
		msg := "That key was not accepted: it is unknown or revoked."
		if ve.Code != voice.ECodeUnauthorized {
			msg = ve.Message
		}
		c.renderSignin(w, r, api.HTTPStatus(ve), msg)
		return nil
	}
	if err := c.startSession(w, r, p, auth.Hash(key)); err != nil {
		return err
	}
	clearCookie(w, r, signinCookie, "/signin")
	c.log.InfoContext(r.Context(), "console sign-in", slog.String("kind", p.Kind), slog.String("key_id", p.KeyID))
	http.Redirect(w, r, "/", http.StatusSeeOther)
	return nil
}

// signout ends the session (its CSRF token was checked by wrap).
func (c *Console) signout(w http.ResponseWriter, r *http.Request, s *session) error {
	if err := c.endSession(w, r, s.id); err != nil {
		return err
	}
	http.Redirect(w, r, "/signin", http.StatusSeeOther)
	return nil
}
