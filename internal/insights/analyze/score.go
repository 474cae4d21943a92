package analyze

import (
	"cmp"
	"fmt"
	"math"
	"slices"
	"strings"

	"github.com/minivoice/minivoice/internal/voice"
)

// Scorecard thresholds.
const (
	// greetingWindow is how soon, in seconds after the agent side first
	// speaks, its greeting must come to pass.
	greetingWindow = 15.0
	// lateGreetingScore is the greeting's score when it came, but late.
	lateGreetingScore = 40
	// minAnswerTokens is how many words the caller's reply to "how can I
	// help" needs to count as stating a purpose ("yes" does not).
	minAnswerTokens = 4
	// maxSilence is the longest gap, in seconds, between consecutive speech
	// (or before the first words) that still passes; each second beyond it
	// costs silencePenalty points.
	maxSilence     = 10.0
	silencePenalty = 5.0
	// Politeness: base points, points per polite marker (capped at 100),
	// and points lost per rude word.
	politeBase    = 40
	politePerWord = 20
	rudePenalty   = 30
	// sentimentAlpha normalises the sum of valences into -1..1 as VADER's
	// compound score does: sum / sqrt(sum² + alpha).
	sentimentAlpha = 15.0
	// negationScale is what a negated word's valence is multiplied by
	// (VADER's value).
	negationScale = -0.74
	// contextWords is how many words around a purpose or resolution phrase
	// its evidence quotes, since "i want a" alone says little.
	contextWords = 6
	// maxListed bounds the phrases an evidence string lists.
	maxListed = 3
)

// noSpeechEvidence is every criterion's evidence when nothing was said.
const noSpeechEvidence = "no speech was recognised"

var (
	greetingPhrases = newPhrases("hello", "hi", "hey", "good morning", "good afternoon", "good evening", "good day",
		"thank you for calling", "thanks for calling", "thank you for contacting", "welcome", "greetings", "howdy")
	purposePhrases = newPhrases("i'm calling", "im calling", "i am calling", "calling about", "calling to",
		"calling because", "calling regarding", "calling for", "i want to", "i wanted to", "i want a", "i want an",
		"i want my", "i would like", "i'd like", "id like", "i need", "i needed", "question about", "a question",
		"help with", "looking for", "trying to", "problem with", "issue with", "i have a problem", "interested in",
		"i was wondering", "can you help", "could you help", "i have a question", "could you", "can you", "i forgot",
		"i was charged", "i was billed", "i returned")
	// agentPurposePhrases state why the agent side called: on a call the
	// platform (or its bridged party) placed, the purpose is theirs to state.
	agentPurposePhrases = newPhrases("calling to", "calling about", "calling from", "calling regarding",
		"calling because", "calling with", "calling for", "this is a reminder", "to remind you", "reminder",
		"we are calling", "we're calling", "i am calling", "i'm calling", "calling you")
	helpQuestions = newPhrases("how can i help", "how may i help", "how can we help", "how may we help",
		"how can i assist", "how may i assist", "what can i do for you", "what can i help you with",
		"how can i be of help", "what are you calling about", "reason for your call", "what is this regarding",
		"what's this regarding", "what is your call about", "why you are calling", "why you're calling",
		"describe your problem", "describe the problem", "how we can help", "leave a message", "leave your name",
		"say why", "say which")
	// Commitments count only on the agent side: "i will" from an angry
	// caller is a threat, not a next step.
	commitmentPhrases = newPhrases("i will", "i'll", "we will", "we'll", "i can book", "i can send",
		"i'm going to", "we're going to")
	outcomePhrases = newPhrases("booked", "confirmed", "scheduled", "resolved", "fixed", "sorted", "send you",
		"sending you", "sent you", "email you", "call you back", "follow up", "ticket", "refunded",
		"refund has been", "processed", "taken care of", "all set", "next step", "next steps", "arranged",
		"you will receive", "you'll receive", "you should receive", "reference number", "case number",
		"is set for", "see you on", "has been logged", "has been sent", "have sent", "is confirmed", "are confirmed",
		"is cancelled", "is canceled", "has been moved", "has been opened", "have restarted", "have emailed",
		"have changed", "will be ready", "will arrive", "is booked", "was processed", "has been processed",
		"have cancelled", "have canceled", "has been cancelled", "has been canceled", "will visit")
	politePhrases = newPhrases("please", "thank you", "thanks", "sorry", "appreciate", "apologise", "apologize",
		"apologies", "excuse me", "pardon", "you're welcome", "youre welcome", "my pleasure", "kindly")
	rudePhrases = newPhrases("damn", "dammit", "goddamn", "shit", "bullshit", "fuck", "fucking", "fucked",
		"crap", "crappy", "bloody", "bastard", "asshole", "bitch", "idiot", "idiots", "stupid", "moron",
		"morons", "dumb", "shut up", "piss", "pissed", "hell", "screw you")
)

// neutralInCalls are words VADER gives a valence, learnt from written
// text, that on the phone are fillers or requests rather than feelings
// ("i would like", "kind of", "yes please", "help with my bill").
var neutralInCalls = set("like", "kind", "pretty", "well", "yes", "yeah", "ok", "okay", "alright", "sure", "help",
	"please", "want", "number", "matter", "pay", "free", "dear", "interested", "ready", "clear", "true", "cancel",
	"joke")

// scorecard scores t against the default criteria and then the
// application's.
func scorecard(in Input, t *transcript) voice.Score {
	var cs []voice.Criterion
	if len(t.utts) == 0 {
		for _, name := range defaultCriteria {
			cs = append(cs, voice.Criterion{Name: name, Evidence: noSpeechEvidence})
		}
		for _, c := range in.Criteria {
			cs = append(cs, voice.Criterion{Name: c.Name, Evidence: noSpeechEvidence})
		}
	} else {
		cs = append(cs, greeting(t), purpose(in.Call, t), resolution(t), politeness(t), silences(t),
			sentimentCriterion(t, loadResources()))
		for _, c := range in.Criteria {
			cs = append(cs, custom(t, c))
		}
	}
	total, rating := rate(cs)
	return voice.Score{Score: total, Rating: rating, Criteria: cs}
}

func agentSide(u *utterance) bool  { return u.role.matches(voice.CriterionAgent) }
func callerSide(u *utterance) bool { return u.role.matches(voice.CriterionCaller) }
func anySide(*utterance) bool      { return true }

// greeting passes when the agent side greets within greetingWindow seconds
// of first speaking; a later greeting scores lateGreetingScore.
func greeting(t *transcript) voice.Criterion {
	c := voice.Criterion{Name: CriterionGreeting}
	first := -1.0
	for i := range t.utts {
		if agentSide(&t.utts[i]) {
			first = t.utts[i].start
			break
		}
	}
	if first < 0 {
		c.Evidence = "the agent side said nothing"
		return c
	}
	h, ok := t.findFirst(greetingPhrases, agentSide, false)
	switch {
	case !ok:
		c.Evidence = "no greeting from the agent side"
	case h.u.start-first <= greetingWindow:
		c.Score, c.Passed, c.Evidence = 100, true, h.quote()
	default:
		c.Score, c.Evidence = lateGreetingScore, fmt.Sprintf("greeting came late, %s", h.quote())
	}
	return c
}

// purpose passes when whoever placed the call states why. On an inbound
// call that is the caller: a purpose phrase, a complaint ("charged twice",
// "not working"), or an answer of at least minAnswerTokens words to the
// agent's "how can I help" (or "leave a message"). On an outbound call the
// platform's side placed it, so the agent side stating its purpose
// ("calling to remind you of your appointment") counts too, as does a
// request of the called party.
func purpose(call *voice.Call, t *transcript) voice.Criterion {
	c := voice.Criterion{Name: CriterionPurposeIdentified}
	if call != nil && call.Direction == voice.DirectionOutbound {
		if h, ok := t.findFirst(agentPurposePhrases, agentSide, false); ok {
			c.Score, c.Passed, c.Evidence = 100, true, h.quoteAround(0, contextWords)+" (the agent side placed the call)"
			return c
		}
	}
	// The earliest of: a purpose phrase, the answer to "how can I help",
	// a strong complaint; the summary's request is chosen the same way.
	at, evidence := -1, ""
	take := func(index int, ev string) {
		if at < 0 || index < at {
			at, evidence = index, ev
		}
	}
	if h, ok := t.findFirst(purposePhrases, callerSide, false); ok {
		take(h.u.index, h.quoteAround(0, contextWords))
	}
	if q, ok := t.findFirst(helpQuestions, agentSide, false); ok {
		for i := q.u.index + 1; i < len(t.utts); i++ {
			u := &t.utts[i]
			if callerSide(u) && len(u.tokens) >= minAnswerTokens {
				take(u.index, fmt.Sprintf("at %s %s answered '%s': '%s'", clock(u.start), u.role.label(),
					strings.Join(q.p.tokens, " "), excerpt(u.words, excerptWords)))
				break
			}
		}
	}
	for i := range t.utts {
		u := &t.utts[i]
		if !callerSide(u) {
			continue
		}
		if at := firstStem(u, strongComplaintStems); at >= 0 {
			h := hit{u: u, pos: at, p: phrase{tokens: u.tokens[at : at+1]}}
			take(u.index, h.quoteAround(contextWords/2, contextWords/2))
			break
		}
	}
	if at >= 0 {
		c.Score, c.Passed, c.Evidence = 100, true, evidence
		return c
	}
	c.Evidence = "the caller did not say why they called"
	return c
}

// resolution passes when a next step or outcome is stated: an outcome
// phrase on either side or a commitment on the agent side, not negated
// ("it is not resolved").
func resolution(t *transcript) voice.Criterion {
	c := voice.Criterion{Name: CriterionResolutionStated}
	h, ok := t.findFirst(outcomePhrases, anySide, true)
	if ch, cok := t.findFirst(commitmentPhrases, agentSide, true); cok && (!ok || ch.u.index < h.u.index ||
		ch.u.index == h.u.index && ch.pos < h.pos) {
		h, ok = ch, true
	}
	if !ok {
		c.Evidence = "no resolution or next step was stated"
		return c
	}
	c.Score, c.Passed, c.Evidence = 100, true, h.quoteAround(contextWords/2, contextWords/2)
	return c
}

// politeness counts polite markers and rude words on both sides: it passes
// with at least one marker and no rude word; the score is politeBase plus
// politePerWord per marker (at most 100) minus rudePenalty per rude word.
func politeness(t *transcript) voice.Criterion {
	c := voice.Criterion{Name: CriterionPoliteness}
	var polite, rude []hit
	for _, p := range politePhrases {
		polite = append(polite, t.count(p, anySide)...)
	}
	for _, p := range rudePhrases {
		rude = append(rude, t.count(p, anySide)...)
	}
	sortHits(polite)
	sortHits(rude)
	c.Score = max(0, min(100, politeBase+politePerWord*len(polite))-rudePenalty*len(rude))
	c.Passed = len(polite) > 0 && len(rude) == 0
	switch {
	case len(rude) > 0:
		c.Evidence = fmt.Sprintf("%d rude word(s), first %s", len(rude), rude[0].quote())
	case len(polite) > 0:
		c.Evidence = fmt.Sprintf("%d polite word(s), first %s", len(polite), polite[0].quote())
	default:
		c.Evidence = "no polite words (please, thank you, sorry)"
	}
	return c
}

// sortHits puts hits in call order, then position in the utterance: the
// evidence quotes the first one said.
func sortHits(hs []hit) {
	slices.SortStableFunc(hs, func(a, b hit) int {
		if c := cmp.Compare(a.u.index, b.u.index); c != 0 {
			return c
		}
		return cmp.Compare(a.pos, b.pos)
	})
}

// silences finds the longest gap between consecutive speech on either
// channel (overlapping speech closes no gap), counting the silence before
// the first words as a gap too. It passes up to maxSilence seconds.
func silences(t *transcript) voice.Criterion {
	c := voice.Criterion{Name: CriterionNoLongSilences}
	longest, from, to := t.utts[0].start, 0.0, t.utts[0].start
	leading := true
	end := t.utts[0].end
	for _, u := range t.utts[1:] {
		if gap := u.start - end; gap > longest {
			longest, from, to, leading = gap, end, u.start, false
		}
		end = max(end, u.end)
	}
	c.Passed = longest <= maxSilence
	c.Score = 100
	if !c.Passed {
		c.Score = int(max(0, math.Round(100-silencePenalty*(longest-maxSilence))))
	}
	switch {
	case longest == 0:
		c.Evidence = "no silence between speech"
	case leading:
		c.Evidence = fmt.Sprintf("longest silence %.1f s, before the first words at %s", longest, clock(to))
	case c.Passed:
		c.Evidence = fmt.Sprintf("longest silence %.1f s, at %s", longest, clock(from))
	default:
		c.Evidence = fmt.Sprintf("longest silence %.1f s, from %s to %s", longest, clock(from), clock(to))
	}
	return c
}

// custom scores an application criterion. Its conditions are: one of
// any_of said (when any_of is given), each required phrase said, each
// forbidden phrase not said, by the criterion's speaker. It passes, with
// 100, when all hold; else it scores the share of conditions that hold.
func custom(t *transcript, sc voice.ScoreCriterion) voice.Criterion {
	c := voice.Criterion{Name: sc.Name}
	keep := func(u *utterance) bool { return u.role.matches(sc.Speaker) }
	total, met := 0, 0
	var proof string
	var problems []string
	if len(sc.AnyOf) > 0 {
		total++
		if h, ok := t.findFirst(newPhrases(sc.AnyOf...), keep, false); ok {
			met++
			proof = h.quote()
		} else {
			problems = append(problems, notSaid(sc.AnyOf))
		}
	}
	var missing []string
	for _, p := range sc.Required {
		total++
		if h, ok := t.findFirst(newPhrases(p), keep, false); ok {
			met++
			if proof == "" {
				proof = h.quote()
			}
		} else {
			missing = append(missing, p)
		}
	}
	if len(missing) > 0 {
		problems = append(problems, "not said: "+listPhrases(missing))
	}
	var said []string
	for _, p := range sc.Forbidden {
		total++
		if h, ok := t.findFirst(newPhrases(p), keep, false); ok {
			said = append(said, h.quote())
		} else {
			met++
		}
	}
	if len(said) > 0 {
		if len(said) > maxListed {
			said = append(said[:maxListed], "...")
		}
		problems = append(problems, "forbidden: "+strings.Join(said, ", "))
	}
	switch {
	case total == 0:
		// Unvalidated input with no phrase at all: nothing to fail.
		c.Score, c.Passed, c.Evidence = 100, true, "no conditions"
	case met == total:
		c.Score, c.Passed = 100, true
		c.Evidence = proof
		if proof == "" {
			c.Evidence = "no forbidden phrase was said"
		}
	default:
		c.Score = int(math.Round(100 * float64(met) / float64(total)))
		c.Evidence = strings.Join(problems, "; ")
	}
	return c
}

// notSaid says that none of ps was said.
func notSaid(ps []string) string {
	if len(ps) == 1 {
		return "'" + ps[0] + "' was not said"
	}
	return "none of " + listPhrases(ps) + " was said"
}

// listPhrases quotes up to maxListed phrases: "'a', 'b', 'c'...".
func listPhrases(ps []string) string {
	var q []string
	for i, p := range ps {
		if i == maxListed {
			return strings.Join(q, ", ") + "..."
		}
		q = append(q, "'"+p+"'")
	}
	return strings.Join(q, ", ")
}
