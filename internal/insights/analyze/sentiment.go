package analyze

import (
	"fmt"
	"math"
	"strings"

	"github.com/minivoice/minivoice/internal/voice"
)

// Sentiment that a misrecognised word cannot turn around. A recogniser
// that hears "charged nice" for "charged twice" hands a lexicon a
// positive word in the middle of a complaint; one that hears "great" for
// "grey" makes a neutral caller happy. So:
//
//   - complaint phrasing ("charged twice", "money back", "not working",
//     "want a refund", ...) is a negative cue in itself, and the positive
//     words of a segment holding one count nothing: they are either
//     misheard or courtesy inside a complaint ("nice", "please", "thanks");
//   - a mood needs agreement: distinct cues of its sign adding up to
//     minCues, a word counting as its segment's confidence and a
//     complaint or praise phrase as strongCue; one word alone, or two
//     from a segment the recogniser doubted, leave the speaker neutral;
//   - a call with a complaint is never positive overall, and in it only
//     strong praise ("thank you so much") offsets the complaint, not the
//     courtesy words that close most calls ("ok great thanks");
//   - each word's valence is weighted by its segment's confidence, so what
//     the recogniser doubted moves the mood less (the platform's own
//     speech is exact, confidence 1).

const (
	// minCues is how many agreeing cues a mood needs. A word counts as
	// its segment's confidence (at best 1), a complaint or praise phrase as
	// strongCue whatever the confidence: a recogniser invents single words
	// ("lie", "blind" for "like", "book an appointment") far more easily
	// than a phrase such as "charged twice". So two words heard with
	// confidence 0.75 or more agree; two from a doubted segment do not.
	minCues = 1.5
	// strongCue is what a strong complaint phrase counts for, so that it
	// makes a mood on its own.
	strongCue = 2
	// strongValence and weakValence are the valences of complaint phrases.
	strongValence = -2.5
	weakValence   = -1.2
)

// complaintPhrases are said by people complaining; strong ones are a
// complaint on their own, weak ones need a second cue.
var (
	strongComplaints = newPhrases("charged twice", "billed twice", "charged me twice", "billed me twice",
		"double charged", "charged double", "overcharged", "money back", "want a refund", "want my refund",
		"demand a refund", "not received my refund", "still have not received", "never received", "never arrived",
		"not working", "stopped working", "doesn't work", "does not work", "isn't working", "is not working",
		"not been delivered", "arrived damaged", "unacceptable", "ridiculous", "terrible", "worst", "third time",
		"nobody has fixed", "no one has fixed", "fed up", "is wrong", "that's wrong", "very angry", "frustrated",
		"disappointed", "too high", "no internet", "not turn on", "not turning on", "won't turn on")
	weakComplaints = newPhrases("refund", "cancel", "terminate", "broken", "wrong", "late", "delayed",
		"locked out", "still not", "still has not", "still hasn't", "complaint", "complain", "problem", "issue",
		"angry", "upset", "never made", "do not recognise", "do not recognize", "don't recognise", "don't recognize")
	// strongPraise are positive phrases that make a mood on their own
	// (they count as strongCue cues): thanks with an intensifier, praise.
	strongPraise = newPhrases("thank you so much", "thank you very much", "thanks so much", "thanks a lot",
		"thank you a lot", "really appreciate", "much appreciated", "very helpful", "sounds good", "sounds great",
		"that's great", "that is great", "wonderful", "excellent service", "great service")
	// Complaints and praise are matched on stems, so "stopped working",
	// "stop working" (a recogniser's) and "stops working" are one phrase.
	strongComplaintStems = stemAll(strongComplaints)
	weakComplaintStems   = stemAll(weakComplaints)
	strongPraiseStems    = stemAll(strongPraise)
)

func stemAll(ps []phrase) []phrase {
	out := make([]phrase, len(ps))
	for i, p := range ps {
		out[i] = p.stemmed()
	}
	return out
}

// mood is a speaker's sentiment, computed over their utterances.
type mood struct {
	words    int
	compound float64 // -1..1, 0 when no mood was agreed
	label    string  // positive, negative, neutral
	strong   *scored // the cue that moved it most in its direction
	complain bool
}

// scored is one cue that moved a speaker's sentiment.
type scored struct {
	u        *utterance
	from, to int // token span quoted: the negation, if any, through the word
	v        float64
	praise   bool // a strongPraise phrase
}

// sentimentOf computes the mood of the utterances keep accepts.
func sentimentOf(t *transcript, r *resources, keep func(*utterance) bool) mood {
	var m mood
	var pos, neg []scored
	posCues, negCues := map[string]float64{}, map[string]float64{} // distinct cues and what each counts for
	for i := range t.utts {
		u := &t.utts[i]
		if !keep(u) {
			continue
		}
		m.words += len(u.tokens)
		inPhrase := make([]bool, len(u.tokens))
		strong := false
		for _, set := range []struct {
			ps     []phrase
			v      float64
			counts int
			praise bool
		}{{strongComplaintStems, strongValence, strongCue, false}, {weakComplaintStems, weakValence, 1, false},
			{strongPraiseStems, -strongValence, strongCue, true}} {
			for _, p := range set.ps {
				for _, at := range p.find(u.stems) {
					if overlaps(inPhrase, at, len(p.tokens)) {
						continue
					}
					for k := at; k < at+len(p.tokens); k++ {
						inPhrase[k] = true
					}
					cue := scored{u: u, from: at, to: at + len(p.tokens), v: set.v * u.conf}
					name := strings.Join(p.tokens, " ")
					switch {
					case set.praise && negatedAt(u.tokens, at):
						continue
					case set.praise:
						cue.praise = true
						pos = append(pos, cue)
						posCues[name] = max(posCues[name], float64(set.counts))
					default:
						neg = append(neg, cue)
						negCues[name] = max(negCues[name], float64(set.counts))
						strong = strong || set.counts == strongCue
					}
				}
			}
		}
		m.complain = m.complain || strong
		for j, tok := range u.tokens {
			v, ok := r.valence[tok]
			if !ok || inPhrase[j] || negations[tok] || neutralInCalls[tok] {
				continue
			}
			from := j
			for k := j - 1; k >= max(0, j-negationWindow); k-- {
				if negations[u.tokens[k]] {
					v *= negationScale
					from = k
					break
				}
			}
			s := scored{u: u, from: from, to: j + 1, v: v * u.conf}
			switch {
			case v > 0:
				pos = append(pos, s)
				k := strings.Join(u.tokens[from:j+1], " ")
				posCues[k] = max(posCues[k], u.conf)
			case v < 0:
				neg = append(neg, s)
				k := strings.Join(u.tokens[from:j+1], " ")
				negCues[k] = max(negCues[k], u.conf)
			}
		}
	}
	var sumPos, sumNeg float64
	for _, s := range pos {
		if hasStem(s.u, strongComplaintStems) {
			continue // misheard, or courtesy inside a complaint
		}
		if m.complain && !s.praise {
			continue // "ok great thanks" closing a complaint is courtesy
		}
		sumPos += s.v
	}
	for _, s := range neg {
		sumNeg += s.v
	}
	if cueCount(posCues) < minCues {
		sumPos = 0 // one positive word is not a mood
	}
	if cueCount(negCues) < minCues {
		sumNeg = 0
	}
	sum := sumPos + sumNeg
	if m.complain && sum > 0 {
		sum = 0 // a complaint is never positive
	}
	m.compound = sum / math.Sqrt(sum*sum+sentimentAlpha)
	m.label = "neutral"
	var cues []scored
	switch {
	case sum > 0:
		m.label, cues = "positive", pos
	case sum < 0:
		m.label, cues = "negative", neg
	}
	for i := range cues {
		if m.strong == nil || math.Abs(cues[i].v) > math.Abs(m.strong.v) {
			m.strong = &cues[i]
		}
	}
	return m
}

// cueCount adds up distinct cues: a word said three times is one cue.
func cueCount(cues map[string]float64) float64 {
	n := 0.0
	for _, c := range cues {
		n += c
	}
	return n
}

// firstStem returns the token offset of the first of the stemmed phrases
// ps in u, -1 if none.
func firstStem(u *utterance, ps []phrase) int {
	first := -1
	for _, p := range ps {
		if at := p.find(u.stems); len(at) > 0 && (first < 0 || at[0] < first) {
			first = at[0]
		}
	}
	return first
}

func overlaps(marks []bool, at, n int) bool {
	for k := at; k < at+n; k++ {
		if marks[k] {
			return true
		}
	}
	return false
}

// sentimentCriterion scores the caller side's mood (sentimentOf): 50 +
// 50 × compound, where compound = s / sqrt(s² + sentimentAlpha) over the
// agreed, confidence-weighted valences s; it passes from 50. A caller who
// said nothing, or whose cues did not agree, is neutral (50).
func sentimentCriterion(t *transcript, r *resources) voice.Criterion {
	c := voice.Criterion{Name: CriterionCallerSentiment}
	m := sentimentOf(t, r, callerSide)
	c.Score = int(math.Round(50 + 50*m.compound))
	c.Passed = c.Score >= 50
	if m.words == 0 {
		c.Evidence = "the caller said nothing: neutral"
		return c
	}
	c.Evidence = fmt.Sprintf("%s (%+.2f) over %d caller words", m.label, m.compound, m.words)
	if m.strong != nil {
		c.Evidence += fmt.Sprintf(", strongest at %s: '%s'", clock(m.strong.u.start),
			strings.Join(m.strong.u.tokens[m.strong.from:m.strong.to], " "))
	}
	return c
}
