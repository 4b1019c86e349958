-- Times are INTEGER microseconds since the Unix epoch, UTC; booleans are 0 or 1.

CREATE TABLE tenants (
	id         TEXT PRIMARY KEY,
	name       TEXT NOT NULL,
	name_key   TEXT NOT NULL UNIQUE,
	created_at INTEGER NOT NULL
) STRICT;

-- tenant_id '' is an operator who belongs to no tenant.
CREATE TABLE users (
	id         TEXT PRIMARY KEY,
	tenant_id  TEXT NOT NULL DEFAULT '',
	email      TEXT NOT NULL,
	email_key  TEXT NOT NULL,
	role       TEXT NOT NULL,
	operator   INTEGER NOT NULL DEFAULT 0,
	created_at INTEGER NOT NULL,
	UNIQUE (tenant_id, email_key)
) STRICT;

CREATE TABLE tokens (
	hash       BLOB PRIMARY KEY,
	user_id    TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
	created_at INTEGER NOT NULL
) STRICT;

CREATE INDEX tokens_user ON tokens (user_id);

CREATE TABLE products (
	id          TEXT PRIMARY KEY,
	tenant_id   TEXT NOT NULL REFERENCES tenants (id),
	name        TEXT NOT NULL,
	name_key    TEXT NOT NULL,
	description TEXT NOT NULL,
	created_at  INTEGER NOT NULL,
	UNIQUE (tenant_id, name_key),
	UNIQUE (tenant_id, id)
) STRICT;

-- The foreign keys include tenant_id so that no row can point into another tenant.
CREATE TABLE device_groups (
	id                TEXT PRIMARY KEY,
	tenant_id         TEXT NOT NULL,
	product_id        TEXT NOT NULL,
	name              TEXT NOT NULL,
	name_key          TEXT NOT NULL,
	description       TEXT NOT NULL,
	os_feed           TEXT NOT NULL,
	update_policy     TEXT NOT NULL,
	allow_crash_dumps INTEGER NOT NULL,
	created_at        INTEGER NOT NULL,
	UNIQUE (product_id, name_key),
	UNIQUE (tenant_id, id),
	FOREIGN KEY (tenant_id, product_id) REFERENCES products (tenant_id, id)
) STRICT;

CREATE INDEX device_groups_tenant ON device_groups (tenant_id, product_id);

-- A device is claimed once, into one tenant, so its ID alone is the key.
CREATE TABLE devices (
	id           TEXT PRIMARY KEY,
	tenant_id    TEXT NOT NULL REFERENCES tenants (id),
	group_id     TEXT,
	state        TEXT NOT NULL,
	claimed_at   INTEGER NOT NULL,
	revoked_at   INTEGER,
	last_seen_at INTEGER,
	development  INTEGER NOT NULL DEFAULT 0,
	FOREIGN KEY (tenant_id, group_id) REFERENCES device_groups (tenant_id, id)
) STRICT;

CREATE INDEX devices_tenant ON devices (tenant_id, id);
CREATE INDEX devices_group ON devices (group_id);

CREATE TABLE audit (
	tenant_id TEXT NOT NULL,
	seq       INTEGER NOT NULL,
	time      INTEGER NOT NULL,
	actor     TEXT NOT NULL,
	action    TEXT NOT NULL,
	target    TEXT NOT NULL,
	source    TEXT NOT NULL,
	detail    TEXT NOT NULL,
	prev_hash TEXT NOT NULL,
	hash      TEXT NOT NULL,
	PRIMARY KEY (tenant_id, seq)
) STRICT;

-- The last entry of each chain; appends lock its row, which serialises them.
CREATE TABLE audit_heads (
	tenant_id TEXT PRIMARY KEY,
	seq       INTEGER NOT NULL,
	hash      TEXT NOT NULL
) STRICT;
