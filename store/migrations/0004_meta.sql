-- Facts about the database that are not events: in a cluster, which
-- stream of the replicated log this node's history mirrors (its name and
-- when it was created), so that a stream deleted and created anew, whose
-- sequence starts again at 1, is never mixed into the history of the old
-- one.
CREATE TABLE meta (
	name  TEXT PRIMARY KEY,
	value TEXT NOT NULL
) WITHOUT ROWID;
