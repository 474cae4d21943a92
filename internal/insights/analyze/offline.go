package analyze

import (
	"context"
	"fmt"
)

// OfflineName is the offline engine's name in results.
const OfflineName = "offline"

// Offline is the deterministic analyser: extractive summary, rule-based
// scorecard with a lexicon for sentiment, and TF-IDF topics, from data
// embedded in the binary. The same input always gives the same result. It
// holds no state and is safe for concurrent use.
type Offline struct{}

var (
	_ Engine = (*Offline)(nil)
	_ Engine = (*LLM)(nil)
)

// NewOffline returns the offline analyser.
func NewOffline() *Offline { return &Offline{} }

// Name returns "offline".
func (*Offline) Name() string { return OfflineName }

// Available always returns nil: everything the engine needs is built in.
func (*Offline) Available(context.Context) error { return nil }

// Analyze summarises, scores and finds the topics of one call. The only
// error is ctx's, so a canceled job can stop early.
func (o *Offline) Analyze(ctx context.Context, in Input) (*Result, error) {
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("analyze: %w", err)
	}
	r := loadResources()
	t := prepare(in.Transcription, in.Call)
	res := &Result{
		Summary: summarise(in, &t),
		Score:   scorecard(in, &t),
		Topics:  topics(in, &t, r),
	}
	res.Summary.Engine, res.Score.Engine, res.Topics.Engine = OfflineName, OfflineName, OfflineName
	return res, nil
}
