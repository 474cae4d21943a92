package api

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/netip"
	"slices"
	"strings"

	"github.com/minivoice/minivoice/internal/auth"
	"github.com/minivoice/minivoice/internal/billing"
	"github.com/minivoice/minivoice/internal/callctl"
	"github.com/minivoice/minivoice/internal/netguard"
	"github.com/minivoice/minivoice/internal/voice"
)

// Call defaults and bounds (api.md).
const (
	defaultRingTimeout = 30
	defaultTimeLimit   = 14400
	maxVariables       = 100
)

// Actions are the call-control action names (call-control.md).
var Actions = callctl.Kinds

type callInput struct {
	To                string            `json:"to"`
	From              string            `json:"from"`
	ApplicationID     string            `json:"application_id"`
	AnswerURL         string            `json:"answer_url"`
	Actions           json.RawMessage   `json:"actions"`
	Record            *bool             `json:"record"`
	RecordingChannels string            `json:"recording_channels"`
	Timeout           *int              `json:"timeout"`
	TimeLimit         *int              `json:"time_limit"`
	Variables         map[string]string `json:"variables"`
}

// checkActions validates an inline action list (an array or {"actions": [...]})
// with the same parser the call-control engine uses, so a list the API accepts
// is a list the call can run; it returns the bare array to store.
func checkActions(raw json.RawMessage, allow []netip.Prefix) (json.RawMessage, error) {
	raw = bytes.TrimSpace(raw)
	if len(raw) > 0 && raw[0] == '{' {
		var wrapped struct {
			Actions json.RawMessage `json:"actions"`
		}
		if err := json.Unmarshal(raw, &wrapped); err != nil || wrapped.Actions == nil {
			return nil, voice.Invalid("actions", "must be an array of actions or {\"actions\": [...]}")
		}
		raw = wrapped.Actions
	}
	list, err := callctl.Parse(raw)
	if err != nil {
		var pe *callctl.ParseError
		if errors.As(err, &pe) {
			return nil, pe.APIError()
		}
		return nil, err
	}
	if len(list) == 0 {
		return nil, voice.Invalid("actions", "must have 1 to %d actions", callctl.MaxActions)
	}
	if err := checkActionURLs(list, allow); err != nil {
		return nil, err
	}
	return raw, nil
}

// checkActionURLs applies the SSRF guard's API-time check (a literal private
// address is refused, webhooks.md) to every URL of an inline action list, as
// to an application's URLs; host names are checked again at every fetch.
func checkActionURLs(list []callctl.Action, allow []netip.Prefix) error {
	for _, f := range callctl.URLs(list) {
		if err := netguard.CheckURL(f.URL, allow); err != nil {
			return voice.Invalid(f.Path, "%v", err)
		}
	}
	return nil
}

func (s *Server) createCall(w http.ResponseWriter, r *http.Request, p *auth.Principal) error {
	var in callInput
	if err := decode(r, &in); err != nil {
		return err
	}
	to, err := requiredE164("to", in.To)
	if err != nil {
		return err
	}
	from, err := requiredE164("from", in.From)
	if err != nil {
		return err
	}
	appID := in.ApplicationID
	if p.ApplicationID != "" {
		if appID != "" && appID != p.ApplicationID {
			return voice.NotFound("application")
		}
		appID = p.ApplicationID
	}
	if appID == "" {
		return voice.Invalid("application_id", "is required")
	}
	// Another tenant's application reads as missing: 404, as for every object.
	app, err := s.store.Application(r.Context(), p.Scope(), appID)
	if err != nil {
		return err
	}
	if app.Status != voice.ApplicationActive {
		return voice.Errorf(voice.ECodeApplicationInactive, "application %s is inactive", app.ID)
	}
	cust, err := s.store.Customer(r.Context(), voice.Scope{}, app.CustomerID)
	if err != nil {
		return err
	}
	if cust.Status != voice.CustomerActive {
		return voice.Errorf(voice.ECodeCustomerSuspended, "customer %s is suspended", cust.ID)
	}
	if err := voice.CheckCallerID(r.Context(), s.store, cust, from); err != nil {
		return err
	}
	if err := s.checkURL("answer_url", in.AnswerURL, false); err != nil {
		return err
	}
	var actions json.RawMessage
	if in.Actions != nil && string(in.Actions) != "null" {
		if in.AnswerURL != "" {
			return voice.Invalid("actions", "give actions or answer_url, not both")
		}
		if actions, err = checkActions(in.Actions, s.allow); err != nil {
			return err
		}
		list, _ := callctl.Parse(actions) // checkActions parsed it already
		parent := &voice.Call{Direction: voice.DirectionOutbound, From: from, To: to}
		if err := s.checkDialCallerIDs(r.Context(), cust, parent, list); err != nil {
			return err
		}
	}
	if actions == nil && in.AnswerURL == "" && app.AnswerURL == "" {
		return voice.Invalid("answer_url", "is required: the application has none and no actions were given")
	}
	record := app.RecordByDefault
	if in.Record != nil {
		record = *in.Record
	}
	channels := in.RecordingChannels
	if channels == "" {
		channels = "dual"
	}
	if channels != "dual" && channels != "mono" {
		return voice.Invalid("recording_channels", "must be dual or mono")
	}
	timeout := defaultRingTimeout
	if in.Timeout != nil {
		timeout = *in.Timeout
	}
	if timeout < 5 || timeout > 600 {
		return voice.Invalid("timeout", "must be from 5 to 600 seconds")
	}
	limit := defaultTimeLimit
	if in.TimeLimit != nil {
		limit = *in.TimeLimit
	}
	if limit < 1 || limit > defaultTimeLimit {
		return voice.Invalid("time_limit", "must be from 1 to %d seconds", defaultTimeLimit)
	}
	if err := checkVariables(in.Variables); err != nil {
		return err
	}
	if in.Variables == nil {
		in.Variables = map[string]string{}
	}
	if s.calls != nil {
		if !s.calls.Accepting() {
			return &voice.Error{Code: voice.ECodeNoTrunkAvailable, Message: "this server is shutting down; retry on another", RetryAfter: 5}
		}
		ok, err := s.calls.HasTrunk(r.Context(), cust.ID)
		if err != nil {
			return err
		}
		if !ok {
			return voice.Errorf(voice.ECodeNoTrunkAvailable, "no active outbound trunk can carry calls of customer %s", cust.ID)
		}
	}
	// billing.md's checks, last: a rate, the balance, the limits. The
	// ticket holds the call's concurrency slot until the call ends.
	// The call's id is chosen first: its reservation is held under it.
	now := s.clock()
	id := voice.NewID(voice.PrefixCall, now)
	var ticket *billing.Ticket
	if s.gate != nil {
		if ticket, err = s.gate.AdmitCustomer(r.Context(), id, cust, voice.DirectionOutbound, to); err != nil {
			return err
		}
	}
	c := &voice.Call{ID: id, CustomerID: cust.ID, ApplicationID: app.ID, Status: voice.CallQueued,
		Direction: voice.DirectionOutbound, From: from, To: to, Record: record, RecordingChannels: channels, Timeout: timeout,
		TimeLimit: limit, AnswerURL: in.AnswerURL, Actions: actions, Variables: in.Variables, Currency: cust.Currency,
		RecordingIDs: []string{}, CreatedAt: now, UpdatedAt: now}
	if err := s.store.CreateCall(r.Context(), c); err != nil {
		if ticket != nil {
			ticket.Release()
		}
		return err
	}
	writeJSON(w, http.StatusCreated, c)
	if s.calls != nil {
		s.calls.PlaceCall(c, ticket)
	} else if ticket != nil {
		ticket.Release() // nothing will place it (API-only server)
	}
	return nil
}

// hangupCall ends a live call: CANCEL while it rings, BYE once answered. The
// answer is the call as it is now; its final state follows in call.completed.
func (s *Server) hangupCall(w http.ResponseWriter, r *http.Request, p *auth.Principal) error {
	c, err := s.store.Call(r.Context(), p.Scope(), r.PathValue("id"))
	if err != nil {
		return err
	}
	if voice.CallEnded(c.Status) {
		return voice.Errorf(voice.ECodeConflict, "call %s has already ended (%s)", c.ID, c.Status)
	}
	live := false
	if s.calls != nil {
		if live, err = s.calls.Hangup(r.Context(), c); err != nil {
			return err
		}
	}
	if !live {
		// Not live on this process: a queued call that never started, or one
		// a crashed process left behind; close it here.
		now := s.clock()
		cause, source := voice.CauseOriginatorCancel, voice.SourceAPI
		c.Status, c.EndedAt, c.HangupCause, c.HangupSource, c.UpdatedAt = voice.CallCanceled, &now, &cause, &source, now
		app, err := s.store.Application(r.Context(), voice.Scope{}, c.ApplicationID)
		if err != nil && !voice.IsNotFound(err) {
			return err
		}
		ev := voice.NewEvent(app, voice.EventCallCompleted, voice.EventSubject{CustomerID: c.CustomerID,
			ApplicationID: c.ApplicationID, CallID: c.ID}, voice.CompletedData(c), now)
		if err := s.store.UpdateCallWithEvents(r.Context(), c, ev); err != nil {
			return err
		}
	}
	writeJSON(w, http.StatusOK, c)
	return nil
}

type actionsInput struct {
	Actions json.RawMessage `json:"actions"`
}

// replaceActions interrupts what a live call is doing and runs a new list.
func (s *Server) replaceActions(w http.ResponseWriter, r *http.Request, p *auth.Principal) error {
	c, err := s.store.Call(r.Context(), p.Scope(), r.PathValue("id"))
	if err != nil {
		return err
	}
	var in actionsInput
	if err := decode(r, &in); err != nil {
		return err
	}
	if in.Actions == nil || string(in.Actions) == "null" {
		return required("actions")
	}
	list, err := callctl.Parse(in.Actions)
	if err != nil {
		var pe *callctl.ParseError
		if errors.As(err, &pe) {
			return pe.APIError()
		}
		return err
	}
	if err := checkActionURLs(list, s.allow); err != nil {
		return err
	}
	cust, err := s.store.Customer(r.Context(), voice.Scope{}, c.CustomerID)
	if err != nil {
		return err
	}
	if err := s.checkDialCallerIDs(r.Context(), cust, c, list); err != nil {
		return err
	}
	replaced := false
	if c.Status == voice.CallInProgress && s.calls != nil {
		if replaced, err = s.calls.ReplaceActions(r.Context(), c, list, in.Actions); err != nil {
			return err
		}
	}
	if !replaced {
		return voice.Errorf(voice.ECodeConflict, "call %s is not in progress (%s)", c.ID, c.Status)
	}
	writeJSON(w, http.StatusOK, c)
	return nil
}

// checkDialCallerIDs refuses, before anything runs, a list whose dial would
// present a caller ID the customer may not use; the engine checks again when
// the dial runs (a fetched list is only checked then).
func (s *Server) checkDialCallerIDs(ctx context.Context, cust *voice.Customer, parent *voice.Call, list []callctl.Action) error {
	for i, a := range list {
		if a.Kind != callctl.KindDial {
			continue
		}
		err := callctl.CheckDialCallerID(ctx, s.store, cust, parent, a.Dial.CallerID(parent))
		var ve *voice.Error
		if errors.As(err, &ve) && ve.Code == voice.ECodeCallerIDNotAllowed {
			ve.Param = fmt.Sprintf("actions[%d].from", i)
			ve.Message = ve.Param + strings.TrimPrefix(ve.Message, "from")
		}
		if err != nil {
			return err
		}
	}
	return nil
}

func checkVariables(v map[string]string) error {
	if len(v) > maxVariables {
		return voice.Invalid("variables", "must have at most %d entries", maxVariables)
	}
	for k, val := range v {
		if k == "" || len(k) > 64 {
			return voice.Invalid("variables", "names must be 1 to 64 characters")
		}
		if len(val) > 4096 {
			return voice.Invalid("variables", "%s: values must be at most 4096 characters", k)
		}
	}
	// The call's whole variables, which set adds to while it runs, are
	// bounded too; a call cannot start above the bound.
	if n := callctl.VariablesSize(v); n > callctl.MaxVariablesBytes {
		return voice.Invalid("variables", "must be at most %d bytes in all (names and values), not %d", callctl.MaxVariablesBytes, n)
	}
	return nil
}

func (s *Server) getCall(w http.ResponseWriter, r *http.Request, p *auth.Principal) error {
	c, err := s.store.Call(r.Context(), p.Scope(), r.PathValue("id"))
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, c)
	return nil
}

func (s *Server) listCalls(w http.ResponseWriter, r *http.Request, p *auth.Principal) error {
	pg, err := parsePage(r)
	if err != nil {
		return err
	}
	q := r.URL.Query()
	f := voice.CallFilter{Scope: p.Scope(), Status: q.Get("status"), Direction: q.Get("direction"),
		ApplicationID: q.Get("application_id"), CustomerID: q.Get("customer_id"), From: q.Get("from"), To: q.Get("to")}
	if f.Status != "" && !slices.Contains(voice.CallStatuses, f.Status) {
		return voice.Invalid("status", "must be one of %s", strings.Join(voice.CallStatuses, ", "))
	}
	if f.Direction != "" && f.Direction != voice.DirectionInbound && f.Direction != voice.DirectionOutbound {
		return voice.Invalid("direction", "must be inbound or outbound")
	}
	// A filter naming another tenant's object is a 404, like reading it.
	if f.CustomerID != "" {
		if _, err := s.store.Customer(r.Context(), p.Scope(), f.CustomerID); err != nil {
			return err
		}
	}
	if f.ApplicationID != "" {
		if _, err := s.store.Application(r.Context(), p.Scope(), f.ApplicationID); err != nil {
			return err
		}
	}
	for _, n := range []struct {
		name string
		v    *string
	}{{"from", &f.From}, {"to", &f.To}} {
		if *n.v != "" {
			e, ok := voice.NormalizeE164(strings.TrimSpace(*n.v))
			if !ok {
				return voice.Invalid(n.name, "must be an E.164 number")
			}
			*n.v = e
		}
	}
	if f.CreatedAfter, err = queryTime(r, "created_after"); err != nil {
		return err
	}
	if f.CreatedBefore, err = queryTime(r, "created_before"); err != nil {
		return err
	}
	switch v := q.Get("reviewed"); v {
	case "":
	case "true", "false":
		b := v == "true"
		f.Reviewed = &b
	default:
		return voice.Invalid("reviewed", "must be true or false")
	}
	if f.Verdict = q.Get("verdict"); f.Verdict != "" && !slices.Contains(voice.Verdicts, f.Verdict) {
		return errVerdict("verdict")
	}
	list, err := s.store.Calls(r.Context(), f, pg)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, list)
	return nil
}
