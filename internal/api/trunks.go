package api

import (
	"net/http"
	"regexp"
	"strings"

	"github.com/minivoice/minivoice/internal/auth"
	"github.com/minivoice/minivoice/internal/netguard"
	"github.com/minivoice/minivoice/internal/voice"
)

// Trunk defaults (telephony.md: port 5060, setup_timeout 8 s).
const (
	defaultSIPPort      = 5060
	defaultSetupTimeout = 8
	defaultPriority     = 10
	defaultMaxChannels  = 100
	defaultTrunkCPS     = 10
)

var (
	hostRe       = regexp.MustCompile(`^[A-Za-z0-9]([A-Za-z0-9.-]{0,252})$`)
	techPrefixRe = regexp.MustCompile(`^[0-9*#]{0,16}$`)
)

type trunkInput struct {
	Name         Opt[string]   `json:"name"`
	Direction    Opt[string]   `json:"direction"`
	Host         Opt[string]   `json:"host"`
	Port         Opt[int]      `json:"port"`
	Transport    Opt[string]   `json:"transport"`
	SRTP         Opt[string]   `json:"srtp"`
	Username     Opt[string]   `json:"username"`
	Password     Opt[string]   `json:"password"`
	FromDomain   Opt[string]   `json:"from_domain"`
	StripPlus    Opt[bool]     `json:"strip_plus"`
	TechPrefix   Opt[string]   `json:"tech_prefix"`
	AllowedCIDRs Opt[[]string] `json:"allowed_cidrs"`
	MaxChannels  Opt[int]      `json:"max_channels"`
	MaxCPS       Opt[int]      `json:"max_cps"`
	Priority     Opt[int]      `json:"priority"`
	SetupTimeout Opt[int]      `json:"setup_timeout"`
	CustomerID   Opt[string]   `json:"customer_id"`
	Status       Opt[string]   `json:"status"`
}

func (s *Server) applyTrunk(r *http.Request, in *trunkInput, t *voice.Trunk) error {
	setStr(&t.Name, in.Name)
	if err := checkName("name", t.Name); err != nil {
		return err
	}
	setStr(&t.Direction, in.Direction)
	if t.Direction != voice.DirectionOutbound && t.Direction != voice.DirectionInbound && t.Direction != voice.DirectionBoth {
		return voice.Invalid("direction", "must be outbound, inbound or both")
	}
	setStr(&t.Host, in.Host)
	if t.Host == "" && t.Direction != voice.DirectionInbound {
		return voice.Invalid("host", "is required for an outbound trunk")
	}
	if t.Host != "" && !hostRe.MatchString(t.Host) {
		if _, err := netipAddr(t.Host); err != nil {
			return voice.Invalid("host", "must be a host name or an IP address")
		}
	}
	if in.Port.Set {
		t.Port = in.Port.Value
	}
	if t.Port < 1 || t.Port > 65535 {
		return voice.Invalid("port", "must be from 1 to 65535")
	}
	setStr(&t.Transport, in.Transport)
	t.Transport = strings.ToLower(t.Transport)
	if t.Transport != "udp" && t.Transport != "tcp" && t.Transport != "tls" {
		return voice.Invalid("transport", "must be udp, tcp or tls")
	}
	setStr(&t.SRTP, in.SRTP)
	t.SRTP = strings.ToLower(t.SRTP)
	if t.SRTP != voice.SRTPOff && t.SRTP != voice.SRTPOptional && t.SRTP != voice.SRTPRequired {
		return voice.Invalid("srtp", "must be off, optional or required")
	}
	if in.Username.Set {
		t.Username = in.Username.Value
	}
	if in.Password.Set {
		t.Password = in.Password.Value
	}
	if len(t.Username) > 128 || len(t.Password) > 128 {
		return voice.Invalid("username", "username and password must be at most 128 characters")
	}
	if t.Password != "" && t.Username == "" {
		return voice.Invalid("username", "is required with a password")
	}
	setStr(&t.FromDomain, in.FromDomain)
	if t.FromDomain != "" && !hostRe.MatchString(t.FromDomain) {
		return voice.Invalid("from_domain", "must be a domain name")
	}
	if in.StripPlus.Set {
		t.StripPlus = in.StripPlus.Value
	}
	setStr(&t.TechPrefix, in.TechPrefix)
	if !techPrefixRe.MatchString(t.TechPrefix) {
		return voice.Invalid("tech_prefix", "must be up to 16 of 0-9, * and #")
	}
	if in.AllowedCIDRs.Set {
		t.AllowedCIDRs = in.AllowedCIDRs.Value
	}
	if t.AllowedCIDRs == nil {
		t.AllowedCIDRs = []string{}
	}
	if len(t.AllowedCIDRs) > 100 {
		return voice.Invalid("allowed_cidrs", "must have at most 100 entries")
	}
	for i, c := range t.AllowedCIDRs {
		p, err := netguard.ParsePrefix(strings.TrimSpace(c))
		if err != nil {
			return voice.Invalid("allowed_cidrs", "%s", err.Error())
		}
		t.AllowedCIDRs[i] = p.String()
	}
	if in.MaxChannels.Set {
		t.MaxChannels = in.MaxChannels.Value
	}
	if t.MaxChannels < 1 || t.MaxChannels > 100000 {
		return voice.Invalid("max_channels", "must be from 1 to 100000")
	}
	if in.MaxCPS.Set {
		t.MaxCPS = in.MaxCPS.Value
	}
	if t.MaxCPS < 1 || t.MaxCPS > 10000 {
		return voice.Invalid("max_cps", "must be from 1 to 10000")
	}
	if in.Priority.Set {
		t.Priority = in.Priority.Value
	}
	if t.Priority < 0 || t.Priority > 1000 {
		return voice.Invalid("priority", "must be from 0 to 1000")
	}
	if in.SetupTimeout.Set {
		t.SetupTimeout = in.SetupTimeout.Value
	}
	if t.SetupTimeout < 1 || t.SetupTimeout > 120 {
		return voice.Invalid("setup_timeout", "must be from 1 to 120 seconds")
	}
	if in.CustomerID.Set {
		if in.CustomerID.Null || in.CustomerID.Value == "" {
			t.CustomerID = nil
		} else {
			c, err := s.store.Customer(r.Context(), voice.Scope{}, in.CustomerID.Value)
			if err != nil {
				if voice.IsNotFound(err) {
					return voice.Invalid("customer_id", "no such customer")
				}
				return err
			}
			t.CustomerID = &c.ID
		}
	}
	setStr(&t.Status, in.Status)
	if t.Status != voice.TrunkActive && t.Status != voice.TrunkDisabled {
		return voice.Invalid("status", "must be active or disabled")
	}
	t.HasPassword = t.Password != ""
	return nil
}

func (s *Server) createTrunk(w http.ResponseWriter, r *http.Request, _ *auth.Principal) error {
	var in trunkInput
	if err := decode(r, &in); err != nil {
		return err
	}
	now := s.clock()
	t := &voice.Trunk{ID: voice.NewID(voice.PrefixTrunk, now), Direction: voice.DirectionOutbound, Port: defaultSIPPort,
		Transport: "udp", SRTP: voice.SRTPOff, MaxChannels: defaultMaxChannels, MaxCPS: defaultTrunkCPS, Priority: defaultPriority,
		SetupTimeout: defaultSetupTimeout, Status: voice.TrunkActive, CreatedAt: now, UpdatedAt: now}
	if err := s.applyTrunk(r, &in, t); err != nil {
		return err
	}
	if err := s.store.CreateTrunk(r.Context(), t); err != nil {
		return err
	}
	writeJSON(w, http.StatusCreated, t)
	return nil
}

func (s *Server) getTrunk(w http.ResponseWriter, r *http.Request, _ *auth.Principal) error {
	t, err := s.store.Trunk(r.Context(), r.PathValue("id"))
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, t)
	return nil
}

func (s *Server) listTrunks(w http.ResponseWriter, r *http.Request, _ *auth.Principal) error {
	pg, err := parsePage(r)
	if err != nil {
		return err
	}
	list, err := s.store.Trunks(r.Context(), pg)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, list)
	return nil
}

func (s *Server) updateTrunk(w http.ResponseWriter, r *http.Request, _ *auth.Principal) error {
	t, err := s.store.Trunk(r.Context(), r.PathValue("id"))
	if err != nil {
		return err
	}
	var in trunkInput
	if err := decode(r, &in); err != nil {
		return err
	}
	if err := s.applyTrunk(r, &in, t); err != nil {
		return err
	}
	t.UpdatedAt = s.clock()
	if err := s.store.UpdateTrunk(r.Context(), t); err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, t)
	return nil
}

func (s *Server) deleteTrunk(w http.ResponseWriter, r *http.Request, _ *auth.Principal) error {
	if err := s.store.DeleteTrunk(r.Context(), r.PathValue("id")); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}
