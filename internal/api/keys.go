package api

import (
	"net/http"
	"unicode/utf8"

	"github.com/minivoice/minivoice/internal/auth"
	"github.com/minivoice/minivoice/internal/voice"
)

type keyInput struct {
	Name string `json:"name"`
}

func (s *Server) newKey(r *http.Request, kind, customerID string, applicationID *string) (*voice.Key, error) {
	var in keyInput
	if err := decode(r, &in); err != nil {
		return nil, err
	}
	if utf8.RuneCountInString(in.Name) > 200 {
		return nil, voice.Invalid("name", "must be at most 200 characters")
	}
	now := s.clock()
	secret := auth.NewSecret(kind)
	k := &voice.Key{ID: voice.NewID(voice.PrefixKey, now), Kind: kind, Name: in.Name, CustomerID: customerID,
		ApplicationID: applicationID, Prefix: auth.DisplayPrefix(secret), Hash: auth.Hash(secret), CreatedAt: now}
	if err := s.store.CreateKey(r.Context(), k); err != nil {
		return nil, err
	}
	k.Secret = secret
	return k, nil
}

func (s *Server) createCustomerKey(w http.ResponseWriter, r *http.Request, p *auth.Principal) error {
	c, err := s.store.Customer(r.Context(), p.Scope(), r.PathValue("id"))
	if err != nil {
		return err
	}
	k, err := s.newKey(r, voice.KeyCustomer, c.ID, nil)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusCreated, k)
	return nil
}

func (s *Server) listCustomerKeys(w http.ResponseWriter, r *http.Request, p *auth.Principal) error {
	c, err := s.store.Customer(r.Context(), p.Scope(), r.PathValue("id"))
	if err != nil {
		return err
	}
	pg, err := parsePage(r)
	if err != nil {
		return err
	}
	list, err := s.store.Keys(r.Context(), c.ID, "", pg)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, list)
	return nil
}

func (s *Server) createApplicationKey(w http.ResponseWriter, r *http.Request, p *auth.Principal) error {
	a, err := s.store.Application(r.Context(), p.Scope(), r.PathValue("id"))
	if err != nil {
		return err
	}
	k, err := s.newKey(r, voice.KeyApplication, a.CustomerID, &a.ID)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusCreated, k)
	return nil
}

func (s *Server) listApplicationKeys(w http.ResponseWriter, r *http.Request, p *auth.Principal) error {
	a, err := s.store.Application(r.Context(), p.Scope(), r.PathValue("id"))
	if err != nil {
		return err
	}
	pg, err := parsePage(r)
	if err != nil {
		return err
	}
	list, err := s.store.Keys(r.Context(), a.CustomerID, a.ID, pg)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, list)
	return nil
}

// revokeKey revokes a key. A customer key may revoke its own customer's keys
// (itself included), as a Twilio account can delete its API keys.
func (s *Server) revokeKey(w http.ResponseWriter, r *http.Request, p *auth.Principal) error {
	k, err := s.store.Key(r.Context(), p.Scope(), r.PathValue("id"))
	if err != nil {
		return err
	}
	if err := s.store.RevokeKey(r.Context(), k.ID, s.clock()); err != nil {
		return err
	}
	k, err = s.store.Key(r.Context(), p.Scope(), k.ID)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, k)
	return nil
}
