// Package analyze turns a call's transcript into its insights: a summary, a
// score against a scorecard and the topics discussed (insights.md, "Summary,
// score, topics").
//
// Two engines implement it. Offline is the default: deterministic, pure Go,
// with its word lists embedded, so nothing leaves the machine and the same
// transcript always gives the same answer. LLM asks an OpenAI-compatible chat
// server the operator runs, and shapes its answer exactly like Offline's.
//
// Scorecard terms: the "caller" is the far end of the recorded leg (channel
// 0, the customer), the "agent" is the other side (channel 1: the bridged
// party or the platform's prompts), whichever way the call was placed.
package analyze

import (
	"context"
	"errors"
	"fmt"
	"math"
	"slices"
	"strings"
	"unicode/utf8"

	"github.com/minivoice/minivoice/internal/voice"
)

// Input is what an engine analyses.
type Input struct {
	// Call says who called whom, for how long and how it ended; it may be
	// nil or have zero fields, and the summary's header says less.
	Call *voice.Call
	// Transcription holds the labelled segments: channel 0 is the far end
	// of the recorded leg (the caller, in scorecard terms), channel 1 the
	// other side (the agent). Mono recordings have only channel 0. Nil
	// counts as no speech.
	Transcription *voice.Transcription
	// Topics is the application's topic list, matched before salient
	// phrases are looked for.
	Topics []voice.TopicDef
	// Criteria are the application's scorecard lines, appended to the
	// default scorecard.
	Criteria []voice.ScoreCriterion
	// Facts are what the call did besides talking (keys pressed, dials,
	// messages left); nil when unknown.
	Facts *Facts
}

// Result is an engine's analysis. Each part's Engine is set by the engine;
// CallID, RecordingID and Status are the caller's to set.
type Result struct {
	Summary voice.Summary
	Score   voice.Score
	Topics  voice.Topics
}

// Engine analyses transcripts.
type Engine interface {
	// Name identifies the engine in results: "offline", or "llm:" + model.
	Name() string
	// Available returns nil when the engine can be used, else an error
	// wrapping ErrUnavailable that says why.
	Available(ctx context.Context) error
	// Analyze analyses one call. Errors wrapping ErrUnavailable or
	// ErrRejected are permanent; any other error is worth a retry.
	Analyze(ctx context.Context, in Input) (*Result, error)
}

var (
	// ErrUnavailable means the engine is missing or misconfigured: retrying
	// will not help until the operator fixes it.
	ErrUnavailable = errors.New("analyze: engine unavailable")
	// ErrRejected means the engine refused the input, or gave an answer that
	// could not be used even after being asked again.
	ErrRejected = errors.New("analyze: engine rejected the input")
)

// Default scorecard names, in the order every score lists them.
const (
	CriterionGreeting          = "greeting"
	CriterionPurposeIdentified = "purpose_identified"
	CriterionResolutionStated  = "resolution_stated"
	CriterionPoliteness        = "politeness"
	CriterionNoLongSilences    = "no_long_silences"
	CriterionCallerSentiment   = "caller_sentiment"
)

// defaultCriteria is the default scorecard in order.
var defaultCriteria = []string{CriterionGreeting, CriterionPurposeIdentified, CriterionResolutionStated,
	CriterionPoliteness, CriterionNoLongSilences, CriterionCallerSentiment}

// DefaultCriteria returns the names of the default scorecard, in the order
// every score lists them before the application's own criteria.
func DefaultCriteria() []string { return slices.Clone(defaultCriteria) }

// Rating thresholds on the 0..100 total: excellent from 85, good from 70,
// fair from 50, else poor.
const (
	excellentFrom = 85
	goodFrom      = 70
	fairFrom      = 50
)

// Limits on application-supplied lists, checked by ValidateCriteria and
// ValidateTopics: they bound the work a score does and the size of a prompt.
const (
	MaxEntries   = 50  // criteria or topics per application
	MaxPhrases   = 50  // phrases per criterion list or keywords per topic
	MaxNameLen   = 100 // characters of a criterion or topic name
	MaxPhraseLen = 100 // characters of one phrase
)

// rate turns criterion scores into the total (their rounded mean, 0 when
// there are none) and its rating.
func rate(cs []voice.Criterion) (int, string) {
	total := 0
	if len(cs) > 0 {
		sum := 0
		for _, c := range cs {
			sum += c.Score
		}
		total = int(math.Round(float64(sum) / float64(len(cs))))
	}
	switch {
	case total >= excellentFrom:
		return total, voice.RatingExcellent
	case total >= goodFrom:
		return total, voice.RatingGood
	case total >= fairFrom:
		return total, voice.RatingFair
	}
	return total, voice.RatingPoor
}

// ValidateCriteria checks an application's scorecard lines: at most
// MaxEntries, each with a unique name of 1..MaxNameLen characters that is
// not a default criterion's, a speaker of "", any, caller or agent, at
// least one phrase in any_of, required or forbidden, at most MaxPhrases per
// list, and phrases of 1..MaxPhraseLen characters with at least one word.
// param names the list in the error, such as "score_criteria"; the error is
// a *voice.Error from voice.Invalid.
func ValidateCriteria(param string, cs []voice.ScoreCriterion) error {
	if len(cs) > MaxEntries {
		return voice.Invalid(param, "at most %d criteria", MaxEntries)
	}
	seen := map[string]bool{}
	for _, d := range defaultCriteria {
		seen[d] = true
	}
	for i, c := range cs {
		p := fmt.Sprintf("%s[%d]", param, i)
		if err := validateName(p+".name", c.Name); err != nil {
			return err
		}
		key := strings.ToLower(strings.TrimSpace(c.Name))
		if seen[key] {
			return voice.Invalid(p+".name", "%q is already a criterion of the scorecard", c.Name)
		}
		seen[key] = true
		switch c.Speaker {
		case "", voice.CriterionAny, voice.CriterionCaller, voice.CriterionAgent:
		default:
			return voice.Invalid(p+".speaker", "must be one of any, caller, agent")
		}
		if len(c.AnyOf)+len(c.Required)+len(c.Forbidden) == 0 {
			return voice.Invalid(p, "needs at least one phrase in any_of, required or forbidden")
		}
		for _, l := range []struct {
			name    string
			phrases []string
		}{{"any_of", c.AnyOf}, {"required", c.Required}, {"forbidden", c.Forbidden}} {
			if err := validatePhrases(p+"."+l.name, l.phrases); err != nil {
				return err
			}
		}
	}
	return nil
}

// ValidateTopics checks an application's topic list: at most MaxEntries
// topics, each with a unique name of 1..MaxNameLen characters and
// 1..MaxPhrases keywords of 1..MaxPhraseLen characters with at least one
// word. param names the list in the error, such as "topics"; the error is a
// *voice.Error from voice.Invalid.
func ValidateTopics(param string, ts []voice.TopicDef) error {
	if len(ts) > MaxEntries {
		return voice.Invalid(param, "at most %d topics", MaxEntries)
	}
	seen := map[string]bool{}
	for i, t := range ts {
		p := fmt.Sprintf("%s[%d]", param, i)
		if err := validateName(p+".name", t.Name); err != nil {
			return err
		}
		key := strings.ToLower(strings.TrimSpace(t.Name))
		if seen[key] {
			return voice.Invalid(p+".name", "duplicate topic %q", t.Name)
		}
		seen[key] = true
		if len(t.Keywords) == 0 {
			return voice.Invalid(p+".keywords", "needs at least one keyword")
		}
		if err := validatePhrases(p+".keywords", t.Keywords); err != nil {
			return err
		}
	}
	return nil
}

func validateName(param, name string) error {
	if strings.TrimSpace(name) == "" {
		return voice.Invalid(param, "is required")
	}
	if utf8.RuneCountInString(name) > MaxNameLen {
		return voice.Invalid(param, "at most %d characters", MaxNameLen)
	}
	return nil
}

func validatePhrases(param string, ps []string) error {
	if len(ps) > MaxPhrases {
		return voice.Invalid(param, "at most %d phrases", MaxPhrases)
	}
	for j, s := range ps {
		pp := fmt.Sprintf("%s[%d]", param, j)
		if n := utf8.RuneCountInString(s); n == 0 || n > MaxPhraseLen {
			return voice.Invalid(pp, "must be 1 to %d characters", MaxPhraseLen)
		}
		// Matching is word by word, so a phrase of punctuation alone
		// could never match: refusing it saves a silent surprise.
		if len(tokens(s)) == 0 {
			return voice.Invalid(pp, "must contain a word")
		}
	}
	return nil
}
