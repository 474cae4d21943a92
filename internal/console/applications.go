package console

import (
	"errors"
	"net/http"
	"strings"

	"github.com/minivoice/minivoice/internal/api"
	"github.com/minivoice/minivoice/internal/voice"
)

type applicationsView struct {
	Applications []*voice.Application
}

// applicationsPage lists the applications the key can see, as GET
// /v1/applications does (an application key sees its own).
func (c *Console) applicationsPage(w http.ResponseWriter, r *http.Request, s *session) error {
	list, err := c.store.Applications(r.Context(), s.p.Scope(), voice.Page{Limit: voice.MaxListLimit})
	if err != nil {
		return err
	}
	c.render(w, r, http.StatusOK, "applications", s, "Applications", "applications", applicationsView{Applications: list.Data})
	return nil
}

// appForm is the application form's fields.
type appForm struct {
	Name, AnswerURL, WebhookURL, Status string
	Insights                            bool
}

type applicationView struct {
	App  *voice.Application
	Form appForm
	// Errors are the API's messages by field; Error is one for no field.
	Errors map[string]string
	Error  string
	Saved  bool
	// CanRotate is whether the key may rotate the secret (customer keys
	// and the operator, as in the API).
	CanRotate bool
	// NewSecret is the secret just made: shown on this page only.
	NewSecret string
	Test      *webhookTestView
}

type webhookTestView struct {
	Delivered  bool
	HTTPStatus int
	LatencyMS  int64
	Code       string
	Message    string
}

func formOf(a *voice.Application) appForm {
	return appForm{Name: a.Name, AnswerURL: a.AnswerURL, WebhookURL: a.WebhookURL, Status: a.Status, Insights: a.Insights}
}

// application reads the application of the path with the key's scope:
// another tenant's reads as missing, as in the API.
func (c *Console) application(r *http.Request, s *session) (*voice.Application, error) {
	return c.store.Application(r.Context(), s.p.Scope(), r.PathValue("id"))
}

func (c *Console) renderApplication(w http.ResponseWriter, r *http.Request, s *session, status int, v applicationView) {
	v.CanRotate = api.CustomerKeys.Allows(s.p)
	c.render(w, r, status, "application", s, "Application "+v.App.Name, "applications", v)
}

// applicationPage shows an application with its edit form.
func (c *Console) applicationPage(w http.ResponseWriter, r *http.Request, s *session) error {
	a, err := c.application(r, s)
	if err != nil {
		return err
	}
	c.renderApplication(w, r, s, http.StatusOK, applicationView{App: a, Form: formOf(a), Saved: r.URL.Query().Get("saved") == "1"})
	return nil
}

// saveApplication saves the form through the API's PATCH code, so the
// checks and messages are the API's; an invalid field is shown next to it.
func (c *Console) saveApplication(w http.ResponseWriter, r *http.Request, s *session) error {
	a, err := c.application(r, s)
	if err != nil {
		return err
	}
	f := appForm{Name: r.PostFormValue("name"), AnswerURL: r.PostFormValue("answer_url"), WebhookURL: r.PostFormValue("webhook_url"),
		Status: r.PostFormValue("status"), Insights: r.PostFormValue("insights") == "on"}
	in := api.ApplicationInput{Name: set(f.Name), AnswerURL: set(f.AnswerURL), WebhookURL: set(f.WebhookURL), Status: set(f.Status),
		Insights: api.Opt[bool]{Set: true, Value: f.Insights}}
	orig := *a
	if err := c.api.UpdateApplication(r.Context(), s.p, a, &in); err != nil {
		var ve *voice.Error
		if !errors.As(err, &ve) || ve.Code != voice.ECodeInvalidRequest {
			return err
		}
		v := applicationView{App: &orig, Form: f, Errors: map[string]string{}}
		switch ve.Param {
		case "name", "answer_url", "webhook_url", "status":
			v.Errors[ve.Param] = ve.Message
		default:
			v.Error = strings.TrimSpace(ve.Param + " " + ve.Message)
		}
		c.renderApplication(w, r, s, http.StatusBadRequest, v)
		return nil
	}
	http.Redirect(w, r, "/applications/"+a.ID+"?saved=1", http.StatusSeeOther)
	return nil
}

func set(v string) api.Opt[string] { return api.Opt[string]{Set: true, Value: v} }

// rotateSecret gives the application a new webhook secret as POST
// /v1/applications/{id}/webhook-secret/rotate does and shows it on the page
// it answers with, once: it is never put in a URL.
func (c *Console) rotateSecret(w http.ResponseWriter, r *http.Request, s *session) error {
	a, err := c.application(r, s)
	if err != nil {
		return err
	}
	if !api.CustomerKeys.Allows(s.p) {
		return voice.Errorf(voice.ECodeForbidden, "an application key may not rotate the webhook secret")
	}
	if err := c.api.RotateWebhookSecret(r.Context(), a, ""); err != nil {
		return err
	}
	c.renderApplication(w, r, s, http.StatusOK, applicationView{App: a, Form: formOf(a), NewSecret: a.WebhookSecret})
	return nil
}

// webhookTest sends the application a test webhook as POST
// /v1/applications/{id}/webhook-test does and shows the receiver's answer.
func (c *Console) webhookTest(w http.ResponseWriter, r *http.Request, s *session) error {
	a, err := c.application(r, s)
	if err != nil {
		return err
	}
	v := applicationView{App: a, Form: formOf(a)}
	res, err := c.api.WebhookTest(r.Context(), a)
	var ve *voice.Error
	switch {
	case err == nil:
		v.Test = &webhookTestView{Delivered: true, HTTPStatus: res.HTTPStatus, LatencyMS: res.LatencyMS}
	case errors.As(err, &ve) && (ve.Code == voice.ECodeWebhookTestFailed || ve.Code == voice.ECodeInvalidRequest):
		v.Test = &webhookTestView{Code: ve.Code, Message: strings.TrimSpace(ve.Param + " " + ve.Message)}
		if st, ok := ve.Extra["http_status"].(int); ok {
			v.Test.HTTPStatus = st
		}
	default:
		return err
	}
	c.renderApplication(w, r, s, http.StatusOK, v)
	return nil
}
