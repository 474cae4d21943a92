package analyze_test

import (
	"errors"
	"strings"
	"testing"

	"github.com/minivoice/minivoice/internal/insights/analyze"
	"github.com/minivoice/minivoice/internal/voice"
)

func TestValidateCriteria(t *testing.T) {
	t.Parallel()
	ok := voice.ScoreCriterion{Name: "intro", Speaker: voice.CriterionAgent, AnyOf: []string{"my name is"}}
	many := func(n int, s string) []string {
		out := make([]string, n)
		for i := range out {
			out[i] = s
		}
		return out
	}
	tests := []struct {
		name  string
		cs    []voice.ScoreCriterion
		param string // "" when valid
	}{
		{"none", nil, ""},
		{"valid", []voice.ScoreCriterion{ok, {Name: "no promises", Forbidden: []string{"guarantee"}},
			{Name: "verify", Speaker: voice.CriterionCaller, Required: many(50, "x")}, {Name: "any", Speaker: "any", AnyOf: []string{"a"}}}, ""},
		{"too many", func() []voice.ScoreCriterion {
			cs := make([]voice.ScoreCriterion, 51)
			for i := range cs {
				cs[i] = voice.ScoreCriterion{Name: strings.Repeat("n", i+1), AnyOf: []string{"a"}}
			}
			return cs
		}(), "score_criteria"},
		{"no name", []voice.ScoreCriterion{ok, {AnyOf: []string{"a"}}}, "score_criteria[1].name"},
		{"blank name", []voice.ScoreCriterion{{Name: "  ", AnyOf: []string{"a"}}}, "score_criteria[0].name"},
		{"long name", []voice.ScoreCriterion{{Name: strings.Repeat("é", 101), AnyOf: []string{"a"}}}, "score_criteria[0].name"},
		{"100 characters", []voice.ScoreCriterion{{Name: strings.Repeat("é", 100), AnyOf: []string{strings.Repeat("é", 100)}}}, ""},
		{"duplicate name", []voice.ScoreCriterion{ok, {Name: "Intro", AnyOf: []string{"a"}}}, "score_criteria[1].name"},
		{"default name", []voice.ScoreCriterion{{Name: "greeting", AnyOf: []string{"a"}}}, "score_criteria[0].name"},
		{"bad speaker", []voice.ScoreCriterion{{Name: "a", Speaker: "callee", AnyOf: []string{"a"}}}, "score_criteria[0].speaker"},
		{"no phrases", []voice.ScoreCriterion{{Name: "a"}}, "score_criteria[0]"},
		{"empty phrase", []voice.ScoreCriterion{{Name: "a", AnyOf: []string{""}}}, "score_criteria[0].any_of[0]"},
		{"long phrase", []voice.ScoreCriterion{{Name: "a", Required: []string{"ok", strings.Repeat("x", 101)}}}, "score_criteria[0].required[1]"},
		{"punctuation only", []voice.ScoreCriterion{{Name: "a", Forbidden: []string{"ok", "?!"}}}, "score_criteria[0].forbidden[1]"},
		{"too many phrases", []voice.ScoreCriterion{{Name: "a", Forbidden: many(51, "x")}}, "score_criteria[0].forbidden"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			checkInvalid(t, analyze.ValidateCriteria("score_criteria", tt.cs), tt.param)
		})
	}
}

func TestValidateTopics(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name  string
		ts    []voice.TopicDef
		param string
	}{
		{"none", nil, ""},
		{"valid", appTopics, ""},
		{"too many", make([]voice.TopicDef, 51), "topics"},
		{"no name", []voice.TopicDef{{Keywords: []string{"a"}}}, "topics[0].name"},
		{"duplicate", []voice.TopicDef{{Name: "Billing", Keywords: []string{"a"}}, {Name: "billing ", Keywords: []string{"b"}}}, "topics[1].name"},
		{"no keywords", []voice.TopicDef{{Name: "a"}}, "topics[0].keywords"},
		{"too many keywords", []voice.TopicDef{{Name: "a", Keywords: make([]string, 51)}}, "topics[0].keywords"},
		{"empty keyword", []voice.TopicDef{{Name: "a", Keywords: []string{"b", ""}}}, "topics[0].keywords[1]"},
		{"long keyword", []voice.TopicDef{{Name: "a", Keywords: []string{strings.Repeat("k", 101)}}}, "topics[0].keywords[0]"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			checkInvalid(t, analyze.ValidateTopics("topics", tt.ts), tt.param)
		})
	}
}

// checkInvalid checks that err is nil when param is "", else an
// invalid_request *voice.Error for param.
func checkInvalid(t *testing.T, err error, param string) {
	t.Helper()
	if param == "" {
		if err != nil {
			t.Fatalf("unexpected error %v", err)
		}
		return
	}
	var ve *voice.Error
	if !errors.As(err, &ve) {
		t.Fatalf("error %v (%T), want *voice.Error", err, err)
	}
	if ve.Code != voice.ECodeInvalidRequest || ve.Param != param {
		t.Errorf("code %q param %q (%s), want invalid_request for %q", ve.Code, ve.Param, ve.Message, param)
	}
}
