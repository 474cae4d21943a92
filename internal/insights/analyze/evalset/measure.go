package evalset

import (
	"slices"
	"strings"

	"github.com/minivoice/minivoice/internal/insights/analyze"
)

// requestShare is the share of a request's content words a text must hold
// to count as containing the request: recognition loses some words of
// every sentence, so asking for all of them would measure the recogniser.
const requestShare = 0.5

// Input is what the pipeline gives the analyser for this record.
func (r *Record) Input() analyze.Input {
	return analyze.Input{Call: r.Call, Transcription: r.Transcription, Topics: r.Topics,
		Facts: analyze.NewFacts(r.Call, r.Events, r.Children, r.Recordings)}
}

// Measure is one dialogue's result against its labels.
type Measure struct {
	// Found are the application topics the analyser listed; TP, FP and FN
	// count them against the labelled topics.
	Found      []string `json:"found"`
	TP, FP, FN int
	// RequestInSummary: the summary holds at least half of the request's
	// content words; RequestInTranscript: the transcript does (an upper
	// bound: words the recogniser lost cannot be summarised).
	RequestInSummary    bool    `json:"request_in_summary"`
	RequestInTranscript bool    `json:"request_in_transcript"`
	RequestShare        float64 `json:"request_share"`
	Rating              string  `json:"rating"`
	RatingInBand        bool    `json:"rating_in_band"`
	// Mood is the caller_sentiment criterion's: negative below 50,
	// positive above, else neutral.
	Mood           string `json:"mood"`
	MoodAsLabelled bool   `json:"mood_as_labelled"`
	// ComplaintPositive: labelled negative, rated positive, the error a
	// reviewer minds most.
	ComplaintPositive bool `json:"complaint_positive"`
}

// Measured compares an analysis of r with r's labels.
func Measured(r *Record, res *analyze.Result) Measure {
	var m Measure
	app := map[string]bool{}
	for _, t := range r.Topics {
		app[t.Name] = true
	}
	want := map[string]bool{}
	for _, t := range r.Dialogue.Topics {
		want[t] = true
	}
	for _, t := range res.Topics.Topics {
		if !app[t.Name] {
			continue // a salient phrase, not a labelled topic
		}
		m.Found = append(m.Found, t.Name)
		if want[t.Name] {
			m.TP++
		} else {
			m.FP++
		}
	}
	for t := range want {
		if !slices.Contains(m.Found, t) {
			m.FN++
		}
	}
	req := ContentWords(r.Dialogue.Request)
	m.RequestShare = share(req, res.Summary.Text)
	m.RequestInSummary = m.RequestShare >= requestShare
	if r.Transcription != nil {
		m.RequestInTranscript = share(req, r.Transcription.Text) >= requestShare
	}
	m.Rating = res.Score.Rating
	m.RatingInBand = slices.Contains(r.Dialogue.Ratings, m.Rating)
	m.Mood = "neutral"
	for _, c := range res.Score.Criteria {
		if c.Name == analyze.CriterionCallerSentiment {
			switch {
			case c.Score > 50:
				m.Mood = "positive"
			case c.Score < 50:
				m.Mood = "negative"
			}
		}
	}
	m.MoodAsLabelled = m.Mood == r.Dialogue.Sentiment
	m.ComplaintPositive = r.Dialogue.Sentiment == "negative" && m.Mood == "positive"
	return m
}

// Totals sums measures.
type Totals struct {
	Dialogues, TP, FP, FN                 int
	RequestInSummary, RequestInTranscript int
	RatingInBand, MoodAsLabelled          int
	ComplaintPositive                     int
}

// Total sums ms.
func Total(ms []Measure) Totals {
	var t Totals
	for _, m := range ms {
		t.Dialogues++
		t.TP += m.TP
		t.FP += m.FP
		t.FN += m.FN
		t.RequestInSummary += b2i(m.RequestInSummary)
		t.RequestInTranscript += b2i(m.RequestInTranscript)
		t.RatingInBand += b2i(m.RatingInBand)
		t.MoodAsLabelled += b2i(m.MoodAsLabelled)
		t.ComplaintPositive += b2i(m.ComplaintPositive)
	}
	return t
}

// Precision is TP / (TP + FP) in percent; 100 when nothing was found.
func (t Totals) Precision() float64 {
	if t.TP+t.FP == 0 {
		return 100
	}
	return 100 * float64(t.TP) / float64(t.TP+t.FP)
}

// Recall is TP / (TP + FN) in percent; 100 when nothing was expected.
func (t Totals) Recall() float64 {
	if t.TP+t.FN == 0 {
		return 100
	}
	return 100 * float64(t.TP) / float64(t.TP+t.FN)
}

func b2i(b bool) int {
	if b {
		return 1
	}
	return 0
}

// evalStop are the words a request's content leaves out.
var evalStop = map[string]bool{}

func init() {
	for _, w := range strings.Fields(`a an the i i'm im me my we our you your it its is am are was were be been
		to of in on at for from with and or but so that this these those there here what when where why how
		do does did not no have has had will would could should can may might just very really please
		like want need about some any all also as by if into than then them they their he she his her
		get got make let us one two`) {
		evalStop[w] = true
	}
}

// ContentWords are text's words that carry its content: lower case, at
// least three letters, not function words, plural s dropped.
func ContentWords(text string) []string {
	var out []string
	for _, w := range words(text) {
		if len(w) < 3 || evalStop[w] {
			continue
		}
		out = append(out, stem(w))
	}
	return out
}

func share(req []string, text string) float64 {
	if len(req) == 0 {
		return 1
	}
	have := map[string]bool{}
	for _, w := range words(text) {
		have[stem(w)] = true
	}
	n := 0
	for _, w := range req {
		if have[w] {
			n++
		}
	}
	return float64(n) / float64(len(req))
}

func words(text string) []string {
	return strings.FieldsFunc(strings.ToLower(text), func(r rune) bool {
		return !(r >= 'a' && r <= 'z' || r >= '0' && r <= '9' || r == '\'')
	})
}

func stem(w string) string {
	if len(w) > 3 && strings.HasSuffix(w, "s") && !strings.HasSuffix(w, "ss") {
		return w[:len(w)-1]
	}
	return w
}
