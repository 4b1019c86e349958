-- Images, deployments, and what devices report of their updates.

-- An image package a tenant uploaded, as the service stored it (re-signed with the tenant's
-- image-signing key; the blob named by sha256). manifest_sha256 is the SHA-256 of the manifest's
-- bytes as the developer signed them: an upload of the same image ID is the same image only if it
-- carries the same manifest. Image IDs are unique within a tenant, so that one tenant's upload
-- tells nothing of another's.
CREATE TABLE images (
	tenant_id       TEXT NOT NULL REFERENCES tenants (id),
	id              TEXT NOT NULL,
	component_id    TEXT NOT NULL,
	name            TEXT NOT NULL,
	version         TEXT NOT NULL,
	type            TEXT NOT NULL,
	size            INTEGER NOT NULL,
	sha256          TEXT NOT NULL,
	payload_size    INTEGER NOT NULL,
	payload_sha256  TEXT NOT NULL,
	manifest_sha256 TEXT NOT NULL,
	app_manifest    TEXT NOT NULL,
	uploaded_at     INTEGER NOT NULL,
	uploaded_by     TEXT NOT NULL,
	PRIMARY KEY (tenant_id, id)
) STRICT;

CREATE INDEX images_component ON images (tenant_id, component_id);
CREATE INDEX images_uploaded ON images (tenant_id, uploaded_at);

-- A deployment: the images a device group converges to. seq orders deployments made within one
-- microsecond. Deleting a group deletes its deployments.
CREATE TABLE deployments (
	seq        INTEGER PRIMARY KEY AUTOINCREMENT,
	id         TEXT NOT NULL UNIQUE,
	tenant_id  TEXT NOT NULL,
	group_id   TEXT NOT NULL,
	created_at INTEGER NOT NULL,
	created_by TEXT NOT NULL,
	FOREIGN KEY (tenant_id, group_id) REFERENCES device_groups (tenant_id, id) ON DELETE CASCADE
) STRICT;

CREATE INDEX deployments_group ON deployments (tenant_id, group_id, seq);

CREATE TABLE deployment_images (
	deployment_id TEXT NOT NULL REFERENCES deployments (id) ON DELETE CASCADE,
	position      INTEGER NOT NULL,
	tenant_id     TEXT NOT NULL,
	image_id      TEXT NOT NULL,
	PRIMARY KEY (deployment_id, position),
	FOREIGN KEY (tenant_id, image_id) REFERENCES images (tenant_id, id)
) STRICT;

-- What each device last reported of its updates: its installed images (a JSON array of
-- api.InstalledImage) and the result of its last update.
CREATE TABLE device_updates (
	device_id           TEXT PRIMARY KEY REFERENCES devices (id),
	tenant_id           TEXT NOT NULL,
	installed           TEXT NOT NULL,
	last_update_result  TEXT NOT NULL,
	last_update_at      INTEGER NOT NULL,
	last_update_message TEXT NOT NULL,
	reported_at         INTEGER NOT NULL
) STRICT;

-- A runtime release as devices download it: an image package of type runtime signed with the
-- operator's runtime-signing key, kept as the blob package_sha256.
ALTER TABLE runtime_releases ADD COLUMN image_id TEXT NOT NULL DEFAULT '';
ALTER TABLE runtime_releases ADD COLUMN package_size INTEGER NOT NULL DEFAULT 0;
ALTER TABLE runtime_releases ADD COLUMN package_sha256 TEXT NOT NULL DEFAULT '';
