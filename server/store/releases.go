package store

import (
	"database/sql"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/rampart-iot/rampart/api"
)

const releaseColumns = "id, feed, version, size, sha256, sha512, published_at, image_id, package_size, package_sha256, withdrawn_at"

func scanRelease(r scanner) (api.RuntimeRelease, error) {
	var rel api.RuntimeRelease
	var published int64
	var withdrawn sql.NullInt64
	err := r.Scan(&rel.ID, &rel.Feed, &rel.Version, &rel.Size, &rel.SHA256, &rel.SHA512, &published,
		&rel.ImageID, &rel.PackageSize, &rel.PackageSHA256, &withdrawn)
	rel.PublishedAt = fromMicros(published)
	rel.WithdrawnAt = fromNullMicros(withdrawn)
	return rel, err
}

// ErrWithdrawn is returned by AddRuntimeRelease for a runtime that was withdrawn under another
// version: publishing it again would let devices that run it attest again.
var ErrWithdrawn = errors.New("the runtime was withdrawn")

// AddRuntimeRelease stores a runtime release, its digests in lowercase hex, with its image
// package if it has one. ErrExists if its feed already has that version (withdrawn or not), or
// a release has its ID; ErrWithdrawn if the same runtime was withdrawn.
func (tx *Tx) AddRuntimeRelease(r api.RuntimeRelease) error {
	withdrawn, err := tx.exists("SELECT 1 FROM runtime_releases WHERE sha512 = $1 AND withdrawn_at IS NOT NULL",
		strings.ToLower(r.SHA512))
	if err != nil {
		return fmt.Errorf("add runtime release %s %q: %w", r.Feed, r.Version, err)
	}
	if withdrawn {
		return fmt.Errorf("runtime release %s %q: %w", r.Feed, r.Version, ErrWithdrawn)
	}
	n, err := tx.exec(`INSERT INTO runtime_releases (id, feed, version, size, sha256, sha512, published_at,
		image_id, package_size, package_sha256) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10) ON CONFLICT DO NOTHING`,
		r.ID, r.Feed, r.Version, r.Size, strings.ToLower(r.SHA256), strings.ToLower(r.SHA512), micros(r.PublishedAt),
		r.ImageID, r.PackageSize, strings.ToLower(r.PackageSHA256))
	if err != nil {
		return fmt.Errorf("add runtime release %s %q: %w", r.Feed, r.Version, err)
	}
	if n == 0 {
		return fmt.Errorf("runtime release %s %q: %w", r.Feed, r.Version, ErrExists)
	}
	return nil
}

// RuntimeReleases lists the releases of a feed ("" for all feeds), newest (by PublishedAt)
// first.
func (tx *Tx) RuntimeReleases(feed string) ([]api.RuntimeRelease, error) {
	rs, err := queryAll(tx, scanRelease, "SELECT "+releaseColumns+` FROM runtime_releases
		WHERE $1 = '' OR feed = $1 ORDER BY published_at DESC, feed, version DESC`, feed)
	if err != nil {
		return nil, fmt.Errorf("list runtime releases: %w", err)
	}
	return rs, nil
}

// RuntimeReleasesBySHA512 returns the releases (of any feed) whose SHA-512 is sha512 (hex,
// compared in lowercase), newest first: the runtimes a device reporting that measurement may
// be running.
func (tx *Tx) RuntimeReleasesBySHA512(sha512 string) ([]api.RuntimeRelease, error) {
	rs, err := queryAll(tx, scanRelease, "SELECT "+releaseColumns+` FROM runtime_releases
		WHERE sha512 = $1 ORDER BY published_at DESC, feed, version DESC`, strings.ToLower(sha512))
	if err != nil {
		return nil, fmt.Errorf("look up runtime release by SHA-512: %w", err)
	}
	return rs, nil
}

// RuntimeRelease returns a feed's release by version, withdrawn or not.
func (tx *Tx) RuntimeRelease(feed, version string) (api.RuntimeRelease, error) {
	return queryOne(tx, scanRelease, fmt.Sprintf("runtime release %s %q", feed, version),
		"SELECT "+releaseColumns+" FROM runtime_releases WHERE feed = $1 AND version = $2", feed, version)
}

// WithdrawRuntimeRelease marks a feed's release withdrawn at at; withdrawing twice keeps the
// first time. ErrNotFound if the feed has no such version.
func (tx *Tx) WithdrawRuntimeRelease(feed, version string, at time.Time) (api.RuntimeRelease, error) {
	n, err := tx.exec(`UPDATE runtime_releases SET withdrawn_at = COALESCE(withdrawn_at, $3)
		WHERE feed = $1 AND version = $2`, feed, version, micros(at))
	if err != nil {
		return api.RuntimeRelease{}, fmt.Errorf("withdraw runtime release %s %q: %w", feed, version, err)
	}
	if n == 0 {
		return api.RuntimeRelease{}, fmt.Errorf("runtime release %s %q: %w", feed, version, ErrNotFound)
	}
	return tx.RuntimeRelease(feed, version)
}
