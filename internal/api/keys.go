package api

import (
	"context"
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
	return s.CreateKey(r.Context(), kind, customerID, applicationID, in.Name)
}

// CreateKey makes and stores a key of kind for the customer (and, for an
// application key, the application), checking name as the API does. The
// returned key carries its secret, which is not stored: show it once. The
// caller has read the customer or application with its own scope.
func (s *Server) CreateKey(ctx context.Context, kind, customerID string, applicationID *string, name string) (*voice.Key, error) {
	if err := checkText("name", name); err != nil {
		return nil, err
	}
	if utf8.RuneCountInString(name) > 200 {
		return nil, voice.Invalid("name", "must be at most 200 characters")
	}
	now := s.clock()
	secret := auth.NewSecret(kind)
	k := &voice.Key{ID: voice.NewID(voice.PrefixKey, now), Kind: kind, Name: name, CustomerID: customerID,
		ApplicationID: applicationID, Prefix: auth.DisplayPrefix(secret), Hash: auth.Hash(secret), CreatedAt: now}
	if err := s.store.CreateKey(ctx, k); err != nil {
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
	k, err := s.RevokeKey(r.Context(), p, r.PathValue("id"))
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, k)
	return nil
}

// RevokeKey revokes the key id within p's scope, as DELETE /v1/keys/{id}
// does (the route takes the operator and customer keys), and returns it.
func (s *Server) RevokeKey(ctx context.Context, p *auth.Principal, id string) (*voice.Key, error) {
	k, err := s.store.Key(ctx, p.Scope(), id)
	if err != nil {
		return nil, err
	}
	if err := s.store.RevokeKey(ctx, k.ID, s.clock()); err != nil {
		return nil, err
	}
	return s.store.Key(ctx, p.Scope(), k.ID)
}
