package api

import (
	"context"
	"net/http"
	"net/netip"
	"strings"

	"github.com/minivoice/minivoice/internal/auth"
	"github.com/minivoice/minivoice/internal/voice"
)

func netipAddr(s string) (netip.Addr, error) { return netip.ParseAddr(strings.Trim(s, "[]")) }

// NumberInput is the body of POST and PATCH /v1/numbers.
type NumberInput struct {
	Number        Opt[string] `json:"number"`
	CustomerID    Opt[string] `json:"customer_id"`
	ApplicationID Opt[string] `json:"application_id"`
	Status        Opt[string] `json:"status"`
}

// applyNumber sets the fields p may set: the operator everything, a customer
// only application_id, and only to one of its own applications.
func (s *Server) applyNumber(ctx context.Context, in *NumberInput, n *voice.Number, p *auth.Principal) error {
	if !p.IsOperator() {
		for field, set := range map[string]bool{"number": in.Number.Set, "customer_id": in.CustomerID.Set, "status": in.Status.Set} {
			if set {
				return voice.Errorf(voice.ECodeForbidden, "%s: only the operator may change it", field)
			}
		}
	}
	if in.Number.Set {
		e, err := requiredE164("number", in.Number.Value)
		if err != nil {
			return err
		}
		n.Number = e
	}
	if n.Number == "" {
		return voice.Invalid("number", "is required")
	}
	if in.CustomerID.Set {
		if in.CustomerID.Value != n.CustomerID && n.CustomerID != "" && !in.ApplicationID.Set {
			n.ApplicationID = nil // moving to another customer unpoints the old customer's app
		}
		n.CustomerID = in.CustomerID.Value
	}
	if n.CustomerID == "" {
		return voice.Invalid("customer_id", "is required")
	}
	if _, err := s.store.Customer(ctx, voice.Scope{}, n.CustomerID); err != nil {
		if voice.IsNotFound(err) {
			return voice.Invalid("customer_id", "no such customer")
		}
		return err
	}
	if in.ApplicationID.Set {
		if in.ApplicationID.Null || in.ApplicationID.Value == "" {
			n.ApplicationID = nil
		} else {
			a, err := s.store.Application(ctx, voice.Scope{CustomerID: n.CustomerID}, in.ApplicationID.Value)
			if err != nil {
				if voice.IsNotFound(err) {
					return voice.Invalid("application_id", "no such application of customer %s", n.CustomerID)
				}
				return err
			}
			n.ApplicationID = &a.ID
		}
	}
	setStr(&n.Status, in.Status)
	if n.Status != voice.NumberActive && n.Status != voice.NumberDisabled {
		return voice.Invalid("status", "must be active or disabled")
	}
	return nil
}

func (s *Server) createNumber(w http.ResponseWriter, r *http.Request, p *auth.Principal) error {
	var in NumberInput
	if err := decode(r, &in); err != nil {
		return err
	}
	now := s.clock()
	n := &voice.Number{ID: voice.NewID(voice.PrefixNumber, now), Status: voice.NumberActive, CreatedAt: now, UpdatedAt: now}
	if err := s.applyNumber(r.Context(), &in, n, p); err != nil {
		return err
	}
	if err := s.store.CreateNumber(r.Context(), n); err != nil {
		return err
	}
	writeJSON(w, http.StatusCreated, n)
	return nil
}

func (s *Server) getNumber(w http.ResponseWriter, r *http.Request, p *auth.Principal) error {
	n, err := s.store.Number(r.Context(), p.Scope(), r.PathValue("id"))
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, n)
	return nil
}

func (s *Server) listNumbers(w http.ResponseWriter, r *http.Request, p *auth.Principal) error {
	pg, err := parsePage(r)
	if err != nil {
		return err
	}
	scope := p.Scope()
	if cid := r.URL.Query().Get("customer_id"); cid != "" {
		if _, err := s.store.Customer(r.Context(), scope, cid); err != nil {
			return err
		}
		scope.CustomerID = cid
	}
	list, err := s.store.Numbers(r.Context(), scope, pg)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, list)
	return nil
}

func (s *Server) updateNumber(w http.ResponseWriter, r *http.Request, p *auth.Principal) error {
	n, err := s.store.Number(r.Context(), p.Scope(), r.PathValue("id"))
	if err != nil {
		return err
	}
	var in NumberInput
	if err := decode(r, &in); err != nil {
		return err
	}
	if err := s.UpdateNumber(r.Context(), p, n, &in); err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, n)
	return nil
}

// UpdateNumber changes n (read with p's scope) as PATCH /v1/numbers/{id}
// does: the operator may set everything, a customer only application_id,
// to one of its own applications. It stores the number.
func (s *Server) UpdateNumber(ctx context.Context, p *auth.Principal, n *voice.Number, in *NumberInput) error {
	if err := checkInputText(in); err != nil {
		return err
	}
	if err := s.applyNumber(ctx, in, n, p); err != nil {
		return err
	}
	n.UpdatedAt = s.clock()
	return s.store.UpdateNumber(ctx, n)
}

func (s *Server) deleteNumber(w http.ResponseWriter, r *http.Request, p *auth.Principal) error {
	n, err := s.store.Number(r.Context(), p.Scope(), r.PathValue("id"))
	if err != nil {
		return err
	}
	if err := s.store.DeleteNumber(r.Context(), n.ID); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}
