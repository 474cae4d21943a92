package sip

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/minivoice/minivoice/internal/callctl"
)

// Gather plays the prompt with barge-in (the first key press, or the
// caller starting to speak in a speech gather, stops it), then collects
// digits until finish_on_key, max_digits or a timeout, or a spoken answer
// until speech_timeout of silence; with no input at all it retries, playing
// no_input_prompt (else the prompt) again.
func (s *session) Gather(ctx context.Context, g *callctl.Gather) (*callctl.GatherResult, error) {
	if g.HasInput("speech") {
		return s.gatherSpeech(ctx, g)
	}
	if !s.keepDigits {
		// Presses from before the gather (during a prompt that did not
		// invite them) are not answers to this question.
		s.leg.drainDigits()
	}
	s.keepDigits = false
	defer func() { s.keepDigits = false }()
	for attempt := 0; attempt <= g.Retries; attempt++ {
		prompt := g.Prompt
		if attempt > 0 && len(g.NoInputPrompt) > 0 {
			prompt = g.NoInputPrompt
		}
		if err := s.prompt(ctx, prompt, nil); err != nil {
			if hungUp(ctx, err) {
				return &callctl.GatherResult{Reason: callctl.ReasonHangup}, cmp.Or(ctx.Err(), err)
			}
			return nil, err
		}
		res, err := s.collect(ctx, g)
		if err != nil || res.Digits != "" || res.Reason != callctl.ReasonTimeout {
			return res, err
		}
	}
	return &callctl.GatherResult{Reason: callctl.ReasonTimeout}, nil
}

// prompt plays a gather's say/play list until a key is pressed, or, with a
// speech capture, until the caller starts speaking.
func (s *session) prompt(ctx context.Context, actions []callctl.Action, speech *speechCapture) error {
	if speech != nil {
		// Speaking stops the prompt as a key press does: the prompt plays
		// under a context that the start of speech cancels.
		pctx, cancel := context.WithCancel(ctx)
		defer cancel()
		go func() {
			select {
			case <-speech.started:
				cancel()
			case <-pctx.Done():
			}
		}()
		err := s.prompt(pctx, actions, nil)
		if err != nil && ctx.Err() == nil && speech.hasStarted() {
			return nil // barge-in by voice
		}
		return err
	}
	for _, a := range actions {
		if len(s.leg.digits) > 0 {
			return nil
		}
		var err error
		switch a.Kind {
		case callctl.KindSay:
			err = s.say(ctx, a.Say, true)
		case callctl.KindPlay:
			err = s.play(ctx, a.Play, true)
		case callctl.KindPause:
			err = s.leg.playUntil(ctx, make([]int16, a.Pause.Length*s.leg.rate), s.leg.digits)
			if errors.Is(err, errBargeIn) {
				err = nil
			}
		default:
			err = fmt.Errorf("gather prompt: %s is not allowed", a.Kind)
		}
		if err != nil {
			return err
		}
	}
	return nil
}

// collect waits for digits, sending silence meanwhile so the caller's media
// keeps flowing (and a recording keeps its timeline).
func (s *session) collect(ctx context.Context, g *callctl.Gather) (*callctl.GatherResult, error) {
	var digits []rune
	res := func(reason string) *callctl.GatherResult {
		return &callctl.GatherResult{Digits: string(digits), Reason: reason}
	}
	deadline := time.Now().Add(time.Duration(g.Timeout) * time.Second)
	for {
		select {
		case d := <-s.leg.digits:
			if g.FinishOnKey != "" && string(d) == g.FinishOnKey {
				return res(callctl.ReasonFinishKey), nil
			}
			digits = append(digits, d)
			if len(digits) >= g.MaxDigits {
				return res(callctl.ReasonMaxDigits), nil
			}
			deadline = time.Now().Add(time.Duration(g.InterDigitTimeout) * time.Second)
			continue
		default:
		}
		if ctx.Err() != nil {
			return res(callctl.ReasonHangup), ctx.Err()
		}
		if !time.Now().Before(deadline) {
			return res(callctl.ReasonTimeout), nil
		}
		if err := s.leg.silenceFrame(); err != nil {
			if hungUp(ctx, err) {
				return res(callctl.ReasonHangup), cmp.Or(ctx.Err(), err)
			}
			return nil, err
		}
	}
}
