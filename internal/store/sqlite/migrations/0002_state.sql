-- Small durable state of event sources: the last tick of a schedule, the
-- last beat of a heartbeat, the state of a monitor.
CREATE TABLE state (
	key        TEXT PRIMARY KEY,
	value      BLOB NOT NULL,
	updated_at INTEGER NOT NULL
) WITHOUT ROWID;
