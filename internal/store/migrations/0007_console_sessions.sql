-- Web console sessions (issue 13, console.md). id is the SHA-256 (hex) of
-- the session cookie's token; key_ref is the signed-in key's SHA-256 masked
-- with an HMAC of the token, so the console can re-check the key on every
-- request while a copy of this table reveals neither token nor key.
-- expires_at is the earlier of the idle limit (moved on use) and the
-- absolute one.

CREATE TABLE console_sessions (
	id TEXT PRIMARY KEY,
	key_id TEXT NOT NULL,
	key_ref BYTEA NOT NULL,
	created_at BIGINT NOT NULL,
	last_seen_at BIGINT NOT NULL,
	expires_at BIGINT NOT NULL
);
CREATE INDEX console_sessions_expires ON console_sessions (expires_at);
CREATE INDEX console_sessions_key ON console_sessions (key_id);
