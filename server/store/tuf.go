package store

import (
	"fmt"
	"time"

	"github.com/rampart-iot/rampart/ident"
)

// TUFRepo is a TUF repository (package tufrepo) as stored: its name and the owner of its keys,
// a tenant ID or "" for the operator.
type TUFRepo struct {
	Repo  string
	Owner ident.TenantID
}

// TUFFile is one version of a TUF repository's signed metadata for one role.
type TUFFile struct {
	Repo    string
	Role    string
	Version int64
	Body    []byte
	Expires time.Time
}

// LockTUFRepo locks a TUF repository's row until the transaction ends, making it for owner if
// there is none, so that changes to one repository by concurrent transactions (or replicas) run
// one after the other, each seeing the metadata the one before wrote. It returns the repository
// (whose Owner is the one stored, which the caller checks) and whether this call made it. On
// SQLite, write transactions are serial already.
func (tx *Tx) LockTUFRepo(repo string, owner ident.TenantID, now time.Time) (TUFRepo, bool, error) {
	n, err := tx.exec("INSERT INTO tuf_repos (repo, owner, created_at) VALUES ($1, $2, $3) ON CONFLICT DO NOTHING",
		repo, owner, micros(now))
	if err != nil {
		return TUFRepo{}, false, fmt.Errorf("make TUF repository %q: %w", repo, err)
	}
	r, err := queryOne(tx, scanTUFRepo, fmt.Sprintf("TUF repository %q", repo),
		"SELECT repo, owner FROM tuf_repos WHERE repo = $1"+tx.dialect.forUpdate, repo)
	return r, n == 1, err
}

func scanTUFRepo(r scanner) (TUFRepo, error) {
	var t TUFRepo
	return t, r.Scan(&t.Repo, &t.Owner)
}

// TUFRepos lists every TUF repository, by name.
func (tx *Tx) TUFRepos() ([]TUFRepo, error) {
	rs, err := queryAll(tx, scanTUFRepo, "SELECT repo, owner FROM tuf_repos ORDER BY repo")
	if err != nil {
		return nil, fmt.Errorf("list TUF repositories: %w", err)
	}
	return rs, nil
}

// PutTUFMetadata stores a version of a repository's metadata for a role. ErrNotFound if the
// repository does not exist; ErrExists if it has that version already.
func (tx *Tx) PutTUFMetadata(repo, role string, version int64, body []byte, expires time.Time) error {
	what := fmt.Sprintf("TUF %s version %d of %q", role, version, repo)
	ok, err := tx.exists("SELECT 1 FROM tuf_repos WHERE repo = $1", repo)
	if err != nil {
		return fmt.Errorf("store %s: %w", what, err)
	}
	if !ok {
		return fmt.Errorf("TUF repository %q: %w", repo, ErrNotFound)
	}
	n, err := tx.exec(`INSERT INTO tuf_metadata (repo, role, version, body, expires) VALUES ($1, $2, $3, $4, $5)
		ON CONFLICT DO NOTHING`, repo, role, version, body, micros(expires))
	if err != nil {
		return fmt.Errorf("store %s: %w", what, err)
	}
	if n == 0 {
		return fmt.Errorf("%s: %w", what, ErrExists)
	}
	return nil
}

// TUFMetadata returns a version of a repository's metadata for a role; version 0 means the
// newest. ErrNotFound if there is none.
func (tx *Tx) TUFMetadata(repo, role string, version int64) (TUFFile, error) {
	scan := func(r scanner) (TUFFile, error) {
		f := TUFFile{Repo: repo, Role: role}
		var expires int64
		err := r.Scan(&f.Version, &f.Body, &expires)
		f.Expires = fromMicros(expires)
		return f, err
	}
	if version == 0 {
		return queryOne(tx, scan, fmt.Sprintf("TUF %s of %q", role, repo), `SELECT version, body, expires
			FROM tuf_metadata WHERE repo = $1 AND role = $2 ORDER BY version DESC LIMIT 1`, repo, role)
	}
	return queryOne(tx, scan, fmt.Sprintf("TUF %s version %d of %q", role, version, repo), `SELECT version, body, expires
		FROM tuf_metadata WHERE repo = $1 AND role = $2 AND version = $3`, repo, role, version)
}

// PruneTUFMetadata deletes the versions of a repository's metadata for a role older than
// below, and returns how many it deleted.
func (tx *Tx) PruneTUFMetadata(repo, role string, below int64) (int64, error) {
	n, err := tx.exec("DELETE FROM tuf_metadata WHERE repo = $1 AND role = $2 AND version < $3", repo, role, below)
	if err != nil {
		return 0, fmt.Errorf("prune TUF %s of %q: %w", role, repo, err)
	}
	return n, nil
}

// TUFRolesNewest returns the newest version of every role of a repository whose name starts
// with prefix (a rollout's bin roles: "bin-"), in one query, by role name.
func (tx *Tx) TUFRolesNewest(repo, prefix string) ([]TUFFile, error) {
	fs, err := queryAll(tx, func(r scanner) (TUFFile, error) {
		f := TUFFile{Repo: repo}
		var expires int64
		err := r.Scan(&f.Role, &f.Version, &f.Body, &expires)
		f.Expires = fromMicros(expires)
		return f, err
	}, `SELECT m.role, m.version, m.body, m.expires FROM tuf_metadata m
		WHERE m.repo = $1 AND substr(m.role, 1, $3) = $2
		AND m.version = (SELECT MAX(n.version) FROM tuf_metadata n WHERE n.repo = m.repo AND n.role = m.role)
		ORDER BY m.role`, repo, prefix, len(prefix))
	if err != nil {
		return nil, fmt.Errorf("read TUF roles %s* of %q: %w", prefix, repo, err)
	}
	return fs, nil
}
