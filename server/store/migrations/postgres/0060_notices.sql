-- Notices wake the devices of a device group that wait on the device API's notification route
-- (a new deployment, rampart device-group notify). Every replica reads the notices of the last
-- few seconds and wakes the devices that wait on it; rows older than an hour are removed.
CREATE TABLE group_notices (
	seq        BIGSERIAL PRIMARY KEY,
	tenant_id  TEXT NOT NULL,
	group_id   TEXT NOT NULL,
	reason     TEXT NOT NULL,
	created_at BIGINT NOT NULL
);

CREATE INDEX group_notices_created ON group_notices (created_at);
