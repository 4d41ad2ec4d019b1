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
CREATE INDEX digests_leader ON digests (leader);

-- Where each run landed (role lead, join or pass), per digest step.
CREATE TABLE digest_items (
	rule      TEXT NOT NULL,
	step      TEXT NOT NULL,
	run_id    TEXT NOT NULL,
	leader    TEXT NOT NULL,
	event_id  TEXT NOT NULL,
	role      TEXT NOT NULL,
	closes_at INTEGER NOT NULL,
	PRIMARY KEY (rule, step, run_id)
) WITHOUT ROWID;
CREATE INDEX digest_items_leader ON digest_items (leader, step);
CREATE INDEX digest_items_event ON digest_items (event_id);

-- Correlated events, kept so that a run which starts waiting after its
-- event arrived (its earlier steps were still running) still sees it.
CREATE TABLE signals (
	type        TEXT NOT NULL,
	key         TEXT NOT NULL,
	event_id    TEXT NOT NULL,
	received_at INTEGER NOT NULL,
	emitter     TEXT NOT NULL DEFAULT '',
	PRIMARY KEY (type, key, event_id)
) WITHOUT ROWID;
CREATE INDEX signals_received ON signals (received_at);
