// Package auth turns a bearer token into a Principal: who is calling and what
// they may see. Key secrets are random, shown once, and stored only as SHA-256
// hashes; the hash is what a lookup compares.
package auth

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base32"
	"strings"
	"time"

	"github.com/minivoice/minivoice/internal/voice"
)

// Key prefixes tell the kinds apart at a glance (and to secret scanners).
const (
	PrefixOperatorKey    = "mvk_op_"
	PrefixCustomerKey    = "mvk_cu_"
	PrefixApplicationKey = "mvk_ap_"
)

var keyEncoding = base32.NewEncoding("abcdefghijklmnopqrstuvwxyz234567").WithPadding(base32.NoPadding)

// Principal is an authenticated caller.
type Principal struct {
	Kind          string
	KeyID         string
	CustomerID    string
	ApplicationID string
}

// Scope is what the principal may see.
func (p *Principal) Scope() voice.Scope {
	return voice.Scope{CustomerID: p.CustomerID, ApplicationID: p.ApplicationID}
}

// IsOperator reports whether p is the operator.
func (p *Principal) IsOperator() bool { return p.Kind == voice.KeyOperator }

// Owner names the principal for per-caller state such as idempotency keys.
func (p *Principal) Owner() string {
	if p.IsOperator() {
		return "operator"
	}
	return p.KeyID
}

// Hash is the stored form of a key secret.
func Hash(secret string) []byte {
	h := sha256.Sum256([]byte(secret))
	return h[:]
}

// NewSecret returns a fresh key secret of the given kind: its prefix and 160
// random bits in lowercase base32.
func NewSecret(kind string) string {
	var b [20]byte
	_, _ = rand.Read(b[:])
	prefix := PrefixCustomerKey
	switch kind {
	case voice.KeyOperator:
		prefix = PrefixOperatorKey
	case voice.KeyApplication:
		prefix = PrefixApplicationKey
	}
	return prefix + keyEncoding.EncodeToString(b[:])
}

// DisplayPrefix is the part of a secret kept for display: enough to tell keys
// apart in a list, far too little to guess the rest.
func DisplayPrefix(secret string) string {
	if len(secret) > 12 {
		return secret[:12]
	}
	return secret
}

// Store is what the Authenticator reads.
type Store interface {
	voice.KeyStore
	Customer(ctx context.Context, scope voice.Scope, id string) (*voice.Customer, error)
	Application(ctx context.Context, scope voice.Scope, id string) (*voice.Application, error)
}

// Config configures an Authenticator.
type Config struct {
	Store Store
	// OperatorKey is the operator's secret (from MINIVOICE_ADMIN_KEY or admin.key).
	OperatorKey string
	// TouchInterval is how stale last_used_at may get before a use rewrites it;
	// writing on every request would turn each read into a write. Default 1 minute.
	TouchInterval time.Duration
	Now           func() time.Time
	// Throttle, when set, refuses sources that keep presenting unknown keys
	// (AuthenticateRequest); nil counts nothing.
	Throttle *Throttle
}

// Authenticator checks bearer tokens.
type Authenticator struct {
	store         Store
	operatorHash  []byte
	touchInterval time.Duration
	now           func() time.Time
	throttle      *Throttle
}

// New returns an Authenticator.
func New(cfg Config) *Authenticator {
	if cfg.TouchInterval == 0 {
		cfg.TouchInterval = time.Minute
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	return &Authenticator{store: cfg.Store, operatorHash: Hash(cfg.OperatorKey), touchInterval: cfg.TouchInterval, now: cfg.Now,
		throttle: cfg.Throttle}
}

var errUnauthorized = &voice.Error{Code: voice.ECodeUnauthorized, Message: "missing, unknown or revoked API key"}

// Authenticate resolves an Authorization header value.
func (a *Authenticator) Authenticate(ctx context.Context, header string) (*Principal, error) {
	// The scheme name is case-insensitive (RFC 9110 11.1).
	scheme, token, ok := strings.Cut(header, " ")
	token = strings.TrimSpace(token)
	if !ok || !strings.EqualFold(scheme, "Bearer") || token == "" {
		return nil, errUnauthorized
	}
	return a.AuthenticateHash(ctx, Hash(token))
}

// AuthenticateRequest is Authenticate for a request from remoteAddr
// (http.Request.RemoteAddr): with a Throttle configured, a source that has
// presented too many unknown keys is refused with 429 rate_limited and a
// Retry-After until its window passes, before its key is even looked at, and
// each unauthorized attempt counts against it. Other refusals (a suspended
// customer, an inactive application) do not count: the key was right.
func (a *Authenticator) AuthenticateRequest(ctx context.Context, header, remoteAddr string) (*Principal, error) {
	if a.throttle == nil {
		return a.Authenticate(ctx, header)
	}
	src := Source(remoteAddr)
	if blocked, wait := a.throttle.Blocked(src); blocked {
		return nil, &voice.Error{Code: voice.ECodeRateLimited, RetryAfter: int((wait + time.Second - 1) / time.Second),
			Message: "too many attempts with unknown or revoked API keys from this address; try again later"}
	}
	p, err := a.Authenticate(ctx, header)
	if err == errUnauthorized {
		a.throttle.Fail(src)
	}
	return p, err
}

// AuthenticateHash resolves the hash of a key secret exactly as Authenticate
// resolves the secret. The web console keeps only a signed-in key's hash and
// re-checks it on every request, so a revoked key, a suspended customer or a
// changed operator key ends its sessions at once.
func (a *Authenticator) AuthenticateHash(ctx context.Context, h []byte) (*Principal, error) {
	if subtle.ConstantTimeCompare(h, a.operatorHash) == 1 {
		return &Principal{Kind: voice.KeyOperator}, nil
	}
	k, err := a.store.KeyByHash(ctx, h)
	if voice.IsNotFound(err) {
		return nil, errUnauthorized
	}
	if err != nil {
		return nil, err
	}
	if k.RevokedAt != nil {
		return nil, errUnauthorized
	}
	c, err := a.store.Customer(ctx, voice.Scope{}, k.CustomerID)
	if err != nil {
		return nil, err
	}
	if c.Status != voice.CustomerActive {
		return nil, voice.Errorf(voice.ECodeCustomerSuspended, "customer %s is suspended", c.ID)
	}
	p := &Principal{Kind: k.Kind, KeyID: k.ID, CustomerID: k.CustomerID}
	if k.Kind == voice.KeyApplication && k.ApplicationID != nil {
		p.ApplicationID = *k.ApplicationID
		app, err := a.store.Application(ctx, voice.Scope{}, p.ApplicationID)
		if err != nil {
			return nil, err
		}
		if app.Status != voice.ApplicationActive {
			return nil, voice.Errorf(voice.ECodeApplicationInactive, "application %s is inactive", app.ID)
		}
	}
	now := a.now()
	if k.LastUsedAt == nil || now.Sub(*k.LastUsedAt) >= a.touchInterval {
		if err := a.store.TouchKey(ctx, k.ID, now); err != nil {
			return nil, err
		}
	}
	return p, nil
}
