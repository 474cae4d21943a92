-- Call reviews (issue 13, api.md "Call reviews"): a reviewer's verdict on a
-- call, kept as a history (a call may be reviewed several times, newest
-- first). The call's latest verdict is copied onto the call row in the same
-- transaction as the review insert, so the call object shows it without a
-- join and GET /v1/calls filters on it cheaply. reviewer_key_id is null for
-- the operator key, which has no id.

CREATE TABLE reviews (
	id TEXT PRIMARY KEY,
	call_id TEXT NOT NULL REFERENCES calls (id),
	customer_id TEXT NOT NULL REFERENCES customers (id),
	application_id TEXT NOT NULL,
	verdict TEXT NOT NULL,
	note TEXT NOT NULL,
	reviewer_key_id TEXT,
	reviewer_kind TEXT NOT NULL,
	created_at BIGINT NOT NULL
);
CREATE INDEX reviews_call ON reviews (call_id, created_at, id);

ALTER TABLE calls ADD COLUMN latest_review_verdict TEXT;
ALTER TABLE calls ADD COLUMN reviewed_at BIGINT;
-- ?verdict= lists, per tenant; ?reviewed= uses the same index.
CREATE INDEX calls_customer_verdict ON calls (customer_id, latest_review_verdict, created_at, id);
