// Command insights-eval measures the offline analyser (summary, score and
// topics) on a labelled set of realistic dialogues run through real calls:
// the platform speaks its prompts with flite, the simulator plays the far
// end (speaking with flite, pressing keys, hanging up) and the dialled
// parties, over SIP/RTP on 127.0.0.1; every call is recorded, transcribed
// by the platform's pipeline (pocketsphinx on the far ends, the prompts as
// the exact text said) and analysed. It reports topic precision and recall
// against the labels, the share of summaries that contain the request,
// ratings inside their labelled band and the far end's mood.
//
//	go run ./bench/insights-eval                          # all dialogues, G.722
//	go run ./bench/insights-eval -codec PCMU -save DIR    # and keep each call's record
//	go run ./bench/insights-eval -from DIR                # re-analyse stored records, no calls
//	go run ./bench/insights-eval -smoke                   # 3 dialogues: does the chain work
//
// -smoke (or SMOKE=1) runs three dialogues and fails unless each was
// recorded, transcribed and analysed; its numbers say nothing.
package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net/url"
	"os"
	"os/signal"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/minivoice/minivoice/internal/insights/analyze"
	"github.com/minivoice/minivoice/internal/insights/analyze/evalset"
	"github.com/minivoice/minivoice/internal/sim"
	"github.com/minivoice/minivoice/internal/tts"
	"github.com/minivoice/minivoice/internal/voice"
)

// Bounds of one dialogue's call and of its insights.
const (
	callLimit     = 3 * time.Minute
	insightsLimit = 10 * time.Minute
)

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

func run(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("insights-eval", flag.ContinueOnError)
	fs.SetOutput(stderr)
	set := fs.String("dialogues", defaultSet(), "the labelled dialogue set")
	codec := fs.String("codec", "G722", "codec of the calls: G722, PCMU or PCMA")
	voiceName := fs.String("voice", sim.DefaultVoice, "flite voice of the simulated far ends and dialled parties")
	n := fs.Int("n", 0, "run only the first n dialogues (0: all)")
	only := fs.String("only", "", "run only the dialogue with this name")
	conc := fs.Int("concurrency", 3, "calls up at once")
	save := fs.String("save", "", "write each call's record (call, events, dial legs, recordings, transcription, labels) to this directory (with -from: write the records read, labels updated)")
	from := fs.String("from", "", "analyse the records an earlier run saved in this directory instead of placing calls")
	out := fs.String("out", "", "also write the per-dialogue results as JSON to this file")
	verbose := fs.Bool("v", false, "log the platform and simulator to stderr")
	detail := fs.Bool("detail", false, "print every dialogue's summary, topics and score")
	platformRes := fs.Bool("platform", false, "measure the analysis the platform made during the run (its insights.completed events, kept by -from on an unfiltered directory) instead of analysing again: the analyser the calls were placed with")
	smoke := fs.Bool("smoke", os.Getenv("SMOKE") == "1", "quick check: 3 dialogues; fail unless each was transcribed and analysed")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()

	var recs []*evalset.Record
	start := time.Now()
	if *from != "" {
		var err error
		if recs, err = evalset.LoadRecords(*from); err != nil {
			fmt.Fprintf(stderr, "insights-eval: %v\n", err)
			return 1
		}
		// Labels come from the dialogue file when it has the dialogue, so a
		// corrected label applies to stored records too.
		if s, err := evalset.Load(*set); err == nil {
			for _, r := range recs {
				for _, d := range s.Dialogues {
					if d.Name == r.Dialogue.Name {
						r.Dialogue = d
					}
				}
			}
		}
		fmt.Fprintf(stdout, "insights-eval: %d stored records from %s\n", len(recs), *from)
	} else {
		s, err := evalset.Load(*set)
		if err != nil {
			fmt.Fprintf(stderr, "insights-eval: %v\n", err)
			return 2
		}
		ds := s.Dialogues
		if *only != "" {
			ds = nil
			for _, d := range s.Dialogues {
				if d.Name == *only {
					ds = append(ds, d)
				}
			}
		}
		if *smoke {
			ds, *conc = pick(ds, "refund-charged-twice", "dental-reminder-confirm", "billing-transfer"), 3
		}
		if *n > 0 && *n < len(ds) {
			ds = ds[:*n]
		}
		logger := slog.New(slog.DiscardHandler)
		if *verbose {
			logger = slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: slog.LevelInfo}))
		}
		fmt.Fprintf(stdout, "insights-eval: %d dialogues from %s over %s, far ends speak with %s, %s\n", len(ds), *set,
			strings.ToUpper(*codec), *voiceName, machine())
		recs, err = place(ctx, s.Topics, ds, strings.ToUpper(*codec), *voiceName, *conc, logger, stderr)
		if err != nil {
			fmt.Fprintf(stderr, "insights-eval: %v\n", err)
			return 1
		}
	}
	if *save != "" {
		for _, r := range recs {
			if err := r.Save(*save); err != nil {
				fmt.Fprintf(stderr, "insights-eval: %v\n", err)
				return 1
			}
		}
	}
	results, err := evaluate(ctx, recs, *platformRes)
	if err != nil {
		fmt.Fprintf(stderr, "insights-eval: %v\n", err)
		return 1
	}
	report(stdout, results, *detail)
	fmt.Fprintf(stdout, "\nwhole run: %.0f s wall\n", time.Since(start).Seconds())
	if *out != "" {
		b, err := json.MarshalIndent(results, "", " ")
		if err == nil {
			err = os.WriteFile(*out, append(b, '\n'), 0o644)
		}
		if err != nil {
			fmt.Fprintf(stderr, "insights-eval: -out: %v\n", err)
			return 1
		}
	}
	if *smoke {
		for _, r := range results {
			if r.Record.Transcription == nil || r.Record.Transcription.Status != voice.InsightCompleted || len(r.Record.Transcription.Segments) == 0 {
				fmt.Fprintf(stderr, "insights-eval smoke: FAIL: %s has no transcript\n", r.Record.Dialogue.Name)
				return 1
			}
		}
		if len(results) == 0 {
			fmt.Fprintln(stderr, "insights-eval smoke: FAIL: nothing ran")
			return 1
		}
		fmt.Fprintf(stdout, "insights-eval smoke: ok, %d dialogues recorded, transcribed and analysed\n", len(results))
	}
	return 0
}

func pick(ds []evalset.Dialogue, names ...string) []evalset.Dialogue {
	var out []evalset.Dialogue
	for _, n := range names {
		for _, d := range ds {
			if d.Name == n {
				out = append(out, d)
			}
		}
	}
	return out
}

// place runs every dialogue as a real call, conc at once, and collects
// what the platform kept of it once its insights are done.
func place(ctx context.Context, topics []voice.TopicDef, ds []evalset.Dialogue, codec, voiceName string, conc int,
	log *slog.Logger, progress io.Writer) ([]*evalset.Record, error) {
	cache, err := os.MkdirTemp("", "minivoice-insights-eval-tts-")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(cache)
	speaker, err := tts.New(tts.Config{CacheDir: cache})
	if err != nil {
		return nil, fmt.Errorf("flite: %w", err)
	}
	dur := func(text string) float64 {
		pcm, err := speaker.Render(ctx, voiceName, text, 16000)
		if err != nil || pcm.Rate == 0 {
			return 0.4 * float64(len(strings.Fields(text)))
		}
		return float64(len(pcm.Samples)) / float64(pcm.Rate)
	}
	plans := make([]plan, len(ds))
	scripts := map[string][]string{}
	for i, d := range ds {
		plans[i] = compile(d, dur, fmt.Sprintf("+1555300%04d", i))
		if plans[i].target != "" {
			scripts[plans[i].target[1:]] = plans[i].targetRun
		}
		if d.Direction == voice.DirectionOutbound {
			scripts[farNumber(i)[1:]] = plans[i].far
		}
	}
	st, err := startStack(ctx, codec, voiceName, speaker, scripts, topics, log)
	if err != nil {
		return nil, err
	}
	defer st.close()

	recs := make([]*evalset.Record, len(ds))
	errs := make([]error, len(ds))
	sem := make(chan struct{}, max(1, conc))
	var wg sync.WaitGroup
	for i := range ds {
		wg.Add(1)
		go func() {
			defer wg.Done()
			select {
			case sem <- struct{}{}:
			case <-ctx.Done():
				errs[i] = ctx.Err()
				return
			}
			id, err := st.call(ctx, ds[i], plans[i], farNumber(i))
			<-sem
			if err == nil {
				recs[i], err = st.collect(ctx, id, ds[i], topics, codec)
			}
			errs[i] = err
			if err != nil {
				fmt.Fprintf(progress, "  %-32s FAILED: %v\n", ds[i].Name, err)
			} else {
				fmt.Fprintf(progress, "  %-32s %s, %d segments\n", ds[i].Name, recs[i].Call.ID, len(recs[i].Transcription.Segments))
			}
		}()
	}
	wg.Wait()
	var out []*evalset.Record
	for i, r := range recs {
		if errs[i] != nil {
			return nil, fmt.Errorf("%s: %w", ds[i].Name, errs[i])
		}
		out = append(out, r)
	}
	return out, nil
}

// farNumber is the far end of dialogue i: the caller of an inbound one,
// the number an outbound one calls.
func farNumber(i int) string { return fmt.Sprintf("+1555200%04d", i) }

// call places one dialogue's call and returns the platform's call id once
// it has ended.
func (st *stack) call(ctx context.Context, d evalset.Dialogue, pl plan, far string) (string, error) {
	if d.Direction == voice.DirectionOutbound {
		var c voice.Call
		err := st.do(ctx, "POST", "/v1/calls", map[string]any{"application_id": st.appID, "to": far, "from": did, "record": true,
			"recording_channels": "dual", "actions": pl.actions}, 201, &c)
		if err != nil {
			return "", err
		}
		_, err = st.waitEnded(ctx, c.ID, callLimit)
		return c.ID, err
	}
	st.setAnswer(far, pl.actions)
	rep, err := st.sim.Call(ctx, sim.CallOptions{Platform: st.plat.SIP.Addr().String(), From: far, To: did,
		Script: pl.far, MaxDuration: callLimit})
	if err != nil {
		return "", fmt.Errorf("call: %w", err)
	}
	if !rep.Answered {
		return "", fmt.Errorf("not answered: SIP %d %s %s", rep.SIPStatus, rep.SIPReason, rep.Err)
	}
	id, err := st.findInbound(ctx, far, 30*time.Second)
	if err != nil {
		return "", err
	}
	_, err = st.waitEnded(ctx, id, callLimit)
	return id, err
}

// collect waits for the insights of a call's whole-call recording, then
// reads everything the analyser may use through the API.
func (st *stack) collect(ctx context.Context, id string, d evalset.Dialogue, topics []voice.TopicDef, codec string) (*evalset.Record, error) {
	deadline := time.Now().Add(insightsLimit)
	for {
		var sum voice.Summary
		if err := st.do(ctx, "GET", "/v1/calls/"+id+"/summary", nil, 200, &sum); err != nil {
			return nil, err
		}
		if sum.Status == voice.InsightCompleted || sum.Status == voice.InsightFailed {
			break
		}
		if time.Now().After(deadline) {
			return nil, fmt.Errorf("insights of %s not done after %v", id, insightsLimit)
		}
		if err := sleep(ctx, time.Second); err != nil {
			return nil, err
		}
	}
	rec := &evalset.Record{Dialogue: d, Topics: topics, Codec: codec}
	if err := st.do(ctx, "GET", "/v1/calls/"+id, nil, 200, &rec.Call); err != nil {
		return nil, err
	}
	if err := st.do(ctx, "GET", "/v1/calls/"+id+"/transcription", nil, 200, &rec.Transcription); err != nil {
		return nil, err
	}
	var evs struct {
		Data []*voice.Event `json:"data"`
	}
	if err := st.do(ctx, "GET", "/v1/calls/"+id+"/events?limit=200", nil, 200, &evs); err != nil {
		return nil, err
	}
	rec.Events = evs.Data
	var recs struct {
		Data []*voice.Recording `json:"data"`
	}
	if err := st.do(ctx, "GET", "/v1/recordings?limit=100&call_id="+url.QueryEscape(id), nil, 200, &recs); err != nil {
		return nil, err
	}
	rec.Recordings = recs.Data
	var calls struct {
		Data []*voice.Call `json:"data"`
	}
	if err := st.do(ctx, "GET", "/v1/calls?direction=outbound&limit=200", nil, 200, &calls); err != nil {
		return nil, err
	}
	for _, c := range calls.Data {
		if c.ParentCallID != nil && *c.ParentCallID == id {
			rec.Children = append(rec.Children, c)
		}
	}
	return rec, nil
}

// result is one dialogue's analysis and its measures.
type result struct {
	Record  *evalset.Record `json:"-"`
	Name    string          `json:"name"`
	Result  *analyze.Result `json:"result"`
	Measure evalset.Measure `json:"measure"`
	// SameAsPlatform says whether the platform's own analysis of the
	// call (its insights.completed event) equals this one in summary,
	// score and topic names: the facts the pipeline read from its store
	// and those the benchmark read through the API agree. Nil when the
	// record has no such event (stored records).
	SameAsPlatform *bool `json:"same_as_platform,omitempty"`
}

// evaluate analyses each record with the offline engine, as the pipeline
// does, and measures the result against its labels.
func evaluate(ctx context.Context, recs []*evalset.Record, platform bool) ([]result, error) {
	eng := analyze.NewOffline()
	var out []result
	for _, r := range recs {
		res, err := eng.Analyze(ctx, r.Input())
		if err != nil {
			return nil, err
		}
		if platform {
			if res = r.PlatformResult(); res == nil {
				return nil, fmt.Errorf("%s: no insights.completed event in the record", r.Dialogue.Name)
			}
		}
		one := result{Record: r, Name: r.Dialogue.Name, Result: res, Measure: evalset.Measured(r, res)}
		if p := r.PlatformResult(); p != nil && !platform {
			same := p.Summary.Text == res.Summary.Text && p.Score.Score == res.Score.Score &&
				topicNames(p) == topicNames(res)
			one.SameAsPlatform = &same
		}
		out = append(out, one)
	}
	return out, nil
}

func topicNames(r *analyze.Result) string {
	var n []string
	for _, t := range r.Topics.Topics {
		n = append(n, t.Name)
	}
	return strings.Join(n, ", ")
}

// report prints the per-dialogue table and the totals.
func report(w io.Writer, rs []result, detail bool) {
	fmt.Fprintf(w, "\n| dialogue | topics expected | found | request in summary | rating (band) | mood (label) |\n|---|---|---|---|---|---|\n")
	var ms []evalset.Measure
	for _, r := range rs {
		m := r.Measure
		ms = append(ms, m)
		fmt.Fprintf(w, "| %s | %s | %s | %s | %s (%s) | %s (%s) |\n", r.Name, strings.Join(r.Record.Dialogue.Topics, ", "),
			strings.Join(m.Found, ", "), yes(m.RequestInSummary, m.RequestInTranscript), m.Rating,
			strings.Join(r.Record.Dialogue.Ratings, "/"), m.Mood, r.Record.Dialogue.Sentiment)
		if detail {
			fmt.Fprintf(w, "\n    summary: %s\n", r.Result.Summary.Text)
			for _, c := range r.Result.Score.Criteria {
				fmt.Fprintf(w, "    %-20s %3d %s\n", c.Name, c.Score, c.Evidence)
			}
			for _, t := range r.Result.Topics.Topics {
				fmt.Fprintf(w, "    topic %s %.2f x%d %+v\n", t.Name, t.Confidence, t.Mentions, t.Evidence)
			}
			fmt.Fprintln(w)
		}
	}
	t := evalset.Total(ms)
	compared, same := 0, 0
	for _, r := range rs {
		if r.SameAsPlatform != nil {
			compared++
			if *r.SameAsPlatform {
				same++
			} else {
				fmt.Fprintf(w, "\n%s: the platform's own analysis differs:\n  platform: %s\n  here:     %s\n", r.Name,
					r.Record.PlatformResult().Summary.Text, r.Result.Summary.Text)
			}
		}
	}
	fmt.Fprintf(w, "\n%d dialogues\n", t.Dialogues)
	fmt.Fprintf(w, "topics: precision %.1f %% (%d of %d found), recall %.1f %% (%d of %d expected)\n", t.Precision(), t.TP,
		t.TP+t.FP, t.Recall(), t.TP, t.TP+t.FN)
	fmt.Fprintf(w, "summaries containing the request: %d of %d (%.1f %%); transcripts containing it: %d\n",
		t.RequestInSummary, t.Dialogues, pct(t.RequestInSummary, t.Dialogues), t.RequestInTranscript)
	fmt.Fprintf(w, "ratings inside the labelled band: %d of %d; far-end mood as labelled: %d of %d, complaints rated positive: %d\n",
		t.RatingInBand, t.Dialogues, t.MoodAsLabelled, t.Dialogues, t.ComplaintPositive)
	if compared > 0 {
		fmt.Fprintf(w, "the platform's own analysis (summary, score, topics) identical to this one: %d of %d\n", same, compared)
	}
}

func yes(summary, transcript bool) string {
	switch {
	case summary:
		return "yes"
	case transcript:
		return "NO (in transcript)"
	}
	return "no (not recognised)"
}

func pct(a, b int) float64 {
	if b == 0 {
		return 0
	}
	return 100 * float64(a) / float64(b)
}

func machine() string {
	model := "unknown CPU"
	if b, err := os.ReadFile("/proc/cpuinfo"); err == nil {
		for _, line := range strings.Split(string(b), "\n") {
			if k, v, ok := strings.Cut(line, ":"); ok && strings.TrimSpace(k) == "model name" {
				model = strings.TrimSpace(v)
				break
			}
		}
	}
	return fmt.Sprintf("%d CPUs (%s), %s", runtime.NumCPU(), model, runtime.Version())
}

func defaultSet() string {
	for _, p := range []string{"bench/insights-eval/dialogues.json", "dialogues.json"} {
		if _, err := os.Stat(p); err == nil {
			return p
		}
	}
	return filepath.Join("bench", "insights-eval", "dialogues.json")
}
