package auth

import (
	"net"
	"net/netip"
	"sync"
	"time"
)

// Throttle slows down key guessing: it counts failed authentications per
// source address and, once a source has failed Limit times within Window,
// refuses every attempt from it (right or wrong key) until the window has
// passed since its first counted failure. Keys carry 160 random bits, so
// guessing one is hopeless anyway; the throttle is there so a guessing
// script cannot make the server hash, query and log at line rate, and so the
// log shows one line per blocked source rather than millions.
//
// IPv6 sources are counted per /64, because one host usually holds a whole
// /64. The table is bounded: at MaxSources it forgets expired entries first
// and, if none have expired, the oldest one.
//
// The zero value is not usable; build one with NewThrottle.
type Throttle struct {
	// Limit is how many failures a source may have within Window.
	Limit int
	// Window is how long a source's failures are remembered.
	Window time.Duration
	// MaxSources bounds the table.
	MaxSources int
	// Now is the clock; tests replace it.
	Now func() time.Time

	mu      sync.Mutex
	sources map[netip.Prefix]*failures
}

type failures struct {
	first time.Time
	n     int
}

// NewThrottle returns a throttle with the defaults: 20 failures a minute per
// source, 65,536 sources remembered.
func NewThrottle() *Throttle {
	return &Throttle{Limit: 20, Window: time.Minute, MaxSources: 65536, Now: time.Now,
		sources: map[netip.Prefix]*failures{}}
}

// Source is the throttle's key for a request's remote address
// (http.Request.RemoteAddr, "host:port" or a bare host). An address that does
// not parse counts as one shared source, so it is throttled rather than let
// through.
func Source(remoteAddr string) netip.Prefix {
	host := remoteAddr
	if h, _, err := net.SplitHostPort(remoteAddr); err == nil {
		host = h
	}
	a, err := netip.ParseAddr(host)
	if err != nil {
		return netip.Prefix{}
	}
	a = a.Unmap()
	if a.Is4() {
		return netip.PrefixFrom(a, 32)
	}
	p, _ := a.WithZone("").Prefix(64)
	return p
}

// Blocked reports whether src may not try now, and if so how long until it
// may.
func (t *Throttle) Blocked(src netip.Prefix) (bool, time.Duration) {
	now := t.Now()
	t.mu.Lock()
	defer t.mu.Unlock()
	f := t.sources[src]
	if f == nil {
		return false, 0
	}
	end := f.first.Add(t.Window)
	if !now.Before(end) {
		delete(t.sources, src)
		return false, 0
	}
	if f.n < t.Limit {
		return false, 0
	}
	return true, end.Sub(now)
}

// Fail counts a failed attempt from src. It reports whether this failure is
// the one that blocked the source, so the caller can log that once.
func (t *Throttle) Fail(src netip.Prefix) (justBlocked bool) {
	now := t.Now()
	t.mu.Lock()
	defer t.mu.Unlock()
	f := t.sources[src]
	if f != nil && !now.Before(f.first.Add(t.Window)) {
		f = nil
	}
	if f == nil {
		if len(t.sources) >= t.MaxSources {
			t.evict(now)
		}
		f = &failures{first: now}
		t.sources[src] = f
	}
	f.n++
	return f.n == t.Limit
}

// evict makes room for one entry: every expired entry goes, or else the one
// with the oldest first failure. It walks the whole table, which only
// happens when the table is full.
func (t *Throttle) evict(now time.Time) {
	var oldest netip.Prefix
	var oldestAt time.Time
	removed := false
	for k, f := range t.sources {
		if !now.Before(f.first.Add(t.Window)) {
			delete(t.sources, k)
			removed = true
			continue
		}
		if oldestAt.IsZero() || f.first.Before(oldestAt) {
			oldest, oldestAt = k, f.first
		}
	}
	if !removed {
		delete(t.sources, oldest)
	}
}

// Len is how many sources the throttle remembers.
func (t *Throttle) Len() int {
	t.mu.Lock()
	defer t.mu.Unlock()
	return len(t.sources)
}
