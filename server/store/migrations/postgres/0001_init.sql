-- Times are BIGINT microseconds since the Unix epoch, UTC, as in SQLite, so that both stores
-- share one code path and keep exactly the same values.

CREATE TABLE tenants (
	id         TEXT PRIMARY KEY,
	name       TEXT NOT NULL,
	name_key   TEXT NOT NULL UNIQUE,
	created_at BIGINT NOT NULL
);

-- tenant_id '' is an operator who belongs to no tenant.
CREATE TABLE users (
	id         TEXT PRIMARY KEY,
	tenant_id  TEXT NOT NULL DEFAULT '',
	email      TEXT NOT NULL,
	email_key  TEXT NOT NULL,
	role       TEXT NOT NULL,
	operator   BOOLEAN NOT NULL DEFAULT false,
	created_at BIGINT NOT NULL,
	UNIQUE (tenant_id, email_key)
);

CREATE TABLE tokens (
	hash       BYTEA PRIMARY KEY,
	user_id    TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
	created_at BIGINT NOT NULL
);

CREATE INDEX tokens_user ON tokens (user_id);

CREATE TABLE products (
	id          TEXT PRIMARY KEY,
	tenant_id   TEXT NOT NULL REFERENCES tenants (id),
	name        TEXT NOT NULL,
	name_key    TEXT NOT NULL,
	description TEXT NOT NULL,
	created_at  BIGINT NOT NULL,
	UNIQUE (tenant_id, name_key),
	UNIQUE (tenant_id, id)
);

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
	allow_crash_dumps BOOLEAN NOT NULL,
	created_at        BIGINT NOT NULL,
	UNIQUE (product_id, name_key),
	UNIQUE (tenant_id, id),
	FOREIGN KEY (tenant_id, product_id) REFERENCES products (tenant_id, id)
);

CREATE INDEX device_groups_tenant ON device_groups (tenant_id, product_id);

-- A device is claimed once, into one tenant, so its ID alone is the key.
CREATE TABLE devices (
	id           TEXT PRIMARY KEY,
	tenant_id    TEXT NOT NULL REFERENCES tenants (id),
	group_id     TEXT,
	state        TEXT NOT NULL,
	claimed_at   BIGINT NOT NULL,
	revoked_at   BIGINT,
	last_seen_at BIGINT,
	development  BOOLEAN NOT NULL DEFAULT false,
	FOREIGN KEY (tenant_id, group_id) REFERENCES device_groups (tenant_id, id)
);

CREATE INDEX devices_tenant ON devices (tenant_id, id);
CREATE INDEX devices_group ON devices (group_id);

CREATE TABLE audit (
	tenant_id TEXT NOT NULL,
	seq       BIGINT NOT NULL,
	time      BIGINT NOT NULL,
	actor     TEXT NOT NULL,
	action    TEXT NOT NULL,
	target    TEXT NOT NULL,
	source    TEXT NOT NULL,
	detail    TEXT NOT NULL,
	prev_hash TEXT NOT NULL,
	hash      TEXT NOT NULL,
	PRIMARY KEY (tenant_id, seq)
);

-- The last entry of each chain; appends lock its row, which serialises them.
CREATE TABLE audit_heads (
	tenant_id TEXT PRIMARY KEY,
	seq       BIGINT NOT NULL,
	hash      TEXT NOT NULL
);
