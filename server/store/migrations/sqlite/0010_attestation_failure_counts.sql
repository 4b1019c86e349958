-- Attestation failures of callers that are not a claimed device (garbage, unsigned or
-- unclaimed evidence), kept as bounded aggregates instead of a row each: one row per hour and
-- reason, with a count and one sampled failure. A request that proves nothing writes nothing;
-- these counts are flushed from memory in batches.
CREATE TABLE attestation_failure_counts (
	interval_start INTEGER NOT NULL, -- the hour, in Unix microseconds
	reason         TEXT NOT NULL,
	count          INTEGER NOT NULL,
	sample_message TEXT NOT NULL,
	sample_source  TEXT NOT NULL,
	sample_device  TEXT NOT NULL DEFAULT '',
	PRIMARY KEY (interval_start, reason)
) STRICT;

-- When the device joined its current group (Unix microseconds; 0: before this column existed).
-- Events that ended earlier are not charged to that group.
ALTER TABLE devices ADD COLUMN group_since INTEGER NOT NULL DEFAULT 0;
