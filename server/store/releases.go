package store

import (
	"fmt"
	"strings"

	"github.com/rampart-iot/rampart/api"
)

const releaseColumns = "id, feed, version, size, sha256, sha512, published_at, image_id, package_size, package_sha256"

func scanRelease(r scanner) (api.RuntimeRelease, error) {
	var rel api.RuntimeRelease
	var published int64
	err := r.Scan(&rel.ID, &rel.Feed, &rel.Version, &rel.Size, &rel.SHA256, &rel.SHA512, &published,
		&rel.ImageID, &rel.PackageSize, &rel.PackageSHA256)
	rel.PublishedAt = fromMicros(published)
	return rel, err
}

// AddRuntimeRelease stores a runtime release, its digests in lowercase hex, with its image
// package if it has one. ErrExists if its feed already has that version, or a release has its ID.
func (tx *Tx) AddRuntimeRelease(r api.RuntimeRelease) error {
	n, err := tx.exec(`INSERT INTO runtime_releases (`+releaseColumns+`)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10) ON CONFLICT DO NOTHING`,
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
