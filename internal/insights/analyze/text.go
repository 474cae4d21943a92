package analyze

import (
	"cmp"
	"fmt"
	"math"
	"slices"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/minivoice/minivoice/internal/voice"
)

// role is whose words a segment holds, in scorecard terms.
type role int

const (
	roleCaller  role = iota // channel 0: the far end of the recorded leg
	roleAgent               // any other channel: the bridged party or the prompts
	roleUnknown             // a mono recording: both sides mixed
)

// label names the role in evidence.
func (r role) label() string {
	switch r {
	case roleCaller:
		return voice.CriterionCaller
	case roleAgent:
		return voice.CriterionAgent
	}
	return "speaker"
}

// matches reports whether a criterion for speaker (any, caller, agent or "")
// looks at this role's words. In a mono recording nobody can tell the sides
// apart, so every speaker filter sees everything.
func (r role) matches(speaker string) bool {
	switch speaker {
	case voice.CriterionCaller:
		return r != roleAgent
	case voice.CriterionAgent:
		return r != roleCaller
	}
	return true
}

// utterance is one speech segment prepared for analysis.
type utterance struct {
	index   int // position in call order
	role    role
	speaker string // the segment's own speaker label, for key points
	start   float64
	end     float64
	words   []string // the text's whitespace-separated words, as shown in quotes
	tokens  []string // normalised words: lower case, letters, digits, inner apostrophes
	stems   []string // the tokens' stems (match.go)
	// conf is the segment's confidence in 0..1: 1 for the platform's own
	// speech (tts), the recogniser's otherwise; a missing or malformed one
	// counts as unknownConfidence.
	conf float64
	// exact is set for text known rather than recognised (source tts).
	exact bool
}

// unknownConfidence stands for a segment's confidence when the engine gave
// none (0, NaN or out of range): neither trusted nor doubted.
const unknownConfidence = 0.8

// speakerName is who said u as a segment speaker: the segment's own label
// when set, else the role's.
func (u *utterance) speakerName() string {
	if u.speaker != "" {
		return u.speaker
	}
	return u.role.label()
}

// transcript is a call's speech in call order.
type transcript struct {
	utts []utterance
	mono bool
}

// prepare puts the segments in call order (start time, then the caller
// before the agent, then the order given) and drops those without a single
// word. Times that are NaN or negative count as 0, those beyond maxSeconds
// as maxSeconds, and an end before its start as the start, so malformed
// engine output cannot upset the arithmetic.
func prepare(tr *voice.Transcription, call *voice.Call) transcript {
	t := transcript{mono: call != nil && call.RecordingChannels == voice.ChannelsMono}
	if tr == nil {
		return t
	}
	for _, s := range tr.Segments {
		words := strings.Fields(s.Text)
		toks := tokens(s.Text)
		if len(toks) == 0 {
			continue
		}
		u := utterance{role: roleCaller, speaker: s.Speaker, start: seconds(s.Start), end: seconds(s.End),
			words: words, tokens: toks, conf: s.Confidence, exact: s.Source == voice.SourceTTS}
		u.stems = make([]string, len(toks))
		for i, w := range toks {
			u.stems[i] = stem(w)
		}
		if u.exact {
			u.conf = 1
		} else if math.IsNaN(u.conf) || u.conf <= 0 || u.conf > 1 {
			u.conf = unknownConfidence
		}
		if s.Channel != 0 {
			u.role = roleAgent
		}
		if t.mono {
			u.role = roleUnknown
		}
		u.end = max(u.end, u.start)
		t.utts = append(t.utts, u)
	}
	slices.SortStableFunc(t.utts, func(a, b utterance) int {
		if c := cmp.Compare(a.start, b.start); c != 0 {
			return c
		}
		return cmp.Compare(a.role, b.role)
	})
	for i := range t.utts {
		t.utts[i].index = i
	}
	return t
}

// maxSeconds caps times at about 115 days, so that no arithmetic on them
// overflows whatever a transcriber wrote.
const maxSeconds = 1e7

func seconds(f float64) float64 {
	if math.IsNaN(f) || f < 0 {
		return 0
	}
	return min(f, maxSeconds)
}

// tokens splits text into lower-case words of letters, digits and inner
// apostrophes (typographic ones folded to '), so "Don’t!" and "don't" match.
// Everything else separates words. Text that is already lower case ASCII
// is split without copying.
func tokens(s string) []string {
	norm := strings.Map(func(r rune) rune {
		switch {
		case r >= 'a' && r <= 'z' || r >= '0' && r <= '9' || r == '\'':
			return r
		case unicode.IsLetter(r) || unicode.IsDigit(r):
			return unicode.ToLower(r)
		case r == '’' || r == 'ʼ':
			return '\''
		}
		return ' '
	}, s)
	fields := strings.Fields(norm)
	out := fields[:0]
	for _, f := range fields {
		if f = strings.Trim(f, "'"); f != "" {
			out = append(out, f)
		}
	}
	return out
}

// phrase is a whole-word phrase to look for, as normalised tokens.
type phrase struct {
	tokens []string
}

func newPhrases(ss ...string) []phrase {
	out := make([]phrase, 0, len(ss))
	for _, s := range ss {
		out = append(out, phrase{tokens: tokens(s)})
	}
	return out
}

// stemmed returns p with its tokens stemmed, to find in utterances' stems.
func (p phrase) stemmed() phrase {
	out := phrase{tokens: make([]string, len(p.tokens))}
	for i, w := range p.tokens {
		out.tokens[i] = stem(w)
	}
	return out
}

// find returns the token offsets where p starts in toks, not overlapping.
func (p phrase) find(toks []string) []int {
	n := len(p.tokens)
	if n == 0 {
		return nil
	}
	var at []int
	for i := 0; i+n <= len(toks); i++ {
		if toks[i] == p.tokens[0] && slices.Equal(toks[i+1:i+n], p.tokens[1:]) {
			at = append(at, i)
			i += n - 1
		}
	}
	return at
}

// hit is one occurrence of a phrase in an utterance.
type hit struct {
	u   *utterance
	pos int // token offset
	p   phrase
}

// quote renders a hit as evidence: "at 0:03 agent: 'thank you for calling'".
func (h hit) quote() string { return h.quoteAround(0, 0) }

// quoteAround quotes the hit with up to before and after words of context
// ("your appointment is booked for tuesday at ten").
func (h hit) quoteAround(before, after int) string {
	from := max(0, h.pos-before)
	to := min(len(h.u.tokens), h.pos+len(h.p.tokens)+after)
	return fmt.Sprintf("at %s %s: '%s'", clock(h.u.start), h.u.role.label(), strings.Join(h.u.tokens[from:to], " "))
}

// findFirst returns the earliest occurrence of any of ps in the utterances
// that keep accepts; ok is false when there is none. An occurrence preceded
// by a negation within negationWindow tokens ("not resolved") does not count
// when skipNegated is set.
func (t *transcript) findFirst(ps []phrase, keep func(*utterance) bool, skipNegated bool) (hit, bool) {
	for i := range t.utts {
		u := &t.utts[i]
		if !keep(u) {
			continue
		}
		best := hit{pos: -1}
		for _, p := range ps {
			for _, at := range p.find(u.tokens) {
				if skipNegated && negatedAt(u.tokens, at) {
					continue
				}
				if best.pos < 0 || at < best.pos {
					best = hit{u: u, pos: at, p: p}
				}
				break
			}
		}
		if best.pos >= 0 {
			return best, true
		}
	}
	return hit{}, false
}

// count returns every occurrence of p in the utterances keep accepts.
func (t *transcript) count(p phrase, keep func(*utterance) bool) []hit {
	var out []hit
	for i := range t.utts {
		u := &t.utts[i]
		if !keep(u) {
			continue
		}
		for _, at := range p.find(u.tokens) {
			out = append(out, hit{u: u, pos: at, p: p})
		}
	}
	return out
}

// clock formats seconds from the start of the recording as m:ss, or h:mm:ss
// from the first hour on.
func clock(s float64) string {
	n := int(seconds(s))
	if n >= 3600 {
		return fmt.Sprintf("%d:%02d:%02d", n/3600, n/60%60, n%60)
	}
	return fmt.Sprintf("%d:%02d", n/60, n%60)
}

// excerpt returns the first n words, with "..." when cut.
func excerpt(words []string, n int) string {
	if len(words) <= n {
		return strings.Join(words, " ")
	}
	return strings.Join(words[:n], " ") + "..."
}

// capitalise upper-cases the first letter of s.
func capitalise(s string) string {
	r, n := utf8.DecodeRuneInString(s)
	if n == 0 || r == utf8.RuneError {
		return s
	}
	return string(unicode.ToUpper(r)) + s[n:]
}

// negations turn the sentiment of the words after them around, and cancel
// the resolution phrases they precede. Speech recognisers write contractions
// with or without the apostrophe, so both spellings are listed.
var negations = set(
	"not", "no", "never", "nothing", "nobody", "none", "neither", "nor", "nowhere", "without", "hardly", "barely",
	"don't", "dont", "doesn't", "doesnt", "didn't", "didnt", "isn't", "isnt", "aren't", "arent", "wasn't", "wasnt",
	"weren't", "werent", "won't", "wont", "wouldn't", "wouldnt", "can't", "cant", "cannot", "couldn't", "couldnt",
	"shouldn't", "shouldnt", "haven't", "havent", "hasn't", "hasnt", "hadn't", "hadnt", "ain't", "aint", "mustn't",
	"needn't",
)

// negationWindow is how many tokens before a word a negation still applies
// to: "not very good", "never been so happy" (VADER uses the same three).
const negationWindow = 3

func negatedAt(toks []string, at int) bool {
	for i := max(0, at-negationWindow); i < at; i++ {
		if negations[toks[i]] {
			return true
		}
	}
	return false
}

func set(ws ...string) map[string]bool {
	m := make(map[string]bool, len(ws))
	for _, w := range ws {
		m[w] = true
	}
	return m
}

// stopWords carry no topic: function words plus the fillers and courtesies
// of phone conversations ("yeah", "okay", "thanks"), which would otherwise
// dominate both centrality and salience.
var stopWords = set(
	"a", "about", "above", "after", "again", "against", "all", "also", "am", "an", "and", "any", "are", "aren't", "arent",
	"as", "at", "be", "because", "been", "before", "being", "below", "between", "both", "but", "by", "can", "can't",
	"cant", "could", "couldn't", "did", "didn't", "didnt", "do", "does", "doesn't", "doesnt", "doing", "don't", "dont",
	"down", "during", "each", "either", "else", "even", "ever", "every", "few", "for", "from", "further", "had",
	"hadn't", "has", "hasn't", "have", "haven't", "having", "he", "he'd", "he'll", "he's", "her", "here", "here's",
	"hers", "herself", "him", "himself", "his", "how", "how's", "however", "i", "i'd", "i'll", "i'm", "i've", "id",
	"if", "ill", "im", "in", "into", "is", "isn't", "isnt", "it", "it's", "its", "itself", "ive", "just", "let",
	"let's", "lets", "may", "maybe", "me", "might", "more", "most", "much", "must", "my", "myself", "no", "nor", "not",
	"now", "of", "off", "on", "once", "one", "only", "or", "other", "ought", "our", "ours", "ourselves", "out", "over",
	"own", "per", "quite", "rather", "really", "same", "shall", "she", "she'd", "she'll", "she's", "should",
	"shouldn't", "so", "some", "still", "such", "than", "that", "that's", "thats", "the", "their", "theirs", "them",
	"themselves", "then", "there", "there's", "theres", "these", "they", "they'd", "they'll", "they're", "they've",
	"this", "those", "though", "through", "thus", "to", "too", "under", "until", "up", "upon", "us", "very", "was",
	"wasn't", "we", "we'd", "we'll", "we're", "we've", "were", "weren't", "what", "what's", "whats", "when", "when's",
	"where", "where's", "whether", "which", "while", "who", "who's", "whom", "whose", "why", "why's", "will", "with",
	"within", "won't", "wont", "would", "wouldn't", "yet", "you", "you'd", "you'll", "you're", "you've", "youre",
	"your", "yours", "yourself", "yourselves",
	// Conversation: fillers, courtesies, acknowledgements and the most
	// common verbs of speech, which say nothing about the subject.
	"ah", "aha", "alright", "anyway", "anything", "bye", "come", "did", "doing", "eh", "er", "erm", "get", "gets",
	"getting", "go", "goes", "going", "goodbye", "gonna", "got", "gotta", "great", "hello", "hey", "hi", "hmm", "huh",
	"know", "like", "look", "make", "mhm", "mm", "need", "oh", "ok", "okay", "please", "right", "said", "say",
	"says", "see", "something", "sorry", "sure", "take", "tell", "thank", "thanks", "thing", "things", "think", "uh",
	"uhm", "um", "umm", "want", "wanna", "well", "yeah", "yep", "yes", "yup", "actually", "kind", "lot", "mean",
	"two", "three", "four", "five", "six", "seven", "eight", "nine", "ten", "zero", "first", "second",
	// The words of phone menus and their prompts, which are the
	// application's script rather than what a call was about.
	"press", "pressed", "calling", "call", "called", "hold", "tone", "option", "options", "menu",
)
