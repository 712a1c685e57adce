-- The events of each row of topic_runs, in the row's order, so that a read
-- of one topic's history reads its events a run at a time: through the
-- events table each event was a page of its own (a ticker's symbol is one
-- event in thousands), read and searched for one event. Written by the
-- writer with the run, from the events it kept in memory since they were
-- committed (store/topicdata.go); the events table keeps every event too,
-- for reads of all topics or of thousands, and is what the rest of the
-- store goes by.
--
-- A run with no row here (written before this table, or a row dropped)
-- is read from the events table, as before. last is the run's last ID, so
-- that a row is only ever read for the run it was written for.
CREATE TABLE topic_data (
	run    INTEGER PRIMARY KEY, -- the rowid of the row of topic_runs
	last   INTEGER NOT NULL,    -- that row's last
	events BLOB    NOT NULL     -- its events (store/topicdata.go)
);
