-- The operator's log of refused INVITEs (issue 12): INVITEs turned away
-- before they could be tied to a customer (no inbound trunk matched the
-- source, digest authentication failed, the DID is not E.164 or not any
-- customer's number). Bounded: every insert deletes the rows beyond the
-- newest N in the same transaction, and the engine rate-limits the inserts,
-- so a flood of INVITEs cannot fill the database. source_ip is source without
-- its port, for the ?source= filter.

CREATE TABLE sip_refusals (
	id TEXT PRIMARY KEY,
	created_at BIGINT NOT NULL,
	source TEXT NOT NULL,
	source_ip TEXT NOT NULL,
	transport TEXT NOT NULL,
	from_user TEXT NOT NULL,
	to_user TEXT NOT NULL,
	sip_code INTEGER NOT NULL,
	reason TEXT NOT NULL,
	why TEXT NOT NULL,
	sip_call_id TEXT NOT NULL
);
CREATE INDEX sip_refusals_created ON sip_refusals (created_at, id);
CREATE INDEX sip_refusals_source ON sip_refusals (source_ip, created_at, id);
