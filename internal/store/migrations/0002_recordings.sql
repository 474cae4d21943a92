-- Recordings (insights.md). Same conventions as 0001: times are Unix
-- milliseconds; the duration is whole milliseconds (BIGINT), which both
-- dialects store exactly, where a REAL would round-trip through binary floats.

CREATE TABLE recordings (
	id TEXT PRIMARY KEY,
	call_id TEXT NOT NULL REFERENCES calls (id),
	customer_id TEXT NOT NULL REFERENCES customers (id),
	application_id TEXT NOT NULL,
	status TEXT NOT NULL,
	source TEXT NOT NULL,
	channels TEXT NOT NULL,
	sample_rate INTEGER NOT NULL,
	duration_ms BIGINT NOT NULL,
	storage_key TEXT NOT NULL,
	size_bytes BIGINT NOT NULL,
	sha256 TEXT NOT NULL,
	error TEXT NOT NULL,
	started_at BIGINT NOT NULL,
	ended_at BIGINT,
	created_at BIGINT NOT NULL,
	updated_at BIGINT NOT NULL
);
CREATE INDEX recordings_created ON recordings (created_at, id);
CREATE INDEX recordings_customer_created ON recordings (customer_id, created_at, id);
CREATE INDEX recordings_application_created ON recordings (application_id, created_at, id);
CREATE INDEX recordings_call ON recordings (call_id, created_at, id);
-- Start-up recovery looks for recordings a crash left open; the partial index
-- stays as small as the number of recordings running.
CREATE INDEX recordings_in_progress ON recordings (created_at, id) WHERE status = 'in-progress';
