-- Admission limits that hold across every process sharing the database
-- (billing.md, Limits; telephony.md, Outbound; issue 16).
--
-- admission_buckets: one token bucket per customer (max_cps) and per trunk
-- (max_cps), keyed "customer:<id>" or "trunk:<id>". tokens is in billionths
-- of a call attempt, so a bucket refills by exactly max_cps units per
-- nanosecond in integers; last_ns is the caller's clock (Unix nanoseconds)
-- at the last admitted attempt. A row is only read and written under the
-- lock of its customer's or trunk's row, in the transaction that admits the
-- call. A missing row is a full bucket.
CREATE TABLE admission_buckets (
	id TEXT PRIMARY KEY,
	tokens BIGINT NOT NULL,
	last_ns BIGINT NOT NULL
);

-- trunk_channels: one row per outbound call that holds one of a trunk's
-- max_channels, from just before its INVITE is sent until it ends (the
-- final write of the call deletes it) or the attempt fails over. Counted
-- under the trunk row's lock; a row whose call is final, or was never
-- recorded and is older than store.OrphanReservationAge, is stale and is
-- swept by the next admission on the trunk.
CREATE TABLE trunk_channels (
	trunk_id TEXT NOT NULL,
	call_id TEXT NOT NULL,
	created_at BIGINT NOT NULL,
	PRIMARY KEY (trunk_id, call_id)
);
CREATE INDEX trunk_channels_call ON trunk_channels (call_id);
