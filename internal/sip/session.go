package sip

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/minivoice/minivoice/internal/callctl"
	"github.com/minivoice/minivoice/internal/media"
	"github.com/minivoice/minivoice/internal/publicmsg"
	"github.com/minivoice/minivoice/internal/voice"
)

// maxPlayBytes bounds a play URL's download: an hour of 16 kHz PCM16 is 115 MB.
const maxPlayBytes = 128 << 20

// session runs call-control actions on one answered call (callctl.Session).
type session struct {
	e   *Engine
	rec *callRecord
	leg *leg
	// keepDigits is set when a key press cut a barge-in prompt short: that
	// press is the caller answering early and belongs to the next gather,
	// which otherwise starts by discarding stale presses.
	keepDigits bool
	// streams are the call's live media streams (stream.go); nil where the
	// session cannot stream.
	streams *callStreams
}

var _ callctl.Session = (*session)(nil)

func (s *session) Say(ctx context.Context, a *callctl.Say) error {
	return s.say(ctx, a, a.BargeIn)
}

func (s *session) say(ctx context.Context, a *callctl.Say, bargeIn bool) error {
	if s.e.speaker == nil {
		return fmt.Errorf("say: no text-to-speech engine configured")
	}
	pcm, err := s.e.speaker.Render(ctx, a.Voice, a.Text, s.leg.rate)
	if err != nil {
		return fmt.Errorf("say: %w", err)
	}
	return s.loop(ctx, pcm.Samples, a.Loop, bargeIn, voice.SpeechNote{Kind: voice.SpeechSay, Text: a.Text, Voice: a.Voice})
}

func (s *session) Play(ctx context.Context, a *callctl.Play) error {
	return s.play(ctx, a, a.BargeIn)
}

func (s *session) play(ctx context.Context, a *callctl.Play, bargeIn bool) error {
	pcm, err := s.e.loadAudio(ctx, a.URL, s.leg.rate)
	if err != nil {
		return publicmsg.Wrap(err, "play "+a.URL)
	}
	return s.loop(ctx, pcm.Samples, a.Loop, bargeIn, voice.SpeechNote{Kind: voice.SpeechPlay, URL: a.URL})
}

// loop plays samples n times; with bargeIn a key press stops it, and the
// press is kept for the next gather. Each time is noted on the leg's
// recordings, so their transcripts state what the platform said.
func (s *session) loop(ctx context.Context, samples []int16, n int, bargeIn bool, note voice.SpeechNote) error {
	var stop <-chan rune
	if bargeIn {
		stop = s.leg.digits
	}
	for i := 0; i < n; i++ {
		end := s.leg.note(note)
		err := s.leg.playUntil(ctx, samples, stop)
		end()
		if errors.Is(err, errBargeIn) {
			s.keepDigits = true
			return nil
		}
		if err != nil {
			return err
		}
	}
	return nil
}

func (s *session) Pause(ctx context.Context, d time.Duration) error { return s.leg.silence(ctx, d) }

func (s *session) SetVariables(ctx context.Context, vars map[string]string) error {
	if len(vars) == 0 {
		return nil
	}
	return s.rec.setVariables(ctx, vars)
}

func (s *session) Event(ctx context.Context, name string, data any) error {
	return s.rec.emit(ctx, voice.EventType(name), data)
}

func (s *session) Fetch(ctx context.Context, url string, result any) ([]callctl.Action, error) {
	snap := s.rec.snapshot()
	res, err := s.e.fetcher.Fetch(ctx, callctl.FetchRequest{URL: url, Method: http.MethodPost, App: s.rec.app, Call: &snap, Result: result})
	if err != nil {
		return nil, err
	}
	return res.Actions, nil
}

// loadAudio fetches a WAV (http(s) through the SSRF guard, or file:// under
// the media dir) and converts it to mono PCM at rate.
func (e *Engine) loadAudio(ctx context.Context, rawURL string, rate int) (*media.PCM, error) {
	if path, ok := strings.CutPrefix(rawURL, "file://"); ok {
		if e.mediaDir == "" {
			return nil, fmt.Errorf("file:// URLs are disabled")
		}
		full := filepath.Join(e.mediaDir, filepath.Clean("/"+path))
		f, err := os.Open(full)
		if err != nil {
			// The customer sees the public text (call.error); the path, which
			// would map the operator's disk, only reaches the log.
			if errors.Is(err, fs.ErrNotExist) {
				return nil, publicmsg.New("the file is not in the media directory", err)
			}
			return nil, publicmsg.New("the file in the media directory could not be read", err)
		}
		defer f.Close()
		return media.DecodeWAV(io.LimitReader(f, maxPlayBytes), rate)
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, rawURL, nil)
	if err != nil {
		return nil, err
	}
	resp, err := e.httpClient.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	if resp.StatusCode/100 != 2 {
		return nil, fmt.Errorf("HTTP %d", resp.StatusCode)
	}
	return media.DecodeWAV(io.LimitReader(resp.Body, maxPlayBytes), rate)
}

// fetchError turns a failed run's error into call.error fields.
func fetchErrorFields(err error) (code, message, url string, status int) {
	if fe, ok := err.(*callctl.FetchError); ok {
		return fe.Code, fe.Message, fe.URL, fe.HTTPStatus
	}
	var le *callctl.LimitError
	if errors.As(err, &le) {
		return callctl.CodeLimitExceeded, le.Message, le.URL, 0
	}
	// Customers read this in call.error: publicmsg keeps local paths and
	// internal addresses out (runActions logs the whole error).
	return "action_failed", publicmsg.Text(err), "", 0
}

// runActions runs actions on an answered call until they end (the runner's
// watchdog and hang-ups end ctx) and says in end how they ended (a pointer
// rather than a result: this frame stays on the call's stack while the
// actions run, and a returned End is copied into it more than once).
func (e *Engine) runActions(ctx context.Context, rec *callRecord, l *leg, actions []callctl.Action, replace *callctl.Replacer, end *callctl.End) {
	s := e.newSession(ctx, rec, l)
	*end = callctl.Run(ctx, s, actions, replace)
	e.afterActions(ctx, s, end)
}

// newSession is the actions' session on the call, with its media streams
// open. (Not in runActions: its frame stays on the call's stack while the
// actions run.)
func (e *Engine) newSession(ctx context.Context, rec *callRecord, l *leg) *session {
	return &session{e: e, rec: rec, leg: l, streams: e.openStreams(ctx, rec, l)}
}

// afterActions ends what runActions started once the actions ended with
// end.
func (e *Engine) afterActions(ctx context.Context, s *session, end *callctl.End) {
	rec, l := s.rec, s.leg
	// Streams end before the call does, so stream.stopped is written with it.
	s.streams.stopAll(StreamReasonCallEnded)
	if end.Kind == callctl.EndError {
		e.log.Warn("call action failed", slog.String("call_id", rec.id()), slog.Int("action", end.ActionIndex), slog.Any("error", end.Err))
	}
	if end.Kind == callctl.EndListDone || end.Kind == callctl.EndHangup {
		// Hold the line a moment so the last prompt's final frames are played
		// out before the BYE, as a person would not hang up mid-word.
		_ = l.silence(ctx, 200*time.Millisecond)
	}
}
