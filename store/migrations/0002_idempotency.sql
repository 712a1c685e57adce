-- Publishes made with an Idempotency-Key: a retry with the same key and the
-- same request is answered with the events the first one made, and makes
-- none. Written in the transaction of those events, so a key is recorded
-- exactly when its events are. The events of one request have consecutive
-- IDs, first_id to first_id + count - 1. Rows older than the store's
-- idempotency window are ignored and removed.
CREATE TABLE idempotency (
	key         BLOB    PRIMARY KEY, -- SHA-256 of the publisher and the key it sent
	fingerprint BLOB    NOT NULL,    -- SHA-256 of the request
	first_id    INTEGER NOT NULL,
	count       INTEGER NOT NULL,
	created     INTEGER NOT NULL     -- Unix milliseconds
) WITHOUT ROWID;

CREATE INDEX idempotency_created ON idempotency (created);
