package insights

import (
	"context"
	"fmt"
	"os/exec"

	"github.com/minivoice/minivoice/internal/config"
	"github.com/minivoice/minivoice/internal/insights/analyze"
	"github.com/minivoice/minivoice/internal/insights/asr"
)

// EngineStatus says whether one engine can run, for /readyz and
// `minivoice version`.
type EngineStatus struct {
	// Kind is tts, asr or llm.
	Kind      string `json:"kind"`
	Name      string `json:"name"`
	Available bool   `json:"available"`
	// Detail says why an engine is unavailable, or which one stands in.
	Detail string `json:"detail,omitempty"`
}

// InsightsNice is the niceness of the insights pipeline's recogniser
// processes.
const InsightsNice = 10

// Engines are the engines the settings select.
type Engines struct {
	ASR      asr.Engine
	Analyzer analyze.Engine
	// LLM is the configured LLM engine, nil when the offline analyser runs.
	LLM *analyze.LLM
	// FliteBin is the TTS binary whose presence is reported.
	FliteBin string
}

// NewEngines builds the engines c selects: an OpenAI-compatible ASR server
// when --asr-url is set, else pocketsphinx; an OpenAI-compatible chat server
// when --llm-url is set, else the offline analyser.
func NewEngines(c config.Insights) (*Engines, error) {
	e := &Engines{FliteBin: "flite"}
	if c.ASRURL != "" {
		o, err := asr.NewOpenAI(asr.OpenAIConfig{URL: c.ASRURL, Model: c.ASRModel, APIKey: c.ASRAPIKey, Language: c.ASRLanguage})
		if err != nil {
			return nil, fmt.Errorf("--asr-url: %w", err)
		}
		e.ASR = o
	} else {
		// Niced: transcriptions are offline work and yield the CPU to
		// calls in progress (docs/insights.md, "Recognition and live calls").
		e.ASR = asr.NewPocketsphinx(asr.PocketsphinxConfig{ModelDir: c.PocketsphinxModel, Nice: InsightsNice})
	}
	if c.LLMURL != "" {
		l, err := analyze.NewLLM(analyze.LLMConfig{URL: c.LLMURL, Model: c.LLMModel, APIKey: c.LLMAPIKey})
		if err != nil {
			return nil, fmt.Errorf("--llm-url: %w", err)
		}
		e.LLM, e.Analyzer = l, l
	} else {
		e.Analyzer = analyze.NewOffline()
	}
	return e, nil
}

// Status checks each engine.
func (e *Engines) Status(ctx context.Context) []EngineStatus {
	out := make([]EngineStatus, 0, 3)
	tts := EngineStatus{Kind: "tts", Name: "flite", Available: true}
	if _, err := exec.LookPath(e.FliteBin); err != nil {
		tts.Available, tts.Detail = false, "flite not found in PATH: install Debian's flite; say actions fail without it"
	}
	out = append(out, tts)
	a := EngineStatus{Kind: "asr", Name: e.ASR.Name(), Available: true}
	if err := e.ASR.Available(ctx); err != nil {
		a.Available, a.Detail = false, err.Error()+"; transcriptions fail with engine_unavailable"
	}
	out = append(out, a)
	l := EngineStatus{Kind: "llm", Name: e.Analyzer.Name(), Available: true}
	if e.LLM == nil {
		l.Name, l.Available, l.Detail = "none", false, "not configured (--llm-url): the offline analyser computes summary, score and topics"
	} else if err := e.LLM.Available(ctx); err != nil {
		l.Available, l.Detail = false, err.Error()+"; insights fail with engine_unavailable"
	}
	out = append(out, l)
	return out
}
