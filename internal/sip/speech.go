package sip

import (
	"cmp"
	"context"
	"errors"
	"math"
	"strings"
	"sync"
	"time"

	"github.com/minivoice/minivoice/internal/callctl"
	"github.com/minivoice/minivoice/internal/insights/asr"
	"github.com/minivoice/minivoice/internal/media"
)

// SpeechRecognizer recognises a caller's spoken answer to a gather (the
// live command recogniser, asr.Commands).
type SpeechRecognizer interface {
	// Prepare readies what recognising with hints needs (their
	// pronunciations), so that the prompt's playing time pays for it.
	Prepare(ctx context.Context, hints []string)
	Recognize(ctx context.Context, a asr.Audio, hints []string) (*asr.CommandResult, error)
}

// Live endpointing of a caller's speech, on the leg's media reader: each
// 20 ms frame the far end sends is measured, and an utterance is speech
// (speechStartFrames voiced frames in a row) followed by speech_timeout of
// frames that are not voiced. A frame is voiced when it is louder than
// speechFloorDBFS and speechAboveNoise dB over the line's noise, which is
// followed as the quietest recent level (down at once, up slowly), so a
// hissing line does not count as speech.
const (
	speechFloorDBFS   = -45 // the record action's silence threshold too
	speechAboveNoise  = 12
	speechStartFrames = 4  // 80 ms: shorter bursts are clicks
	speechPreroll     = 15 // frames kept before the start: 300 ms
	noiseRisePerFrame = 0.05
	noiseCeilingDBFS  = -30 // the loudest level taken for noise
)

// speechCapture collects the caller's utterance during a gather. feed runs
// on the media reader and never blocks; the gather waits on started and
// ended.
type speechCapture struct {
	rate        int
	endFrames   int // silent frames that end an utterance
	maxSamples  int // the longest utterance kept
	started     chan struct{}
	ended       chan struct{}
	mu          sync.Mutex
	pre         []int16 // the last speechPreroll frames before speech
	buf         []int16 // the utterance, preroll included
	noise       float64
	measured    bool // noise has been set from the first frame
	voicedRun   int
	silentRun   int
	isStarted   bool
	isEnded     bool
	pendingTail []int16 // a partial frame carried to the next feed
}

func newSpeechCapture(rate int, g *callctl.Gather) *speechCapture {
	timeout := float64(g.SpeechTimeout)
	if g.SpeechTimeout == 0 {
		timeout = callctl.SpeechTimeoutAuto
	}
	return &speechCapture{rate: rate, endFrames: int(math.Round(timeout / frameDur.Seconds())),
		maxSamples: asr.MaxCommandAudio * rate, started: make(chan struct{}), ended: make(chan struct{})}
}

// feed takes decoded far-end audio (any length; split into 20 ms frames).
func (c *speechCapture) feed(pcm []int16) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.isEnded {
		return
	}
	per := c.rate / 50
	data := pcm
	if len(c.pendingTail) > 0 {
		data = append(c.pendingTail, pcm...)
		c.pendingTail = nil
	}
	for len(data) >= per {
		c.frame(data[:per])
		data = data[per:]
		if c.isEnded {
			return
		}
	}
	if len(data) > 0 {
		c.pendingTail = append([]int16(nil), data...)
	}
}

// frame handles one 20 ms frame, under mu.
func (c *speechCapture) frame(f []int16) {
	db := max(media.DBFS(f), -120)
	if !c.measured {
		// The line's level when the gather starts is its noise, unless it
		// is louder than any line noise (the caller already talking):
		// then the first pause brings the estimate down.
		c.noise, c.measured = min(db, noiseCeilingDBFS), true
	}
	voiced := db > speechFloorDBFS && db > c.noise+speechAboveNoise
	if db < c.noise {
		c.noise = db
	} else {
		c.noise = min(c.noise+noiseRisePerFrame, noiseCeilingDBFS)
	}
	if !c.isStarted {
		c.pre = append(c.pre, f...)
		if over := len(c.pre) - speechPreroll*len(f); over > 0 {
			c.pre = c.pre[over:]
		}
		if voiced {
			c.voicedRun++
		} else {
			c.voicedRun = 0
		}
		if c.voicedRun >= speechStartFrames {
			c.isStarted = true
			c.buf = append(c.buf, c.pre...)
			c.pre = nil
			close(c.started)
		}
		return
	}
	c.buf = append(c.buf, f...)
	if voiced {
		c.silentRun = 0
	} else {
		c.silentRun++
	}
	if c.silentRun >= c.endFrames || len(c.buf) >= c.maxSamples {
		c.isEnded = true
		close(c.ended)
	}
}

// stop ends the capture where it is (a key press, the gather's end).
func (c *speechCapture) stop() {
	c.mu.Lock()
	defer c.mu.Unlock()
	if !c.isEnded {
		c.isEnded = true
		close(c.ended)
	}
}

// utterance is the audio captured, to recognise after ended.
func (c *speechCapture) utterance() asr.Audio {
	c.mu.Lock()
	defer c.mu.Unlock()
	return asr.Audio{Samples: c.buf, Rate: c.rate}
}

// hasStarted reports whether speech has begun.
func (c *speechCapture) hasStarted() bool {
	select {
	case <-c.started:
		return true
	default:
		return false
	}
}

// recognize runs the recogniser on the utterance while the leg keeps
// sending silence, so the caller's media never stalls on a decoder. A
// hangup (ctx) cancels the decoder, which kills its process and removes its
// files, and is waited for.
func (s *session) recognize(ctx context.Context, c *speechCapture, g *callctl.Gather) (*callctl.GatherResult, error) {
	res := &callctl.GatherResult{Reason: callctl.ReasonSpeech}
	text, conf := "", 0.0
	res.Speech, res.Confidence = &text, &conf
	if s.e.recognizer == nil {
		res.SpeechError = callctl.SpeechErrorUnavailable
		return res, nil
	}
	type answer struct {
		r   *asr.CommandResult
		err error
	}
	rctx, cancel := context.WithCancel(ctx)
	defer cancel()
	done := make(chan answer, 1)
	audio := c.utterance()
	go func() {
		r, err := s.e.recognizer.Recognize(rctx, audio, g.Hints)
		done <- answer{r, err}
	}()
	for {
		select {
		case a := <-done:
			switch {
			case a.err == nil:
				text, conf = clipSpeech(a.r.Text), a.r.Confidence
			case ctx.Err() != nil:
				res.Reason = callctl.ReasonHangup
				return res, ctx.Err()
			case errors.Is(a.err, asr.ErrBusy):
				res.SpeechError = callctl.SpeechErrorBusy
			case errors.Is(a.err, asr.ErrUnavailable):
				res.SpeechError = callctl.SpeechErrorUnavailable
			default:
				res.SpeechError = callctl.SpeechErrorFailed
			}
			if a.err != nil && ctx.Err() == nil {
				s.e.log.Warn("speech gather not recognised", "call_id", s.rec.snapshot().ID, "error", a.err)
			}
			return res, nil
		default:
		}
		if err := s.leg.silenceFrame(); err != nil {
			cancel()
			<-done
			if hungUp(ctx, err) {
				res.Reason = callctl.ReasonHangup
				return res, cmp.Or(ctx.Err(), err)
			}
			return nil, err
		}
	}
}

// maxSpeechChars bounds the text a spoken answer gives (30 s of speech is
// a few hundred characters): it goes into the call's variables, the
// action_url request and call.gather.
const maxSpeechChars = 1000

// clipSpeech cuts text to maxSpeechChars characters, at a space if there
// is one.
func clipSpeech(text string) string {
	r := []rune(text)
	if len(r) <= maxSpeechChars {
		return text
	}
	cut := string(r[:maxSpeechChars])
	if i := strings.LastIndexByte(cut, ' '); i > 0 {
		cut = cut[:i]
	}
	return cut
}

// gatherSpeech is a gather with "speech" in its input (and maybe "dtmf"):
// the caller's audio is captured from the prompt on, so speaking during it
// stops it; the first key press (with "dtmf") or the end of an utterance
// ends the attempt.
func (s *session) gatherSpeech(ctx context.Context, g *callctl.Gather) (*callctl.GatherResult, error) {
	dtmf := g.HasInput("dtmf")
	if !s.keepDigits || !dtmf {
		s.leg.drainDigits()
	}
	s.keepDigits = false
	defer func() { s.keepDigits = false }()
	if s.e.recognizer != nil {
		pctx, cancel := context.WithCancel(ctx)
		prepared := make(chan struct{})
		go func() {
			defer close(prepared)
			s.e.recognizer.Prepare(pctx, g.Hints)
		}()
		defer func() {
			cancel()
			<-prepared
		}()
	}
	for attempt := 0; attempt <= g.Retries; attempt++ {
		prompt := g.Prompt
		if attempt > 0 && len(g.NoInputPrompt) > 0 {
			prompt = g.NoInputPrompt
		}
		capture := newSpeechCapture(s.leg.rate, g)
		s.leg.setFarTap(capture.feed)
		res, err := s.speechAttempt(ctx, g, prompt, capture, dtmf)
		s.leg.setFarTap(nil)
		capture.stop()
		if err != nil || res.Reason != callctl.ReasonTimeout || res.Digits != "" {
			return withSpeech(res), err
		}
	}
	return withSpeech(&callctl.GatherResult{Reason: callctl.ReasonTimeout}), nil
}

// withSpeech gives a speech gather's result its speech fields ("" and 0
// when nothing was said).
func withSpeech(r *callctl.GatherResult) *callctl.GatherResult {
	if r == nil {
		return nil
	}
	if r.Speech == nil {
		text, conf := "", 0.0
		r.Speech, r.Confidence = &text, &conf
	}
	return r
}

// speechAttempt is one attempt of a speech gather: the prompt, then the
// wait for a key or speech (timeout seconds for either to begin).
func (s *session) speechAttempt(ctx context.Context, g *callctl.Gather, prompt []callctl.Action, capture *speechCapture, dtmf bool) (*callctl.GatherResult, error) {
	hangup := &callctl.GatherResult{Reason: callctl.ReasonHangup}
	if err := s.prompt(ctx, prompt, capture); err != nil {
		if ctx.Err() != nil {
			return hangup, ctx.Err()
		}
		return nil, err
	}
	if !dtmf {
		s.leg.drainDigits()
	}
	deadline := time.Now().Add(time.Duration(g.Timeout) * time.Second)
	for {
		if dtmf && len(s.leg.digits) > 0 {
			// A key wins, even over speech already begun: the caller chose
			// the keypad.
			capture.stop()
			return s.collect(ctx, g)
		}
		if capture.hasStarted() {
			select {
			case <-capture.ended:
				return s.recognize(ctx, capture, g)
			default:
			}
		} else if !time.Now().Before(deadline) {
			return &callctl.GatherResult{Reason: callctl.ReasonTimeout}, nil
		}
		if ctx.Err() != nil {
			return hangup, ctx.Err()
		}
		if err := s.leg.silenceFrame(); err != nil {
			if ctx.Err() != nil {
				return hangup, ctx.Err()
			}
			return nil, err
		}
		if !dtmf {
			s.leg.drainDigits()
		}
	}
}
