-- Signing keys the service holds, sealed with its key-encryption key: each tenant's image-signing
-- and TUF keys, and the operator's (owner '') runtime-signing and feed TUF keys. At most one key
-- of an owner and purpose is active; the others stay listed (their public keys stay trusted).
CREATE TABLE signing_keys (
	id         TEXT PRIMARY KEY,
	owner      TEXT NOT NULL,
	purpose    TEXT NOT NULL,
	public_key BYTEA NOT NULL,
	sealed_key BYTEA NOT NULL,
	active     BOOLEAN NOT NULL,
	created_at BIGINT NOT NULL
);

CREATE INDEX signing_keys_owner ON signing_keys (owner, purpose);
CREATE UNIQUE INDEX signing_keys_active ON signing_keys (owner, purpose) WHERE active;
