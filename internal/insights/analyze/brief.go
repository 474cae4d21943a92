package analyze

import (
	"fmt"
	"slices"
	"strings"

	"github.com/minivoice/minivoice/internal/voice"
)

// The summary a reviewer would write: who called whom (the header), why
// (the request in the far end's own words, cleaned, or the purpose the
// platform's side stated when it placed the call), what was done (keys
// pressed, transfers, messages left: the call's facts), what was agreed
// (the agent side's outcome), how the far end sounded when it was not
// neutral, and what is left (a follow-up the agent side promised, or that
// nothing was agreed). A call in which none of this was recognised falls
// back to its most central sentences.

// Summary bounds.
const (
	// quoteWords caps a quoted request or outcome.
	quoteWords = 40
	// minRequestTokens is the shortest utterance taken for a request.
	minRequestTokens = 3
	// firstRequestScore is the score (see request) of an utterance that
	// is clearly a request: a purpose phrase, a strong complaint, or the
	// answer to "how can I help".
	firstRequestScore = 2
	// maxFactsListed caps the keys, transfers and messages the summary names.
	maxFactsListed = 3
)

var (
	// followUpPhrases promise something after the call.
	followUpPhrases = newPhrases("call you back", "call back", "get back to you", "will send", "will email",
		"email you", "text you", "will visit", "will call", "follow up", "will arrive", "will be ready",
		"you will receive", "you should receive", "within")
	// fillers are dropped from quotes; leadIns too when they open one.
	fillers       = set("um", "uh", "erm", "er", "uhm", "umm", "hmm", "mm", "mhm", "ah")
	leadIns       = set("so", "well", "oh", "okay", "ok", "yeah", "yes", "hi", "hello", "hey", "right", "and", "but")
	fillerPhrases = newPhrases("you know", "i mean", "kind of", "sort of")
	// courtesy words make an utterance that is only that ("great thank
	// you bye") no request.
	courtesy = set("thank", "thanks", "you", "bye", "goodbye", "great", "perfect", "wonderful", "lovely", "okay",
		"ok", "yes", "yeah", "so", "much", "very", "a", "lot", "too", "sounds", "good", "fine", "alright", "sure",
		"hi", "hello", "oh", "sorry", "please", "no", "that", "is", "it")
)

// parties names the two sides in prose: far is channel 0 (the caller of an
// inbound call, the called party of an outbound one); the agent side is the
// platform's prompts or the bridged party.
type parties struct{ far, platform, agent string }

func partiesOf(c *voice.Call) parties {
	p := parties{far: "the caller", platform: "the platform", agent: "the agent"}
	if c != nil && c.Direction == voice.DirectionOutbound {
		p.far = "the called party"
	}
	return p
}

// who names the speaker of u in prose.
func (p parties) who(u *utterance) string {
	switch {
	case u.role == roleCaller || u.role == roleUnknown:
		return p.far
	case u.speaker == voice.SpeakerPlatform || u.exact:
		return p.platform
	}
	return p.agent
}

// summarise builds the summary (see the top of this file).
func summarise(in Input, t *transcript) voice.Summary {
	head := header(in.Call, in.Transcription)
	names := partiesOf(in.Call)
	text := []string{head}
	points := []string{}
	add := func(sentence, point string) {
		text = append(text, sentence)
		if point != "" {
			points = append(points, point)
		}
	}
	outbound := in.Call != nil && in.Call.Direction == voice.DirectionOutbound
	structured := false

	// Why.
	var purposeU *utterance
	if outbound {
		if h, ok := t.findFirst(agentPurposePhrases, agentSide, false); ok {
			purposeU = h.u
		} else if u := firstPrompt(t); u != nil {
			// No purpose phrase ("Your package will be delivered
			// tomorrow"): the platform's first words on a call it placed
			// are why it called.
			purposeU = u
		}
		if purposeU != nil {
			add(fmt.Sprintf("%s called to say: %s", capitalise(names.who(purposeU)), quote(purposeU)),
				speakerLabel(t, purposeU)+": "+cleanText(purposeU))
			structured = true
		}
	}
	req := request(t, purposeU)
	if req != nil {
		verb := "asked"
		if outbound || !requestLike(req) {
			verb = "said"
		}
		turn := turnOf(t, req)
		add(fmt.Sprintf("%s %s: %s", capitalise(names.who(req)), verb, quoteTurn(turn)),
			speakerLabel(t, req)+": "+cleanTurn(turn))
		structured = true
	}

	// What was done.
	done, donePoints := factSentences(in.Facts, names)
	for i := range done {
		add(done[i], donePoints[i])
	}

	// What was agreed.
	from := 0
	if req != nil {
		from = req.index
	} else if purposeU != nil {
		from = purposeU.index + 1
	}
	outcome := agreed(t, from)
	if outcome != nil && outcome != purposeU {
		add(fmt.Sprintf("%s replied: %s", capitalise(names.who(outcome)), quote(outcome)),
			speakerLabel(t, outcome)+": "+cleanText(outcome))
		structured = true
	}

	// How the far end sounded, when it was not neutral.
	if structured {
		m := sentimentOf(t, loadResources(), callerSide)
		switch {
		case m.label == "negative" && m.strong != nil:
			add(fmt.Sprintf("%s sounded unhappy ('%s').", capitalise(names.far),
				strings.Join(m.strong.u.tokens[m.strong.from:m.strong.to], " ")), "")
		case m.label == "positive":
			add(fmt.Sprintf("%s sounded satisfied.", capitalise(names.far)), "")
		}
	}

	// What is left.
	if fu, ok := followUp(t, from); ok {
		add("Follow-up: "+fu+".", "Follow-up: "+fu)
	} else if in.Facts != nil && len(in.Facts.Voicemails) > 0 {
		add("Follow-up: return the message.", "Follow-up: return the message")
	} else if req != nil && outcome == nil && !transferred(in.Facts) {
		add("Left open: no outcome was stated.", "Left open: no outcome was stated")
	}

	if !structured {
		// Nothing recognisable as a request or outcome: the most central
		// sentences say what the call was about.
		ss := central(t)
		if len(ss) == 0 && len(done) == 0 {
			return voice.Summary{Text: head + " " + noSpeech, KeyPoints: []string{}}
		}
		for _, s := range ss {
			line := capitalise(s.text)
			if !strings.HasSuffix(line, ".") && !strings.HasSuffix(line, "?") && !strings.HasSuffix(line, "!") {
				line += "."
			}
			text = append(text, line)
			points = append(points, speakerLabel(t, s.u)+": "+s.text)
		}
	}
	return voice.Summary{Text: strings.Join(text, " "), KeyPoints: points}
}

// request picks the far end's request: the first far-end utterance of at
// least minRequestTokens words that scores firstRequestScore, else the one
// that scores best, earlier on ties. It scores 3
// for a purpose phrase ("I would like", "I'm calling about"), 2 for a
// strong complaint ("charged twice"), 1 for a weak one, 2 for answering
// the agent side's "how can I help" (or "leave a message") first, and
// 0.1 per content word (at most 1). An utterance of courtesies only
// ("great, thank you") is never taken, nor, unless the agent side stated
// the purpose of a call it placed (the far end's words are then its
// reply), one without any sign of a request.
func request(t *transcript, purposeU *utterance) *utterance {
	var best *utterance
	bestScore := 0.0
	asked := -1
	if q, ok := t.findFirst(helpQuestions, agentSide, false); ok {
		asked = q.u.index
	}
	answered := false
	for i := range t.utts {
		u := &t.utts[i]
		if !callerSide(u) || u.exact || len(u.tokens) < minRequestTokens {
			continue
		}
		if purposeU != nil && u.index < purposeU.index {
			continue
		}
		score := 0.0 // its signals of a request; content words are added after
		if hasAny(u, purposePhrases) {
			score += 3
		}
		if hasStem(u, strongComplaintStems) {
			score += 2
		} else if hasStem(u, weakComplaintStems) {
			score++
		}
		if asked >= 0 && u.index > asked && !answered {
			score += 2
			answered = true
		}
		content := 0
		for _, tok := range u.tokens {
			if !courtesy[tok] && !stopWords[tok] && len(tok) >= 3 {
				content++
			}
		}
		if content == 0 || score == 0 && purposeU == nil {
			// Courtesies only, or no sign of a request: a call the
			// platform placed has the far end reply, any other needs a
			// request to be one.
			continue
		}
		score += min(1, 0.1*float64(content))
		if score >= firstRequestScore {
			// The first clear request is the request: later turns
			// repeat, escalate or answer it.
			return u
		}
		if score > bestScore {
			best, bestScore = u, score
		}
	}
	return best
}

func requestLike(u *utterance) bool {
	return hasAny(u, purposePhrases) || strings.Contains(" "+strings.Join(u.tokens, " ")+" ", " could ") ||
		strings.Contains(" "+strings.Join(u.tokens, " ")+" ", " can ")
}

// hasAny reports whether u's words hold one of ps.
func hasAny(u *utterance, ps []phrase) bool { return holds(u.tokens, ps) }

// hasStem reports whether u's stems hold one of the stemmed phrases ps.
func hasStem(u *utterance, ps []phrase) bool { return holds(u.stems, ps) }

func holds(toks []string, ps []phrase) bool {
	for _, p := range ps {
		if len(p.find(toks)) > 0 {
			return true
		}
	}
	return false
}

// agreed returns the first agent-side utterance from index from on that
// states an outcome or commits to a next step (not negated), nil if none.
func agreed(t *transcript, from int) *utterance {
	for i := max(0, from); i < len(t.utts); i++ {
		u := &t.utts[i]
		if !agentSide(u) || u.role == roleUnknown && !u.exact {
			continue
		}
		for _, ps := range [][]phrase{outcomePhrases, commitmentPhrases} {
			for _, p := range ps {
				for _, at := range p.find(u.tokens) {
					if !negatedAt(u.tokens, at) {
						return u
					}
				}
			}
		}
	}
	return nil
}

// followUp quotes what the agent side promised to do after the call, from
// index from on: the sentence holding a follow-up phrase when the text has
// sentences (the platform's), else the words around it.
func followUp(t *transcript, from int) (string, bool) {
	h, ok := t.findFirst(followUpPhrases, func(u *utterance) bool {
		return u.index >= from && agentSide(u) && (u.role != roleUnknown || u.exact)
	}, true)
	if !ok {
		return "", false
	}
	if h.u.exact {
		// The platform's text has its punctuation: quote the clause
		// ("a billing specialist will call you back within two days", not
		// the "your request has been logged" before it).
		text := strings.Join(h.u.words, " ")
		for _, s := range splitSentences(text) {
			for _, c := range clauses(s) {
				if len(h.p.find(tokens(c))) > 0 {
					return "'" + strings.TrimRight(strings.TrimSpace(c), ".!?") + "'", true
				}
			}
		}
	}
	// From the subject of the promise ("we will send"), not into the
	// clause before it.
	from2 := max(0, h.pos-2)
	for k := h.pos - 1; k >= from2; k-- {
		if h.u.tokens[k] == "and" || h.u.tokens[k] == "but" || h.u.tokens[k] == "so" {
			from2 = k + 1
			break
		}
	}
	to := min(len(h.u.tokens), h.pos+len(h.p.tokens)+6)
	return "'" + tidy(strings.Join(h.u.tokens[from2:to], " ")) + "'", true
}

// clauses splits a sentence at ", and ", ", but ", ", so ", "; " and ", ".
func clauses(s string) []string {
	for _, sep := range []string{", and ", ", but ", ", so ", "; ", ", "} {
		s = strings.ReplaceAll(s, sep, "\x00")
	}
	return strings.Split(s, "\x00")
}

func splitSentences(s string) []string {
	var out []string
	start := 0
	for i := 0; i < len(s); i++ {
		if s[i] == '.' || s[i] == '?' || s[i] == '!' {
			out = append(out, s[start:i+1])
			start = i + 1
		}
	}
	if strings.TrimSpace(s[start:]) != "" {
		out = append(out, s[start:])
	}
	return out
}

// transferred reports whether a dial of the call was answered.
func transferred(f *Facts) bool {
	return f != nil && slices.ContainsFunc(f.Dials, func(d DialFact) bool { return d.Answered })
}

// factSentences says what the call did: keys pressed, transfers, messages.
func factSentences(f *Facts, names parties) (sentences, points []string) {
	if f == nil {
		return nil, nil
	}
	var keys, said []string
	none := 0
	for _, g := range f.Gathers {
		switch {
		case g.Digits != "":
			keys = append(keys, g.Digits)
		case strings.TrimSpace(g.Speech) != "":
			said = append(said, "'"+strings.TrimSpace(g.Speech)+"'")
		case g.Reason == "timeout":
			none++
		}
	}
	if len(said) > maxFactsListed {
		said = append(said[:maxFactsListed], "...")
	}
	if len(said) > 0 {
		sentences = append(sentences, fmt.Sprintf("%s answered the menu: %s.", capitalise(names.far), strings.Join(said, ", then ")))
		points = append(points, "Answered: "+strings.Join(said, ", "))
	}
	if len(keys) > maxFactsListed {
		keys = append(keys[:maxFactsListed], "...")
	}
	if len(keys) > 0 {
		sentences = append(sentences, fmt.Sprintf("%s pressed %s.", capitalise(names.far), strings.Join(keys, ", then ")))
		points = append(points, "Pressed: "+strings.Join(keys, ", "))
	}
	if none > 0 && len(keys) == 0 && len(said) == 0 {
		sentences = append(sentences, fmt.Sprintf("%s pressed no key at the menu.", capitalise(names.far)))
		points = append(points, "Pressed: nothing")
	}
	for i, d := range f.Dials {
		if i == maxFactsListed {
			break
		}
		var s string
		switch {
		case d.Answered:
			s = fmt.Sprintf("The call was transferred to %s (answered, %s).", d.To, duration(max(0, d.Duration)))
		case d.Status == voice.CallBusy:
			s = fmt.Sprintf("A transfer to %s failed: the line was busy.", d.To)
		case d.Status == voice.CallNoAnswer:
			s = fmt.Sprintf("A transfer to %s was not answered.", d.To)
		case d.Status == voice.CallCanceled:
			s = fmt.Sprintf("A transfer to %s was canceled.", d.To)
		default:
			s = fmt.Sprintf("A transfer to %s failed.", d.To)
		}
		sentences = append(sentences, s)
		points = append(points, "Transfer: "+strings.TrimSuffix(s, "."))
	}
	for i, v := range f.Voicemails {
		if i == maxFactsListed {
			break
		}
		secs := max(1, int(v.Duration+0.5))
		sentences = append(sentences, fmt.Sprintf("%s left a %s message.", capitalise(names.far), duration(secs)))
		points = append(points, fmt.Sprintf("Message: %s", duration(secs)))
	}
	return sentences, points
}

// questionWords open a question: a recognised utterance starting with one
// is quoted with a question mark (recognisers write no punctuation).
var questionWords = set("is", "are", "can", "could", "do", "does", "did", "where", "when", "what", "why", "how",
	"will", "would", "which", "who", "should")

// minPromptWords is how long the platform's first prompt must be to stand
// for the purpose of a call it placed ("Hello." does not).
const minPromptWords = 5

// firstPrompt returns the platform's first utterance of its own text
// (source tts) of at least minPromptWords words, nil if none.
func firstPrompt(t *transcript) *utterance {
	for i := range t.utts {
		if u := &t.utts[i]; u.exact && agentSide(u) && len(u.tokens) >= minPromptWords {
			return u
		}
	}
	return nil
}

// Turns: a recogniser cuts a speaker's turn at its pauses, so a request
// ("this is Maria Lopez" ... "I would like to reschedule my appointment")
// may span segments. A turn is u and the same side's utterances after it
// while nobody else speaks and no pause passes maxTurnGap seconds.
const maxTurnGap = 2.0

func turnOf(t *transcript, u *utterance) []*utterance {
	turn := []*utterance{u}
	end := u.end
	for i := u.index + 1; i < len(t.utts); i++ {
		n := &t.utts[i]
		if n.role != u.role || n.exact != u.exact || n.start-end > maxTurnGap {
			break
		}
		turn = append(turn, n)
		end = max(end, n.end)
	}
	return turn
}

// cleanTurn is the cleaned words of a turn, at most quoteWords in all.
func cleanTurn(turn []*utterance) string {
	var parts []string
	for _, u := range turn {
		if c := cleanText(u); c != "" {
			parts = append(parts, c)
		}
	}
	return excerpt(strings.Fields(strings.Join(parts, " ")), quoteWords)
}

// quoteTurn renders a turn as quote does an utterance.
func quoteTurn(turn []*utterance) string {
	if len(turn) == 1 {
		return quote(turn[0])
	}
	clean := cleanTurn(turn)
	s := capitalise(clean)
	if first, _, _ := strings.Cut(clean, " "); !turn[0].exact && questionWords[strings.ToLower(first)] {
		s += "?"
	}
	if !strings.HasSuffix(s, ".") && !strings.HasSuffix(s, "?") && !strings.HasSuffix(s, "!") && !strings.HasSuffix(s, "...") {
		s += "."
	}
	return `"` + s + `"`
}

// quote renders an utterance as a quoted sentence: cleaned, capitalised,
// closed with a full stop, in double quotes.
func quote(u *utterance) string {
	clean := cleanText(u)
	s := capitalise(clean)
	if first, _, _ := strings.Cut(clean, " "); !u.exact && questionWords[strings.ToLower(first)] {
		s += "?"
	}
	if !strings.HasSuffix(s, ".") && !strings.HasSuffix(s, "?") && !strings.HasSuffix(s, "!") && !strings.HasSuffix(s, "...") {
		s += "."
	}
	return `"` + s + `"`
}

// cleanText is an utterance's words without fillers, leading discourse
// markers or false starts (a word or two to four words said twice in a row:
// "i i want", "i want to i want to book"), at most quoteWords words. The
// platform's own text is exact and kept as written.
func cleanText(u *utterance) string {
	if u.exact {
		return excerpt(u.words, quoteWords)
	}
	words := slices.Clone(u.tokens)
	// Filler phrases, then filler words.
	for _, p := range fillerPhrases {
		for {
			at := p.find(words)
			if len(at) == 0 {
				break
			}
			words = slices.Delete(words, at[0], at[0]+len(p.tokens))
		}
	}
	words = slices.DeleteFunc(words, func(w string) bool { return fillers[w] })
	for len(words) > minRequestTokens && leadIns[words[0]] {
		words = words[1:]
	}
	// False starts: drop the first of two identical runs.
	for n := 4; n >= 1; n-- {
		for i := 0; i+2*n <= len(words); {
			if slices.Equal(words[i:i+n], words[i+n:i+2*n]) {
				words = slices.Delete(words, i, i+n)
				continue
			}
			i++
		}
	}
	return tidy(excerpt(words, quoteWords))
}

// tidy writes the pronoun I in upper case, as recognisers write "i".
func tidy(s string) string {
	fields := strings.Fields(s)
	for i, f := range fields {
		switch f {
		case "i", "i'm", "i'd", "i'll", "i've":
			fields[i] = "I" + f[1:]
		case "im":
			fields[i] = "I'm"
		}
	}
	return strings.Join(fields, " ")
}
