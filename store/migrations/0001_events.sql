-- Every published event. The ID is assigned by the store's single writer and
-- is never reused: the high-water mark lives in counters, not in MAX(id).
CREATE TABLE events (
	id    INTEGER PRIMARY KEY,
	topic TEXT    NOT NULL,
	type  TEXT    NOT NULL,
	time  INTEGER NOT NULL, -- Unix milliseconds, UTC; never decreases with id
	data  TEXT    NOT NULL  -- compact JSON object
);

-- Replay and history of one topic or a prefix seek by (topic, id).
CREATE INDEX events_topic_id ON events (topic, id);

-- The latest event of each topic: the snapshot a new subscriber receives.
-- Kept in the same transaction as the insert, and never pruned.
CREATE TABLE latest (
	topic TEXT    PRIMARY KEY,
	id    INTEGER NOT NULL,
	type  TEXT    NOT NULL,
	time  INTEGER NOT NULL,
	data  TEXT    NOT NULL
) WITHOUT ROWID;

-- last_id: the highest ID ever assigned.
-- floor:   the highest ID removed by retention; positions below it cannot be
--          resumed exactly.
CREATE TABLE counters (
	name  TEXT    PRIMARY KEY,
	value INTEGER NOT NULL
) WITHOUT ROWID;

INSERT INTO counters (name, value) VALUES ('last_id', 0), ('floor', 0);
