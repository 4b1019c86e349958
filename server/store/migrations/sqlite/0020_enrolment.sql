-- Claim codes, releasing a device, certificate revocation lists, and withdrawn runtime releases.

-- The verifier (ident.ClaimVerifier) of the claim code a device was claimed with; NULL for a
-- claim made without a code (before claim codes existed, or in a tenant that the operator
-- allows to claim by ID alone).
ALTER TABLE devices ADD COLUMN claim_verifier BLOB;

-- Whether the tenant's users may claim a device by its ID alone (an operator's setting).
ALTER TABLE tenants ADD COLUMN allow_claim_without_code INTEGER NOT NULL DEFAULT 0;

-- A withdrawn release: devices running it fail attestation, it is no longer offered, and its
-- version is never published again (the row stays).
ALTER TABLE runtime_releases ADD COLUMN withdrawn_at INTEGER;

-- Every device certificate issued and not yet expired long, for the CRLs: a certificate is
-- revoked when its device is revoked or released. serial is lowercase hex.
CREATE TABLE device_certificates (
	serial     TEXT PRIMARY KEY,
	tenant_id  TEXT NOT NULL,
	ca_id      TEXT NOT NULL,
	device_id  TEXT NOT NULL,
	not_after  INTEGER NOT NULL,
	revoked_at INTEGER
) STRICT;

CREATE INDEX device_certificates_device ON device_certificates (device_id, not_after);
CREATE INDEX device_certificates_revoked ON device_certificates (ca_id, not_after) WHERE revoked_at IS NOT NULL;

-- The current CRL of each tenant CA (DER), signed again whenever a device is revoked or
-- released and before next_update comes.
CREATE TABLE tenant_crls (
	ca_id       TEXT PRIMARY KEY,
	tenant_id   TEXT NOT NULL,
	number      INTEGER NOT NULL,
	this_update INTEGER NOT NULL,
	next_update INTEGER NOT NULL,
	der         BLOB NOT NULL
) STRICT;
