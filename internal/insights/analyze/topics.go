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
	// per mention, at most 1 (one mention 0.7, four or more 1.0), times
	// the quality of its best mention (1 for an exact one).
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

// Matching keywords through recognition errors (match.go), and its bounds:
// keywords and transcripts are the customer's, so the work is capped.
const (
	// stemQuality is a mention's quality when only the stems match
	// ("appointments" for "appointment").
	stemQuality = 0.95
	// Fuzzy matching applies to keywords of at most maxFuzzyWords words
	// and minFuzzyLetters..maxFuzzyLetters letters: shorter ones ("bill")
	// have too many sound-alike neighbours ("will", "bell"), and longer
	// ones are phrases a recogniser rarely gets near enough to count.
	maxFuzzyWords   = 3
	minFuzzyLetters = 5
	maxFuzzyLetters = 40
	// A window of recognised words matches a keyword when its phonetic
	// key is within a quarter of the keyword's key length (at least 1)
	// and its letters within a third of the keyword's letters. Quality is
	// 1 minus the mean of the two relative distances.
	//
	// minFuzzyQuality is the least quality accepted from a segment of
	// confidence 1; a segment of confidence c accepts fuzzyConfidenceSlack
	// × (1-c) less, since the less sure the recogniser was, the likelier
	// the near word stands for the keyword. The mention's quality is then
	// scaled by (1+c)/2, so near matches in doubtful segments weigh less.
	minFuzzyQuality      = 0.78
	fuzzyConfidenceSlack = 0.1
	// maxTopicTokens bounds the tokens searched for topics (about two
	// hours of speech). fuzzyBudget bounds the fuzzy matching of one
	// analysis: each window looked at costs cheapCost, each one compared
	// (two edit distances of at most maxFuzzyLetters² steps) compareCost
	// more, so at most 200,000 comparisons or 4,000,000 windows. Past the
	// budget, keywords are still matched exactly and by stem, through an
	// index, at a cost of the places that start alike.
	maxTopicTokens = 20000
	fuzzyBudget    = 4000000
	cheapCost      = 1
	compareCost    = 19
)

// mention is one place an application topic was heard.
type mention struct {
	u       *utterance
	pos, n  int // tokens u.tokens[pos:pos+n] matched
	quality float64
	keyword string
}

// window is the letters and phonetic key of n tokens from pos.
type window struct {
	letters, key string
	content      bool // holds a word of at least 3 letters that is not a stop word
}

// matcher finds keywords in a transcript through recognition errors.
type matcher struct {
	t       *transcript
	utts    int                 // utterances searched (maxTopicTokens)
	stems   [][]string          // per utterance
	windows [][][]window        // per utterance, per start, per length-1
	budget  int                 // fuzzy matching left (fuzzyBudget)
	index   map[string][][2]int // stem -> (utterance, token) where it is said, in call order
	taken   map[[2]int]bool     // (utterance, token) matched by some topic
}

func newMatcher(t *transcript) *matcher {
	m := &matcher{t: t, budget: fuzzyBudget, taken: map[[2]int]bool{}, index: map[string][][2]int{}}
	total := 0
	for i := range t.utts {
		if total += len(t.utts[i].tokens); total > maxTopicTokens {
			break
		}
		m.utts = i + 1
	}
	m.stems = make([][]string, m.utts)
	m.windows = make([][][]window, m.utts)
	for i := range m.utts {
		st := t.utts[i].stems
		for j, w := range st {
			m.index[w] = append(m.index[w], [2]int{i, j})
		}
		m.stems[i] = st
	}
	return m
}

// windowsOf returns the windows of utterance i, computing them the first
// time: only recognised speech searched for a fuzzy keyword needs them.
func (m *matcher) windowsOf(i int) [][]window {
	if m.windows[i] != nil {
		return m.windows[i]
	}
	toks := m.t.utts[i].tokens
	ws := make([][]window, len(toks))
	for j := range toks {
		for n := 1; n <= maxFuzzyWords+1 && j+n <= len(toks); n++ {
			letters := strings.Join(toks[j:j+n], "")
			if len(letters) > maxFuzzyLetters+maxFuzzyLetters/3 {
				break
			}
			content := false
			for _, w := range toks[j : j+n] {
				if len(w) >= 3 && !stopWords[w] {
					content = true
				}
			}
			ws[j] = append(ws[j], window{letters: onlyLetters(letters), key: phonetic(letters), content: content})
		}
	}
	m.windows[i] = ws
	return ws
}

func onlyLetters(s string) string {
	return strings.Map(func(r rune) rune {
		if r >= 'a' && r <= 'z' {
			return r
		}
		return -1
	}, s)
}

// find returns every mention of keyword kw (its tokens) in call order: per
// place, the best of an exact, stem or fuzzy match.
func (m *matcher) find(kw []string, keyword string) []mention {
	if len(kw) == 0 {
		return nil
	}
	kwStems := make([]string, len(kw))
	for i, w := range kw {
		kwStems[i] = stem(w)
	}
	letters := onlyLetters(strings.Join(kw, ""))
	fuzzy := len(kw) <= maxFuzzyWords && len(letters) >= minFuzzyLetters && len(letters) <= maxFuzzyLetters &&
		!allStop(kw)
	key := phonetic(letters)
	limitKey, limitLetters := max(1, len(key)/4), len(letters)/3

	// Exact and stem matches first, through the index of first stems, so
	// a near match cannot take the words of a real one ("my money back"
	// for "money back"), and so their cost is the places that start
	// alike rather than the transcript's length.
	var out []mention
	exact := map[[2]int]bool{}
	next := map[int]int{} // per utterance, the first token a new match may use
	for _, at := range m.index[kwStems[0]] {
		i, j := at[0], at[1]
		u := &m.t.utts[i]
		if j < next[i] || j+len(kw) > len(u.tokens) {
			continue
		}
		q := 0.0
		switch {
		case slices.Equal(u.tokens[j:j+len(kw)], kw):
			q = 1
		case slices.Equal(m.stems[i][j:j+len(kw)], kwStems):
			q = stemQuality
		default:
			continue
		}
		out = append(out, mention{u: u, pos: j, n: len(kw), quality: q, keyword: keyword})
		for k := j; k < j+len(kw); k++ {
			exact[[2]int{i, k}] = true
		}
		next[i] = j + len(kw)
	}
	if !fuzzy || key == "" {
		return out
	}
	for i := range m.utts {
		u := &m.t.utts[i]
		// The platform's own text is exact: no recognition error to see
		// through, so only words and stems match there.
		if u.exact {
			continue
		}
		conf := u.conf
		floor := minFuzzyQuality - fuzzyConfidenceSlack*(1-conf)
		for j := 0; j < len(u.tokens) && m.budget > 0; j++ {
			if exact[[2]int{i, j}] {
				continue
			}
			best := mention{u: u, pos: j, keyword: keyword}
			for n, w := range m.windowsOf(i)[j] {
				m.budget -= cheapCost
				if !w.content || n+1 < len(kw)-1 || n+1 > len(kw)+1 || w.key == "" || w.key[0] != key[0] {
					continue
				}
				if d := len(w.letters) - len(letters); d > limitLetters || -d > limitLetters {
					continue
				}
				overlap := false
				for k := j; k <= j+n; k++ {
					overlap = overlap || exact[[2]int{i, k}]
				}
				if overlap {
					continue
				}
				m.budget -= compareCost
				dk := editDistance(key, w.key, limitKey)
				if dk > limitKey {
					continue
				}
				dl := editDistance(letters, w.letters, limitLetters)
				if dl > limitLetters {
					continue
				}
				q := 1 - (float64(dk)/float64(len(key))+float64(dl)/float64(len(letters)))/2
				if q >= floor && q*(1+conf)/2 > best.quality {
					best.n, best.quality = n+1, q*(1+conf)/2
				}
			}
			if best.quality > 0 {
				out = append(out, best)
				j += best.n - 1
			}
		}
	}
	slices.SortStableFunc(out, func(a, b mention) int {
		if c := cmp.Compare(a.u.index, b.u.index); c != 0 {
			return c
		}
		return cmp.Compare(a.pos, b.pos)
	})
	return out
}

func allStop(ws []string) bool {
	for _, w := range ws {
		if !stopWords[w] {
			return false
		}
	}
	return true
}

// topics lists the application's topics that were mentioned (most mentions
// first, ties in the application's order), then up to maxSalient salient
// words and two-word phrases (heaviest first, ties alphabetically), each
// with the segment it was first heard in.
func topics(in Input, t *transcript, r *resources) voice.Topics {
	out := []voice.Topic{}
	type app struct {
		topic voice.Topic
		order int
	}
	var apps []app
	m := newMatcher(t)
	for i, def := range in.Topics {
		at := map[[2]int]mention{}
		for _, kw := range def.Keywords {
			for _, h := range m.find(tokens(kw), kw) {
				// A place counts once even if two keywords match it
				// ("refund" and "refund request"): the best match.
				key := [2]int{h.u.index, h.pos}
				if old, ok := at[key]; !ok || h.quality > old.quality {
					at[key] = h
				}
			}
		}
		if len(at) == 0 {
			continue
		}
		var first *mention
		best := 0.0
		for _, h := range at {
			best = max(best, h.quality)
			if first == nil || h.u.index < first.u.index || h.u.index == first.u.index && h.pos < first.pos {
				h := h
				first = &h
			}
			for p := h.pos; p < h.pos+h.n; p++ {
				m.taken[[2]int{h.u.index, p}] = true
			}
		}
		n := len(at)
		conf := round2(min(1, appBase+appPerMention*float64(n)) * best)
		apps = append(apps, app{voice.Topic{Name: def.Name, Confidence: conf, Mentions: n,
			Evidence: evidence(first.u, first.pos, first.n, first.keyword)}, i})
	}
	slices.SortStableFunc(apps, func(a, b app) int { return cmp.Compare(b.topic.Mentions, a.topic.Mentions) })
	for _, a := range apps {
		out = append(out, a.topic)
	}
	return voice.Topics{Topics: append(out, salient(in.Topics, t, m, r)...)}
}

// evidenceWords bounds the text an evidence quotes around its match.
const evidenceWords = 20

// evidence describes where n tokens from pos of u were heard.
func evidence(u *utterance, pos, n int, keyword string) *voice.TopicEvidence {
	words := u.tokens
	from, to := 0, len(words)
	if len(words) > evidenceWords {
		from = max(0, min(pos-evidenceWords/2, len(words)-evidenceWords))
		to = from + evidenceWords
	}
	text := strings.Join(words[from:to], " ")
	if len(u.words) == len(u.tokens) && len(words) <= evidenceWords {
		text = strings.Join(u.words, " ") // as written, when nothing is cut
	}
	return &voice.TopicEvidence{Start: u.start, End: u.end, Speaker: u.speakerName(), Text: text,
		Matched: strings.Join(words[pos:pos+n], " "), Keyword: keyword}
}

// salient finds the transcript's salient words and bigrams: candidates
// whose words have at least minWordLetters letters, no digits, and are not
// stop words, words of the application's topic names or keywords, nor
// words an application topic matched; weighed by TF-IDF against the
// background (see surpriseBase). A candidate sharing a word with one
// already listed is skipped, so "credit card" and "card" are not both
// listed.
func salient(defs []voice.TopicDef, t *transcript, m *matcher, r *resources) []voice.Topic {
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
	type place struct{ u, pos int }
	tf := map[string]int{}
	first := map[string]place{}
	for ui := range m.utts {
		u := &t.utts[ui]
		for i, w := range u.tokens {
			if !ok(w) || m.taken[[2]int{ui, i}] {
				continue
			}
			if tf[w]++; tf[w] == 1 {
				first[w] = place{ui, i}
			}
			if i+1 < len(u.tokens) && ok(u.tokens[i+1]) && !m.taken[[2]int{ui, i + 1}] {
				b := w + " " + u.tokens[i+1]
				if tf[b]++; tf[b] == 1 {
					first[b] = place{ui, i}
				}
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
		p := first[c.name]
		out = append(out, voice.Topic{Name: c.name, Confidence: round2(c.weight / (c.weight + salientHalf)), Mentions: c.n,
			Evidence: evidence(&t.utts[p.u], p.pos, len(c.words), "")})
	}
	return out
}

func round2(x float64) float64 { return math.Round(x*100) / 100 }
