-- The development capability of a device (package format/capability), as the service signed it
-- when an Administrator enabled development. A device has at most one; devices.development says
-- development is enabled, and this row is what the device fetches to prove it. Disabling
-- development deletes the row.
CREATE TABLE device_capabilities (
	device_id  TEXT PRIMARY KEY REFERENCES devices (id),
	tenant_id  TEXT NOT NULL REFERENCES tenants (id),
	body       BYTEA NOT NULL,
	issued_at  BIGINT NOT NULL
);
