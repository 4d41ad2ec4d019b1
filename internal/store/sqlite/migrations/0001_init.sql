-- Herald's schema on SQLite. Times are INTEGER nanoseconds since the Unix
-- epoch, UTC. Ids are UUIDv7 text, so ordering by id is ordering by time.
--
-- Queue state lives on the job's own row: due_at (NULL when nothing is
-- due) and lease_token (NULL when unclaimed). A claimed job's due_at is
-- its lease expiry, so an abandoned job becomes due again by itself.

CREATE TABLE events (
	id            TEXT PRIMARY KEY,
	source        TEXT NOT NULL,
	spec_id       TEXT NOT NULL,
	type          TEXT NOT NULL,
	subject       TEXT NOT NULL DEFAULT '',
	time          INTEGER NOT NULL,
	received_at   INTEGER NOT NULL,
	content_type  TEXT NOT NULL DEFAULT '',
	data_schema   TEXT NOT NULL DEFAULT '',
	data          BLOB,
	extensions    TEXT,
	parent_id     TEXT,
	chain         TEXT,
	idem_key      TEXT
) WITHOUT ROWID;
CREATE INDEX events_spec ON events (source, spec_id);
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
	created_at     INTEGER NOT NULL,
	updated_at     INTEGER NOT NULL,
	due_at         INTEGER,
	lease_token    TEXT
) WITHOUT ROWID;
CREATE INDEX runs_event ON runs (event_id);
CREATE INDEX runs_due ON runs (due_at) WHERE due_at IS NOT NULL;

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
	blocking     INTEGER NOT NULL DEFAULT 0,
	created_at   INTEGER NOT NULL,
	updated_at   INTEGER NOT NULL,
	due_at       INTEGER,
	lease_token  TEXT
) WITHOUT ROWID;
CREATE INDEX messages_event ON messages (event_id);
CREATE INDEX messages_status ON messages (status, id);
CREATE INDEX messages_due ON messages (channel, due_at) WHERE due_at IS NOT NULL;
CREATE INDEX messages_key ON messages (channel, key, id) WHERE provider_id IS NOT NULL AND key <> '';

CREATE TABLE attempts (
	message_id  TEXT NOT NULL,
	id          TEXT NOT NULL,
	number      INTEGER NOT NULL,
	started_at  INTEGER NOT NULL,
	duration    INTEGER NOT NULL,
	outcome     TEXT NOT NULL,
	status_code INTEGER NOT NULL DEFAULT 0,
	error       TEXT,
	provider_id TEXT,
	response    TEXT,
	PRIMARY KEY (message_id, id)
) WITHOUT ROWID;

CREATE TABLE configs (
	version    TEXT PRIMARY KEY,
	created_at INTEGER NOT NULL,
	sources    TEXT NOT NULL
) WITHOUT ROWID;
