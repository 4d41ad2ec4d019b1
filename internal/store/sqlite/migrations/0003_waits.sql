-- Long-running workflows: acknowledgments, waits for correlated events,
-- and cancellation of active runs by correlation key.
ALTER TABLE runs ADD COLUMN acked_at INTEGER;
ALTER TABLE runs ADD COLUMN acked_by TEXT;
CREATE INDEX runs_active ON runs (rule, key) WHERE status IN ('running', 'waiting');

-- A run waiting for an event of a type with a correlation value. An
-- arriving event finds its waiters through the primary key.
CREATE TABLE waits (
	type      TEXT NOT NULL,
	key       TEXT NOT NULL,
	run_id    TEXT NOT NULL,
	step_name TEXT NOT NULL,
	PRIMARY KEY (type, key, run_id)
) WITHOUT ROWID;
CREATE INDEX waits_run ON waits (run_id);

-- Events that arrived for a waiting run, until its step has looked at them.
CREATE TABLE hits (
	run_id   TEXT NOT NULL,
	event_id TEXT NOT NULL,
	PRIMARY KEY (run_id, event_id)
) WITHOUT ROWID;
