-- Error events: what devices report (POST /device/v1/events) and a copy of each attestation
-- failure of a claimed device, one row per event. Reports group rows by signature: SHA-256 of
-- category, component and the normalised description (pattern); see package report.

CREATE TABLE events (
	id           INTEGER PRIMARY KEY AUTOINCREMENT,
	tenant_id    TEXT NOT NULL,
	device_id    TEXT NOT NULL,
	group_id     TEXT NOT NULL DEFAULT '', -- the device's group when the event arrived
	event_id     TEXT NOT NULL,            -- chosen by the device: a resent event is stored once
	category     TEXT NOT NULL,
	class        TEXT NOT NULL,
	type         TEXT NOT NULL,
	description  TEXT NOT NULL,
	pattern      TEXT NOT NULL,
	signature    TEXT NOT NULL,
	component_id TEXT NOT NULL DEFAULT '',
	image_id     TEXT NOT NULL DEFAULT '',
	count        INTEGER NOT NULL,
	first_at     INTEGER NOT NULL,
	last_at      INTEGER NOT NULL,
	detail       TEXT NOT NULL DEFAULT '',
	received_at  INTEGER NOT NULL,
	UNIQUE (device_id, event_id)
) STRICT;

CREATE INDEX events_tenant ON events (tenant_id, last_at, id);
CREATE INDEX events_signature ON events (device_id, signature, last_at);
CREATE INDEX events_last ON events (last_at);

-- Events stored one by one per device and UTC day (Unix days), for the daily cap.
CREATE TABLE event_days (
	device_id TEXT NOT NULL,
	day       INTEGER NOT NULL,
	stored    INTEGER NOT NULL,
	PRIMARY KEY (device_id, day)
) STRICT;

CREATE INDEX event_days_day ON event_days (day);

-- Retention deletes attestation failures by age across tenants.
CREATE INDEX attestation_failures_at ON attestation_failures (at);
