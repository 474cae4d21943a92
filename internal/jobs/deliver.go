package jobs

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/minivoice/minivoice/internal/delivery"
	"github.com/minivoice/minivoice/internal/publicmsg"
	"github.com/minivoice/minivoice/internal/store"
	"github.com/minivoice/minivoice/internal/voice"
	pub "github.com/minivoice/minivoice/webhook"
	"github.com/riverqueue/river"
	"github.com/riverqueue/river/rivertype"
)

// Timings of the delivery worker.
const (
	// orderWait is how long a delivery waits in the process for the call's
	// earlier event to finish its attempt before giving its slot back.
	orderWait = 2 * time.Second
	// orderPoll is how often a waiting delivery rechecks the database (the
	// earlier event may be delivered by another process).
	orderPoll = 100 * time.Millisecond
	// staleAfter: an earlier event whose attempt is this overdue has lost its
	// job (or waits behind a dead receiver) and no longer holds later ones.
	staleAfter = time.Hour
	// gateSlowAfter and gateMaxWait: a delivery waits up to gateMaxWait for
	// a slot of its host, unless the host's oldest request in flight is
	// older than gateSlowAfter (a slow receiver): then it steps aside.
	gateSlowAfter = 500 * time.Millisecond
	gateMaxWait   = time.Second
	// maxRetryAfter caps a receiver's Retry-After.
	maxRetryAfter = 24 * time.Hour
)

// DeliverArgs is a webhook delivery job: deliver event EventID in its
// delivery round Round.
type DeliverArgs struct {
	EventID string `json:"event_id"`
	Round   int    `json:"round,omitempty"`
}

// Kind names the job kind in River's table.
func (DeliverArgs) Kind() string { return "webhook_delivery" }

type deliverWorker struct {
	river.WorkerDefaults[DeliverArgs]
	q *Queue
}

func (w *deliverWorker) Timeout(*river.Job[DeliverArgs]) time.Duration { return w.q.jobTimeout }

func (w *deliverWorker) Work(ctx context.Context, job *river.Job[DeliverArgs]) error {
	return w.q.deliver(ctx, job)
}

// Results counted in minivoice_webhook_attempts_total{result}.
const (
	resultDelivered   = "delivered"
	resultHTTPError   = "http_error"
	resultUnreachable = "unreachable"
	resultGone        = "gone"
)

// deliver runs one step of an event's delivery: an attempt, or standing
// aside (snoozed) while the call's earlier event or the receiver's host is
// busy. A failed attempt snoozes the job until the next retry is due, so one
// job carries an event through the whole schedule.
func (q *Queue) deliver(ctx context.Context, job *river.Job[DeliverArgs]) error {
	args := job.Args
	ev, err := q.store.DeliveryEvent(ctx, args.EventID)
	if voice.IsNotFound(err) {
		return nil
	}
	if err != nil {
		return err
	}
	if ev.DeliveryRound != args.Round {
		return nil // redelivered meanwhile: that round's job carries on
	}
	if ev.DeliveryStatus != voice.DeliveryPending && ev.DeliveryStatus != voice.DeliveryRetrying {
		return nil // final already (a duplicate job, or a 410 swept it)
	}
	app, err := q.store.Application(ctx, voice.Scope{}, ev.ApplicationID)
	if err != nil && !voice.IsNotFound(err) {
		return err
	}
	if err != nil || app.WebhookURL == "" || app.WebhookStatus == voice.WebhookDisabled {
		// Deleted, without a webhook URL now, or disabled by a 410: not sent.
		err := q.store.UpdateDelivery(ctx, store.DeliveryUpdate{EventID: ev.ID, Round: ev.DeliveryRound, Status: voice.DeliveryDisabled})
		q.signals.wake(orderKey(ev))
		if err == nil {
			q.releaseFollowers(ctx, ev)
		}
		return err
	}
	if wait, err := q.waitTurn(ctx, ev); err != nil || wait > 0 {
		if err != nil {
			return err
		}
		return river.JobSnooze(wait)
	}
	release, ok := q.gate.acquire(ctx, hostOf(app.WebhookURL))
	if !ok {
		if err := ctx.Err(); err != nil {
			return err
		}
		return river.JobSnooze(busyDelay(job))
	}
	body, err := q.body(ctx, ev)
	if err != nil {
		release()
		return err
	}
	start := q.now()
	res := q.sender.Send(ctx, delivery.Delivery{URL: app.WebhookURL, ID: ev.ID, Secrets: secrets(app, start), Body: body,
		Timeout: q.cfg.Timeout})
	release()

	att := voice.Attempt{At: time.UnixMilli(start.UnixMilli()).UTC(), URL: app.WebhookURL, HTTPStatus: res.HTTPStatus,
		LatencyMS: res.Latency.Milliseconds(), Response: res.Response}
	u := store.DeliveryUpdate{EventID: ev.ID, Round: ev.DeliveryRound, Attempt: &att}
	var result string
	var retryIn time.Duration
	switch {
	case res.OK():
		u.Status, result = voice.DeliveryDelivered, resultDelivered
	case res.Err == nil && res.HTTPStatus == http.StatusGone:
		att.Error = "receiver answered 410 Gone: the application's webhook is now disabled"
		u.Status, u.DisableWebhook, result = voice.DeliveryDisabled, true, resultGone
	default:
		if res.Err != nil {
			att.Error, result = attemptError(res.Err), resultUnreachable
		} else {
			att.Error, result = fmt.Sprintf("receiver answered HTTP %d", res.HTTPStatus), resultHTTPError
		}
		failures := ev.RoundAttempts + 1
		if failures > len(q.cfg.RetrySchedule) {
			u.Status = voice.DeliveryExhausted
			break
		}
		retryIn = jitter(q.cfg.RetrySchedule[failures-1])
		if ra := min(res.RetryAfter, maxRetryAfter); ra > retryIn {
			retryIn = ra
		}
		next := time.UnixMilli(q.now().Add(retryIn).UnixMilli()).UTC()
		u.Status, u.NextAttemptAt = voice.DeliveryRetrying, &next
	}
	if q.metrics != nil {
		q.metrics.WebhookResults.WithLabelValues(result).Inc()
	}
	// The attempt happened: log it even when the worker is being stopped.
	wctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
	defer cancel()
	if err := q.store.UpdateDelivery(wctx, u); err != nil {
		return fmt.Errorf("record attempt of %s: %w", ev.ID, err)
	}
	q.signals.wake(orderKey(ev))
	if u.Status != voice.DeliveryRetrying {
		q.releaseFollowers(wctx, ev)
	}
	// The full cause (resolved address, resolver) is the operator's to see.
	var cause string
	if res.Err != nil {
		cause = withoutURL(res.Err).Error()
	}
	level := slog.LevelDebug
	if u.Status == voice.DeliveryExhausted || u.Status == voice.DeliveryDisabled {
		level = slog.LevelWarn
	}
	q.log.Log(ctx, level, "webhook attempt", slog.String("event_id", ev.ID), slog.String("event", string(ev.Event)),
		slog.String("application_id", ev.ApplicationID), slog.Int("http_status", res.HTTPStatus),
		slog.String("error", att.Error), slog.String("cause", cause), slog.String("delivery_status", u.Status), slog.Duration("retry_in", retryIn))
	if u.Status == voice.DeliveryRetrying {
		return river.JobSnooze(retryIn)
	}
	return nil
}

// waitTurn keeps a call's webhooks in order per application: while an
// earlier event of the call is still pending or retrying, this one waits.
// It returns 0 when ev may go now, or how long to snooze: until the earlier
// event's retry when that is far off; a short while when its attempt is under
// way elsewhere or overdue. An exhausted or disabled event holds nothing, nor
// one overdue by more than staleAfter.
func (q *Queue) waitTurn(ctx context.Context, ev *voice.Event) (time.Duration, error) {
	if ev.CallID == nil {
		return 0, nil
	}
	key := orderKey(ev)
	deadline := time.Now().Add(orderWait)
	for {
		woken, done := q.signals.wait(key)
		now := q.now()
		b, err := q.store.DeliveryBlocker(ctx, ev, now.Add(-staleAfter))
		if err != nil || b == nil {
			done()
			return 0, err
		}
		if b.NextAttemptAt != nil && b.NextAttemptAt.Sub(now) > orderWait {
			done()
			return b.NextAttemptAt.Sub(now) + 250*time.Millisecond, nil
		}
		if time.Now().After(deadline) {
			done()
			overdue := time.Duration(0)
			if b.NextAttemptAt != nil {
				overdue = now.Sub(*b.NextAttemptAt)
			}
			return min(max(overdue/2, time.Second), 30*time.Second), nil
		}
		t := time.NewTimer(orderPoll)
		select {
		case <-woken:
		case <-t.C:
		case <-ctx.Done():
		}
		t.Stop()
		done()
		if err := ctx.Err(); err != nil {
			return 0, err
		}
	}
}

// releaseFollowers makes the jobs of the events waiting behind a redelivered
// event, now final, due at once. A later event of the call whose job found
// the earlier one retrying was put back until that retry (minutes or hours
// away); a redelivery settles the earlier event sooner, and the later ones
// should not sit out the old schedule. Only redelivered events (round > 0)
// look: the automatic schedule's retries are what the waiting jobs were put
// back for, so they come due on their own then. Waiters in this process are
// woken by signals; this reaches the ones put back in the database, for any
// process. Failures are logged: the jobs still come due on their own.
func (q *Queue) releaseFollowers(ctx context.Context, ev *voice.Event) {
	if ev.DeliveryRound == 0 || ev.CallID == nil {
		return
	}
	if err := q.release(ctx, ev); err != nil {
		q.log.Warn("release the webhooks waiting behind a redelivered event", slog.String("event_id", ev.ID),
			slog.String("error", err.Error()))
	}
}

func (q *Queue) release(ctx context.Context, ev *voice.Event) error {
	ids, err := q.store.DeliveryFollowers(ctx, ev)
	if err != nil || len(ids) == 0 {
		return err
	}
	// args ->> 'event_id' reads the job's event on both PostgreSQL (jsonb)
	// and SQLite (JSONB blob, where a bare label is an object key).
	var conds []string
	named := river.NamedArgs{}
	for i, id := range ids {
		name := fmt.Sprintf("event_%d", i)
		conds = append(conds, "args ->> 'event_id' = @"+name)
		named[name] = id
	}
	params := river.NewJobListParams().Kinds(DeliverArgs{}.Kind()).Queues(QueueWebhooks).
		States(rivertype.JobStateScheduled, rivertype.JobStateRetryable).
		Where("("+strings.Join(conds, " OR ")+")", named).First(len(ids) * 4)
	res, err := q.client.JobList(ctx, params)
	if err != nil {
		return fmt.Errorf("list the waiting jobs: %w", err)
	}
	for _, job := range res.Jobs {
		if _, err := q.client.JobRetry(ctx, job.ID); err != nil {
			return fmt.Errorf("release job %d: %w", job.ID, err)
		}
	}
	return nil
}

func orderKey(ev *voice.Event) string {
	if ev.CallID == nil {
		return ""
	}
	return ev.ApplicationID + "/" + *ev.CallID
}

// busyDelay is how long a delivery whose host is busy stands aside: half a
// second, doubling with each time it did so, up to 30 s, with jitter.
func busyDelay(job *river.Job[DeliverArgs]) time.Duration {
	var md struct {
		Snoozes int `json:"snoozes"`
	}
	_ = json.Unmarshal(job.Metadata, &md)
	return jitter(min(500*time.Millisecond<<min(md.Snoozes, 6), 30*time.Second))
}

// body is the webhook's JSON: the event with the call as it was when the
// event was written.
func (q *Queue) body(ctx context.Context, ev *voice.Event) ([]byte, error) {
	snap := ev.Call
	if snap == nil && ev.CallID != nil {
		// Events written before snapshots existed: the call as it is now.
		c, err := q.store.Call(ctx, voice.Scope{}, *ev.CallID)
		if err != nil && !voice.IsNotFound(err) {
			return nil, err
		}
		if c != nil {
			if snap, err = store.CallSnapshot(c); err != nil {
				return nil, err
			}
		}
	}
	var call struct {
		Variables map[string]string `json:"variables"`
	}
	if snap != nil {
		if err := json.Unmarshal(snap, &call); err != nil {
			return nil, fmt.Errorf("event %s: call snapshot: %w", ev.ID, err)
		}
	}
	if call.Variables == nil {
		call.Variables = map[string]string{}
	}
	data := ev.Data
	if len(data) == 0 {
		data = json.RawMessage(`{}`)
	}
	b, err := json.Marshal(pub.Payload{ID: ev.ID, Event: string(ev.Event), CreatedAt: ev.CreatedAt.UTC(), Call: snap,
		Variables: call.Variables, Data: data})
	if err != nil {
		return nil, fmt.Errorf("event %s: body: %w", ev.ID, err)
	}
	return b, nil
}

// secrets are the secrets signing now: the application's, and during a
// rotation the previous one too.
func secrets(app *voice.Application, now time.Time) []string {
	s := []string{app.WebhookSecret}
	if app.PreviousWebhookSecret != "" && app.PreviousSecretExpiresAt != nil && now.Before(*app.PreviousSecretExpiresAt) {
		s = append(s, app.PreviousWebhookSecret)
	}
	return s
}

// hostOf is the gate key of a webhook URL: its host and port.
func hostOf(raw string) string {
	u, err := url.Parse(raw)
	if err != nil {
		return raw
	}
	return strings.ToLower(u.Host)
}

// attemptError says why an attempt got no answer, without Go's wrapping
// noise. It is the attempt's error customers read (GET /v1/calls/{id}/events,
// the console), so it is publicmsg's text: the kind of failure, never the
// address the receiver's name resolved to, the resolver's, or a path.
func attemptError(err error) string {
	err = withoutURL(err)
	if errors.Is(err, context.Canceled) {
		return "canceled: the server was shutting down"
	}
	return publicmsg.Text(err)
}

// withoutURL drops the request line Go's client puts in front of a transport
// error: the URL is recorded on its own, and its query is the customer's.
func withoutURL(err error) error {
	var ue *url.Error
	if errors.As(err, &ue) {
		return ue.Err
	}
	return err
}
