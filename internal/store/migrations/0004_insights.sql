-- Offline AI insights (insights.md, issue 7). One row per completed recording
-- of an application with insights on, created in the transaction that
-- completes the recording and deleted with it. transcription holds the
-- transcription object as JSON (its status column is the truth); summary,
-- score and topics hold the insights step's results once it completes.

ALTER TABLE applications ADD COLUMN score_criteria TEXT NOT NULL DEFAULT '[]';

CREATE TABLE insights (
	recording_id TEXT PRIMARY KEY REFERENCES recordings (id),
	call_id TEXT NOT NULL,
	customer_id TEXT NOT NULL,
	application_id TEXT NOT NULL,
	transcription_status TEXT NOT NULL,
	transcription TEXT NOT NULL,
	insights_status TEXT NOT NULL,
	insights_engine TEXT NOT NULL,
	insights_error TEXT,
	summary TEXT,
	score TEXT,
	topics TEXT,
	created_at BIGINT NOT NULL,
	updated_at BIGINT NOT NULL
);
CREATE INDEX insights_call ON insights (call_id);
-- Which side of a recording is who depends on whether the call was bridged to
-- a dial child: the pipeline asks once per recording.
CREATE INDEX calls_parent ON calls (parent_call_id) WHERE parent_call_id IS NOT NULL;
