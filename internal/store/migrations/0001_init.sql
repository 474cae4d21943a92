-- One schema for SQLite and PostgreSQL: only types and syntax both accept.
-- Times are Unix milliseconds (BIGINT), money is a decimal string (TEXT),
-- lists and maps are JSON text.

CREATE TABLE customers (
	id TEXT PRIMARY KEY,
	name TEXT NOT NULL,
	status TEXT NOT NULL,
	currency TEXT NOT NULL,
	balance TEXT NOT NULL,
	credit_limit TEXT NOT NULL,
	max_concurrent_calls INTEGER NOT NULL,
	max_cps INTEGER NOT NULL,
	daily_spend_limit TEXT,
	max_rate_per_minute TEXT,
	blocked_prefixes TEXT NOT NULL,
	created_at BIGINT NOT NULL,
	updated_at BIGINT NOT NULL
);
CREATE INDEX customers_created ON customers (created_at, id);

CREATE TABLE ledger_entries (
	id TEXT PRIMARY KEY,
	customer_id TEXT NOT NULL REFERENCES customers (id),
	amount TEXT NOT NULL,
	balance_after TEXT NOT NULL,
	currency TEXT NOT NULL,
	kind TEXT NOT NULL,
	call_id TEXT,
	description TEXT NOT NULL,
	created_at BIGINT NOT NULL
);
CREATE INDEX ledger_customer_created ON ledger_entries (customer_id, created_at, id);
-- A call is charged once: the unique index makes a second charge fail.
CREATE UNIQUE INDEX ledger_call_charge ON ledger_entries (call_id) WHERE kind = 'call_charge';

CREATE TABLE applications (
	id TEXT PRIMARY KEY,
	customer_id TEXT NOT NULL REFERENCES customers (id),
	name TEXT NOT NULL,
	status TEXT NOT NULL,
	answer_url TEXT NOT NULL,
	answer_method TEXT NOT NULL,
	fallback_url TEXT NOT NULL,
	webhook_url TEXT NOT NULL,
	webhook_status TEXT NOT NULL,
	webhook_events TEXT NOT NULL,
	record_by_default BOOLEAN NOT NULL,
	insights BOOLEAN NOT NULL,
	topics TEXT NOT NULL,
	webhook_secret TEXT NOT NULL,
	previous_webhook_secret TEXT NOT NULL,
	previous_secret_expires_at BIGINT,
	created_at BIGINT NOT NULL,
	updated_at BIGINT NOT NULL
);
CREATE INDEX applications_customer_created ON applications (customer_id, created_at, id);
CREATE INDEX applications_created ON applications (created_at, id);

CREATE TABLE api_keys (
	id TEXT PRIMARY KEY,
	kind TEXT NOT NULL,
	name TEXT NOT NULL,
	customer_id TEXT NOT NULL REFERENCES customers (id),
	application_id TEXT,
	prefix TEXT NOT NULL,
	hash BYTEA NOT NULL UNIQUE,
	created_at BIGINT NOT NULL,
	last_used_at BIGINT,
	revoked_at BIGINT
);
CREATE INDEX api_keys_customer_created ON api_keys (customer_id, created_at, id);

CREATE TABLE rates (
	id TEXT PRIMARY KEY,
	customer_id TEXT REFERENCES customers (id),
	direction TEXT NOT NULL,
	prefix TEXT NOT NULL,
	price_per_minute TEXT NOT NULL,
	connection_fee TEXT NOT NULL,
	initial_increment INTEGER NOT NULL,
	subsequent_increment INTEGER NOT NULL,
	currency TEXT NOT NULL,
	status TEXT NOT NULL,
	description TEXT NOT NULL,
	created_at BIGINT NOT NULL
);
CREATE INDEX rates_created ON rates (created_at, id);
CREATE INDEX rates_match ON rates (customer_id, direction, prefix);
-- One rate per prefix in a deck, so the longest-prefix match is never ambiguous.
CREATE UNIQUE INDEX rates_unique_prefix ON rates (COALESCE(customer_id, ''), direction, prefix);

CREATE TABLE trunks (
	id TEXT PRIMARY KEY,
	name TEXT NOT NULL,
	direction TEXT NOT NULL,
	host TEXT NOT NULL,
	port INTEGER NOT NULL,
	transport TEXT NOT NULL,
	username TEXT NOT NULL,
	password TEXT NOT NULL,
	from_domain TEXT NOT NULL,
	strip_plus BOOLEAN NOT NULL,
	tech_prefix TEXT NOT NULL,
	allowed_cidrs TEXT NOT NULL,
	max_channels INTEGER NOT NULL,
	max_cps INTEGER NOT NULL,
	priority INTEGER NOT NULL,
	setup_timeout INTEGER NOT NULL,
	customer_id TEXT REFERENCES customers (id),
	status TEXT NOT NULL,
	created_at BIGINT NOT NULL,
	updated_at BIGINT NOT NULL
);
CREATE INDEX trunks_created ON trunks (created_at, id);

CREATE TABLE numbers (
	id TEXT PRIMARY KEY,
	number TEXT NOT NULL UNIQUE,
	customer_id TEXT NOT NULL REFERENCES customers (id),
	application_id TEXT REFERENCES applications (id),
	status TEXT NOT NULL,
	created_at BIGINT NOT NULL,
	updated_at BIGINT NOT NULL
);
CREATE INDEX numbers_customer_created ON numbers (customer_id, created_at, id);
CREATE INDEX numbers_created ON numbers (created_at, id);

CREATE TABLE calls (
	id TEXT PRIMARY KEY,
	customer_id TEXT NOT NULL REFERENCES customers (id),
	application_id TEXT NOT NULL,
	status TEXT NOT NULL,
	direction TEXT NOT NULL,
	from_number TEXT NOT NULL,
	to_number TEXT NOT NULL,
	parent_call_id TEXT,
	trunk_id TEXT,
	number_id TEXT,
	codec TEXT,
	record BOOLEAN NOT NULL,
	recording_channels TEXT NOT NULL,
	ring_timeout INTEGER NOT NULL,
	time_limit INTEGER NOT NULL,
	answer_url TEXT NOT NULL,
	actions TEXT,
	variables TEXT NOT NULL,
	created_at BIGINT NOT NULL,
	ringing_at BIGINT,
	answered_at BIGINT,
	ended_at BIGINT,
	duration INTEGER NOT NULL,
	billable_seconds INTEGER NOT NULL,
	price TEXT,
	currency TEXT NOT NULL,
	hangup_cause TEXT,
	hangup_source TEXT,
	sip_code INTEGER,
	sip_reason TEXT,
	recording_ids TEXT NOT NULL,
	error_code TEXT,
	error_message TEXT,
	updated_at BIGINT NOT NULL
);
CREATE INDEX calls_created ON calls (created_at, id);
CREATE INDEX calls_customer_created ON calls (customer_id, created_at, id);
CREATE INDEX calls_application_created ON calls (application_id, created_at, id);
CREATE INDEX calls_customer_ended ON calls (customer_id, ended_at);

CREATE TABLE events (
	id TEXT PRIMARY KEY,
	event TEXT NOT NULL,
	created_at BIGINT NOT NULL,
	call_id TEXT,
	application_id TEXT NOT NULL,
	customer_id TEXT NOT NULL,
	data TEXT NOT NULL,
	delivery_status TEXT NOT NULL,
	attempts TEXT NOT NULL
);
CREATE INDEX events_created ON events (created_at, id);
CREATE INDEX events_customer_created ON events (customer_id, created_at, id);
CREATE INDEX events_call ON events (call_id, created_at, id);

CREATE TABLE idempotency_keys (
	owner TEXT NOT NULL,
	idem_key TEXT NOT NULL,
	request_hash BYTEA NOT NULL,
	status INTEGER NOT NULL,
	body BYTEA,
	created_at BIGINT NOT NULL,
	PRIMARY KEY (owner, idem_key)
);
