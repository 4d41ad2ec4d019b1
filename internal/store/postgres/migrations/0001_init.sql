-- Herald's schema on PostgreSQL: the same tables as the SQLite backend.
-- Times are BIGINT nanoseconds since the Unix epoch, UTC, as on SQLite,
-- so both backends keep nanosecond precision (timestamptz has
-- microseconds). Ids are UUIDv7 text, so ordering by id is ordering by
-- time.
--
-- Queue state lives on the job's own row: due_at (NULL when nothing is
-- due) and lease_token (NULL when unclaimed). A claimed job's due_at is
-- its lease expiry, so an abandoned job becomes due again by itself;
-- nodes claim with FOR UPDATE SKIP LOCKED.

CREATE TABLE events (
	id            TEXT PRIMARY KEY,
	source        TEXT NOT NULL,
	spec_id       TEXT NOT NULL,
	type          TEXT NOT NULL,
	subject       TEXT NOT NULL DEFAULT '',
	time          BIGINT NOT NULL,
	received_at   BIGINT NOT NULL,
	content_type  TEXT NOT NULL DEFAULT '',
	data_schema   TEXT NOT NULL DEFAULT '',
	data          BYTEA,
	extensions    TEXT,
	parent_id     TEXT,
	chain         TEXT,
	idem_key      TEXT
);
CREATE INDEX events_spec ON events (source, spec_id, received_at);
CREATE UNIQUE INDEX events_idem ON events (idem_key) WHERE idem_key IS NOT NULL;

CREATE TABLE runs (
	id             TEXT PRIMARY KEY,
	event_id       TEXT NOT NULL,
	rule           TEXT NOT NULL,
	config_version TEXT NOT NULL,
	key            TEXT NOT NULL DEFAULT '',
	status         TEXT NOT NULL,
	step           INTEGER NOT NULL DEFAULT 0,
	state          TEXT,
	error          TEXT,
	waiting_for    TEXT,
	priority       INTEGER NOT NULL DEFAULT 0,
	created_at     BIGINT NOT NULL,
	updated_at     BIGINT NOT NULL,
	due_at         BIGINT,
	lease_token    TEXT,
	acked_at       BIGINT,
	acked_by       TEXT
);
CREATE INDEX runs_event ON runs (event_id);
CREATE INDEX runs_due ON runs (due_at) WHERE due_at IS NOT NULL;
CREATE INDEX runs_active ON runs (rule, key) WHERE status IN ('running', 'waiting');

CREATE TABLE messages (
	id           TEXT PRIMARY KEY,
	event_id     TEXT NOT NULL,
	run_id       TEXT NOT NULL DEFAULT '',
	step         INTEGER NOT NULL DEFAULT 0,
	step_name    TEXT NOT NULL DEFAULT '',
	channel      TEXT NOT NULL,
	recipient    TEXT NOT NULL DEFAULT '',
	key          TEXT NOT NULL DEFAULT '',
	priority     INTEGER NOT NULL DEFAULT 0,
	status       TEXT NOT NULL,
	content      TEXT,
	attempts     INTEGER NOT NULL DEFAULT 0,
	max_attempts INTEGER NOT NULL DEFAULT 1,
	provider_id  TEXT,
	error        TEXT,
	blocking     BOOLEAN NOT NULL DEFAULT false,
	created_at   BIGINT NOT NULL,
	updated_at   BIGINT NOT NULL,
	due_at       BIGINT,
	lease_token  TEXT
);
CREATE INDEX messages_event ON messages (event_id);
CREATE INDEX messages_status ON messages (status, id);
CREATE INDEX messages_due ON messages (channel, due_at) WHERE due_at IS NOT NULL;
CREATE INDEX messages_due_all ON messages (due_at) WHERE due_at IS NOT NULL;
CREATE INDEX messages_key ON messages (channel, key, id) WHERE provider_id IS NOT NULL AND key <> '';

CREATE TABLE attempts (
	message_id  TEXT NOT NULL,
	id          TEXT NOT NULL,
	number      INTEGER NOT NULL,
	started_at  BIGINT NOT NULL,
	duration    BIGINT NOT NULL,
	outcome     TEXT NOT NULL,
	status_code INTEGER NOT NULL DEFAULT 0,
	error       TEXT,
	provider_id TEXT,
	response    TEXT,
	PRIMARY KEY (message_id, id)
);

CREATE TABLE configs (
	version    TEXT PRIMARY KEY,
	created_at BIGINT NOT NULL,
	sources    TEXT NOT NULL
);

CREATE TABLE state (
	key        TEXT COLLATE "C" PRIMARY KEY,
	value      BYTEA NOT NULL,
	updated_at BIGINT NOT NULL
);

CREATE TABLE waits (
	type      TEXT NOT NULL,
	key       TEXT NOT NULL,
	run_id    TEXT NOT NULL,
	step_name TEXT NOT NULL,
	PRIMARY KEY (type, key, run_id)
);
CREATE INDEX waits_run ON waits (run_id);

CREATE TABLE hits (
	run_id   TEXT NOT NULL,
	event_id TEXT NOT NULL,
	PRIMARY KEY (run_id, event_id)
);

CREATE TABLE digests (
	rule      TEXT NOT NULL,
	step      TEXT NOT NULL,
	key       TEXT NOT NULL,
	leader    TEXT NOT NULL,
	closes_at BIGINT NOT NULL,
	closed    BOOLEAN NOT NULL DEFAULT false,
	last_sent BIGINT,
	PRIMARY KEY (rule, step, key)
);
CREATE INDEX digests_leader ON digests (leader);

CREATE TABLE digest_items (
	rule      TEXT NOT NULL,
	step      TEXT NOT NULL,
	run_id    TEXT NOT NULL,
	leader    TEXT NOT NULL,
	event_id  TEXT NOT NULL,
	role      TEXT NOT NULL,
	closes_at BIGINT NOT NULL,
	PRIMARY KEY (rule, step, run_id)
);
CREATE INDEX digest_items_leader ON digest_items (leader, step);
CREATE INDEX digest_items_event ON digest_items (event_id);

CREATE TABLE signals (
	type        TEXT NOT NULL,
	key         TEXT NOT NULL,
	event_id    TEXT NOT NULL,
	received_at BIGINT NOT NULL,
	emitter     TEXT NOT NULL DEFAULT '',
	PRIMARY KEY (type, key, event_id)
);
CREATE INDEX signals_received ON signals (received_at);
