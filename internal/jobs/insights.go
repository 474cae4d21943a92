package jobs

import (
	"context"
	"database/sql"
	"fmt"
	"time"

	"github.com/minivoice/minivoice/internal/insights"
	"github.com/minivoice/minivoice/internal/voice"
	"github.com/riverqueue/river"
	"github.com/riverqueue/river/rivertype"
)

// QueueInsights is the River queue of the insights pipeline's steps.
const QueueInsights = "insights"

// DefaultInsightsWorkers is how many pipeline steps run at once in a process
// by default: one, because a transcription keeps a core busy for about half
// the audio's length and calls in progress need the rest.
const DefaultInsightsWorkers = 1

// insightsMaxAttempts is how often a step runs before a transient failure
// (an engine server down, the database unreachable) is recorded as failed.
// River's default backoff (attempt^4 seconds) spaces them 1 s, 16 s, 81 s
// and 256 s apart: about six minutes in all.
const insightsMaxAttempts = 5

// TranscribeArgs is the job of the transcription step of a recording.
type TranscribeArgs struct {
	RecordingID string `json:"recording_id"`
	// AudioSeconds is the recording's length, which bounds the job's run.
	AudioSeconds float64 `json:"audio_seconds"`
}

// Kind is the River job kind.
func (TranscribeArgs) Kind() string { return "insights_transcribe" }

// AnalyzeArgs is the job of the insights step (summary, score, topics) of a
// recording.
type AnalyzeArgs struct {
	RecordingID string `json:"recording_id"`
}

// Kind is the River job kind.
func (AnalyzeArgs) Kind() string { return "insights_analyze" }

// analyzeTimeout bounds an insights step: the offline analyser takes
// milliseconds, an LLM server up to its two-minute timeout, twice (one
// re-ask), plus the bookkeeping.
const analyzeTimeout = 5 * time.Minute

// transcribeTimeout bounds a transcription of audioSeconds: five minutes
// plus twice the audio per channel, so a slow but working engine finishes
// and a wedged one is stopped. River's rescuer also reads it, so a long
// transcription is not taken for a dead process's job and run twice.
func transcribeTimeout(audioSeconds float64) time.Duration {
	return 5*time.Minute + time.Duration(4*audioSeconds*float64(time.Second))
}

type transcribeWorker struct {
	river.WorkerDefaults[TranscribeArgs]
	p *insights.Pipeline
}

func (w *transcribeWorker) Timeout(job *river.Job[TranscribeArgs]) time.Duration {
	return transcribeTimeout(job.Args.AudioSeconds)
}

func (w *transcribeWorker) Work(ctx context.Context, job *river.Job[TranscribeArgs]) error {
	return w.p.Transcribe(ctx, job.Args.RecordingID, lastAttempt(job.JobRow))
}

// lastAttempt says whether a step gives up on a transient failure now and
// records the step failed. Jobs get one attempt more than that
// (insightsMaxAttempts+1): an attempt lost to a crash or a database error
// while recording the failure still leaves one to record it, rather than
// River discarding the job with the step stuck in processing.
func lastAttempt(job *rivertype.JobRow) bool { return job.Attempt >= insightsMaxAttempts }

type analyzeWorker struct {
	river.WorkerDefaults[AnalyzeArgs]
	p *insights.Pipeline
}

func (w *analyzeWorker) Timeout(*river.Job[AnalyzeArgs]) time.Duration { return analyzeTimeout }

func (w *analyzeWorker) Work(ctx context.Context, job *river.Job[AnalyzeArgs]) error {
	return w.p.Analyze(ctx, job.Args.RecordingID, lastAttempt(job.JobRow))
}

// EnqueueInsightsTx queues a pipeline step of a recording in tx: it is the
// store's InsightsOutbox.
func (q *Queue) EnqueueInsightsTx(ctx context.Context, tx *sql.Tx, step, recordingID string, audioSeconds float64) error {
	opts := &river.InsertOpts{Queue: QueueInsights, MaxAttempts: insightsMaxAttempts + 1}
	var args river.JobArgs
	switch step {
	case voice.StepTranscription:
		args = TranscribeArgs{RecordingID: recordingID, AudioSeconds: audioSeconds}
	case voice.StepInsights:
		args = AnalyzeArgs{RecordingID: recordingID}
	default:
		return fmt.Errorf("jobs: unknown insights step %q", step)
	}
	if _, err := q.client.InsertTx(ctx, tx, args, opts); err != nil {
		return fmt.Errorf("jobs: insert %s job: %w", step, err)
	}
	return nil
}
