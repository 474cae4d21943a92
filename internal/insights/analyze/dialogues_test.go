package analyze_test

import (
	"context"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/minivoice/minivoice/internal/insights/analyze"
	"github.com/minivoice/minivoice/internal/insights/analyze/evalset"
)

// The labelled dialogues of bench/insights-eval, as real calls left them:
// the platform speaking with flite, the simulator's far ends speaking with
// flite's slt voice, pocketsphinx transcribing them over G.722 (and G.711
// µ-law where stored). The analyser is deterministic, so these thresholds
// are about the stored transcripts, not the machine: they hold on a loaded
// CI machine as on any other. They sit a little under what the analyser
// reaches (docs/benchmarks.md), so a change that loses ground fails.
// thresholds are per codec: G.711 µ-law (PCMU) loses far more words in
// recognition (docs/insights.md), so fewer topics and requests survive to
// be found. requestOfRecoverable is the share of summaries holding the
// request among the calls whose transcript holds it: what the analyser can
// be asked for.
type thresholds struct {
	precision, recall, requestInSummary, requestOfRecoverable, ratingsInBand, moods float64
}

var minimums = map[string]thresholds{
	"g722": {precision: 90, recall: 85, requestInSummary: 88, requestOfRecoverable: 90, ratingsInBand: 85, moods: 80},
	"pcmu": {precision: 90, recall: 75, requestInSummary: 50, requestOfRecoverable: 85, ratingsInBand: 85, moods: 50},
	// A second G.722 run, its recognition biased towards the topic
	// keywords and the prompts (the application's vocabulary).
	"g722-vocabulary": {precision: 92, recall: 92, requestInSummary: 88, requestOfRecoverable: 90, ratingsInBand: 85, moods: 80},
}

const storedDialoguesDir = "testdata/dialogues"

func loadDialogues(t *testing.T) map[string][]*evalset.Record {
	t.Helper()
	dirs, err := filepath.Glob(filepath.Join(storedDialoguesDir, "*"))
	if err != nil || len(dirs) == 0 {
		t.Fatalf("no stored dialogues under %s: %v", storedDialoguesDir, err)
	}
	out := map[string][]*evalset.Record{}
	for _, d := range dirs {
		recs, err := evalset.LoadRecords(d)
		if err != nil {
			t.Fatal(err)
		}
		out[filepath.Base(d)] = recs
	}
	return out
}

func TestStoredDialogues(t *testing.T) {
	t.Parallel()
	for codec, recs := range loadDialogues(t) {
		t.Run(codec, func(t *testing.T) {
			if len(recs) < 30 {
				t.Fatalf("%d dialogues, want at least 30", len(recs))
			}
			var ms []evalset.Measure
			for _, r := range recs {
				res, err := analyze.NewOffline().Analyze(context.Background(), r.Input())
				if err != nil {
					t.Fatal(err)
				}
				m := evalset.Measured(r, res)
				ms = append(ms, m)
				if m.ComplaintPositive {
					t.Errorf("%s: a complaint came out positive: %+v", r.Dialogue.Name, res.Score.Criteria)
				}
				for _, tp := range res.Topics.Topics {
					e := tp.Evidence
					if e == nil || e.Text == "" || e.Matched == "" || e.End < e.Start || e.Speaker == "" {
						t.Errorf("%s: topic %q evidence %+v", r.Dialogue.Name, tp.Name, e)
					}
				}
				if !strings.HasPrefix(res.Summary.Text, "Inbound call from ") && !strings.HasPrefix(res.Summary.Text, "Outbound call from ") {
					t.Errorf("%s: summary %q has no header", r.Dialogue.Name, res.Summary.Text)
				}
			}
			tot := evalset.Total(ms)
			pct := func(n int) float64 { return 100 * float64(n) / float64(tot.Dialogues) }
			recoverable := 0
			for _, m := range ms {
				if m.RequestInSummary && m.RequestInTranscript {
					recoverable++
				}
			}
			ofRecoverable := 100 * float64(recoverable) / float64(max(1, tot.RequestInTranscript))
			t.Logf("%s: %d dialogues, topic precision %.1f %%, recall %.1f %%, request in summary %.1f %% (%.1f %% of the %d transcripts holding it), ratings in band %.1f %%, moods %.1f %%",
				codec, tot.Dialogues, tot.Precision(), tot.Recall(), pct(tot.RequestInSummary), ofRecoverable, tot.RequestInTranscript,
				pct(tot.RatingInBand), pct(tot.MoodAsLabelled))
			min, ok := minimums[codec]
			if !ok {
				t.Fatalf("no thresholds for %s", codec)
			}
			for _, c := range []struct {
				what      string
				got, want float64
			}{
				{"topic precision", tot.Precision(), min.precision},
				{"topic recall", tot.Recall(), min.recall},
				{"summaries containing the request", pct(tot.RequestInSummary), min.requestInSummary},
				{"summaries containing the request when the transcript does", ofRecoverable, min.requestOfRecoverable},
				{"ratings in band", pct(tot.RatingInBand), min.ratingsInBand},
				{"moods as labelled", pct(tot.MoodAsLabelled), min.moods},
			} {
				if c.got < c.want {
					t.Errorf("%s: %.1f %%, want >= %.0f %%", c.what, c.got, c.want)
				}
			}
		})
	}
}

// TestStoredDialogueCases checks, on real calls, the cases issue 15 was
// filed for.
func TestStoredDialogueCases(t *testing.T) {
	t.Parallel()
	recs := map[string]*evalset.Record{}
	for _, r := range loadDialogues(t)["g722"] {
		recs[r.Dialogue.Name] = r
	}
	run := func(name string) *analyze.Result {
		t.Helper()
		r := recs[name]
		if r == nil {
			t.Fatalf("no stored dialogue %q", name)
		}
		res, err := analyze.NewOffline().Analyze(context.Background(), r.Input())
		if err != nil {
			t.Fatal(err)
		}
		again, _ := analyze.NewOffline().Analyze(context.Background(), r.Input())
		if !reflect.DeepEqual(res, again) {
			t.Errorf("%s: two analyses differ", name)
		}
		return res
	}
	crit := func(res *analyze.Result, name string) (int, string) {
		for _, c := range res.Score.Criteria {
			if c.Name == name {
				return c.Score, c.Evidence
			}
		}
		return -1, ""
	}

	// A caller charged twice who wants their money back: the summary
	// says so in their words, with the key pressed and the promised call
	// back; the mood is negative; billing and refund are found.
	res := run("refund-charged-twice")
	for _, want := range []string{"The caller asked:", "money back", "The caller pressed 1.", "Follow-up:", "call you back"} {
		if !strings.Contains(res.Summary.Text, want) {
			t.Errorf("refund summary %q lacks %q", res.Summary.Text, want)
		}
	}
	if s, ev := crit(res, analyze.CriterionCallerSentiment); s >= 50 {
		t.Errorf("refund caller_sentiment %d (%s), want negative", s, ev)
	}
	if names := topicNames(res); !strings.Contains(names, "billing") || !strings.Contains(names, "refund") {
		t.Errorf("refund topics %s", names)
	}

	// An outbound reminder: the platform placed the call and stated its
	// purpose, which counts for purpose_identified.
	res = run("dental-reminder-confirm")
	if s, ev := crit(res, analyze.CriterionPurposeIdentified); s != 100 || !strings.Contains(ev, "agent side placed the call") {
		t.Errorf("reminder purpose_identified %d %q", s, ev)
	}
	if !strings.Contains(res.Summary.Text, "The platform called to say: \"Hello, this is Acme Dental calling to remind you") {
		t.Errorf("reminder summary %q", res.Summary.Text)
	}

	// A transfer to a busy line, then a voicemail: both are facts of the
	// summary, and the message is left to return.
	res = run("transfer-busy-voicemail")
	for _, want := range []string{"failed: the line was busy", "left a", "Follow-up: return the message."} {
		if !strings.Contains(res.Summary.Text, want) {
			t.Errorf("voicemail summary %q lacks %q", res.Summary.Text, want)
		}
	}

	// A voicemail about a refund gets its topic.
	if names := topicNames(run("voicemail-refund")); !strings.Contains(names, "refund") {
		t.Errorf("voicemail-refund topics %s", names)
	}

	// "I would like to book an appointment" heard as "i would lie to the
	// can of blind men" (confidence 0.63): two negative words from one
	// doubted segment are no mood.
	var r *evalset.Record
	for _, x := range loadDialogues(t)["g722-vocabulary"] {
		if x.Dialogue.Name == "book-appointment" {
			r = x
		}
	}
	if r == nil {
		t.Fatal("no stored g722-vocabulary/book-appointment")
	}
	res, err := analyze.NewOffline().Analyze(context.Background(), r.Input())
	if err != nil {
		t.Fatal(err)
	}
	if s, ev := crit(res, analyze.CriterionCallerSentiment); s < 50 {
		t.Errorf("book-appointment (misheard) caller_sentiment %d (%s), want not negative", s, ev)
	}
}

func topicNames(res *analyze.Result) string {
	var n []string
	for _, t := range res.Topics.Topics {
		n = append(n, t.Name)
	}
	return strings.Join(n, ", ")
}
