-- Nodes (issue 16, docs/cluster.md): each `minivoice serve` process on a
-- shared PostgreSQL database is a node with a lease it renews. A node whose
-- lease ran out is taken over by exactly one survivor: the UPDATE that sets
-- taken_over_by only matches while it is NULL. SQLite deployments are one
-- process and never write these tables; the columns exist there too because
-- the migrations are shared.
CREATE TABLE nodes (
	id TEXT PRIMARY KEY,
	started_at BIGINT NOT NULL,
	heartbeat_at BIGINT NOT NULL,
	lease_until BIGINT NOT NULL,
	draining BOOLEAN NOT NULL DEFAULT FALSE,
	taken_over_by TEXT,
	taken_over_at BIGINT
);

-- The node that holds a call: set when the call is created, moved to the
-- survivor when its node is taken over. NULL for calls created before this
-- migration and on SQLite.
ALTER TABLE calls ADD COLUMN node_id TEXT;
CREATE INDEX calls_node_unfinished ON calls (node_id) WHERE status IN ('queued', 'ringing', 'in-progress');

-- Commands for a call held by another node (hang up, replace actions): the
-- sender inserts a row and NOTIFYs the owner's channel; the owner runs it on
-- its engine, writes done_at and ok, and NOTIFYs the sender back. Rows are
-- pruned after a day.
CREATE TABLE node_commands (
	id TEXT PRIMARY KEY,
	node_id TEXT NOT NULL,
	reply_to TEXT NOT NULL,
	call_id TEXT NOT NULL,
	kind TEXT NOT NULL,
	actions TEXT,
	created_at BIGINT NOT NULL,
	done_at BIGINT,
	ok BOOLEAN
);
CREATE INDEX node_commands_pending ON node_commands (node_id, created_at) WHERE done_at IS NULL;
