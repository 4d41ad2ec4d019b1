-- Digest groups: one open group per (rule, step, key), led by the first
-- run that reached the step; the others join it and end.
CREATE TABLE digests (
	rule      TEXT NOT NULL,
	step      TEXT NOT NULL,
	key       TEXT NOT NULL,
	leader    TEXT NOT NULL,
	closes_at INTEGER NOT NULL,
	closed    INTEGER NOT NULL DEFAULT 0,
	last_sent INTEGER,
	PRIMARY KEY (rule, step, key)
) WITHOUT ROWID;

CREATE TABLE digest_items (
	leader    TEXT NOT NULL,
	run_id    TEXT NOT NULL,
	event_id  TEXT NOT NULL,
	closes_at INTEGER NOT NULL,
	PRIMARY KEY (leader, run_id)
) WITHOUT ROWID;
CREATE INDEX digest_items_run ON digest_items (run_id);
CREATE INDEX digests_leader ON digests (leader);
