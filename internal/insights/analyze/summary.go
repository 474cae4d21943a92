package analyze

import (
	"cmp"
	"fmt"
	"math"
	"slices"
	"strings"

	"github.com/minivoice/minivoice/internal/voice"
)

// Summary parameters.
const (
	// maxSentenceWords splits longer segments into near-equal sentences:
	// recognisers without punctuation return whole turns as one segment,
	// and a 60-word turn would otherwise win centrality by length alone.
	maxSentenceWords = 25
	// maxKeyPoints caps the summary at five sentences, whatever the length
	// of the call; see summaryLength.
	maxKeyPoints = 5
	// termBase and minTermWeight turn a word's surprise against the
	// background (-log10 probability, 1.4 for "the" to 6.4 for unknown
	// words) into its background IDF.
	termBase      = 2.0
	minTermWeight = 0.1
	// excerptWords is how many words of a segment evidence quotes.
	excerptWords = 12
)

// noSpeech ends the summary of a call without recognised words.
const noSpeech = "No speech was recognised."

// summaryLength is how many sentences summarise n: one for up to three
// sentences, else a quarter of them rounded up, at most maxKeyPoints.
func summaryLength(n int) int {
	if n <= 3 {
		return min(n, 1)
	}
	return min(maxKeyPoints, (n+3)/4)
}

// header states the call's facts in one sentence, such as "Inbound call
// from +15551230001 to +15557654321, 2 min 5 s, ended by the caller hanging
// up." Whatever is unknown is left out; the duration falls back to the
// transcription's when the call has none.
func header(c *voice.Call, tr *voice.Transcription) string {
	subject := "Call"
	var parts []string
	secs := 0
	if c != nil {
		switch c.Direction {
		case voice.DirectionInbound:
			subject = "Inbound call"
		case voice.DirectionOutbound:
			subject = "Outbound call"
		}
		if c.From != "" {
			subject += " from " + c.From
		}
		if c.To != "" {
			subject += " to " + c.To
		}
		secs = c.Duration
	}
	if secs <= 0 && tr != nil {
		if d := seconds(tr.Duration); d > 0 {
			secs = max(1, int(math.Round(min(d, 1e9))))
		}
	}
	if secs > 0 {
		parts = append(parts, duration(secs))
	}
	if e := ending(c); e != "" {
		parts = append(parts, e)
	}
	if len(parts) == 0 {
		return subject + "."
	}
	return subject + ", " + strings.Join(parts, ", ") + "."
}

// duration formats whole seconds as "45 s", "2 min 5 s" or "1 h 2 min",
// leaving out zero units.
func duration(secs int) string {
	h, m, s := secs/3600, secs/60%60, secs%60
	var out []string
	if h > 0 {
		out = append(out, fmt.Sprintf("%d h", h))
	}
	if m > 0 {
		out = append(out, fmt.Sprintf("%d min", m))
	}
	if s > 0 || len(out) == 0 {
		out = append(out, fmt.Sprintf("%d s", s))
	}
	return strings.Join(out, " ")
}

// ending says how the call ended, from its final status, hangup source and
// cause; "" when the record says nothing useful.
func ending(c *voice.Call) string {
	if c == nil {
		return ""
	}
	source, cause := deref(c.HangupSource), deref(c.HangupCause)
	humanCause := strings.ReplaceAll(cause, "_", " ")
	switch c.Status {
	case voice.CallBusy:
		return "the line was busy"
	case voice.CallNoAnswer:
		return "not answered"
	case voice.CallCanceled:
		return "canceled before it was answered"
	case voice.CallFailed:
		if cause != "" {
			return "failed (" + humanCause + ")"
		}
		return "failed"
	case voice.CallInProgress:
		return "still in progress"
	}
	switch source {
	case voice.SpeakerCaller:
		return "ended by the caller hanging up"
	case voice.SpeakerCallee:
		return "ended by the called party hanging up"
	case "api":
		return "ended through the API"
	case "system":
		if cause != "" && cause != "normal_clearing" {
			return "ended by the platform (" + humanCause + ")"
		}
		return "ended by the platform"
	}
	return ""
}

func deref[T ~string](s *T) string {
	if s == nil {
		return ""
	}
	return string(*s)
}

// sentence is a stretch of an utterance the summary may quote.
type sentence struct {
	u     *utterance
	start float64
	text  string
	terms []string // content tokens: not stop words, at least two letters
}

// sentences splits each utterance into sentences of at most
// maxSentenceWords words, timing each by linear interpolation.
func sentences(t *transcript) []sentence {
	var out []sentence
	for i := range t.utts {
		u := &t.utts[i]
		n := len(u.words)
		chunks := max(1, (n+maxSentenceWords-1)/maxSentenceWords)
		size := (n + chunks - 1) / chunks
		for from := 0; from < n; from += size {
			words := u.words[from:min(n, from+size)]
			text := strings.Join(words, " ")
			toks := u.tokens
			if chunks > 1 {
				toks = tokens(text)
			}
			if len(toks) == 0 {
				continue
			}
			var terms []string
			for _, tok := range toks {
				if len(tok) >= 2 && !stopWords[tok] {
					terms = append(terms, tok)
				}
			}
			at := u.start + (u.end-u.start)*float64(from)/float64(n)
			out = append(out, sentence{u: u, start: at, text: text, terms: terms})
		}
	}
	return out
}

// centrality scores each sentence by LexRank's degree with continuous
// weights: the sum of its TF-IDF cosine similarities to every other
// sentence. A term's weight is its count in the sentence times two IDFs:
// within the call, counting sentences as documents (ln((1+N)/(1+df)) + 1),
// so a word said in every turn does not tie everything together; and
// against the background (surprise - termBase, at least minTermWeight), so
// sentences that share the call's subject ("refund", "appointment") beat
// those that share everyday words. With unit vectors the sum is v·(Σv) - 1,
// so it costs one pass rather than all pairs. Terms are visited in sorted order so the floating-point
// sums, and hence the ranking, never depend on map order.
//
// mass is each sentence's total term weight: it breaks ties in centrality,
// notably when no two sentences share a term and every centrality is 0.
func centrality(ss []sentence, r *resources) (score, mass []float64) {
	df := map[string]int{}
	for _, s := range ss {
		seen := map[string]bool{}
		for _, w := range s.terms {
			if !seen[w] {
				seen[w] = true
				df[w]++
			}
		}
	}
	n := float64(len(ss))
	type weight struct {
		term string
		w    float64
	}
	vecs := make([][]weight, len(ss))
	total := map[string]float64{}
	for i, s := range ss {
		tf := map[string]int{}
		for _, w := range s.terms {
			tf[w]++
		}
		terms := make([]string, 0, len(tf))
		for w := range tf {
			terms = append(terms, w)
		}
		slices.Sort(terms)
		var norm float64
		v := make([]weight, 0, len(terms))
		mass = append(mass, 0)
		for _, w := range terms {
			x := float64(tf[w]) * (math.Log((1+n)/(1+float64(df[w]))) + 1) * max(minTermWeight, r.surpriseOf(w)-termBase)
			v = append(v, weight{w, x})
			norm += x * x
			mass[i] += x
		}
		norm = math.Sqrt(norm)
		for j := range v {
			v[j].w /= norm
			total[v[j].term] += v[j].w
		}
		vecs[i] = v
	}
	score = make([]float64, len(ss))
	for i, v := range vecs {
		if len(v) == 0 {
			continue
		}
		var dot float64
		for _, x := range v {
			dot += x.w * total[x.term]
		}
		score[i] = max(0, dot-1)
	}
	return score, mass
}

// central returns the most central sentences of t (ties to the one with
// more content, then the earlier), in call order: the summary of a call in
// which no request, purpose or outcome was recognised.
func central(t *transcript) []sentence {
	ss := sentences(t)
	if len(ss) == 0 {
		return nil
	}
	score, mass := centrality(ss, loadResources())
	order := make([]int, len(ss))
	for i := range order {
		order[i] = i
	}
	slices.SortStableFunc(order, func(a, b int) int {
		if c := cmp.Compare(score[b], score[a]); c != 0 {
			return c
		}
		return cmp.Compare(mass[b], mass[a])
	})
	pick := order[:summaryLength(len(ss))]
	slices.Sort(pick)
	out := make([]sentence, 0, len(pick))
	for _, i := range pick {
		out = append(out, ss[i])
	}
	return out
}

// speakerLabel names who said u in a key point: the segment's own speaker
// (Caller, Callee, Platform) when the transcriber set one, else the
// scorecard role (Caller, Agent). Mono recordings mix both sides, so their
// key points say only "Speaker".
func speakerLabel(t *transcript, u *utterance) string {
	if t.mono {
		return "Speaker"
	}
	switch u.speaker {
	case voice.SpeakerCaller, voice.SpeakerCallee, voice.SpeakerPlatform:
		return capitalise(u.speaker)
	}
	return capitalise(u.role.label())
}
