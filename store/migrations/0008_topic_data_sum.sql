-- A checksum of each row of topic_data's events: the CRC-32C (Castagnoli)
-- of the events blob. A read whose row does not match takes the run's
-- events from the events table, as it does for a row that does not decode:
-- a row damaged so that it still decodes would otherwise be served as it
-- is. Rows written before this column have none (NULL) and are read
-- unchecked; retention removes them with their runs.
ALTER TABLE topic_data ADD COLUMN sum INTEGER;
