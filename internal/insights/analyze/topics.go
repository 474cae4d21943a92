package analyze

import (
	"cmp"
	"math"
	"slices"
	"strings"
	"unicode"

	"github.com/minivoice/minivoice/internal/voice"
)

// Topic parameters.
const (
	// A matched application topic's confidence is appBase + appPerMention
	// per mention, at most 1: one mention 0.7, four or more 1.0.
	appBase       = 0.6
	appPerMention = 0.1
	// maxSalient caps the salient phrases listed after the application's
	// topics.
	maxSalient = 5
	// surpriseBase is subtracted from a word's surprise (-log10 of its
	// background probability) to give its IDF-like weight, so the thousand
	// or so commonest words ("call", "money", "problem" sit at 3.0 to 3.5)
	// weigh little or nothing and only what is unusual for everyday speech
	// stands out ("refund" 2.0, "billing" 2.6; unknown words 3.4).
	surpriseBase = 3.0
	// A candidate is salient when its weight (mentions × word weight,
	// summed over a bigram's two words) is at least minSalientWeight and it
	// was mentioned at least twice or weighs at least singleMentionWeight.
	minSalientWeight    = 2.0
	singleMentionWeight = 5.0
	// salientHalf is the weight at which a salient phrase's confidence is
	// 0.5: confidence = weight / (weight + salientHalf).
	salientHalf = 5.0
	// minWordLetters is the shortest word a salient phrase may contain.
	minWordLetters = 3
)

// topics lists the application's topics that were mentioned (most mentions
// first, ties in the application's order), then up to maxSalient salient
// words and two-word phrases (heaviest first, ties alphabetically).
func topics(in Input, t *transcript, r *resources) voice.Topics {
	out := []voice.Topic{}
	type app struct {
		topic voice.Topic
		order int
	}
	var apps []app
	for i, def := range in.Topics {
		at := map[[2]int]bool{}
		for _, p := range newPhrases(def.Keywords...) {
			for _, h := range t.count(p, anySide) {
				// A place counts once even if two keywords match it
				// ("refund" and "refund request").
				at[[2]int{h.u.index, h.pos}] = true
			}
		}
		if n := len(at); n > 0 {
			conf := round2(min(1, appBase+appPerMention*float64(n)))
			apps = append(apps, app{voice.Topic{Name: def.Name, Confidence: conf, Mentions: n}, i})
		}
	}
	slices.SortStableFunc(apps, func(a, b app) int { return cmp.Compare(b.topic.Mentions, a.topic.Mentions) })
	for _, a := range apps {
		out = append(out, a.topic)
	}
	return voice.Topics{Topics: append(out, salient(in.Topics, t, r)...)}
}

// salient finds the transcript's salient words and bigrams: candidates
// whose words have at least minWordLetters letters, no digits, and are not
// stop words nor words of the application's topic names or keywords;
// weighed by TF-IDF against the background (see surpriseBase). A candidate
// sharing a word with one already listed is skipped, so "credit card" and
// "card" are not both listed.
func salient(defs []voice.TopicDef, t *transcript, r *resources) []voice.Topic {
	taken := map[string]bool{}
	for _, d := range defs {
		for _, w := range tokens(d.Name) {
			taken[w] = true
		}
		for _, k := range d.Keywords {
			for _, w := range tokens(k) {
				taken[w] = true
			}
		}
	}
	ok := func(w string) bool {
		if stopWords[w] || taken[w] {
			return false
		}
		letters := 0
		for _, c := range w {
			if unicode.IsDigit(c) {
				return false
			}
			if unicode.IsLetter(c) {
				letters++
			}
		}
		return letters >= minWordLetters
	}
	tf := map[string]int{}
	for _, u := range t.utts {
		for i, w := range u.tokens {
			if !ok(w) {
				continue
			}
			tf[w]++
			if i+1 < len(u.tokens) && ok(u.tokens[i+1]) {
				tf[w+" "+u.tokens[i+1]]++
			}
		}
	}
	weight := func(w string) float64 { return max(0, r.surpriseOf(w)-surpriseBase) }
	type cand struct {
		name   string
		words  []string
		n      int
		weight float64
	}
	cands := make([]cand, 0, len(tf))
	for name, n := range tf {
		words := strings.Split(name, " ")
		var w float64
		for _, x := range words {
			w += weight(x)
		}
		w *= float64(n)
		if w >= minSalientWeight && (n >= 2 || w >= singleMentionWeight) {
			cands = append(cands, cand{name, words, n, w})
		}
	}
	slices.SortFunc(cands, func(a, b cand) int {
		if c := cmp.Compare(b.weight, a.weight); c != 0 {
			return c
		}
		return cmp.Compare(a.name, b.name)
	})
	var out []voice.Topic
	used := map[string]bool{}
	for _, c := range cands {
		if len(out) == maxSalient {
			break
		}
		if slices.ContainsFunc(c.words, func(w string) bool { return used[w] }) {
			continue
		}
		for _, w := range c.words {
			used[w] = true
		}
		out = append(out, voice.Topic{Name: c.name, Confidence: round2(c.weight / (c.weight + salientHalf)), Mentions: c.n})
	}
	return out
}

func round2(x float64) float64 { return math.Round(x*100) / 100 }
