package sim

import (
	"strconv"
	"strings"
	"time"
)

// DefaultGreeting is what an answering number says when no script gives it
// other words (telephony.md).
const DefaultGreeting = "Hello, this is a test call from the MiniVoice simulator."

// refuseAfter is how long a refusing number (busy, not found, ...) rings
// before its final response.
const refuseAfter = 200 * time.Millisecond

// DefaultDTMF is what a 0100-0199 number without a script presses after its
// greeting. The table in telephony.md says "the digits in its script"; with
// no script some digits are still needed for the behaviour to be useful.
const DefaultDTMF = "1234#"

// Behaviour names, as CallReport.Behaviour shows them.
const (
	BehaviourAnswer       = "answer"        // 0000-0099 (and unlisted suffixes): answer, speak, stay
	BehaviourAnswerDTMF   = "answer-dtmf"   // 0100-0199: answer, speak, press digits, hang up after 10 s
	BehaviourBusy         = "busy"          // 0486
	BehaviourRingForever  = "ring-forever"  // 0408
	BehaviourNotFound     = "not-found"     // 0404
	BehaviourUnavailable  = "unavailable"   // 0503
	BehaviourDecline      = "decline"       // 0603
	BehaviourAnswerHangup = "answer-hangup" // 0999: answer, hang up after 2 s
	BehaviourScript       = "script"        // any scripted number
	BehaviourCall         = "call"          // outbound calls the simulator places
)

// behaviour is what the carrier does with one INVITE.
type behaviour struct {
	name        string
	refuse      int // final status to refuse with; 0 answers
	reason      string
	ringForever bool
	steps       []step
	hangupAfter time.Duration // after answer; 0 = stay until the far end hangs up
}

// behaviourFor picks the behaviour for a called number: its script when it
// has one, else the telephony.md table by the last four digits. Suffixes the
// table does not list answer like 0000, so a demo call to an arbitrary number
// still connects.
func (s *Sim) behaviourFor(user string) behaviour {
	digits := digitsOnly(user)
	if steps, ok := s.scriptFor(digits); ok {
		return behaviour{name: BehaviourScript, steps: steps}
	}
	greet := []step{{kind: stepSay, text: DefaultGreeting}}
	suffix := digits
	if len(suffix) > 4 {
		suffix = suffix[len(suffix)-4:]
	}
	n, err := strconv.Atoi(suffix)
	if err != nil {
		n = 0 // no digits at all: answer
	}
	switch {
	case n <= 99:
		return behaviour{name: BehaviourAnswer, steps: greet}
	case n <= 199:
		return behaviour{name: BehaviourAnswerDTMF, steps: append(greet,
			step{kind: stepDTMF, digits: DefaultDTMF}, step{kind: stepWait, wait: 10 * time.Second}, step{kind: stepHangup})}
	case n == 486:
		return behaviour{name: BehaviourBusy, refuse: 486, reason: "Busy Here"}
	case n == 408:
		return behaviour{name: BehaviourRingForever, ringForever: true}
	case n == 404:
		return behaviour{name: BehaviourNotFound, refuse: 404, reason: "Not Found"}
	case n == 503:
		return behaviour{name: BehaviourUnavailable, refuse: 503, reason: "Service Unavailable"}
	case n == 603:
		return behaviour{name: BehaviourDecline, refuse: 603, reason: "Decline"}
	case n == 999:
		return behaviour{name: BehaviourAnswerHangup, steps: greet, hangupAfter: 2 * time.Second}
	}
	return behaviour{name: BehaviourAnswer, steps: greet}
}

// scriptFor finds the script for the dialed digits: an exact match, else the
// longest scripted number the digits end with (a trunk's tech prefix such as
// "9" or "00" in front of the number must not hide its script).
func (s *Sim) scriptFor(digits string) ([]step, bool) {
	if digits == "" {
		return nil, false
	}
	if steps, ok := s.scripts[digits]; ok {
		return steps, true
	}
	best := ""
	for k := range s.scripts {
		if len(k) > len(best) && len(k) >= 7 && strings.HasSuffix(digits, k) {
			best = k
		}
	}
	if best == "" {
		return nil, false
	}
	return s.scripts[best], true
}
