package main

import (
	"fmt"
	"math"

	"github.com/minivoice/minivoice/internal/insights/analyze/evalset"
)

// Numbers the simulator answers as the carrier: a dial to busyNumber gets
// 486 Busy Here and one to noAnswerNumber rings until the dial's timeout
// (the simulator's table by the last four digits, docs/simulator.md).
const (
	busyNumber     = "+15559990486"
	noAnswerNumber = "+15559990408"
)

// Timing of the compiled scripts, in seconds. The platform renders each say
// with flite before it starts playing, so its clock runs a little behind
// the spoken durations: renderSlack per say. The far end speaks farLead
// into a pause that lasts its speech plus pauseMargin, so a platform up to
// farLead late or pauseMargin early still does not talk over it.
const (
	renderSlack = 0.4
	farLead     = 0.8
	pauseMargin = 1.4
	// answerAfter is when a dialled simulator number is connected, after
	// the dial starts: its 1 s answer delay and call set-up.
	answerAfter = 1.5
	// gatherTimeout is how long a menu waits for a key after its prompt.
	gatherTimeout = 4
	// dialNoAnswer is the ringing a dial to noAnswerNumber waits out.
	dialNoAnswer = 5
)

// plan is a dialogue compiled for one call: the platform's action list,
// the far end's simulator script and, for a dialled party that answers,
// its number and script.
type plan struct {
	actions   []map[string]any
	far       []string
	target    string
	targetRun []string
}

// compile turns a dialogue into a plan, timing the far end's steps by the
// spoken length of every text (dur) so each side speaks while the other
// waits, as on a real call. target is the number a "talk" dial calls.
func compile(d evalset.Dialogue, dur func(string) float64, target string) plan {
	var pl plan
	p, s := 0.0, 0.0 // the platform's and the far end's clocks since answer
	waitUntil := func(t float64) {
		if t > s+0.01 {
			pl.far = append(pl.far, fmt.Sprintf("wait %.2f", t-s))
			s = t
		}
	}
	say := func(text string) map[string]any { return map[string]any{"action": "say", "text": text} }
	for i, t := range d.Turns {
		switch {
		case t.Platform != "":
			pl.actions = append(pl.actions, say(t.Platform))
			p += renderSlack + dur(t.Platform)
		case t.Far != "":
			d := dur(t.Far)
			length := int(math.Ceil(d + farLead + pauseMargin))
			pl.actions = append(pl.actions, map[string]any{"action": "pause", "length": length})
			waitUntil(p + farLead)
			pl.far = append(pl.far, "say "+t.Far)
			s += d
			p += float64(length)
		case t.Menu != "":
			g := map[string]any{"action": "gather", "prompt": []any{say(t.Menu)}, "max_digits": max(1, len(t.Press)),
				"timeout": gatherTimeout, "finish_on_key": ""}
			pl.actions = append(pl.actions, g)
			d := dur(t.Menu)
			if t.Press == "" {
				p += renderSlack + d + gatherTimeout + 0.3
				continue
			}
			// Pressed towards the end of the prompt (it barges in), as a
			// caller who has heard the option they want.
			press := p + renderSlack + 0.7*d
			waitUntil(press)
			pl.far = append(pl.far, "dtmf "+t.Press)
			s += 0.25 * float64(len(t.Press))
			p = s + 0.3
		case t.Dial == "busy":
			pl.actions = append(pl.actions, map[string]any{"action": "dial", "to": busyNumber, "timeout": 10})
			p += 1
		case t.Dial == "no-answer":
			pl.actions = append(pl.actions, map[string]any{"action": "dial", "to": noAnswerNumber, "timeout": dialNoAnswer})
			p += dialNoAnswer + 0.5
		case t.Dial == "talk":
			pl.actions = append(pl.actions, map[string]any{"action": "dial", "to": target, "timeout": 15})
			pl.target = target
			t0 := p + answerAfter
			tc := 0.0 // the dialled party's clock since it answered
			for _, l := range t.Talk {
				if l.Agent != "" {
					pl.targetRun = append(pl.targetRun, "wait 0.6", "say "+l.Agent)
					tc += 0.6 + dur(l.Agent)
					continue
				}
				waitUntil(t0 + tc + farLead)
				pl.far = append(pl.far, "say "+l.Far)
				d := dur(l.Far)
				s += d
				gap := farLead + d + 0.3
				pl.targetRun = append(pl.targetRun, fmt.Sprintf("wait %.2f", gap))
				tc += gap
			}
			pl.targetRun = append(pl.targetRun, "wait 1", "hangup")
			p = t0 + tc + 1.5
		case t.Voicemail != "":
			pl.actions = append(pl.actions, say(t.Voicemail), map[string]any{"action": "record", "beep": true,
				"silence_timeout": 5, "max_length": 60})
			p += renderSlack + dur(t.Voicemail) + 0.25
			waitUntil(p + farLead)
			pl.far = append(pl.far, "say "+t.Message, "wait 1", "hangup")
			s += dur(t.Message) + 1
		case t.Hangup:
			if i == 0 || d.Turns[i-1].Far == "" {
				waitUntil(p - 0.5)
			}
			pl.far = append(pl.far, "hangup")
		}
	}
	return pl
}
