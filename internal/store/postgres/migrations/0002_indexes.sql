-- Indexes the first review found missing: cancelling a run updates its
-- messages (by run_id); a message claim orders a channel's due messages
-- by priority; the sources' leader reads recent events of a few types.
CREATE INDEX messages_run ON messages (run_id) WHERE run_id <> '';
CREATE INDEX messages_claim ON messages (channel, priority DESC, due_at) WHERE due_at IS NOT NULL;
CREATE INDEX events_type ON events (type, id);
CREATE INDEX digests_closes ON digests (closes_at) WHERE closed;
