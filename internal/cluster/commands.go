package cluster

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/minivoice/minivoice/internal/billing"
	"github.com/minivoice/minivoice/internal/callctl"
	"github.com/minivoice/minivoice/internal/store"
	"github.com/minivoice/minivoice/internal/voice"
)

// Local is what runs on the calls live in this process: the SIP engine.
type Local interface {
	// Accepting is false while the engine drains for shutdown.
	Accepting() bool
	PlaceCall(c *voice.Call, t *billing.Ticket)
	HasTrunk(ctx context.Context, customerID string) (bool, error)
	// Hangup hangs the live call up (source api); false: not live here.
	Hangup(callID string) bool
	// ReplaceActions runs actions on the live call instead of what it
	// does; false: not live (or not in progress) here.
	ReplaceActions(ctx context.Context, callID string, actions []callctl.Action) bool
}

// maxRunning bounds the commands from other nodes run at once; more wait
// for a slot (each is quick: a hang-up is a signal, new actions a hand-over).
const maxRunning = 32

// commandState is the command side of a Node: who waits for which answer.
type commandState struct {
	mu      sync.Mutex
	waiters map[string]chan struct{}
	slots   chan struct{}
	// rates holds a pending rate reload (Config.RatesChanged).
	rates chan struct{}
	// running counts command goroutines, so Stop waits for them.
	running sync.WaitGroup
}

func (c *commandState) init() {
	c.waiters = map[string]chan struct{}{}
	c.slots = make(chan struct{}, maxRunning)
	c.rates = make(chan struct{}, 1)
}

// channel is the NOTIFY channel of node id: a hash, since channel names are
// identifiers of at most 63 bytes and ids are free text.
func channel(id string) string {
	h := sha256.Sum256([]byte(id))
	return "minivoice_node_" + hex.EncodeToString(h[:12])
}

// Notification payloads: a command for the listener's node to run, or the
// answer to one it sent.
const (
	payloadCommand = "c:"
	payloadReply   = "r:"
)

// listen holds a connection LISTENing on this node's channel until ctx
// ends, reconnecting after a failure; listening is closed the first time
// the LISTEN is in place.
func (n *Node) listen(ctx context.Context, listening chan struct{}) {
	var once sync.Once
	ready := func() { once.Do(func() { close(listening) }) }
	defer n.cmd.running.Wait()
	if n.cfg.RatesChanged != nil {
		n.cmd.running.Add(1)
		go func() {
			defer n.cmd.running.Done()
			n.reloadRates(ctx)
		}()
	}
	for {
		err := n.listenOnce(ctx, ready)
		if ctx.Err() != nil {
			return
		}
		n.log.Warn("cluster: command listener lost its connection; reconnecting", slog.Any("error", err))
		select {
		case <-ctx.Done():
			return
		case <-time.After(time.Second):
		}
	}
}

func (n *Node) listenOnce(ctx context.Context, ready func()) error {
	conn, err := pgx.Connect(ctx, n.cfg.DatabaseURL)
	if err != nil {
		return fmt.Errorf("connect: %w", err)
	}
	defer conn.Close(context.WithoutCancel(ctx))
	if _, err := conn.Exec(ctx, "LISTEN "+pgx.Identifier{channel(n.cfg.ID)}.Sanitize()); err != nil {
		return fmt.Errorf("listen: %w", err)
	}
	if n.cfg.RatesChanged != nil {
		if _, err := conn.Exec(ctx, "LISTEN "+pgx.Identifier{store.RatesChannel}.Sanitize()); err != nil {
			return fmt.Errorf("listen: %w", err)
		}
		// Rates written while no connection listened went unannounced.
		n.ratesDirty()
	}
	ready()
	// Commands sent while the connection was down have rows but no
	// notification here; the senders wait CommandTimeout at most, so only
	// that recent past matters.
	pending, err := n.cfg.Store.PendingNodeCommands(ctx, n.cfg.ID, n.cfg.Now().Add(-n.cfg.CommandTimeout))
	if err != nil {
		return err
	}
	for _, c := range pending {
		n.dispatch(ctx, payloadCommand+c.ID)
	}
	for {
		note, err := conn.WaitForNotification(ctx)
		if err != nil {
			return err
		}
		if note.Channel == store.RatesChannel {
			n.ratesDirty()
			continue
		}
		n.dispatch(ctx, note.Payload)
	}
}

// ratesDirty asks for a reload of the rate index; requests that come while
// one is pending are folded into it (a deck import is one notification per
// write, the index is rebuilt once).
func (n *Node) ratesDirty() {
	select {
	case n.cmd.rates <- struct{}{}:
	default:
	}
}

// reloadRates reloads the rate index when asked, until ctx ends.
func (n *Node) reloadRates(ctx context.Context) {
	for {
		select {
		case <-ctx.Done():
			return
		case <-n.cmd.rates:
		}
		if err := n.cfg.RatesChanged(ctx); err != nil && ctx.Err() == nil {
			n.log.Error("cluster: reload rates written by another node", slog.Any("error", err))
		}
	}
}

// dispatch acts on one notification.
func (n *Node) dispatch(ctx context.Context, payload string) {
	switch {
	case strings.HasPrefix(payload, payloadReply):
		n.cmd.mu.Lock()
		w := n.cmd.waiters[strings.TrimPrefix(payload, payloadReply)]
		n.cmd.mu.Unlock()
		if w != nil {
			select {
			case w <- struct{}{}:
			default:
			}
		}
	case strings.HasPrefix(payload, payloadCommand):
		select {
		case n.cmd.slots <- struct{}{}:
		case <-ctx.Done():
			return
		}
		n.cmd.running.Add(1)
		go func() {
			defer n.cmd.running.Done()
			defer func() { <-n.cmd.slots }()
			n.run(ctx, strings.TrimPrefix(payload, payloadCommand))
		}()
	}
}

// run executes command id on the local engine and answers the sender.
func (n *Node) run(ctx context.Context, id string) {
	ctx, cancel := context.WithTimeout(ctx, n.cfg.CommandTimeout)
	defer cancel()
	c, err := n.cfg.Store.GetNodeCommand(ctx, id)
	if err != nil {
		n.log.Warn("cluster: read command", slog.String("command", id), slog.Any("error", err))
		return
	}
	if c.DoneAt != nil || c.NodeID != n.cfg.ID {
		return
	}
	ok := false
	if l := n.cfg.Local; l != nil {
		switch c.Kind {
		case store.NodeCommandHangup:
			ok = l.Hangup(c.CallID)
		case store.NodeCommandActions:
			// The sender validated the list; parsed again here from the
			// client's own JSON, which is what the list is defined by.
			if list, err := callctl.Parse(c.Actions); err == nil {
				ok = l.ReplaceActions(ctx, c.CallID, list)
			} else {
				n.log.Warn("cluster: command with unreadable actions", slog.String("command", id), slog.Any("error", err))
			}
		}
	}
	if _, err := n.cfg.Store.FinishNodeCommand(ctx, id, ok, n.cfg.Now(), channel(c.ReplyTo), payloadReply+id); err != nil {
		n.log.Warn("cluster: answer command", slog.String("command", id), slog.Any("error", err))
	}
}

// send runs a command on the node owner that holds callID and returns its
// answer: whether the call was live there and took it. An owner whose
// lease ran out, or that does not answer within CommandTimeout, is
// node_unavailable.
func (n *Node) send(ctx context.Context, owner, callID, kind string, actions []byte) (bool, error) {
	st := n.cfg.Store
	now := n.cfg.Now()
	node, err := st.GetNode(ctx, owner)
	var ve *voice.Error
	if errors.As(err, &ve) && ve.Code == voice.ECodeNotFound {
		return false, n.unavailable(callID, owner)
	}
	if err != nil {
		return false, err
	}
	if !node.Live(now) {
		return false, n.unavailable(callID, owner)
	}
	id := voice.NewID("ncmd", now)
	wake := make(chan struct{}, 1)
	n.cmd.mu.Lock()
	n.cmd.waiters[id] = wake
	n.cmd.mu.Unlock()
	defer func() {
		n.cmd.mu.Lock()
		delete(n.cmd.waiters, id)
		n.cmd.mu.Unlock()
	}()
	cmd := &store.NodeCommand{ID: id, NodeID: owner, ReplyTo: n.cfg.ID, CallID: callID, Kind: kind, Actions: actions, CreatedAt: now}
	if err := st.CreateNodeCommand(ctx, cmd, channel(owner), payloadCommand+id); err != nil {
		return false, err
	}
	timer := time.NewTimer(n.cfg.CommandTimeout)
	defer timer.Stop()
	select {
	case <-wake:
	case <-timer.C:
	case <-ctx.Done():
		return false, ctx.Err()
	}
	// The row is the answer; the notification only says when to look (a
	// missed one costs the wait, not the answer).
	bg := context.WithoutCancel(ctx)
	got, err := st.GetNodeCommand(bg, id)
	if err != nil {
		return false, err
	}
	if got.DoneAt == nil {
		// Withdraw it, so that an owner catching up later does not run a
		// command the client was told failed. If the owner answered in
		// the meantime, its answer stands.
		withdrawn, err := st.FinishNodeCommand(bg, id, false, n.cfg.Now(), "", "")
		if err != nil {
			return false, err
		}
		if !withdrawn {
			if got, err = st.GetNodeCommand(bg, id); err != nil {
				return false, err
			}
			return got.OK, nil
		}
		e := voice.Errorf(voice.ECodeNodeUnavailable, "call %s is held by node %s, which did not answer within %s; retry, "+
			"and if the node is gone a surviving node closes the call within %s (hangup_cause node_lost)",
			callID, owner, n.cfg.CommandTimeout, n.cfg.Lease)
		e.RetryAfter = 1
		return false, e
	}
	return got.OK, nil
}

func (n *Node) unavailable(callID, owner string) error {
	e := voice.Errorf(voice.ECodeNodeUnavailable, "call %s is held by node %s, which is gone (its lease ran out); a surviving "+
		"node closes the call within %s (hangup_cause node_lost)", callID, owner, n.cfg.Lease)
	e.RetryAfter = int((n.cfg.Lease + time.Second - 1) / time.Second)
	return e
}

// Controller is the API's view of live calls across the cluster: a command
// on a call held by this process goes to the local engine, one held by
// another node goes to that node. Without a Node (SQLite) everything is
// local.
type Controller struct {
	local Local
	node  *Node
}

// NewController wraps the local engine; node may be nil.
func NewController(local Local, node *Node) *Controller { return &Controller{local: local, node: node} }

// Accepting reports whether the local engine takes new calls.
func (c *Controller) Accepting() bool { return c.local.Accepting() }

// PlaceCall places c from this node (which holds it: the store wrote this
// node's id into its row).
func (c *Controller) PlaceCall(call *voice.Call, t *billing.Ticket) { c.local.PlaceCall(call, t) }

// HasTrunk reports whether the customer has a trunk for outbound calls.
func (c *Controller) HasTrunk(ctx context.Context, customerID string) (bool, error) {
	return c.local.HasTrunk(ctx, customerID)
}

// Hangup hangs call up wherever it is live. False with no error: it is live
// nowhere (queued and never placed, or left by a process that stopped), and
// the caller closes it.
func (c *Controller) Hangup(ctx context.Context, call *voice.Call) (bool, error) {
	if c.local.Hangup(call.ID) {
		return true, nil
	}
	owner, err := c.owner(ctx, call)
	if owner == "" || err != nil {
		return false, err
	}
	return c.node.send(ctx, owner, call.ID, store.NodeCommandHangup, nil)
}

// ReplaceActions runs actions (raw is the client's JSON for them) on call
// wherever it is live. False with no error: it is not in progress anywhere.
func (c *Controller) ReplaceActions(ctx context.Context, call *voice.Call, actions []callctl.Action, raw json.RawMessage) (bool, error) {
	if c.local.ReplaceActions(ctx, call.ID, actions) {
		return true, nil
	}
	owner, err := c.owner(ctx, call)
	if owner == "" || err != nil {
		return false, err
	}
	return c.node.send(ctx, owner, call.ID, store.NodeCommandActions, raw)
}

// owner is the other node holding call, "" when it is this one or none.
func (c *Controller) owner(ctx context.Context, call *voice.Call) (string, error) {
	if c.node == nil {
		return "", nil
	}
	owner, err := c.node.cfg.Store.CallNode(ctx, call.ID)
	if err != nil || owner == c.node.cfg.ID {
		return "", err
	}
	return owner, nil
}
