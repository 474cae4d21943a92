// Package cluster makes several `minivoice serve` processes sharing one
// PostgreSQL database into one platform (docs/cluster.md). Each process is a
// node with a lease it renews; every call row names the node that holds it.
// A node whose lease runs out is taken over by exactly one survivor, which
// closes its calls failed/node_lost and finishes their recordings. Commands
// on a live call held by another node (hang up, new actions) reach it over
// PostgreSQL LISTEN/NOTIFY.
package cluster

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/minivoice/minivoice/internal/recording"
	"github.com/minivoice/minivoice/internal/store"
	"github.com/minivoice/minivoice/internal/voice"
)

// DefaultLease is how long a node counts as alive after its last renewal
// unless --node-lease says otherwise. A node renews every third of it, so
// two renewals may fail in a row (a slow database) before it is lost.
const DefaultLease = 20 * time.Second

// pruneAfter is how long rows of taken-over nodes and answered commands are
// kept for inspection before a node deletes them.
const pruneAfter = 24 * time.Hour

// CloseFunc closes calls a lost node held: failed with node_lost, answered
// time counted up to max(updated_at, lastSeen), charged and reported once.
// It returns how many it closed. The platform passes the SIP engine's
// CloseAbandoned.
type CloseFunc func(ctx context.Context, calls []*voice.Call, lastSeen time.Time) (int, error)

// Config configures a Node.
type Config struct {
	Store *store.DB
	// DatabaseURL is the PostgreSQL URL; the command listener opens its own
	// connection with it. Empty: no listener (unit tests of the lease).
	DatabaseURL string
	// ID is the node's id (--node-id); empty generates one (NewID).
	ID string
	// Lease is --node-lease; zero is DefaultLease.
	Lease time.Duration
	// Now is the clock; default time.Now. Leases are compared across nodes,
	// so their clocks must agree (NTP) to well within a lease.
	Now    func() time.Time
	Logger *slog.Logger
	// Close closes a lost node's calls; required.
	Close CloseFunc
	// Recordings is the shared recordings directory; nil leaves a lost
	// node's recordings in progress.
	Recordings recording.BlobStore
	// Draining reports whether this node refuses new calls (written to its
	// row for operators to see); nil: never.
	Draining func() bool
	// Local runs commands sent to this node; nil refuses them all.
	Local Local
	// CommandTimeout bounds how long a command waits for another node's
	// answer; zero is 5 s.
	CommandTimeout time.Duration
	// RatesChanged reloads this node's in-memory rate index: called when
	// another node wrote the rates (and after the listener reconnects, for
	// changes it may have missed). Nil: not listened for.
	RatesChanged func(ctx context.Context) error
}

// Node is this process as a member of the cluster. It is a platform
// service: Start joins and starts renewing the lease (and taking over lost
// nodes), Stop ends both and gives the lease up.
type Node struct {
	cfg Config
	log *slog.Logger

	// mu guards pending and lastPrune, touched by Tick.
	mu sync.Mutex
	// pending are lost nodes' calls claimed but not closed yet (a failed
	// close is retried on the next tick).
	pending   []*abandoned
	lastPrune time.Time

	cancel context.CancelFunc
	done   chan struct{}

	// commands: see commands.go.
	cmd commandState
}

// abandoned is a lost node's calls this node claimed.
type abandoned struct {
	node     string
	lastSeen time.Time
	calls    []*voice.Call
}

// NewID is a node id made of the host name and a random suffix, unique per
// process: a restarted process is a new node, and the survivors (or itself)
// take the old one over once its lease runs out.
func NewID() string {
	host, err := os.Hostname()
	if err != nil || host == "" {
		host = "node"
	}
	host = strings.SplitN(host, ".", 2)[0]
	var b [4]byte
	_, _ = rand.Read(b[:])
	return host + "-" + hex.EncodeToString(b[:])
}

// New returns a Node for cfg; Start makes it a member.
func New(cfg Config) (*Node, error) {
	if cfg.Store == nil || cfg.Close == nil {
		return nil, errors.New("cluster: Store and Close are required")
	}
	if cfg.ID == "" {
		cfg.ID = NewID()
	}
	if cfg.Lease <= 0 {
		cfg.Lease = DefaultLease
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.CommandTimeout <= 0 {
		cfg.CommandTimeout = 5 * time.Second
	}
	n := &Node{cfg: cfg, log: cfg.Logger.With(slog.String("node", cfg.ID))}
	n.cmd.init()
	return n, nil
}

// ID is the node's id.
func (n *Node) ID() string { return n.cfg.ID }

// Lease is the node's lease length.
func (n *Node) Lease() time.Duration { return n.cfg.Lease }

// Start joins the cluster, starts the command listener (when configured)
// and the goroutine that renews the lease and takes lost nodes over every
// third of a lease. It returns once commands can reach this node.
func (n *Node) Start(ctx context.Context) error {
	if err := n.Join(ctx); err != nil {
		return err
	}
	runCtx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	n.cancel, n.done = cancel, make(chan struct{})
	listening := make(chan struct{})
	var wg sync.WaitGroup
	if n.cfg.DatabaseURL != "" {
		wg.Add(1)
		go func() {
			defer wg.Done()
			n.listen(runCtx, listening)
		}()
	} else {
		close(listening)
	}
	wg.Add(1)
	go func() {
		defer wg.Done()
		n.loop(runCtx)
	}()
	go func() {
		wg.Wait()
		close(n.done)
	}()
	// The listener retries its connection every second; a database that
	// took the join but refuses this connection for long is a failed start.
	timer := time.NewTimer(listenStartTimeout)
	defer timer.Stop()
	select {
	case <-listening:
		return nil
	case <-timer.C:
		_ = n.Stop(context.WithoutCancel(ctx))
		return fmt.Errorf("cluster: the command listener could not connect to the database within %s", listenStartTimeout)
	case <-ctx.Done():
		_ = n.Stop(context.WithoutCancel(ctx))
		return fmt.Errorf("cluster: start command listener: %w", ctx.Err())
	}
}

// listenStartTimeout bounds how long Start waits for the command listener.
const listenStartTimeout = 30 * time.Second

// Stop ends the node's goroutines and gives its lease up: called after the
// SIP engine closed its calls, so a survivor taking it over finds nothing
// left to close.
func (n *Node) Stop(ctx context.Context) error {
	if n.cancel == nil {
		return nil
	}
	n.cancel()
	select {
	case <-n.done:
	case <-ctx.Done():
		return fmt.Errorf("cluster: stop: %w", ctx.Err())
	}
	n.cancel = nil
	// A short deadline of its own: a shutdown whose ctx already ran out
	// still gives the lease up if the database answers at once.
	lctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
	defer cancel()
	return n.cfg.Store.LeaveNode(lctx, n.cfg.ID, n.cfg.Now())
}

// loop renews the lease and takes over lost nodes every third of a lease
// until ctx ends.
func (n *Node) loop(ctx context.Context) {
	t := time.NewTicker(n.cfg.Lease / 3)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		if err := n.Tick(ctx); err != nil && ctx.Err() == nil {
			n.log.Error("cluster: node round failed", slog.Any("error", err))
		}
	}
}

// Join makes this process the member cfg.ID. A row left by an earlier
// process with the same id is handled first: while its lease runs this one
// waits for it (up to two leases, then it gives up: the id is in use); once
// it ran out, this process takes its own predecessor over like a survivor
// would, unless another node already did.
func (n *Node) Join(ctx context.Context) error {
	st, id := n.cfg.Store, n.cfg.ID
	deadline := n.cfg.Now().Add(2 * n.cfg.Lease)
	for {
		now := n.cfg.Now()
		prev, err := st.GetNode(ctx, id)
		var ve *voice.Error
		switch {
		case errors.As(err, &ve) && ve.Code == voice.ECodeNotFound:
			return n.join(ctx, now)
		case err != nil:
			return fmt.Errorf("cluster: join: %w", err)
		case prev.Live(now):
			if now.After(deadline) {
				return fmt.Errorf("cluster: node id %q is in use by a live process (its lease is renewed until %s)", id,
					prev.LeaseUntil.Format(time.RFC3339))
			}
			n.log.Warn("cluster: waiting for the lease of the previous process with this node id to run out",
				slog.Time("lease_until", prev.LeaseUntil))
			wait := min(prev.LeaseUntil.Sub(now)+100*time.Millisecond, time.Second)
			select {
			case <-ctx.Done():
				return fmt.Errorf("cluster: join: %w", ctx.Err())
			case <-time.After(max(wait, 10*time.Millisecond)):
			}
			continue
		case prev.TakenOverBy == "":
			claimed, err := st.ClaimNode(ctx, id, id, now)
			if err != nil {
				return fmt.Errorf("cluster: join: %w", err)
			}
			if claimed == nil {
				continue // another node claimed it meanwhile
			}
			if err := n.claimCalls(ctx, claimed); err != nil {
				return fmt.Errorf("cluster: join: %w", err)
			}
			if err := n.join(ctx, now); err != nil {
				return err
			}
			n.closePending(ctx)
			return nil
		default:
			// Taken over by a survivor: it closes what the old process
			// held (calls created before its claim), this one starts anew.
			return n.join(ctx, now)
		}
	}
}

func (n *Node) join(ctx context.Context, now time.Time) error {
	if err := n.cfg.Store.JoinNode(ctx, n.cfg.ID, now, now.Add(n.cfg.Lease)); err != nil {
		return fmt.Errorf("cluster: %w", err)
	}
	n.log.Info("cluster: joined", slog.Duration("lease", n.cfg.Lease))
	return nil
}

// Tick is one round of the node's loop: renew the lease, claim the nodes
// whose lease ran out, close their calls (and retry closes that failed
// before), now and then prune old rows. Tests call it with a fake clock.
func (n *Node) Tick(ctx context.Context) error {
	st, now := n.cfg.Store, n.cfg.Now()
	draining := n.cfg.Draining != nil && n.cfg.Draining()
	renewed, err := st.RenewNode(ctx, n.cfg.ID, now, now.Add(n.cfg.Lease), draining)
	if err != nil {
		return err
	}
	if !renewed {
		// The lease ran out (the database was out of reach for a whole
		// lease, or the process stalled) and a survivor claimed this node:
		// it closes the calls this node created until then. Join again so
		// calls from now on have a live owner.
		n.log.Error("cluster: this node's lease ran out and another node took its calls over; joining again")
		if err := n.join(ctx, now); err != nil {
			return err
		}
	}
	lost, err := st.ClaimExpiredNodes(ctx, n.cfg.ID, now)
	if err != nil {
		return err
	}
	var errs []error
	for _, l := range lost {
		n.log.Warn("cluster: taking over a node whose lease ran out", slog.String("lost", l.ID),
			slog.Time("last_heartbeat", l.HeartbeatAt))
		if err := n.claimCalls(ctx, l); err != nil {
			errs = append(errs, err)
		}
	}
	n.closePending(ctx)
	n.prune(ctx, now)
	return errors.Join(errs...)
}

// claimCalls moves the calls of the claimed node l to this node and queues
// them to be closed.
func (n *Node) claimCalls(ctx context.Context, l *store.Node) error {
	before := n.cfg.Now()
	if l.TakenOverAt != nil {
		before = *l.TakenOverAt
	}
	calls, err := n.cfg.Store.ClaimNodeCalls(ctx, l.ID, n.cfg.ID, before)
	if err != nil {
		return err
	}
	if len(calls) == 0 {
		return nil
	}
	n.mu.Lock()
	n.pending = append(n.pending, &abandoned{node: l.ID, lastSeen: l.HeartbeatAt, calls: calls})
	n.mu.Unlock()
	return nil
}

// closePending closes the claimed calls and finishes their recordings;
// what fails stays pending for the next round.
func (n *Node) closePending(ctx context.Context) {
	n.mu.Lock()
	work := n.pending
	n.pending = nil
	n.mu.Unlock()
	var keep []*abandoned
	for _, a := range work {
		if err := n.closeAbandoned(ctx, a); err != nil {
			n.log.Error("cluster: closing a lost node's calls failed; retrying next round", slog.String("lost", a.node),
				slog.Any("error", err))
			keep = append(keep, a)
		}
	}
	if len(keep) > 0 {
		n.mu.Lock()
		n.pending = append(n.pending, keep...)
		n.mu.Unlock()
	}
}

func (n *Node) closeAbandoned(ctx context.Context, a *abandoned) error {
	// On a retry some calls may be closed already: close only those still
	// unfinished, so none is charged or reported twice.
	open := make([]*voice.Call, 0, len(a.calls))
	for _, c := range a.calls {
		cur, err := n.cfg.Store.Call(ctx, voice.Scope{}, c.ID)
		if err != nil {
			return err
		}
		if !voice.CallEnded(cur.Status) {
			open = append(open, cur)
		}
	}
	if len(open) > 0 {
		closed, err := n.cfg.Close(ctx, open, a.lastSeen)
		if err != nil {
			return fmt.Errorf("close calls of lost node %s: %w", a.node, err)
		}
		n.log.Warn("cluster: closed calls of a lost node", slog.String("lost", a.node), slog.Int("calls", closed))
	}
	if n.cfg.Recordings == nil {
		return nil
	}
	ids := make([]string, len(a.calls))
	for i, c := range a.calls {
		ids[i] = c.ID
	}
	done, failed, err := recording.Recover(ctx, lostRecordings{DB: n.cfg.Store, calls: ids}, n.cfg.Recordings, n.cfg.Now())
	if done+failed > 0 {
		n.log.Warn("cluster: closed recordings of a lost node", slog.String("lost", a.node), slog.Int("completed", done),
			slog.Int("failed", failed))
	}
	if err != nil {
		return fmt.Errorf("recordings of lost node %s: %w", a.node, err)
	}
	return nil
}

// lostRecordings is the store seen by recording.Recover, narrowed to the
// recordings of one lost node's calls: the other nodes' recordings in
// progress are live.
type lostRecordings struct {
	*store.DB
	calls []string
}

// UnfinishedRecordings returns the lost calls' recordings in progress.
func (l lostRecordings) UnfinishedRecordings(ctx context.Context) ([]*voice.Recording, error) {
	return l.UnfinishedRecordingsOfCalls(ctx, l.calls)
}

// prune deletes old node and command rows, at most once an hour.
func (n *Node) prune(ctx context.Context, now time.Time) {
	n.mu.Lock()
	due := now.Sub(n.lastPrune) >= time.Hour
	if due {
		n.lastPrune = now
	}
	n.mu.Unlock()
	if !due {
		return
	}
	if _, err := n.cfg.Store.PruneNodes(ctx, now.Add(-pruneAfter)); err != nil {
		n.log.Warn("cluster: prune nodes", slog.Any("error", err))
	}
	if _, err := n.cfg.Store.PruneNodeCommands(ctx, now.Add(-pruneAfter)); err != nil {
		n.log.Warn("cluster: prune node commands", slog.Any("error", err))
	}
}
