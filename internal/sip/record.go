package sip

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"sync/atomic"
	"time"

	"github.com/minivoice/minivoice/internal/callctl"
	"github.com/minivoice/minivoice/internal/media"
	"github.com/minivoice/minivoice/internal/publicmsg"
	"github.com/minivoice/minivoice/internal/recording"
	"github.com/minivoice/minivoice/internal/voice"
)

// speechDBFS is the level above which a received frame counts as the caller
// speaking, for the record action's silence_timeout. Line noise and G.711's
// idle pattern sit far below it; quiet speech is above.
const speechDBFS = -45

// activeRecording is a recording being written.
type activeRecording struct {
	obj *voice.Recording
	w   *recording.Recorder
}

// startRecording makes a Recording (in-progress, listed on the call at once)
// and its file.
func (e *Engine) startRecording(ctx context.Context, rec *callRecord, source, channels string, rate int) (*activeRecording, error) {
	if e.blobs == nil {
		return nil, errors.New("recordings are not configured on this server")
	}
	now := e.clock()
	c := rec.snapshot()
	r := &voice.Recording{ID: voice.NewID(voice.PrefixRecording, now), CallID: c.ID, CustomerID: c.CustomerID,
		ApplicationID: c.ApplicationID, Status: voice.RecordingInProgress, Source: source, Channels: channels,
		SampleRate: rate, StartedAt: now, CreatedAt: now, UpdatedAt: now}
	r.StorageKey = recording.Key(c.CustomerID, r.ID)
	r.MediaURL = "/v1/recordings/" + r.ID + "/media"
	f, err := e.blobs.Create(r.StorageKey)
	if err != nil {
		return nil, fmt.Errorf("recording file: %w", err)
	}
	w, err := recording.NewRecorder(recording.Config{File: f, Rate: rate, Channels: channels})
	if err != nil {
		_ = f.Close()
		_ = e.blobs.Remove(r.StorageKey)
		return nil, fmt.Errorf("recorder: %w", err)
	}
	if err := e.store.CreateRecording(context.WithoutCancel(ctx), r); err != nil {
		_, _ = w.Close()
		_ = e.blobs.Remove(r.StorageKey)
		return nil, fmt.Errorf("recording row: %w", err)
	}
	_ = rec.addRecording(ctx, r.ID)
	return &activeRecording{obj: r, w: w}, nil
}

// finishRecording closes the file and records recording.completed, or
// recording.failed when the file could not be finished.
func (e *Engine) finishRecording(ctx context.Context, rec *callRecord, ar *activeRecording) {
	res, err := ar.w.Close()
	r := ar.obj
	r.Speech = ar.w.Notes()
	now := e.clock()
	var ev *voice.Event
	if err != nil {
		// The recording's error and event are the customer's to read: a
		// write error names the file under the data directory, so they get
		// publicmsg's text and the log the whole error.
		e.log.Error("recording failed", slog.String("recording_id", r.ID), slog.Any("error", err))
		msg := publicmsg.Text(err)
		r.Status, r.Error, r.UpdatedAt = voice.RecordingFailed, msg, now
		r.EndedAt = &now
		ev = rec.detachedEvent("recording.failed", map[string]string{"recording_id": r.ID, "code": "recording_failed",
			"message": msg})
	} else {
		recording.Finish(r, res, now)
		ev = rec.detachedEvent("recording.completed", r)
	}
	if err := e.store.UpdateRecordingWithEvents(context.WithoutCancel(ctx), r, ev); err != nil {
		e.log.Error("recording finish", slog.String("recording_id", r.ID), slog.Any("error", err))
	}
}

// startCallRecording starts the whole-call recording (record: true) on an
// answered leg; a failure is logged and the call goes on unrecorded.
func (e *Engine) startCallRecording(ctx context.Context, rec *callRecord, l *leg) *activeRecording {
	c := rec.snapshot()
	if !c.Record {
		return nil
	}
	channels := c.RecordingChannels
	if channels == "" {
		channels = voice.ChannelsDual
	}
	ar, err := e.startRecording(ctx, rec, voice.RecordingSourceCall, channels, l.rate)
	if err != nil {
		e.log.Warn("call recording", slog.String("call_id", c.ID), slog.Any("error", err))
		return nil
	}
	l.addRecorder(ar.w)
	return ar
}

// stopCallRecording finishes a whole-call recording after the leg is gone.
func (e *Engine) stopCallRecording(ctx context.Context, rec *callRecord, l *leg, ar *activeRecording) {
	if ar == nil {
		return
	}
	l.removeRecorder(ar.w)
	e.finishRecording(ctx, rec, ar)
}

// beep is the tone before a voicemail: 1 kHz for 250 ms.
func beep(rate int) []int16 {
	out := make([]int16, rate/4)
	for i := range out {
		out[i] = int16(9000 * math.Sin(2*math.Pi*1000*float64(i)/float64(rate)))
	}
	return out
}

// Record records the caller (voicemail style) until finish_on_key, silence
// for silence_timeout, max_length, or hang-up. In mono the file holds the
// caller alone; in dual the right channel holds what the platform sent
// (silence, since nothing plays while recording).
func (s *session) Record(ctx context.Context, a *callctl.Record) (*callctl.RecordResult, error) {
	l := s.leg
	if a.Beep {
		if err := l.play(ctx, beep(l.rate)); err != nil {
			return nil, err
		}
	}
	l.drainDigits()
	ar, err := s.e.startRecording(ctx, s.rec, voice.RecordingSourceRecordAction, a.Channels, l.rate)
	if err != nil {
		return nil, fmt.Errorf("record: %w", err)
	}
	var lastVoice atomic.Int64
	start := time.Now()
	lastVoice.Store(start.UnixNano())
	threshold := math.Pow(10, speechDBFS/20.0) * 32768
	l.setFarTap(func(pcm []int16) {
		ar.w.WriteFar(pcm)
		if media.RMS(pcm) > threshold {
			lastVoice.Store(time.Now().UnixNano())
		}
	})
	reason := s.recordWait(ctx, a, ar, &lastVoice, start)
	l.setFarTap(nil)
	s.e.finishRecording(ctx, s.rec, ar)
	res := &callctl.RecordResult{RecordingID: ar.obj.ID, Duration: ar.obj.Duration, Reason: reason}
	if reason == callctl.ReasonHangup {
		return res, ctx.Err()
	}
	return res, nil
}

// recordWait sends silence in 20 ms steps until the recording should stop,
// and says why it stopped.
func (s *session) recordWait(ctx context.Context, a *callctl.Record, ar *activeRecording, lastVoice *atomic.Int64, start time.Time) string {
	l := s.leg
	maxEnd := start.Add(time.Duration(a.MaxLength) * time.Second)
	silence := time.Duration(a.SilenceTimeout) * time.Second
	for {
		select {
		case d := <-l.digits:
			if a.FinishOnKey != "" && string(d) == a.FinishOnKey {
				return callctl.ReasonFinishKey
			}
		default:
		}
		if ctx.Err() != nil {
			return callctl.ReasonHangup
		}
		now := time.Now()
		if !now.Before(maxEnd) {
			return callctl.ReasonMaxLength
		}
		if silence > 0 && now.Sub(time.Unix(0, lastVoice.Load())) >= silence {
			return callctl.ReasonSilence
		}
		if err := l.silenceFrame(); err != nil {
			return callctl.ReasonHangup
		}
		if a.Channels == voice.ChannelsDual {
			ar.w.WriteNear(l.zero)
		}
	}
}
