-- Who published an event from the operator console: the operator's name,
-- for the audit trail (the console's history, the CSV export). NULL for
-- events of publish tokens, and for every event stored before. The latest
-- table does not need it: the snapshot never shows it.
ALTER TABLE events ADD COLUMN operator TEXT;
