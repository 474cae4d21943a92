package voice

import (
	"context"
	"time"
)

// Trunk statuses and transports.
const (
	TrunkActive   = "active"
	TrunkDisabled = "disabled"
)

// A trunk's srtp values: what media encryption outbound calls through it
// offer (docs/tls.md).
const (
	// SRTPOff offers plain RTP (RTP/AVP), the default.
	SRTPOff = "off"
	// SRTPOptional offers SRTP (RTP/SAVP with SDES keys) and accepts a
	// plain RTP answer.
	SRTPOptional = "optional"
	// SRTPRequired offers only SRTP and ends a call answered without it.
	SRTPRequired = "required"
)

// Trunk is a SIP peer: a carrier that takes outbound calls, sends inbound ones, or both.
type Trunk struct {
	ID           string    `json:"id"`
	Name         string    `json:"name"`
	Direction    string    `json:"direction"`
	Host         string    `json:"host"`
	Port         int       `json:"port"`
	Transport    string    `json:"transport"`
	SRTP         string    `json:"srtp"`
	Username     string    `json:"username"`
	Password     string    `json:"-"`
	FromDomain   string    `json:"from_domain"`
	StripPlus    bool      `json:"strip_plus"`
	TechPrefix   string    `json:"tech_prefix"`
	AllowedCIDRs []string  `json:"allowed_cidrs"`
	MaxChannels  int       `json:"max_channels"`
	MaxCPS       int       `json:"max_cps"`
	Priority     int       `json:"priority"`
	SetupTimeout int       `json:"setup_timeout"`
	CustomerID   *string   `json:"customer_id"`
	Status       string    `json:"status"`
	CreatedAt    time.Time `json:"created_at"`
	UpdatedAt    time.Time `json:"updated_at"`
	HasPassword  bool      `json:"has_password"`
}

// TrunkStore persists trunks.
type TrunkStore interface {
	CreateTrunk(ctx context.Context, t *Trunk) error
	Trunk(ctx context.Context, id string) (*Trunk, error)
	Trunks(ctx context.Context, p Page) (List[*Trunk], error)
	UpdateTrunk(ctx context.Context, t *Trunk) error
	DeleteTrunk(ctx context.Context, id string) error
	// ActiveTrunks returns the active trunks that carry calls of direction
	// (their direction or both), lowest priority first.
	ActiveTrunks(ctx context.Context, direction string) ([]*Trunk, error)
}
