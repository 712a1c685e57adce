-- Every published event. The ID is assigned by the store's single writer and
-- is never reused: the high-water mark lives in counters, not in MAX(id).
CREATE TABLE events (
	id    INTEGER PRIMARY KEY,
	topic TEXT    NOT NULL,
	type  TEXT    NOT NULL,
	time  INTEGER NOT NULL, -- Unix milliseconds, UTC; never decreases with id
	data  TEXT    NOT NULL  -- compact JSON object
);

-- The events of each topic, for reading one topic's history without
-- walking everybody else's. It is filled in batches after the commits
-- (store/index.go) up to counters.indexed_through: maintained inside each
-- commit, it cost one page write per distinct topic per commit, more than
-- the rest of the commit. Reads combine it with a scan of the few events
-- after indexed_through.
CREATE TABLE topic_index (
	topic TEXT    NOT NULL,
	id    INTEGER NOT NULL,
	PRIMARY KEY (topic, id)
) WITHOUT ROWID;

-- The latest event of each topic: the snapshot a new subscriber receives.
-- Kept in the same transaction as the insert, and never pruned.
CREATE TABLE latest (
	topic TEXT    PRIMARY KEY,
	id    INTEGER NOT NULL,
	type  TEXT    NOT NULL,
	time  INTEGER NOT NULL,
	data  TEXT    NOT NULL
) WITHOUT ROWID;

-- IDs in (after, through] that this database never stored: the IDs a
-- restore from a backup skipped so that no ID clients have seen is reused.
CREATE TABLE gaps (
	after   INTEGER NOT NULL,
	through INTEGER NOT NULL
);

-- last_id:         the highest ID ever assigned.
-- floor:           the highest ID removed by retention; positions below it
--                  cannot be resumed exactly.
-- indexed_through: topic_index holds every event up to this ID.
CREATE TABLE counters (
	name  TEXT    PRIMARY KEY,
	value INTEGER NOT NULL
) WITHOUT ROWID;

INSERT INTO counters (name, value) VALUES ('last_id', 0), ('floor', 0), ('indexed_through', 0);
