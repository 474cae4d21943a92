package jobs

import (
	"context"
	"sync"
	"time"
)

// hostGate bounds the webhook requests in flight to one receiver host in this
// process, so a slow or dead receiver holds at most limit requests (and a few
// short waits) and never the worker slots other applications need.
//
// A request that finds its host's slots taken waits for one, briefly and
// only while the host is answering quickly (its oldest request in flight is
// younger than slowAfter); otherwise acquire reports busy and the caller puts
// the job back in the queue for later.
type hostGate struct {
	limit     int
	slowAfter time.Duration
	maxWait   time.Duration

	mu    sync.Mutex
	hosts map[string]*hostSlots
}

// hostSlots is one host's state. sem holds a token per request in flight.
type hostSlots struct {
	sem     chan struct{}
	started map[*int]time.Time // start of each request in flight
	refs    int                // acquirers holding or waiting
}

func newHostGate(limit int, slowAfter, maxWait time.Duration) *hostGate {
	return &hostGate{limit: limit, slowAfter: slowAfter, maxWait: maxWait, hosts: map[string]*hostSlots{}}
}

// acquire takes a slot of host for one request. ok is false when the host is
// busy (slow, or no slot freed within maxWait) or ctx ended; release must be
// called once the request is over when ok is true.
func (g *hostGate) acquire(ctx context.Context, host string) (release func(), ok bool) {
	g.mu.Lock()
	h := g.hosts[host]
	if h == nil {
		h = &hostSlots{sem: make(chan struct{}, g.limit), started: map[*int]time.Time{}}
		g.hosts[host] = h
	}
	h.refs++
	var oldest time.Time
	for _, t := range h.started {
		if oldest.IsZero() || t.Before(oldest) {
			oldest = t
		}
	}
	g.mu.Unlock()

	got := false
	select {
	case h.sem <- struct{}{}:
		got = true
	default:
		if oldest.IsZero() || time.Since(oldest) < g.slowAfter {
			t := time.NewTimer(g.maxWait)
			select {
			case h.sem <- struct{}{}:
				got = true
			case <-t.C:
			case <-ctx.Done():
			}
			t.Stop()
		}
	}
	if !got {
		g.put(host, h, nil)
		return nil, false
	}
	token := new(int)
	g.mu.Lock()
	h.started[token] = time.Now()
	g.mu.Unlock()
	var once sync.Once
	return func() { once.Do(func() { g.put(host, h, token) }) }, true
}

// put drops one reference to host (and its slot, for a token), forgetting
// hosts nobody uses so the map stays as small as the receivers in use.
func (g *hostGate) put(host string, h *hostSlots, token *int) {
	g.mu.Lock()
	defer g.mu.Unlock()
	if token != nil {
		delete(h.started, token)
		<-h.sem
	}
	h.refs--
	if h.refs == 0 {
		delete(g.hosts, host)
	}
}

// inFlight is the number of requests in flight to host (for tests).
func (g *hostGate) inFlight(host string) int {
	g.mu.Lock()
	defer g.mu.Unlock()
	if h := g.hosts[host]; h != nil {
		return len(h.started)
	}
	return 0
}

// signals wakes the deliveries waiting on a call's earlier event when that
// event's attempt is over, in this process. A waiter that misses a wake-up
// (the earlier event finished elsewhere) still rechecks on a timer.
type signals struct {
	mu sync.Mutex
	m  map[string]*signal
}

type signal struct {
	ch   chan struct{}
	refs int
}

// wait returns a channel closed at the next wake of key, and a func to call
// when the caller stops waiting.
func (s *signals) wait(key string) (<-chan struct{}, func()) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.m == nil {
		s.m = map[string]*signal{}
	}
	sg := s.m[key]
	if sg == nil {
		sg = &signal{ch: make(chan struct{})}
		s.m[key] = sg
	}
	sg.refs++
	var once sync.Once
	return sg.ch, func() {
		once.Do(func() {
			s.mu.Lock()
			defer s.mu.Unlock()
			sg.refs--
			if sg.refs == 0 && s.m[key] == sg {
				delete(s.m, key)
			}
		})
	}
}

// wake wakes every waiter of key.
func (s *signals) wake(key string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if sg := s.m[key]; sg != nil {
		close(sg.ch)
		delete(s.m, key)
	}
}

// size is the number of keys waited on (for tests).
func (s *signals) size() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.m)
}
