-- Tenant CAs, runtime releases, attestation nonces, and the outcome of attestations.

-- A tenant's CAs for device certificates. At most one is active (issues certificates); the
-- others stay trusted until they expire. sealed_key is the CA's private key sealed with the
-- service's key-encryption key; the store never sees it in clear.
CREATE TABLE tenant_cas (
	id          TEXT PRIMARY KEY,
	tenant_id   TEXT NOT NULL REFERENCES tenants (id),
	subject     TEXT NOT NULL,
	fingerprint TEXT NOT NULL,
	not_before  BIGINT NOT NULL,
	not_after   BIGINT NOT NULL,
	active      BOOLEAN NOT NULL,
	cert        BYTEA NOT NULL,
	sealed_key  BYTEA NOT NULL,
	created_at  BIGINT NOT NULL
);

CREATE INDEX tenant_cas_tenant ON tenant_cas (tenant_id);
CREATE UNIQUE INDEX tenant_cas_active ON tenant_cas (tenant_id) WHERE active;

-- Digests are lowercase hex; sha512 is the code measurement of a device running the release.
CREATE TABLE runtime_releases (
	id           TEXT PRIMARY KEY,
	feed         TEXT NOT NULL,
	version      TEXT NOT NULL,
	size         BIGINT NOT NULL,
	sha256       TEXT NOT NULL,
	sha512       TEXT NOT NULL,
	published_at BIGINT NOT NULL,
	UNIQUE (feed, version)
);

CREATE INDEX runtime_releases_sha512 ON runtime_releases (sha512);

-- Single-use attestation nonces, each bound to the device that asked for it.
CREATE TABLE nonces (
	nonce      BYTEA PRIMARY KEY,
	device_id  TEXT NOT NULL,
	expires_at BIGINT NOT NULL
);

CREATE INDEX nonces_expires ON nonces (expires_at);

-- The last attestation of each device. runtime_sha512 and cert_expires_at are those of the
-- last attestation that passed.
ALTER TABLE devices
	ADD COLUMN last_attested_at   BIGINT,
	ADD COLUMN last_attest_result TEXT NOT NULL DEFAULT '',
	ADD COLUMN last_attest_reason TEXT NOT NULL DEFAULT '',
	ADD COLUMN runtime_sha512     TEXT NOT NULL DEFAULT '',
	ADD COLUMN cert_expires_at    BIGINT;

-- Failed attestations, kept for error reporting. tenant_id '' is a device no tenant has claimed.
CREATE TABLE attestation_failures (
	id             BIGSERIAL PRIMARY KEY,
	tenant_id      TEXT NOT NULL DEFAULT '',
	device_id      TEXT NOT NULL,
	at             BIGINT NOT NULL,
	reason         TEXT NOT NULL,
	message        TEXT NOT NULL,
	mode           TEXT NOT NULL,
	runtime_sha512 TEXT NOT NULL,
	source         TEXT NOT NULL
);

CREATE INDEX attestation_failures_tenant ON attestation_failures (tenant_id, at);
