-- The events of each topic, as runs of IDs: a row per topic per indexing
-- pass of the writer (store/index.go), which writes the IDs committed since
-- the last one (up to 65,536 events' worth) from memory. topic_index, a row
-- per event, rewrote a page per topic at every pass and cost a third of the
-- writer's time under a streaming publish to 1,600 topics. Reads combine
-- the runs up to counters.indexed_through with the IDs the writer keeps in
-- memory above it.
--
-- A table with rowids and an index beside it, not WITHOUT ROWID keyed by
-- (topic, last): there a run of a few hundred IDs spilled into overflow
-- pages, which every seek through the key read back to compare it.
CREATE TABLE topic_runs (
	topic TEXT    NOT NULL,
	last  INTEGER NOT NULL, -- the run's highest ID
	first INTEGER NOT NULL, -- its lowest
	ids   BLOB    NOT NULL  -- its IDs, ascending, each as the difference from
	                        -- the one before (the first's from first: 0), in
	                        -- unsigned varints
);

CREATE UNIQUE INDEX topic_runs_by_topic ON topic_runs (topic, last);

-- topic_index's entries become runs, and the table is dropped, in the same
-- transaction: runsFromIndex in store/migrate.go.
