-- The TPM root of trust: the TPM manufacturer CAs the operator trusts, each device's root of
-- trust and endorsement key, and device groups that require a TPM.

-- A CA that endorsement-key certificates may chain to (operator-wide). fingerprint is the
-- SHA-256 of cert, lowercase hex: one certificate is added once. root says it is self-signed.
CREATE TABLE tpm_cas (
	id          TEXT PRIMARY KEY,
	fingerprint TEXT NOT NULL UNIQUE,
	subject     TEXT NOT NULL,
	root        INTEGER NOT NULL,
	not_after   INTEGER NOT NULL,
	cert        BLOB NOT NULL,
	added_at    INTEGER NOT NULL,
	added_by    TEXT NOT NULL
) STRICT;

-- root_of_trust is '' until the device first passes attestation, then "software" or "tpm"; once
-- "tpm" it stays so. ek_fingerprint is the SHA-256 of a TPM device's endorsement key certificate.
ALTER TABLE devices ADD COLUMN root_of_trust TEXT NOT NULL DEFAULT '';
ALTER TABLE devices ADD COLUMN ek_fingerprint TEXT NOT NULL DEFAULT '';

ALTER TABLE device_groups ADD COLUMN require_tpm INTEGER NOT NULL DEFAULT 0;
