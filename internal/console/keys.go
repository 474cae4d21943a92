package console

import (
	"errors"
	"net/http"
	"net/url"

	"github.com/minivoice/minivoice/internal/api"
	"github.com/minivoice/minivoice/internal/voice"
)

type keysView struct {
	// Customer is whose keys these are; Customers the operator's choice.
	Customer  string
	Customers []*voice.Customer
	Keys      []*voice.Key
	Apps      []*voice.Application
	// Operator may also make customer keys (POST /v1/customers/{id}/keys).
	Operator bool
	// NewKey is the key just made, with its secret: shown on this page only.
	NewKey *voice.Key
	// Confirm is the key whose revocation awaits a second submit.
	Confirm *voice.Key
	Revoked string
	Name    string
	Error   string
}

// keysPage lists a customer's keys (the customer key's own customer; the
// operator picks one), as GET /v1/customers/{id}/keys does. Application
// keys may not list keys, as in the API: the page is not there for them.
func (c *Console) keysPage(w http.ResponseWriter, r *http.Request, s *session) error {
	if err := need(api.CustomerKeys, r, s); err != nil {
		return err
	}
	return c.renderKeys(w, r, s, http.StatusOK, keysView{Customer: r.URL.Query().Get("customer"), Revoked: r.URL.Query().Get("revoked")})
}

func (c *Console) renderKeys(w http.ResponseWriter, r *http.Request, s *session, status int, v keysView) error {
	ctx := r.Context()
	scope := s.p.Scope()
	v.Operator = s.p.IsOperator()
	if !v.Operator {
		v.Customer = s.p.CustomerID
	} else {
		cs, err := c.store.Customers(ctx, scope, voice.Page{Limit: voice.MaxListLimit})
		if err != nil {
			return err
		}
		v.Customers = cs.Data
		// With one customer there is nothing to choose: show its keys.
		if v.Customer == "" && len(v.Customers) == 1 {
			v.Customer = v.Customers[0].ID
		}
	}
	if v.Customer != "" {
		cust, err := c.store.Customer(ctx, scope, v.Customer)
		if err != nil {
			return err
		}
		keys, err := c.store.Keys(ctx, cust.ID, "", voice.Page{Limit: voice.MaxListLimit})
		if err != nil {
			return err
		}
		apps, err := c.store.Applications(ctx, voice.Scope{CustomerID: cust.ID}, voice.Page{Limit: voice.MaxListLimit})
		if err != nil {
			return err
		}
		v.Keys, v.Apps = keys.Data, apps.Data
	}
	c.render(w, r, status, "keys", s, "Keys", "keys", v)
	return nil
}

// createKey makes a key as the API does: an application key for one of the
// customer's applications (POST /v1/applications/{id}/keys), or, for the
// operator only, a customer key (POST /v1/customers/{id}/keys). The secret
// is shown once, in this answer's body only.
func (c *Console) createKey(w http.ResponseWriter, r *http.Request, s *session) error {
	if err := need(api.CustomerKeys, r, s); err != nil {
		return err
	}
	ctx := r.Context()
	scope := s.p.Scope()
	name, target := r.PostFormValue("name"), r.PostFormValue("for")
	customer := s.p.CustomerID
	if s.p.IsOperator() {
		customer = r.PostFormValue("customer")
	}
	cust, err := c.store.Customer(ctx, scope, customer)
	if err != nil {
		return err
	}
	var k *voice.Key
	switch {
	case target == "customer":
		if !api.OperatorOnly.Allows(s.p) {
			return voice.Errorf(voice.ECodeForbidden, "only the operator may create customer keys")
		}
		k, err = c.api.CreateKey(ctx, voice.KeyCustomer, cust.ID, nil, name)
	default:
		a, aerr := c.store.Application(ctx, voice.Scope{CustomerID: cust.ID, ApplicationID: scope.ApplicationID}, target)
		if aerr != nil {
			if voice.IsNotFound(aerr) {
				return voice.NotFound("application")
			}
			return aerr
		}
		k, err = c.api.CreateKey(ctx, voice.KeyApplication, a.CustomerID, &a.ID, name)
	}
	v := keysView{Customer: cust.ID}
	if err != nil {
		var ve *voice.Error
		if !errors.As(err, &ve) || ve.Code != voice.ECodeInvalidRequest {
			return err
		}
		v.Error, v.Name = ve.Message, name
		return c.renderKeys(w, r, s, http.StatusBadRequest, v)
	}
	v.NewKey = k
	return c.renderKeys(w, r, s, http.StatusOK, v)
}

// revokeKey revokes a key through DELETE /v1/keys/{id}'s code after a
// second submit confirms it.
func (c *Console) revokeKey(w http.ResponseWriter, r *http.Request, s *session) error {
	if err := need(api.CustomerKeys, r, s); err != nil {
		return err
	}
	ctx := r.Context()
	k, err := c.store.Key(ctx, s.p.Scope(), r.PathValue("id"))
	if err != nil {
		return err
	}
	if r.PostFormValue("confirm") != "yes" {
		return c.renderKeys(w, r, s, http.StatusOK, keysView{Customer: k.CustomerID, Confirm: k})
	}
	if _, err := c.api.RevokeKey(ctx, s.p, k.ID); err != nil {
		return err
	}
	q := url.Values{"revoked": {k.ID}}
	if s.p.IsOperator() {
		q.Set("customer", k.CustomerID)
	}
	// Revoking the signed-in key ends this session: the next page is sign-in.
	http.Redirect(w, r, "/keys?"+q.Encode(), http.StatusSeeOther)
	return nil
}
