package console

import (
	"errors"
	"net/http"
	"strings"

	"github.com/minivoice/minivoice/internal/api"
	"github.com/minivoice/minivoice/internal/voice"
)

// errNoPage answers a page the key may not use as if it did not exist.
func errNoPage(r *http.Request) error {
	return voice.Errorf(voice.ECodeNotFound, "no page %s", r.URL.Path)
}

// need answers 404 unless the key may use routes of access a: pages the
// key may not use are not there for it (and not in its navigation).
func need(a api.Access, r *http.Request, s *session) error {
	if !a.Allows(s.p) {
		return errNoPage(r)
	}
	return nil
}

type numbersView struct {
	Numbers []*voice.Number
	// Apps are the applications each customer's numbers may point to.
	Apps map[string][]*voice.Application
	// Updated is the number just changed; Error the API's refusal.
	Updated, Error string
}

// numbersPage lists the numbers the key can see (operator and customer
// keys, as GET /v1/numbers), each with a form to point it at an
// application.
func (c *Console) numbersPage(w http.ResponseWriter, r *http.Request, s *session) error {
	if err := need(api.CustomerKeys, r, s); err != nil {
		return err
	}
	return c.renderNumbers(w, r, s, http.StatusOK, numbersView{Updated: r.URL.Query().Get("updated")})
}

func (c *Console) renderNumbers(w http.ResponseWriter, r *http.Request, s *session, status int, v numbersView) error {
	ctx := r.Context()
	scope := s.p.Scope()
	nums, err := c.store.Numbers(ctx, scope, voice.Page{Limit: voice.MaxListLimit})
	if err != nil {
		return err
	}
	apps, err := c.store.Applications(ctx, scope, voice.Page{Limit: voice.MaxListLimit})
	if err != nil {
		return err
	}
	v.Numbers, v.Apps = nums.Data, map[string][]*voice.Application{}
	for _, a := range apps.Data {
		v.Apps[a.CustomerID] = append(v.Apps[a.CustomerID], a)
	}
	c.render(w, r, status, "numbers", s, "Numbers", "numbers", v)
	return nil
}

// updateNumber points a number at an application (or none) through the
// API's PATCH /v1/numbers/{id} code: a customer only at its own.
func (c *Console) updateNumber(w http.ResponseWriter, r *http.Request, s *session) error {
	if err := need(api.CustomerKeys, r, s); err != nil {
		return err
	}
	n, err := c.store.Number(r.Context(), s.p.Scope(), r.PathValue("id"))
	if err != nil {
		return err
	}
	in := api.NumberInput{ApplicationID: api.Opt[string]{Set: true, Value: strings.TrimSpace(r.PostFormValue("application_id"))}}
	if err := c.api.UpdateNumber(r.Context(), s.p, n, &in); err != nil {
		var ve *voice.Error
		if !errors.As(err, &ve) || ve.Code != voice.ECodeInvalidRequest {
			return err
		}
		return c.renderNumbers(w, r, s, http.StatusBadRequest, numbersView{Error: ve.Message})
	}
	http.Redirect(w, r, "/numbers?updated="+n.ID, http.StatusSeeOther)
	return nil
}
