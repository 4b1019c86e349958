-- Token IDs, expiry, last use and revocation; per-tenant image quotas; signed audit checkpoints.

-- A token's ID names it in listings and revocation; it is not its secret. Tokens made before
-- this migration get an ID taken from the second half of their hash (which is itself only a
-- hash of the secret); new ones get a random ID. expires_at and revoked_at are NULL for never.
-- last_used_at is recorded coarsely (see store.TouchToken), so it is not a write per request.
ALTER TABLE tokens ADD COLUMN id TEXT NOT NULL DEFAULT '';
ALTER TABLE tokens ADD COLUMN expires_at INTEGER;
ALTER TABLE tokens ADD COLUMN last_used_at INTEGER;
ALTER TABLE tokens ADD COLUMN revoked_at INTEGER;
UPDATE tokens SET id = lower(substr(hex(hash), 33, 8) || '-' || substr(hex(hash), 41, 4) || '-' ||
	substr(hex(hash), 45, 4) || '-' || substr(hex(hash), 49, 4) || '-' || substr(hex(hash), 53, 12));
CREATE UNIQUE INDEX tokens_id ON tokens (id);

-- image_quota is the most bytes of image packages the tenant may keep (0: no limit);
-- image_bytes is what it keeps now, kept in step with the images table by every upload.
ALTER TABLE tenants ADD COLUMN image_quota INTEGER NOT NULL DEFAULT 0;
ALTER TABLE tenants ADD COLUMN image_bytes INTEGER NOT NULL DEFAULT 0;
UPDATE tenants SET image_bytes = (SELECT COALESCE(SUM(size), 0) FROM images WHERE images.tenant_id = tenants.id);

-- A checkpoint: the service's signature over a chain's head (tenant_id '' is the operator's
-- chain) at signed_at, with a key that the store alone cannot use (sealed with the KEK).
CREATE TABLE audit_checkpoints (
	tenant_id TEXT NOT NULL,
	seq       INTEGER NOT NULL,
	hash      TEXT NOT NULL,
	signed_at INTEGER NOT NULL,
	signature TEXT NOT NULL,
	PRIMARY KEY (tenant_id, signed_at, seq)
) STRICT;
