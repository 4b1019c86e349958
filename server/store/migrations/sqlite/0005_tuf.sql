-- TUF repositories (package tufrepo): one per device group ('group/' || group ID, owned by the
-- group's tenant) and one per OS feed ('feed/' || feed, owned by the operator, owner ''). A
-- repository's row is locked while it changes, so that replicas change it one after the other.
CREATE TABLE tuf_repos (
	repo       TEXT PRIMARY KEY,
	owner      TEXT NOT NULL,
	created_at INTEGER NOT NULL
) STRICT;

-- Signed metadata, every version that a device may still ask for: the whole root chain, every
-- targets and snapshot version, and the newest timestamp (devices only ever fetch the newest).
-- expires is in microseconds since the epoch, as the metadata says.
CREATE TABLE tuf_metadata (
	repo    TEXT NOT NULL REFERENCES tuf_repos (repo),
	role    TEXT NOT NULL,
	version INTEGER NOT NULL,
	body    BLOB NOT NULL,
	expires INTEGER NOT NULL,
	PRIMARY KEY (repo, role, version)
) STRICT;
