-- Cancelling a run updates its messages by run_id; a message claim
-- orders a channel's due messages by priority.
CREATE INDEX messages_run ON messages (run_id) WHERE run_id <> '';
CREATE INDEX messages_claim ON messages (channel, priority DESC, due_at) WHERE due_at IS NOT NULL;
