package recording

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"time"

	"github.com/minivoice/minivoice/internal/media"
	"github.com/minivoice/minivoice/internal/voice"
)

// Recording event types (webhooks.md).
const (
	EventCompleted = voice.EventRecordingCompleted
	EventFailed    = voice.EventRecordingFailed
)

// CodeRecordingLost is the recording.failed code for a recording whose file
// did not survive (missing, or not even a WAV header).
const CodeRecordingLost = "recording_lost"

// RecoverStore is what Recover needs from storage.
type RecoverStore interface {
	UnfinishedRecordings(ctx context.Context) ([]*voice.Recording, error)
	UpdateRecordingWithEvents(ctx context.Context, r *voice.Recording, events ...*voice.Event) error
}

// applicationGetter is the optional part of a RecoverStore: with it, Recover
// decides each event's webhook delivery as the call engine does.
type applicationGetter interface {
	Application(ctx context.Context, scope voice.Scope, id string) (*voice.Application, error)
}

// Recover closes recordings a crashed process left in progress. Each file's
// header is repaired (media.RepairWAV) and the recording is marked completed
// with the file's real duration, size and SHA-256 and a recording.completed
// event. A missing file, or one without even a WAV header (deleted, as it
// holds no audio), marks the recording failed with a recording.failed event
// (code recording_lost). ended_at is now: when the recording was closed, as
// for calls recovered at the same start-up.
//
// Any other error on a file (permissions, I/O) leaves that recording in
// progress for the next start rather than declaring audio lost that may well
// be intact; such errors are joined into err while the rest are still
// recovered. A store error stops the run.
//
// If st also has the store's Application(ctx, scope, id) method, each event's
// delivery status follows the application's webhook settings, like the call
// engine's events (DeliveryStatus); otherwise events are left pending.
//
// Run it at start-up before the engine records anything, and only where this
// process is the only one using the database, for the same reason as the
// engine's call recovery: another process's live recordings look unfinished.
func Recover(ctx context.Context, st RecoverStore, blobs BlobStore, now time.Time) (completed, failed int, err error) {
	recs, err := st.UnfinishedRecordings(ctx)
	if err != nil {
		return 0, 0, fmt.Errorf("recording: recover: %w", err)
	}
	apps := map[string]*voice.Application{}
	// appOf is the recording's application for the subscription rule.
	g, appsKnown := st.(applicationGetter)
	appOf := func(r *voice.Recording) *voice.Application {
		if !appsKnown {
			return nil
		}
		app, seen := apps[r.ApplicationID]
		if !seen {
			if a, err := g.Application(ctx, voice.Scope{}, r.ApplicationID); err == nil {
				app = a
			}
			apps[r.ApplicationID] = app
		}
		return app
	}
	var fileErrs []error
	for _, r := range recs {
		if err := ctx.Err(); err != nil {
			return completed, failed, err
		}
		res, lost, ferr := repairFile(blobs, r.StorageKey)
		var ev *voice.Event
		switch {
		case lost != "":
			r.Status, r.Error, r.EndedAt, r.UpdatedAt = voice.RecordingFailed, lost, &now, now
			ev = FailedEvent(appOf(r), r, CodeRecordingLost, lost, now)
		case ferr != nil:
			fileErrs = append(fileErrs, fmt.Errorf("recording %s: %w", r.ID, ferr))
			continue
		default:
			Finish(r, res, now)
			ev = CompletedEvent(appOf(r), r, now)
		}
		if !appsKnown {
			ev.DeliveryStatus = voice.DeliveryPending // a store that cannot say: deliver
		}
		if err := st.UpdateRecordingWithEvents(ctx, r, ev); err != nil {
			return completed, failed, fmt.Errorf("recording: recover %s: %w", r.ID, err)
		}
		if r.Status == voice.RecordingCompleted {
			completed++
		} else {
			failed++
		}
	}
	return completed, failed, errors.Join(fileErrs...)
}

// repairFile repairs and measures the file at key. lost says why the audio is
// gone for good; err is a failure that may be temporary.
func repairFile(blobs BlobStore, key string) (res Result, lost string, err error) {
	if err := CheckKey(key); err != nil {
		return Result{}, "recording file has no valid storage key", nil
	}
	path := blobs.Path(key)
	if path == "" {
		return Result{}, "recording file has no local path", nil
	}
	if err := media.RepairWAV(path); err != nil {
		switch {
		case errors.Is(err, fs.ErrNotExist):
			return Result{}, "recording file is missing", nil
		case errors.Is(err, media.ErrMalformedWAV):
			// Not even a header made it to disk: there is no audio to keep.
			_ = blobs.Remove(key)
			return Result{}, "recording file holds no audio", nil
		}
		return Result{}, "", err
	}
	f, err := blobs.Open(key)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return Result{}, "recording file is missing", nil
		}
		return Result{}, "", err
	}
	defer f.Close()
	res, err = fileResult(f)
	if errors.Is(err, media.ErrMalformedWAV) {
		return Result{}, "recording file is unreadable", nil
	}
	return res, "", err
}

// CompletedEvent is the recording.completed event for r, whose data is the
// recording object, delivered by app's subscription (app may be nil).
func CompletedEvent(app *voice.Application, r *voice.Recording, now time.Time) *voice.Event {
	return voice.NewEvent(app, EventCompleted, subject(r), r, now)
}

// FailedEvent is the recording.failed event for r, with data
// {recording_id, code, message}, delivered by app's subscription.
func FailedEvent(app *voice.Application, r *voice.Recording, code, message string, now time.Time) *voice.Event {
	return voice.NewEvent(app, EventFailed, subject(r), struct {
		RecordingID string `json:"recording_id"`
		Code        string `json:"code"`
		Message     string `json:"message"`
	}{r.ID, code, message}, now)
}

func subject(r *voice.Recording) voice.EventSubject {
	return voice.EventSubject{CustomerID: r.CustomerID, ApplicationID: r.ApplicationID, CallID: r.CallID}
}
