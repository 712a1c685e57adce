-- Operators signed in to the console, so that a restart or a deploy does
-- not sign them out. The cookie holds a random session ID; only its
-- SHA-256 is stored, so a copy of the database signs nobody in.
CREATE TABLE sessions (
	id_hash  BLOB    PRIMARY KEY,
	operator TEXT    NOT NULL,
	csrf     TEXT    NOT NULL, -- the token the session's forms must carry
	expires  INTEGER NOT NULL  -- Unix milliseconds
) WITHOUT ROWID;

CREATE INDEX sessions_expires ON sessions (expires);
